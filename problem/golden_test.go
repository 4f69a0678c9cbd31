package problem

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type goldenCase struct {
	name  string // golden file: testdata/<name>.golden
	typ   string
	p     func() *Problem
	extra map[string]any
}

// goldenProblems holds one representative problem for every Type* constant
// of problem.go, with the status and a detail the gateway really sends, and
// the Extra members a stage adds where one does.
var goldenProblems = []goldenCase{
	{"not-found", TypeNotFound, func() *Problem { return New(404, TypeNotFound, "no route matches this request") }, nil},
	{"method-not-allowed", TypeMethodNotAllowed, func() *Problem { return New(405, TypeMethodNotAllowed, "the route does not allow DELETE") }, nil},
	{"bad-request", TypeBadRequest, func() *Problem {
		return New(400, TypeBadRequest, "send one credential: one Authorization header, and no X-API-Key with another value")
	}, map[string]any{"errors": []map[string]string{{"location": "header", "name": "Authorization", "reason": "sent twice"}}}},
	{"bad-request-client-closed", TypeBadRequest, func() *Problem { return New(499, TypeBadRequest, "the client closed the request") }, nil},
	// A detail that needs escaping: quotes, a backslash, CR/LF, a control
	// character, invalid UTF-8 and U+2028 (LOG-02: nothing forges a line).
	{"bad-path", TypeBadPath, func() *Problem {
		return New(400, TypeBadPath, "path \"/a\\..;/b\"\r\nX-Injected: 1\x00\xff\u2028 is refused")
	}, nil},
	{"uri-too-long", TypeURITooLong, func() *Problem { return New(414, TypeURITooLong, "the request URI is longer than 8192 bytes") }, nil},
	{"body-too-large", TypeBodyTooLarge, func() *Problem { return New(413, TypeBodyTooLarge, "the request body is larger than 1048576 bytes") }, nil},
	{"https-required", TypeHTTPSRequired, func() *Problem {
		return New(403, TypeHTTPSRequired, "this API is served over HTTPS only; the request was not forwarded")
	}, nil},
	{"bad-gateway", TypeBadGateway, func() *Problem {
		return New(502, TypeBadGateway, "the upstream could not be reached or sent an invalid response").
			Wrap(errors.New("dial tcp 10.0.0.7:5432: connect: connection refused"))
	}, nil},
	{"gateway-timeout", TypeGatewayTimeout, func() *Problem {
		return New(504, TypeGatewayTimeout, "the upstream did not answer in time").Wrap(errors.New("context deadline exceeded"))
	}, nil},
	{"service-unavailable", TypeServiceUnavailable, func() *Problem {
		return New(503, TypeServiceUnavailable, "rate limiting is unavailable; try again shortly")
	}, map[string]any{"retry_after": 1}},
	{"internal", TypeInternal, func() *Problem {
		return New(500, TypeInternal, "the gateway failed to handle the request").Wrap(errors.New("panic: runtime error: index out of range [3] with length 3"))
	}, nil},
	{"unauthorized", TypeUnauthorized, func() *Problem {
		return New(401, TypeUnauthorized, "the bearer token is not valid").Wrap(errors.New("token eyJhbGciOiJIUzI1NiJ9.e30.sig expired"))
	}, nil},
	{"forbidden", TypeForbidden, func() *Problem { return New(403, TypeForbidden, "the request is not allowed") }, map[string]any{"policy": "default deny"}},
	// Extra members are sorted; the standard members can never be
	// overridden, and an unserialisable one is dropped, never the problem.
	{"quota-exceeded", TypeQuotaExceeded, func() *Problem {
		return New(429, TypeQuotaExceeded, "too many requests: the rate limit of this route is exhausted")
	}, map[string]any{"policy": "per-ip", "limit": 100, "status": 200, "type": "about:blank", "request_id": "forged", "broken": func() {}}},
}

// defaultExtra is the Extra of cases that name none of their own.
var defaultExtra = map[string]any{"route": "orders", "errors": []string{}}

// renderGolden writes every body p gives: without a request id, with one,
// and with the Extra members (extra, or defaultExtra when nil).
func renderGolden(mk func() *Problem, extra map[string]any) []byte {
	if extra == nil {
		extra = defaultExtra
	}
	var b bytes.Buffer
	b.WriteString("# without request id\n")
	b.Write(Marshal(mk(), ""))
	b.WriteString("# with request id\n")
	b.Write(Marshal(mk(), "01J9ZQ3F5V8Y2K7W4N6T0R1M3C"))
	p := mk()
	p.Extra = extra
	b.WriteString("# with request id and extra members\n")
	b.Write(Marshal(p, "01J9ZQ3F5V8Y2K7W4N6T0R1M3C"))
	return b.Bytes()
}

// PD-01: the body of every problem type is pinned byte for byte (refresh
// with go test ./problem -update). Each body is valid JSON whose status is
// the HTTP status, whose type is stable, and which never holds the cause.
func TestProblemGolden(t *testing.T) {
	for _, tc := range goldenProblems {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p()
			if p.Type != tc.typ {
				t.Fatalf("type %s, want %s", p.Type, tc.typ)
			}
			got := renderGolden(tc.p, tc.extra)
			for line := range strings.Lines(string(got)) {
				if strings.HasPrefix(line, "#") {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("body is not JSON: %v\n%s", err, line)
				}
				if m["status"] != float64(p.Status) || m["type"] != tc.typ || m["title"] == "" {
					t.Errorf("standard members wrong: %s", line)
				}
				if p.Err != nil && strings.Contains(line, p.Err.Error()) {
					t.Errorf("internal cause serialised: %s", line)
				}
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./problem -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run go test ./problem -update if the change is meant):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// No golden file outlives its case.
func TestProblemGoldenNoStrayFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden")
		if !slices.ContainsFunc(goldenProblems, func(g goldenCase) bool { return g.name == name }) {
			t.Errorf("%s has no case in goldenProblems: delete it", f)
		}
	}
}

// Every Type* constant declared in problem.go has a golden case, so a new
// problem type cannot ship without its body being pinned.
func TestProblemGoldenCoversEveryType(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "problem.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Type") && n.Name != "TypeBase" {
					declared = append(declared, n.Name)
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("no Type* constants found in problem.go")
	}
	values := map[string]string{
		"TypeNotFound": TypeNotFound, "TypeMethodNotAllowed": TypeMethodNotAllowed, "TypeBadRequest": TypeBadRequest,
		"TypeBadPath": TypeBadPath, "TypeURITooLong": TypeURITooLong, "TypeBodyTooLarge": TypeBodyTooLarge,
		"TypeHTTPSRequired": TypeHTTPSRequired, "TypeBadGateway": TypeBadGateway, "TypeGatewayTimeout": TypeGatewayTimeout,
		"TypeServiceUnavailable": TypeServiceUnavailable, "TypeInternal": TypeInternal, "TypeUnauthorized": TypeUnauthorized,
		"TypeForbidden": TypeForbidden, "TypeQuotaExceeded": TypeQuotaExceeded,
	}
	for _, name := range declared {
		v, ok := values[name]
		if !ok {
			t.Errorf("%s is new: add it to the values map here and a case to goldenProblems", name)
			continue
		}
		if !slices.ContainsFunc(goldenProblems, func(g goldenCase) bool { return g.typ == v }) {
			t.Errorf("%s (%s) has no golden case", name, strconv.Quote(v))
		}
	}
}
