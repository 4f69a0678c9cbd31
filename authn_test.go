package gatehouse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

// API key authentication through the pipeline (KEY-03, KEY-06, LOG-02),
// against a real SQLite store.
func TestAPIKeyRoute(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := apikey.NewManager(apikey.Options{Store: st, ServerSecret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
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
	res = call(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+reader[:len(reader)-1]+"x") })
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
