package gatehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const ordersSpec = "apispec/testdata/orders-3.1.yaml"

// echoUpstream answers 201 with the body it got, as JSON.
func echoUpstream(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})
}

func validateYAML(up, spec, validate string) string {
	return fmt.Sprintf(`
routes:
  - name: orders
    match: {methods: [GET, POST], path: /api/orders}
    upstream: {url: %q, strip_prefix: /api}
    validate: {openapi: %q, %s}
  - name: order
    match: {methods: [GET, PUT, DELETE], path: "/api/orders/{id}"}
    upstream: {url: %q, strip_prefix: /api}
    validate: {openapi: %q, %s}
`, up, spec, validate, up, spec, validate)
}

func post(t *testing.T, url, ct, b string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(b))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Tenant", "acme")
	return do(t, req)
}

type validationProblem struct {
	problemBody
	Errors []struct {
		Location, Name, Pointer, Reason string
	} `json:"errors"`
}

func TestValidateRouteEnforce(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, validateYAML(up.URL, ordersSpec, "strict: true, reject_unknown_fields: true"))
	valid := `{"item":"book","quantity":2}`
	res := post(t, g.srv.URL+"/api/orders", "application/json", valid)
	if got := body(t, res); res.StatusCode != 201 || got != valid {
		t.Fatalf("valid request: %d %q", res.StatusCode, got)
	}
	hits := up.hits.Load()

	res = post(t, g.srv.URL+"/api/orders", "application/json", `{"item":"book","quantity":"2","is_admin":true}`)
	if res.StatusCode != 400 {
		t.Fatalf("invalid request: %d", res.StatusCode)
	}
	var p validationProblem
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.HasSuffix(p.Type, "/invalid-request") || len(p.Errors) != 2 || p.RequestID == "" {
		t.Fatalf("problem %+v", p)
	}
	// Both failures at once: the undeclared field (mass assignment) and the type.
	if p.Errors[0].Pointer != "/is_admin" || p.Errors[0].Reason != "property not declared in the schema" || p.Errors[1].Pointer != "/quantity" {
		t.Fatalf("errors %+v", p.Errors)
	}
	checkProblem(t, post(t, g.srv.URL+"/api/orders", "text/plain", "hi"), 415, "unsupported-media-type")
	req, _ := http.NewRequest(http.MethodPut, g.srv.URL+"/api/orders/o-1", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	res = do(t, req)
	if res.Header.Get("Allow") != "GET, HEAD, DELETE" {
		t.Errorf("Allow %q", res.Header.Get("Allow"))
	}
	checkProblem(t, res, 405, "method-not-allowed")
	if up.hits.Load() != hits {
		t.Fatalf("refused requests reached the upstream")
	}
	m := g.gw.Metrics().validation
	if got := testutil.ToFloat64(m.WithLabelValues("orders", "body", "enforce")); got != 1 {
		t.Errorf("body enforce failures = %v", got)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("order", "operation", "enforce")); got != 1 {
		t.Errorf("operation enforce failures = %v", got)
	}
	if logs := g.logs(); !strings.Contains(logs, "body /quantity: wrong type") {
		t.Errorf("access log lacks the cause: %s", logs)
	}
}

func TestValidateRouteReport(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, validateYAML(up.URL, ordersSpec, "mode: report, reject_unknown_fields: true"))
	bad := `{"item":"book","quantity":2,"is_admin":true}`
	res := post(t, g.srv.URL+"/api/orders", "application/json", bad)
	if got := body(t, res); res.StatusCode != 201 || got != bad {
		t.Fatalf("report mode: %d %q", res.StatusCode, got)
	}
	if got := testutil.ToFloat64(g.gw.Metrics().validation.WithLabelValues("orders", "body", "report")); got != 1 {
		t.Errorf("report failures = %v", got)
	}
	if logs := g.logs(); !strings.Contains(logs, "report mode: passed on") || !strings.Contains(logs, "/is_admin") || strings.Contains(logs, `"is_admin":true`) {
		t.Errorf("report log: %s", logs)
	}
}

// API3: a response carrying more than the document declares never
// reaches the client.
func TestValidateResponsesEnforce(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/leaky") {
			io.WriteString(w, `{"item":"x","quantity":1,"secret_note":"card 4111-1111"}`)
			return
		}
		io.WriteString(w, `{"item":"x","quantity":1}`)
	})
	g := startGateway(t, validateYAML(up.URL, ordersSpec, "responses: enforce"))
	if res := get(t, g.srv.URL+"/api/orders/o-1"); res.StatusCode != 200 || body(t, res) != `{"item":"x","quantity":1}` {
		t.Fatalf("valid response: %d", res.StatusCode)
	}
	res := get(t, g.srv.URL+"/api/orders/leaky")
	b := body(t, res)
	if res.StatusCode != 502 || strings.Contains(b, "4111") || strings.Contains(b, "secret_note") {
		t.Fatalf("leaky response: %d %s", res.StatusCode, b)
	}
	if got := testutil.ToFloat64(g.gw.Metrics().validation.WithLabelValues("order", "response", "enforce")); got != 1 {
		t.Errorf("response failures = %v", got)
	}
	if !strings.Contains(g.logs(), "replaced by a 502") {
		t.Error("replaced response not logged")
	}
}

// Validation runs after authentication: an anonymous caller's body is
// never parsed.
func TestValidateAfterAuthentication(t *testing.T) {
	ctx := context.Background()
	m := testKeyManager(t)
	key, _, err := m.Create(ctx, apikey.CreateOptions{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	up := echoUpstream(t)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	cfg := mustParse(t, fmt.Sprintf(`
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
routes:
  - name: orders
    match: {path: /orders}
    auth: {api_key: {}}
    upstream: {url: %q}
    validate: {openapi: %q}
`, up.URL, ordersSpec))
	gw, err := New(cfg, Deps{Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard, APIKeys: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	if res := post(t, srv.URL+"/orders", "application/json", `{"quantity":"bad"}`); res.StatusCode != 401 {
		t.Fatalf("anonymous bad body: %d, want 401", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"quantity":"bad"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	if res := do(t, req); res.StatusCode != 400 {
		t.Fatalf("authenticated bad body: %d, want 400", res.StatusCode)
	}
}

func TestValidateConfigErrors(t *testing.T) {
	for _, c := range []struct{ validate, path, msg string }{
		{`{openapi: apispec/testdata/broken.yaml}`, "routes[0].validate.openapi", "missing.yaml"},
		{`{openapi: apispec/testdata/none.yaml}`, "routes[0].validate.openapi", "no such file"},
		{`{openapi: ` + ordersSpec + `, mode: block}`, "routes[0].validate.mode", "block"},
		{`{openapi: ` + ordersSpec + `, responses: maybe}`, "routes[0].validate.responses", "maybe"},
		{`{openapi: ` + ordersSpec + `, allow_remote_refs: [ftp://x/]}`, "routes[0].validate.allow_remote_refs[0]", "URL prefix"},
		{`{mode: report}`, "routes[0].validate.openapi", "required"},
	} {
		src := "routes:\n  - name: orders\n    match: {path: /orders}\n    upstream: {url: \"http://127.0.0.1:1\"}\n    validate: " + c.validate + "\n"
		_, err := Parse("test.yaml", []byte(src))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v", c.validate, err)
		}
		found := false
		for _, fe := range ce.Errors {
			found = found || fe.Path == c.path && fe.Line == 5 && strings.Contains(fe.Msg, c.msg)
		}
		if !found {
			t.Errorf("%s: want %s (line 5) %q in %v", c.validate, c.path, c.msg, ce.Errors)
		}
	}
}

// The document hot-reloads with the config; a broken one leaves the
// previous document enforcing.
func TestValidateReload(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	doc := func(max int) string {
		return fmt.Sprintf(`openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /orders:
    get:
      parameters: [{name: limit, in: query, schema: {type: integer, maximum: %d}}]
      responses: {"200": {description: ok}}
`, max)
	}
	os.WriteFile(spec, []byte(doc(10)), 0o600)
	up := newUpstream(t, nil)
	src := fmt.Sprintf("routes:\n  - name: orders\n    match: {path: /orders}\n    upstream: {url: %q}\n    validate: {openapi: %q}\n", up.URL, spec)
	conf := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(conf, []byte(src), 0o600)
	g := startGateway(t, src)
	if res := get(t, g.srv.URL+"/orders?limit=50"); res.StatusCode != 400 {
		t.Fatalf("limit 50 under maximum 10: %d", res.StatusCode)
	}
	os.WriteFile(spec, []byte(doc(100)), 0o600)
	if err := g.gw.ReloadFile(conf); err != nil {
		t.Fatal(err)
	}
	if res := get(t, g.srv.URL+"/orders?limit=50"); res.StatusCode != 200 {
		t.Fatalf("after reload: %d", res.StatusCode)
	}
	os.WriteFile(spec, []byte("openapi: 3.1.0\npaths: [not, a, map\n"), 0o600)
	if err := g.gw.ReloadFile(conf); err == nil {
		t.Fatal("a broken document reloaded")
	}
	if res := get(t, g.srv.URL+"/orders?limit=500"); res.StatusCode != 400 {
		t.Fatalf("previous document stopped enforcing: %d", res.StatusCode)
	}
}

// Routes naming one document with one set of options share a compiled copy.
func TestValidateSharesDocuments(t *testing.T) {
	cfg := mustParse(t, validateYAML("http://127.0.0.1:1", ordersSpec, "strict: true"))
	if cfg.docs == nil || len(cfg.docs.specs) != 1 {
		t.Fatalf("validation loaded %v documents, want 1", cfg.docs)
	}
	a, errA := cfg.documents().spec(cfg.Routes[0].OpenAPI)
	b, errB := cfg.documents().spec(cfg.Routes[1].OpenAPI)
	if errA != nil || errB != nil || a == nil || a != b {
		t.Fatal("document compiled twice")
	}
	if len(cfg.docs.specs) != 1 {
		t.Fatal("compile loaded a document validation had loaded")
	}
}
