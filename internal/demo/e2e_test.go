package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

// The demo config, policies and OpenAPI document, in front of the real
// orders API: the printed commands do what the demo says, and the API's
// real responses match its document (responses are enforced).
func TestDemoEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	up := httptest.NewServer(NewOrders(nil).Handler())
	defer up.Close()
	s := Settings{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: dir, Upstream: up.URL,
		SecretFile: filepath.Join(dir, "secret"), PolicyFile: filepath.Join(dir, "demo.cedar"), SpecFile: filepath.Join(dir, "orders.openapi.yaml"),
		OAuthSecretFile: filepath.Join(dir, "oauth-secret")}
	if err := EnsureSecret(s.SecretFile); err != nil {
		t.Fatal(err)
	}
	if err := EnsureSecret(s.OAuthSecretFile); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.PolicyFile, []byte(Policies), 0o600)
	os.WriteFile(s.SpecFile, []byte(OpenAPI), 0o600)
	s.SchemaFile = filepath.Join(dir, "demo.cedarschema")
	os.WriteFile(s.SchemaFile, []byte(PolicySchema), 0o600)
	cfg, err := gatehouse.Parse("demo.yaml", []byte(Config(s)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(cfg.APIKeys.Secret.Value())})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := EnsureKeys(ctx, m, filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := oauth.NewKeyRing(st, []byte(cfg.OAuth.SigningKeySecret.Value()), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Load(ctx); err != nil {
		t.Fatal(err)
	}
	revoked := revocation.New(st, nil)
	authServer, err := oauth.New(oauth.Config{Issuer: cfg.OAuth.Issuer, Store: st, Keys: ring, Revocations: revoked})
	if err != nil {
		t.Fatal(err)
	}
	client, err := EnsureClient(ctx, st, filepath.Join(dir, "client.json"))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gatehouse.New(cfg, gatehouse.Deps{Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard, APIKeys: m, OAuth: authServer, TokenRevocations: revoked})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	call := func(method, path, key, ct, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", key)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const js = "application/json"
	for _, c := range []struct {
		method, path, key, ct, body string
		status                      int
		contains                    string
	}{
		// every tenant's orders at once: admins only
		{"GET", "/api/orders", keys.Alice, "", "", 403, `forbidden`},
		{"GET", "/api/orders", keys.Admin, "", "", 200, `"globex"`},
		// orders are created in the caller's own tenant, owned by the caller
		{"POST", "/api/tenants/acme/orders", keys.Alice, js, `{"item":"tnt","quantity":3}`, 201, `"owner":"alice"`},
		{"POST", "/api/tenants/globex/orders", keys.Alice, js, `{"item":"tnt","quantity":3}`, 403, ``},
		{"POST", "/api/tenants/globex/orders", keys.Carol, js, `{"item":"tnt","quantity":3}`, 403, `lacks a scope`},
		{"POST", "/api/tenants/acme/orders", keys.Alice, js, `{"item":"tnt","quantity":3,"tenant":"globex"}`, 400, `"pointer":"/tenant"`},
		{"POST", "/api/tenants/acme/orders", keys.Alice, js, `{"item":"tnt","quantity":3,"owner":"bob"}`, 400, `"pointer":"/owner"`},
		{"POST", "/api/tenants/acme/orders", keys.Alice, js, `{"item":"tnt","quantity":3,"is_admin":true}`, 400, `"pointer":"/is_admin"`},
		{"POST", "/api/tenants/acme/orders", keys.Alice, js, `{"item":"tnt","quantity":"three"}`, 400, `"pointer":"/quantity"`},
		{"POST", "/api/tenants/acme/orders", keys.Alice, js, `{"id":"9","item":"tnt","quantity":3}`, 400, `readOnly`},
		{"POST", "/api/tenants/acme/orders", keys.Alice, "text/plain", `tnt`, 415, `unsupported-media-type`},
		// one order by id: its tenant and owner are fetched and decided on
		{"GET", "/api/orders/1", keys.Alice, "", "", 200, `"owner":"alice"`},
		{"GET", "/api/orders/1", keys.Carol, "", "", 403, ``},
		{"GET", "/api/orders/3", keys.Carol, "", "", 200, `"owner":"carol"`},
		{"GET", "/api/orders/2", keys.Reader, "", "", 403, `lacks a scope`}, // same tenant, no orders:read
		{"GET", "/api/tenants/acme/orders/2", keys.Reader, "", "", 403, `lacks a scope`},
		{"PATCH", "/api/orders/1", keys.Carol, js, `{"quantity":2}`, 403, ``},
		{"PATCH", "/api/orders/2", keys.Alice, js, `{"quantity":2}`, 403, ``},
		{"PATCH", "/api/orders/1", keys.Alice, js, `{"quantity":4}`, 200, `"quantity":4`},
		{"DELETE", "/api/orders/1", keys.Carol, "", "", 403, ``},
		{"DELETE", "/api/orders/1", keys.Alice, "", "", 403, ``},
		{"GET", "/api/orders/999", keys.Alice, "", "", 403, ``},
		{"GET", "/api/tenants/acme/orders/1", keys.Carol, "", "", 403, ``},
		{"GET", "/api/tenants/globex/orders/1", keys.Carol, "", "", 404, `no such order in this tenant`},
		{"PATCH", "/api/tenants/globex/orders/1", keys.Carol, js, `{"quantity":2}`, 403, ``},
		{"GET", "/api/tenants/acme/orders", keys.Alice, "", "", 200, `"orders"`},
		{"GET", "/api/tenants/acme/orders", keys.Carol, "", "", 403, ``},
		{"PATCH", "/api/tenants/acme/orders/1", keys.Alice, js, `{"quantity":2}`, 200, `"quantity":2`},
		{"PATCH", "/api/tenants/acme/orders/1", keys.Alice, js, `{}`, 400, `fewer properties`},
		{"PATCH", "/api/tenants/acme/orders/2", keys.Alice, js, `{"quantity":2}`, 403, ``},
		{"DELETE", "/api/tenants/acme/orders/1", keys.Admin, "", "", 204, ``},
	} {
		status, body := call(c.method, c.path, c.key, c.ct, c.body)
		if status != c.status || !strings.Contains(body, c.contains) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, status, body, c.status, c.contains)
		}
	}
	// The printed client credentials flow: a token from the gateway's own
	// token endpoint (client of tenant acme) lists acme's orders; after
	// revocation it does not.
	tokenReq := func(path, form string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client.ID, client.Secret)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := tokenReq("/oauth2/token", "grant_type=client_credentials&scope=orders:read")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if res.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d", res.StatusCode)
	}
	withToken := func() int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/tenants/acme/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := withToken(); code != 200 {
		t.Fatalf("tenant-orders with an access token: %d", code)
	}
	if res := tokenReq("/oauth2/revoke", "token="+tok.AccessToken); res.StatusCode != 200 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if code := withToken(); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
}
