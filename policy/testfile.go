package policy

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"go.yaml.in/yaml/v3"
)

// TestFile is a table of policy cases (gatehouse policy test FILE): the
// policies to load (relative to the file) and, per case, an input and the
// expected decision.
type TestFile struct {
	Policies []string   `yaml:"policies"`
	Cases    []TestCase `yaml:"cases"`
}

// TestCase is one expected decision.
type TestCase struct {
	Name   string `yaml:"name"`
	Query  `yaml:",inline"`
	Expect string `yaml:"expect"` // allow or deny
}

// Query is a decision request as data (policy test cases, the decision
// API): a principal, an action, a resource and a context.
type Query struct {
	Principal *struct {
		Kind    string         `yaml:"kind" json:"kind"` // api_key, user, client
		ID      string         `yaml:"id" json:"id"`     // key id for api_key
		Subject string         `yaml:"subject" json:"subject"`
		Issuer  string         `yaml:"issuer" json:"issuer"`
		Tenant  string         `yaml:"tenant" json:"tenant"`
		Roles   []string       `yaml:"roles" json:"roles"`
		Scopes  []string       `yaml:"scopes" json:"scopes"`
		Attrs   map[string]any `yaml:"attrs" json:"attrs"`
	} `yaml:"principal" json:"principal"`
	Action   string `yaml:"action" json:"action"`
	Resource struct {
		Type  string            `yaml:"type" json:"type"`
		ID    string            `yaml:"id" json:"id"`
		Attrs map[string]string `yaml:"attrs" json:"attrs"`
	} `yaml:"resource" json:"resource"`
	Context struct {
		Method  string            `yaml:"method" json:"method"`
		Path    string            `yaml:"path" json:"path"`
		IP      string            `yaml:"ip" json:"ip"`
		Time    string            `yaml:"time" json:"time"`
		Headers map[string]string `yaml:"headers" json:"headers"`
	} `yaml:"context" json:"context"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name     string
	Pass     bool
	Got      Decision
	Problem  string // input errors
	Expected string
}

// RunTestFile loads a test file and its policies and runs every case.
func RunTestFile(path string) ([]CaseResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf TestFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var files []File
	for _, p := range tf.Policies {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: p, Data: b})
	}
	e, err := Compile(files)
	if err != nil {
		return nil, err
	}
	out := make([]CaseResult, 0, len(tf.Cases))
	for i, c := range tf.Cases {
		r := CaseResult{Name: c.Name, Expected: c.Expect}
		if r.Name == "" {
			r.Name = fmt.Sprintf("case %d", i+1)
		}
		in, problem := c.Input()
		if problem == "" && c.Expect != "allow" && c.Expect != "deny" {
			problem = "expect must be allow or deny"
		}
		if problem != "" {
			r.Problem = problem
			out = append(out, r)
			continue
		}
		r.Got = e.Decide(in)
		r.Pass = r.Got.Allowed == (c.Expect == "allow")
		out = append(out, r)
	}
	return out, nil
}

// Input converts the query; the string is a problem with it ("" if none).
func (c *Query) Input() (Input, string) {
	in := Input{Action: c.Action, Method: c.Context.Method, Path: c.Context.Path, Headers: c.Context.Headers, Time: time.Now(),
		Resource: Resource{Type: c.Resource.Type, ID: c.Resource.ID, Attrs: c.Resource.Attrs}}
	if p := c.Principal; p != nil {
		kind := identity.Kind(p.Kind)
		switch kind {
		case identity.KindAPIKey, identity.KindUser, identity.KindClient:
		case "":
			kind = identity.KindUser
		default:
			return in, "principal.kind must be api_key, user or client"
		}
		in.Principal = &identity.Principal{Kind: kind, KeyID: p.ID, Subject: p.Subject, Issuer: p.Issuer, Tenant: p.Tenant, Roles: p.Roles, Scopes: p.Scopes, Attrs: p.Attrs}
	}
	if c.Context.IP != "" {
		a, err := netip.ParseAddr(c.Context.IP)
		if err != nil {
			return in, "context.ip is not an IP address"
		}
		in.IP = a
	}
	if c.Context.Time != "" {
		t, err := time.Parse(time.RFC3339, c.Context.Time)
		if err != nil {
			return in, "context.time must be RFC 3339"
		}
		in.Time = t
	}
	return in, ""
}
