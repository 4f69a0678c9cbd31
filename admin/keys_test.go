package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

func keysServer(t *testing.T) (h http.Handler, m *apikey.Manager, adminKey, userKey string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err = apikey.NewManager(apikey.Options{Store: st, ServerSecret: bytes.Repeat([]byte("a"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	adminKey, _, _ = m.Create(ctx, apikey.CreateOptions{Owner: "ops", Roles: []string{AdminRole}})
	userKey, _, _ = m.Create(ctx, apikey.CreateOptions{Owner: "alice", Tenant: "acme"})
	return Handler(Options{Registry: prometheus.NewRegistry(), Keys: m}), m, adminKey, userKey
}

func call(t *testing.T, h http.Handler, method, path, key, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec, m
}

// CFG-01: the admin API needs an admin key; user keys and no key are refused.
func TestKeysAPIAuth(t *testing.T) {
	h, _, _, user := keysServer(t)
	rec, _ := call(t, h, "GET", "/v1/keys", "", "")
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("no credentials: %d %v", rec.Code, rec.Header())
	}
	if rec, _ := call(t, h, "GET", "/v1/keys", user, ""); rec.Code != 403 {
		t.Errorf("user key: %d", rec.Code)
	}
	if rec, _ := call(t, h, "GET", "/v1/keys", "gthk_bogus", ""); rec.Code != 401 {
		t.Errorf("bogus key: %d", rec.Code)
	}
}

func TestKeysAPILifecycle(t *testing.T) {
	h, m, adm, _ := keysServer(t)
	ctx := context.Background()
	rec, created := call(t, h, "POST", "/v1/keys", adm, `{"name":"ci","owner":"carol","tenant":"globex","scopes":["orders:read"],"rate_limits":{"per-key":50}}`)
	if rec.Code != 201 || rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(created["key"].(string), "gthk_") || rec.Header().Get("Location") != "/v1/keys/"+created["id"].(string) {
		t.Fatalf("create: %d %v %v", rec.Code, rec.Header(), created)
	}
	if _, ok := created["hash"]; ok {
		t.Error("the hash is exposed")
	}
	// A repeated create makes another key.
	_, again := call(t, h, "POST", "/v1/keys", adm, `{"name":"ci","owner":"carol","tenant":"globex"}`)
	if again["id"] == created["id"] || again["key"] == created["key"] {
		t.Error("a repeated create returned the same key")
	}
	for _, bad := range []string{`{"owner":"carol","admin":true}`, `{"owner":"a b"}`, `{"owner":`, `[]`} {
		if rec, p := call(t, h, "POST", "/v1/keys", adm, bad); rec.Code != 400 || strings.Contains(p["detail"].(string), "admin\":true") {
			t.Errorf("create %s: %d %v", bad, rec.Code, p)
		}
	}
	rec, list := call(t, h, "GET", "/v1/keys?tenant=globex", adm, "")
	if rec.Code != 200 || len(list["keys"].([]any)) != 2 {
		t.Errorf("list: %d %v", rec.Code, list)
	}
	id := created["id"].(string)
	if rec, got := call(t, h, "GET", "/v1/keys/"+id, adm, ""); rec.Code != 200 || got["key"] != nil || got["owner"] != "carol" {
		t.Errorf("get: %d %v", rec.Code, got)
	}
	if rec, _ := call(t, h, "GET", "/v1/keys/nosuchkeyid0", adm, ""); rec.Code != 404 {
		t.Errorf("get unknown: %d", rec.Code)
	}
	rec, succ := call(t, h, "POST", "/v1/keys/"+id+"/rotate", adm, `{"grace":"1h"}`)
	if rec.Code != 201 || succ["id"] == id {
		t.Fatalf("rotate: %d %v", rec.Code, succ)
	}
	if _, err := m.Verify(ctx, created["key"].(string)); err != nil {
		t.Errorf("old key during grace: %v", err)
	}
	if rec, _ := call(t, h, "POST", "/v1/keys/"+id+"/rotate", adm, `{}`); rec.Code != 409 {
		t.Errorf("rotating a rotated key: %d", rec.Code)
	}
	sid := succ["id"].(string)
	if rec, got := call(t, h, "DELETE", "/v1/keys/"+sid, adm, ""); rec.Code != 200 || got["status"] != "revoked" {
		t.Errorf("revoke: %d %v", rec.Code, got)
	}
	if _, err := m.Verify(ctx, succ["key"].(string)); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("revoked key: %v", err)
	}
}

func TestDecideAPI(t *testing.T) {
	_, m, adm, user := keysServer(t)
	h := Handler(Options{Registry: prometheus.NewRegistry(), Keys: m, Decide: func(in policy.Input) policy.Decision {
		return policy.Decision{Allowed: in.Principal != nil && in.Principal.Tenant == in.Resource.Attrs["tenant"], Policies: []string{"p1"}}
	}})
	body := `{"principal":{"kind":"api_key","id":"k","subject":"alice","tenant":"acme"},"action":"orders.read","resource":{"type":"Order","id":"1","attrs":{"tenant":"acme"}},"context":{"ip":"10.0.0.1"}}`
	rec, got := call(t, h, "POST", "/v1/decide", adm, body)
	if rec.Code != 200 || got["decision"] != "allow" {
		t.Errorf("decide: %d %v", rec.Code, got)
	}
	if rec, _ := call(t, h, "POST", "/v1/decide", user, body); rec.Code != 403 {
		t.Errorf("user key: %d", rec.Code)
	}
	if rec, _ := call(t, h, "POST", "/v1/decide", adm, `{"context":{"ip":"not-an-ip"}}`); rec.Code != 400 {
		t.Errorf("bad input: %d", rec.Code)
	}
}
