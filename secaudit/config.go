// Package secaudit is the security audit of a Gatehouse deployment: a lint
// of the loaded config and the store (Config), an active, bounded probe of
// a running gateway (Live) and a check of the modules compiled into the
// binary against the Go vulnerability database (Deps). All three report
// finding.Findings of rules with stable ids (GH-<area>-<n>).
package secaudit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/gatehouse-dev/gatehouse/store"
)

// ConfigInput is what the config lint reads: the loaded config and, when
// the database is reachable, its keys and clients.
type ConfigInput struct {
	Config  *gatehouse.Config
	Keys    store.APIKeys      // nil: the key rules are skipped
	Clients store.OAuthClients // nil: the client rules are skipped
	Now     time.Time          // default time.Now()
	// MaxAdminKeys is how many active keys with the gatehouse:admin role
	// pass (GH-KEY-4). Default 3.
	MaxAdminKeys int
}

// check is one rule and the function that looks for it.
type check struct {
	finding.Rule
	run func(a *auditor)
}

// configChecks are every config rule, by area. A static list: the rules
// are code, not plugins.
func configChecks() [][]check {
	return [][]check{authorizationChecks, authenticationChecks, transportChecks, validationChecks, rateLimitChecks, keyChecks, fileChecks}
}

// ConfigRules returns every rule the config lint checks, by id.
func ConfigRules() []finding.Rule {
	var rs []finding.Rule
	for _, area := range configChecks() {
		for _, c := range area {
			rs = append(rs, c.Rule)
		}
	}
	finding.SortRules(rs)
	return rs
}

// Rules returns every rule of the three audits (config, live, deps), by id.
func Rules() []finding.Rule {
	rs := append(append(ConfigRules(), LiveRules()...), DepsRules()...)
	finding.SortRules(rs)
	return rs
}

// Config lints a loaded config (and the store, when given) and returns its
// findings, worst first. It reads the files the config names (policies,
// certificates, OpenAPI documents, secret files) but changes nothing.
func Config(ctx context.Context, in ConfigInput) []finding.Finding {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.MaxAdminKeys == 0 {
		in.MaxAdminKeys = 3
	}
	a := &auditor{ctx: ctx, in: in, cfg: in.Config}
	for _, area := range configChecks() {
		for i := range area {
			a.rule = area[i].Rule
			area[i].run(a)
		}
	}
	finding.Sort(a.out)
	return a.out
}

// auditor is the state of one lint: the input, what it loaded lazily and
// the findings so far.
type auditor struct {
	ctx  context.Context
	in   ConfigInput
	cfg  *gatehouse.Config
	rule finding.Rule
	out  []finding.Finding

	policiesLoaded bool
	policies       *policy.Engine

	keysLoaded bool
	keys       []*store.APIKey
}

// at reports a finding of the current rule at a config field path.
func (a *auditor) at(path, format string, args ...any) {
	a.out = append(a.out, finding.Finding{
		Rule:     a.rule,
		Message:  fmt.Sprintf(format, args...),
		Location: finding.Location{File: a.cfg.File(), Line: a.cfg.Line(path), Path: path},
	})
}

// atFile reports a finding of the current rule in another file (a policy).
func (a *auditor) atFile(file string, line int, format string, args ...any) {
	a.out = append(a.out, finding.Finding{
		Rule:     a.rule,
		Message:  fmt.Sprintf(format, args...),
		Location: finding.Location{File: file, Line: line},
	})
}

// policyEngine compiles the config's policies once; nil when there are none
// or they do not compile (the load would have failed).
func (a *auditor) policyEngine() *policy.Engine {
	if !a.policiesLoaded {
		a.policiesLoaded = true
		var files []policy.File
		for _, p := range a.cfg.Policies {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			files = append(files, policy.File{Name: p, Data: b})
		}
		if len(files) > 0 {
			a.policies, _ = policy.WithActionGroups(files, a.cfg.ActionGroups)
		}
	}
	return a.policies
}

// apiKeys lists the store's keys once.
func (a *auditor) apiKeys() []*store.APIKey {
	if !a.keysLoaded && a.in.Keys != nil {
		a.keysLoaded = true
		a.keys, _ = a.in.Keys.ListAPIKeys(a.ctx, store.KeyFilter{Limit: 100000})
	}
	return a.keys
}

// routes calls fn with each route and its field path.
func (a *auditor) routes(fn func(path string, r *gatehouse.Route)) {
	for i := range a.cfg.Routes {
		fn(fmt.Sprintf("routes[%d]", i), &a.cfg.Routes[i])
	}
}

// authenticated reports whether a route needs a credential.
func authenticated(r *gatehouse.Route) bool {
	return r.Auth != nil && (r.Auth.APIKey != nil || r.Auth.JWT != nil)
}

var writeMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

// writes returns the write methods a route allows (every one when it
// names no methods).
func writes(r *gatehouse.Route) []string {
	if len(r.Match.Methods) == 0 {
		return writeMethods
	}
	var out []string
	for _, m := range r.Match.Methods {
		if slices.Contains(writeMethods, strings.ToUpper(m)) {
			out = append(out, strings.ToUpper(m))
		}
	}
	return out
}

// describe names a route in a message: "orders-item (GET, DELETE /api/orders/{id})".
func describe(r *gatehouse.Route) string {
	methods := "any method"
	if len(r.Match.Methods) > 0 {
		methods = strings.Join(r.Match.Methods, ", ")
	}
	host := r.Match.Host
	return fmt.Sprintf("%q (%s %s%s)", r.Name, methods, host, r.Match.Path)
}

// action is the Cedar action a route with authorize asks about.
func action(r *gatehouse.Route) []string {
	if r.Authorize.Action != "" {
		return []string{r.Authorize.Action}
	}
	methods := r.Match.Methods
	if len(methods) == 0 {
		methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	}
	out := make([]string, len(methods))
	for i, m := range methods {
		out[i] = strings.ToUpper(m) + " " + r.Name
	}
	return out
}
