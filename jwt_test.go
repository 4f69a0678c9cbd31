package gatehouse

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testIssuer serves a JWKS and signs tokens with go-jose.
type testIssuer struct {
	srv  *httptest.Server
	priv ed25519.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ti := &testIssuer{priv: priv}
	ti.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}})
	}))
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) token(t *testing.T, mod func(map[string]any)) string {
	c := map[string]any{"iss": ti.srv.URL + "/", "sub": "alice", "aud": "orders-api", "exp": time.Now().Add(time.Minute).Unix(),
		"jti": "j1", "scope": "orders:read", "client_id": "web", "tenant": "acme", "roles": []string{"reader"}}
	if mod != nil {
		mod(c)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: ti.priv}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(t *testing.T, url, auth string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return do(t, req)
}

func TestJWTRoute(t *testing.T) {
	ti := newTestIssuer(t)
	up := newUpstream(t, nil)
	cfg := mustParse(t, fmt.Sprintf(`
jwt:
  issuers:
    - {issuer: "%[1]s/", jwks_url: "%[1]s/jwks", algorithms: [EdDSA]}
routes:
  - name: orders
    match: {path: /orders}
    auth: {jwt: {audience: orders-api, scopes: [orders:read]}}
    upstream: {url: %[2]q}
  - name: admin
    match: {path: /admin}
    auth: {jwt: {audience: orders-api, scopes: [orders:admin]}}
    upstream: {url: %[2]q}
`, ti.srv.URL, up.URL))
	buf := &bytes.Buffer{}
	gw, err := New(cfg, Deps{Log: slog.New(slog.DiscardHandler), AccessLog: lockedBuffer{mu: new(sync.Mutex), b: buf}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	res := bearer(t, srv.URL+"/orders", "Bearer "+ti.token(t, nil))
	if got := body(t, res); res.StatusCode != 200 {
		t.Fatalf("valid token: %d %s", res.StatusCode, got)
	}
	h := up.lastRequest().Header
	if h.Get("X-Gatehouse-Subject") != "alice" || h.Get("X-Gatehouse-Tenant") != "acme" || h.Get("X-Gatehouse-Principal-Kind") != "user" || h.Get("Authorization") != "" { // KEY-07: the token stays here
		t.Fatalf("identity headers upstream: %v", h)
	}
	res = bearer(t, srv.URL+"/orders", "")
	if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no challenge: %v", res.Header)
	}
	checkProblem(t, res, 401, "unauthorized")
	res = bearer(t, srv.URL+"/orders", "Bearer "+ti.token(t, func(c map[string]any) { c["aud"] = "billing" }))
	if !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("challenge %q", res.Header.Get("WWW-Authenticate"))
	}
	checkProblem(t, res, 401, "unauthorized")
	res = bearer(t, srv.URL+"/admin", "Bearer "+ti.token(t, nil))
	if !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("challenge %q", res.Header.Get("WWW-Authenticate"))
	}
	checkProblem(t, res, 403, "forbidden")
	checkProblem(t, bearer(t, srv.URL+"/orders?access_token="+ti.token(t, nil), ""), 400, "bad-request")
	if got := testutil.ToFloat64(gw.Metrics().jwksKeys.WithLabelValues(ti.srv.URL + "/")); got != 1 {
		t.Errorf("gatehouse_jwks_keys = %v", got)
	}
	if logs := buf.String(); strings.Contains(logs, ti.token(t, nil)[:40]) {
		t.Error("the token reached the access log")
	}
}

// With api_key and jwt on one route, either credential works.
func TestJWTOrAPIKey(t *testing.T) {
	ctx := context.Background()
	m := testKeyManager(t)
	key, _, _ := m.Create(ctx, apikey.CreateOptions{Owner: "bob"})
	ti := newTestIssuer(t)
	up := newUpstream(t, nil)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	cfg := mustParse(t, fmt.Sprintf(`
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
jwt: {issuers: [{issuer: "%[1]s/", jwks_url: "%[1]s/jwks"}]}
routes:
  - name: orders
    match: {path: /orders}
    auth: {api_key: {}, jwt: {audience: orders-api}}
    upstream: {url: %[2]q}
`, ti.srv.URL, up.URL))
	gw, err := New(cfg, Deps{Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard, APIKeys: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for name, auth := range map[string]string{"jwt": "Bearer " + ti.token(t, nil), "api key": "Bearer " + key} {
		if res := bearer(t, srv.URL+"/orders", auth); res.StatusCode != 200 {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	if res := bearer(t, srv.URL+"/orders", "Bearer "+ti.token(t, func(c map[string]any) { c["exp"] = 1 })); res.StatusCode != 401 {
		t.Errorf("expired JWT: %d", res.StatusCode)
	}
}

func TestJWTConfigErrors(t *testing.T) {
	t.Setenv("GH_TEST_OAUTH", strings.Repeat("o", 32))
	t.Setenv("GH_TEST_OAUTH_SHORT", "short")
	// The built-in server alone is enough for auth.jwt.
	if _, err := Parse("t.yaml", []byte("oauth: {issuer: \"https://gw.example/\", signing_key_secret: \"${env:GH_TEST_OAUTH}\"}\nroutes:\n  - {name: r, match: {path: /r}, upstream: {url: \"http://127.0.0.1:1\"}, auth: {jwt: {audience: a, issuers: [\"https://gw.example/\"]}}}\n")); err != nil {
		t.Fatalf("auth.jwt with the built-in server: %v", err)
	}
	for _, c := range []struct{ src, path, msg string }{
		{"jwt: {issuers: [{issuer: x, jwks_url: \"http://idp.example.com/jwks\"}]}\n", "jwt.issuers[0].jwks_url", "https only"},
		{"jwt: {issuers: [{issuer: x}]}\n", "jwt.issuers[0]", "exactly one"},
		{"jwt: {issuers: [{issuer: x, jwks_url: \"https://a/j\", algorithms: [none]}]}\n", "jwt.issuers[0].algorithms[0]", "none"},
		{"jwt: {issuers: [{issuer: x, jwks_url: \"https://a/j\", leeway: 10m}]}\n", "jwt.issuers[0].leeway", "120s"},
		{"jwt: {issuers: [{issuer: x, jwks_url: \"https://a/j\"}]}\nroutes:\n  - {name: r, match: {path: /r}, upstream: {url: \"http://127.0.0.1:1\"}, auth: {jwt: {issuers: [y]}}}\n", "routes[0].auth.jwt.audience", "required"},
		{"jwt: {issuers: [{issuer: x, jwks_url: \"https://a/j\"}]}\nroutes:\n  - {name: r, match: {path: /r}, upstream: {url: \"http://127.0.0.1:1\"}, auth: {jwt: {audience: a, issuers: [y]}}}\n", "routes[0].auth.jwt.issuers[0]", "not in jwt.issuers"},
		{"routes:\n  - {name: r, match: {path: /r}, upstream: {url: \"http://127.0.0.1:1\"}, auth: {jwt: {audience: a}}}\n", "routes[0].auth.jwt", "needs jwt.issuers"},
		{"oauth: {issuer: \"https://gw.example/auth\", signing_key_secret: \"${env:GH_TEST_OAUTH}\"}\n", "oauth.issuer", "no path"},
		{"oauth: {issuer: \"http://gw.example\", signing_key_secret: \"${env:GH_TEST_OAUTH}\"}\n", "oauth.issuer", "https"},
		{"oauth: {issuer: \"https://gw.example\"}\n", "oauth.signing_key_secret", "required"},
		{"oauth: {issuer: \"https://gw.example\", signing_key_secret: \"${env:GH_TEST_OAUTH_SHORT}\"}\n", "oauth.signing_key_secret", "32 bytes"},
		{"oauth: {issuer: \"https://gw.example\", signing_key_secret: \"${env:GH_TEST_OAUTH}\", access_token_ttl: 2h}\n", "oauth.access_token_ttl", "1h"},
	} {
		_, err := Parse("t.yaml", []byte(c.src))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v", c.src, err)
		}
		found := false
		for _, fe := range ce.Errors {
			found = found || fe.Path == c.path && strings.Contains(fe.Msg, c.msg) && fe.Line > 0
		}
		if !found {
			t.Errorf("want %s %q in %v", c.path, c.msg, ce.Errors)
		}
	}
}

// JWT-09 end to end: a revoked jti stops working at once, a cached token
// included.
func TestJWTRevocation(t *testing.T) {
	ti := newTestIssuer(t)
	up := newUpstream(t, nil)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	revoked := revocation.New(st, nil)
	cfg := mustParse(t, fmt.Sprintf("jwt: {issuers: [{issuer: \"%[1]s/\", jwks_url: \"%[1]s/jwks\"}]}\nroutes:\n  - {name: o, match: {path: /o}, auth: {jwt: {audience: orders-api}}, upstream: {url: %[2]q}}\n", ti.srv.URL, up.URL))
	gw, err := New(cfg, Deps{Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard, TokenRevocations: revoked})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	tok := ti.token(t, nil)
	if res := bearer(t, srv.URL+"/o", "Bearer "+tok); res.StatusCode != 200 {
		t.Fatalf("before: %d", res.StatusCode)
	}
	if err := revoked.Revoke(context.Background(), &store.RevokedToken{Issuer: ti.srv.URL + "/", JTI: "j1", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if res := bearer(t, srv.URL+"/o", "Bearer "+tok); res.StatusCode != 401 {
		t.Fatalf("after revocation: %d", res.StatusCode)
	}
}
