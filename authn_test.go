package gatehouse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

// API key authentication through the pipeline (KEY-03, KEY-06, LOG-02),
// against a real SQLite store.
func TestAPIKeyRoute(t *testing.T) {
	ctx := context.Background()
	m := testKeyManager(t)
	reader, _, err := m.Create(ctx, apikey.CreateOptions{Owner: "alice", Tenant: "acme", Roles: []string{"reader"}, Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	noScope, _, _ := m.Create(ctx, apikey.CreateOptions{Owner: "bob", Tenant: "globex"})

	up := newUpstream(t, nil)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	cfg := mustParse(t, fmt.Sprintf(`
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
routes:
  - name: orders
    match: {path: /orders}
    auth: {api_key: {scopes: [orders:read]}}
    upstream: {url: %q}
`, up.URL))
	buf, mu := &bytes.Buffer{}, &sync.Mutex{}
	gw, err := New(cfg, Deps{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: lockedBuffer{mu, buf}, APIKeys: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	call := func(mod func(*http.Request)) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
		mod(req)
		return do(t, req)
	}

	res := call(func(*http.Request) {})
	if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("missing key: WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
	}
	checkProblem(t, res, 401, "unauthorized")
	last := "x"
	if strings.HasSuffix(reader, "x") {
		last = "y" // the key must really change (it ended in x 1 time in 62)
	}
	res = call(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+reader[:len(reader)-1]+last) })
	if !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad key: WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
	}
	checkProblem(t, res, 401, "unauthorized")
	res = call(func(r *http.Request) { r.Header.Set("X-API-Key", noScope) })
	if !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("missing scope: WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
	}
	checkProblem(t, res, 403, "forbidden")
	res = call(func(r *http.Request) { r.URL.RawQuery = "api_key=" + reader })
	checkProblem(t, res, 400, "bad-request")
	res = call(func(r *http.Request) { r.Header.Set("X-API-Key", reader+strings.Repeat("A", 4000)) })
	checkProblem(t, res, 401, "unauthorized") // oversized: not even parsed
	res = call(func(r *http.Request) { r.Header.Set("Authorization", "Basic "+reader) })
	checkProblem(t, res, 401, "unauthorized")
	if up.hits.Load() != 0 {
		t.Fatal("an unauthenticated request reached the upstream")
	}

	res = call(func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+reader)
		r.Header.Set("X-Gatehouse-Subject", "mallory")
		r.Header.Set("X-Gatehouse-Roles", "gatehouse:admin")
	})
	body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("good key: %d", res.StatusCode)
	}
	h := up.lastRequest().Header
	if h.Get("X-Gatehouse-Subject") != "alice" || h.Get("X-Gatehouse-Tenant") != "acme" || h.Get("X-Gatehouse-Roles") != "reader" || h.Get("X-Gatehouse-Key-Id") == "" {
		t.Errorf("identity headers upstream: %v", h)
	}
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	kid := reader[len(apikey.Prefix) : len(apikey.Prefix)+12]
	if !strings.Contains(logs, `"key_id":"`+kid+`"`) || !strings.Contains(logs, `"subject":"alice"`) {
		t.Errorf("principal not in the access log:\n%s", logs)
	}
	if strings.Contains(logs, reader[len(apikey.Prefix)+13:]) {
		t.Fatalf("a key secret reached the access log:\n%s", logs)
	}
}

func TestAPIKeyRouteNeedsSecret(t *testing.T) {
	errs := parseErrors(t, "routes:\n  - name: r\n    match: {path: /r}\n    auth: {api_key: {}}\n    upstream: {url: \"http://x\"}\n")
	if errs[0].Path != "routes[0].auth.api_key" || !strings.Contains(errs[0].Msg, "api_keys.secret") {
		t.Errorf("errors: %v", errs)
	}
}

// AZ-01, AZ-03, AZ-05 through the pipeline: tenant isolation across two
// tenants' keys, decisions in the access log, a broken policy file on
// reload keeps the old policies deciding.
func TestAuthorizeRoute(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, _ := apikey.NewManager(apikey.Options{Store: st, ServerSecret: bytes.Repeat([]byte("k"), 32)})
	alice, _, _ := m.Create(ctx, apikey.CreateOptions{Owner: "alice", Tenant: "acme"})
	carol, _, _ := m.Create(ctx, apikey.CreateOptions{Owner: "carol", Tenant: "globex"})
	dir := t.TempDir()
	pol := filepath.Join(dir, "orders.cedar")
	writePolicy := func(src string) {
		if err := os.WriteFile(pol, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy(`@id("tenant-isolation") permit (principal, action == Gatehouse::Action::"orders.read", resource is Gatehouse::Order) when { principal.tenant == resource.tenant };`)
	up := newUpstream(t, nil)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	src := fmt.Sprintf(`
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
policies: [%q]
routes:
  - name: tenant-order
    match: {methods: [GET], path: "/tenants/{tenant}/orders/{id}"}
    auth: {api_key: {}}
    authorize: {action: orders.read, resource: {type: Order, id: "{id}"}}
    upstream: {url: %q}
`, pol, up.URL)
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte(src), 0o600)
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	buf, mu := &bytes.Buffer{}, &sync.Mutex{}
	events := &eventLog{}
	gw, err := New(cfg, Deps{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: lockedBuffer{mu, buf}, APIKeys: m, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	get := func(key, path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("X-API-Key", key)
		return do(t, req)
	}
	if res := get(alice, "/tenants/acme/orders/1"); res.StatusCode != 200 {
		t.Fatalf("alice, own tenant: %d", res.StatusCode)
	}
	p := checkProblem(t, get(carol, "/tenants/acme/orders/1"), 403, "forbidden")
	if strings.Contains(p.Detail, "tenant") || strings.Contains(p.Detail, "isolation") {
		t.Errorf("403 reveals the policy: %q", p.Detail)
	}
	if res := get(carol, "/tenants/globex/orders/9"); res.StatusCode != 200 {
		t.Errorf("carol, own tenant: %d", res.StatusCode)
	}
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if !strings.Contains(logs, `"authz":"allow","policies":["tenant-isolation"]`) || !strings.Contains(logs, `"authz":"deny"`) {
		t.Errorf("decisions not in the access log:\n%s", logs)
	}
	if got := events.types(); got != "authz.denied" {
		t.Errorf("security events: %q, want one authz.denied", got)
	}
	// A broken policy file: the reload fails and the old policies keep deciding.
	writePolicy(`permit (principal, action, resource) when { principal. };`)
	if err := gw.ReloadFile(file); err == nil {
		t.Fatal("a broken policy file reloaded")
	}
	checkProblem(t, get(carol, "/tenants/acme/orders/1"), 403, "forbidden")
	// A good change applies on reload.
	writePolicy(`permit (principal, action, resource);`)
	if err := gw.ReloadFile(file); err != nil {
		t.Fatal(err)
	}
	if res := get(carol, "/tenants/acme/orders/1"); res.StatusCode != 200 {
		t.Errorf("after reloading a permissive policy: %d", res.StatusCode)
	}
}

func TestAuthorizeConfigErrors(t *testing.T) {
	errs := parseErrors(t, "routes:\n  - name: r\n    match: {path: \"/o/{id}\"}\n    authorize: {resource: {type: \"Bad Type\", id: \"{nope}\"}}\n    upstream: {url: \"http://x\"}\n")
	var got []string
	for _, e := range errs {
		got = append(got, e.Path+": "+e.Msg)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"routes[0].authorize: needs policies", "routes[0].authorize.resource.type: must be a Cedar type", "routes[0].authorize.resource.id: {nope} is not a path parameter"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
}

// The decision API decides with the loaded policies.
func TestDecide(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "p.cedar")
	os.WriteFile(pol, []byte(`permit (principal, action, resource) when { principal.tenant == resource.tenant };`), 0o600)
	gw, err := New(mustParse(t, fmt.Sprintf("policies: [%q]\nroutes: []\n", pol)), Deps{AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	d := gw.Decide(policy.Input{Principal: &identity.Principal{Kind: identity.KindUser, Subject: "u", Tenant: "t"}, Action: "x", Resource: policy.Resource{Attrs: map[string]string{"tenant": "t"}}})
	if !d.Allowed {
		t.Errorf("Decide: %+v", d)
	}
}

type eventLog struct {
	mu sync.Mutex
	ev []audit.Event
}

func (e *eventLog) Record(_ context.Context, ev audit.Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *eventLog) types() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var t []string
	for _, ev := range e.ev {
		t = append(t, ev.Type)
	}
	return strings.Join(t, ",")
}

// testKeyManager is an API key manager on a fresh SQLite store, under the
// server secret "k" * 32 (GH_TEST_KEY_SECRET in the test configs).
func testKeyManager(t *testing.T) *apikey.Manager {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := apikey.NewManager(apikey.Options{Store: st, ServerSecret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
