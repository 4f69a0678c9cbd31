package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

type env struct {
	srv       *httptest.Server
	s         *Server
	st        *sqlstore.Store
	keys      *KeyRing
	rev       *revocation.List
	id, sec   string
	id2, sec2 string
}

var secret = []byte(strings.Repeat("s", 32))

func setup(t *testing.T) *env { return setupAlg(t, "EdDSA") }

func setupAlg(t *testing.T, alg string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := NewKeyRing(st, secret, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.UseAlgorithm(alg); err != nil {
		t.Fatal(err)
	}
	if err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, keys: keys, rev: revocation.New(st, nil)}
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	if e.s, err = New(Config{Issuer: e.srv.URL, Store: st, Keys: keys, Revocations: e.rev, Users: st, Codes: st, Refresh: st}); err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = e.s.Handler()
	c, sec, err := CreateClient(ctx, st, ClientOptions{ID: "billing", Scopes: []string{"orders:read", "orders:write"},
		Audiences: []string{"orders-api", "stock-api"}, Roles: []string{"service"}, Tenant: "acme"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.id, e.sec = c.ID, sec
	c2, sec2, err := CreateClient(ctx, st, ClientOptions{ID: "reports", Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.id2, e.sec2 = c2.ID, sec2
	return e
}

func (e *env) post(t *testing.T, path string, form url.Values, user, pass string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", path, res.Header.Get("Cache-Control"))
	}
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &m)
	return res, m
}

// Independent clients: golang.org/x/oauth2 gets tokens, coreos/go-oidc
// discovers the issuer and verifies them against the JWKS.
func TestIndependentClients(t *testing.T) {
	e := setup(t)
	ctx := oidc.ClientContext(context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client()), e.srv.Client())
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: e.id, ClientSecret: e.sec, TokenURL: e.srv.URL + "/oauth2/token", AuthStyle: style,
			Scopes: []string{"orders:read"}, EndpointParams: url.Values{"resource": {"stock-api"}}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if tok.RefreshToken != "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) > 11*time.Minute {
			t.Fatalf("token %+v", tok)
		}
		v := e.oidcVerifier(t, ctx, oidc.EdDSA)
		idt, err := v.Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("go-oidc verification: %v", err)
		}
		var claims struct {
			ClientID string   `json:"client_id"`
			Scope    string   `json:"scope"`
			Roles    []string `json:"roles"`
			Tenant   string   `json:"tenant"`
			JTI      string   `json:"jti"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if idt.Subject != e.id || idt.Audience[0] != "stock-api" || claims.ClientID != e.id || claims.Scope != "orders:read" ||
			claims.Roles[0] != "service" || claims.Tenant != "acme" || claims.JTI == "" {
			t.Fatalf("claims %+v %+v", idt, claims)
		}
		// The gateway's own JWT stage accepts it: typ at+jwt, EdDSA, the built-in issuer.
		gv := jwt.NewVerifier([]*jwt.Issuer{e.s.JWTIssuer()}, jwt.VerifierOptions{})
		c, err := gv.Verify(ctx, tok.AccessToken, &jwt.Require{Audience: "stock-api", Scopes: []string{"orders:read"}})
		if err != nil || c.Principal().Kind != "client" {
			t.Fatalf("JWT stage: %v", err)
		}
	}
	// RFC 8414 metadata only: this server is no OpenID Provider (it issues
	// no ID tokens), so it does not claim to be one.
	if res, _ := e.srv.Client().Get(e.srv.URL + "/.well-known/openid-configuration"); res.StatusCode != 404 {
		t.Fatalf("OpenID discovery served: %d", res.StatusCode)
	}
	for _, p := range []string{"/.well-known/oauth-authorization-server"} {
		res, err := e.srv.Client().Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		json.NewDecoder(res.Body).Decode(&md)
		res.Body.Close()
		grants, _ := json.Marshal(md["grant_types_supported"])
		pkce, _ := json.Marshal(md["code_challenge_methods_supported"])
		if md["issuer"] != e.srv.URL || md["token_endpoint"] != e.srv.URL+"/oauth2/token" || strings.Contains(string(grants), "implicit") ||
			strings.Contains(string(grants), "password") || string(pkce) != `["S256"]` || md["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("%s: %v", p, md)
		}
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	e := setup(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, vs := range cc {
			v[k] = vs
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"valid", cc, e.id, e.sec, 200, ""},
		{"wrong secret", cc, e.id, e.sec + "x", 401, "invalid_client"},
		{"unknown client", cc, "nobody", e.sec, 401, "invalid_client"},
		{"no client auth", cc, "", "", 401, "invalid_client"},
		{"two auth methods", with(url.Values{"client_id": {e.id}, "client_secret": {e.sec}}), e.id, e.sec, 400, "invalid_request"},
		{"scope widening", with(url.Values{"scope": {"orders:read orders:admin"}}), e.id, e.sec, 400, "invalid_scope"},
		{"other client's scope", with(url.Values{"scope": {"orders:write"}}), e.id2, e.sec2, 400, "invalid_scope"},
		{"unknown resource", with(url.Values{"resource": {"billing-api"}}), e.id, e.sec, 400, "invalid_target"},
		{"two resources", with(url.Values{"resource": {"orders-api", "stock-api"}}), e.id, e.sec, 400, "invalid_target"},
		{"password grant", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, e.id, e.sec, 400, "unsupported_grant_type"},
		{"implicit", url.Values{"grant_type": {"implicit"}}, e.id, e.sec, 400, "unsupported_grant_type"},
		{"no grant", url.Values{}, e.id, e.sec, 400, "invalid_request"},
		{"repeated parameter", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, e.id, e.sec, 400, "invalid_request"},
	}
	for _, c := range cases {
		res, body := e.post(t, "/oauth2/token", c.form, c.user, c.pass)
		if res.StatusCode != c.status || c.code != "" && body["error"] != c.code {
			t.Errorf("%s: %d %v", c.name, res.StatusCode, body)
		}
		if c.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
		if c.status == 200 && (body["access_token"] == nil || body["refresh_token"] != nil) {
			t.Errorf("%s: %v", c.name, body)
		}
	}
	// A JSON body is refused.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(e.id, e.sec)
	if res, _ := e.srv.Client().Do(req); res.StatusCode != 400 {
		t.Errorf("JSON body: %d", res.StatusCode)
	}
	// A disabled client stops at once.
	e.st.UpdateClient(context.Background(), e.id, func(c *store.OAuthClient) error { c.Disabled = true; return nil })
	if res, body := e.post(t, "/oauth2/token", cc, e.id, e.sec); res.StatusCode != 401 || body["error"] != "invalid_client" {
		t.Errorf("disabled client: %d %v", res.StatusCode, body)
	}
}

func (e *env) token(t *testing.T, id, sec string) string {
	t.Helper()
	res, body := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, sec)
	if res.StatusCode != 200 {
		t.Fatalf("token: %d %v", res.StatusCode, body)
	}
	return body["access_token"].(string)
}

func TestIntrospectionAndRevocation(t *testing.T) {
	e := setup(t)
	tok := e.token(t, e.id, e.sec)
	if res, body := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, "", ""); res.StatusCode != 401 || body["active"] != nil {
		t.Fatalf("introspection without client auth: %d %v", res.StatusCode, body)
	}
	res, body := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, e.id2, e.sec2)
	if res.StatusCode != 200 || body["active"] != true || body["client_id"] != e.id || body["scope"] != "orders:read orders:write" {
		t.Fatalf("introspect: %d %v", res.StatusCode, body)
	}
	if _, body := e.post(t, "/oauth2/introspect", url.Values{"token": {"garbage"}}, e.id, e.sec); len(body) != 1 || body["active"] != false {
		t.Fatalf("inactive answer carries more than active: %v", body)
	}
	// Another client may not revoke it; its own client may.
	if res, body := e.post(t, "/oauth2/revoke", url.Values{"token": {tok}}, e.id2, e.sec2); res.StatusCode != 400 || body["error"] != "unauthorized_client" {
		t.Fatalf("foreign revoke: %d %v", res.StatusCode, body)
	}
	if res, _ := e.post(t, "/oauth2/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, e.id, e.sec); res.StatusCode != 200 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if _, body := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, e.id, e.sec); body["active"] != false || len(body) != 1 {
		t.Fatalf("revoked token introspects as %v", body)
	}
	gv := jwt.NewVerifier([]*jwt.Issuer{e.s.JWTIssuer()}, jwt.VerifierOptions{Revocations: e.rev})
	if _, err := gv.Verify(context.Background(), tok, &jwt.Require{Audience: "orders-api"}); !errors.Is(err, jwt.ErrRevoked) {
		t.Fatalf("revoked token at the JWT stage: %v", err)
	}
	if res, _ := e.post(t, "/oauth2/revoke", url.Values{"token": {"not-a-token"}}, e.id, e.sec); res.StatusCode != 200 {
		t.Fatalf("revoking garbage: %d (RFC 7009 wants 200)", res.StatusCode)
	}
}

// Rotation: the new key signs, tokens of the retired one still verify, both
// are in the JWKS; a wrong sealing secret cannot load the keys.
func TestSigningKeyRotation(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	old := e.token(t, e.id, e.sec)
	oldKid, _, _ := e.keys.signer()
	newKid, err := e.keys.Rotate(ctx)
	if err != nil || newKid == oldKid {
		t.Fatalf("rotate: %v", err)
	}
	fresh := e.token(t, e.id, e.sec)
	gv := jwt.NewVerifier([]*jwt.Issuer{e.s.JWTIssuer()}, jwt.VerifierOptions{CacheSize: -1})
	for _, tok := range []string{old, fresh} {
		if _, err := gv.Verify(ctx, tok, &jwt.Require{Audience: "orders-api"}); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	res, _ := e.srv.Client().Get(e.srv.URL + "/oauth2/jwks")
	var set struct{ Keys []map[string]string }
	json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if len(set.Keys) != 2 || set.Keys[0]["kid"] != newKid || set.Keys[0]["d"] != "" {
		t.Fatalf("jwks %+v", set)
	}
	if rotated, err := e.keys.RotateIfOlder(ctx, time.Hour); err != nil || rotated {
		t.Fatalf("a fresh key was rotated: %v", err)
	}
	later := time.Now().Add(2 * time.Hour)
	aged, _ := NewKeyRing(e.st, secret, time.Hour, func() time.Time { return later })
	if err := aged.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if rotated, err := aged.RotateIfOlder(ctx, time.Hour); err != nil || !rotated {
		t.Fatalf("an old key was not rotated: %v", err)
	}
	wrong, _ := NewKeyRing(e.st, []byte(strings.Repeat("w", 32)), time.Hour, nil)
	if err := wrong.Load(ctx); err == nil || !strings.Contains(err.Error(), "unsealed") {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := NewKeyRing(e.st, []byte("short"), time.Hour, nil); err == nil {
		t.Fatal("a short sealing secret was accepted")
	}
}

// RL-06, RL-03: failed client authentications are counted per (client,
// address) and per address, before the check; a correct secret from
// another address is never refused; ids that cannot be client ids are
// refused before any lookup and leave nothing behind.
func TestRL06ClientAuthThrottle(t *testing.T) {
	e := setup(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	e.s.throttle.mu.Lock()
	e.s.throttle.now = func() time.Time { return time.Unix(0, now.Load()) }
	e.s.throttle.mu.Unlock()
	h := e.s.Handler()
	token := func(addr, id, secret string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		req.RemoteAddr = addr + ":1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for range clientAttemptsPerPair {
		if rec := token("198.51.100.1", e.id, "wrong"); rec.Code != 401 {
			t.Fatalf("failure: %d", rec.Code)
		}
	}
	if rec := token("198.51.100.1", e.id, e.sec); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the guessing address is not throttled: %d", rec.Code)
	}
	if rec := token("203.0.113.5", e.id, e.sec); rec.Code != 200 {
		t.Fatalf("the right secret from elsewhere was refused: %d %s", rec.Code, rec.Body)
	}
	// Per address, across clients.
	for i := range clientAttemptsPerAddr {
		token("198.51.100.2", fmt.Sprintf("nosuch%d", i), "wrong")
	}
	if rec := token("198.51.100.2", e.id2, e.sec2); rec.Code != 429 {
		t.Fatalf("an address guessing many clients: %d", rec.Code)
	}
	// Attacker-sized ids: refused before any entry is made.
	n := e.s.throttle.len()
	for _, id := range []string{strings.Repeat("a", 65<<10), "a b", "../x", strings.Repeat("x", 65)} {
		if rec := token("198.51.100.3", id, "wrong"); rec.Code != 401 {
			t.Fatalf("id %.20q: %d", id, rec.Code)
		}
	}
	if e.s.throttle.len() != n {
		t.Fatalf("malformed ids made throttle entries: %d -> %d", n, e.s.throttle.len())
	}
	now.Add(int64(clientWindow + time.Second))
	if rec := token("198.51.100.1", e.id, e.sec); rec.Code != 200 {
		t.Fatalf("after the window: %d", rec.Code)
	}
}

// RL-06: the hash gate runs at most its size at once and refuses beyond
// its waiting room.
func TestRL06HashGate(t *testing.T) {
	g := newHashGate(1)
	g.wait = time.Minute
	var running, peak atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- g.run(context.Background(), func() {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				<-release
				running.Add(-1)
			})
		}()
	}
	busy := 0
	for busy < 20-1-int(g.maxWait) {
		if err := <-errs; errors.Is(err, errBusy) {
			busy++
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a waiting hash failed: %v", err)
		}
	}
	if peak.Load() != 1 {
		t.Fatalf("%d hashes at once", peak.Load())
	}
}

// RL-06: a sign-in form token is spent on first use; forged ones fail.
func TestRL06CSRFSingleUse(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCSRF([]byte(strings.Repeat("k", 32)), func() time.Time { return now })
	tok, _ := c.issue()
	if !c.spend(tok) || c.spend(tok) {
		t.Fatal("a token was not single use")
	}
	other := newCSRF([]byte(strings.Repeat("o", 32)), func() time.Time { return now })
	forged, _ := other.issue()
	if c.spend(forged) || c.spend("AAAA") || c.spend(strings.Repeat("A", 54)) {
		t.Fatal("a forged token was accepted")
	}
	late, _ := c.issue()
	now = now.Add(16 * time.Minute)
	if c.spend(late) {
		t.Fatal("an expired token was accepted")
	}
}

// oidcVerifier is go-oidc's verifier for the server's tokens, keyed from
// the jwks_uri of its RFC 8414 metadata (whose issuer must be the URL).
func (e *env) oidcVerifier(t *testing.T, ctx context.Context, alg string) *oidc.IDTokenVerifier {
	t.Helper()
	res, err := e.srv.Client().Get(e.srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(res.Body).Decode(&md); err != nil || md.Issuer != e.srv.URL {
		t.Fatalf("metadata: %+v %v", md, err)
	}
	return oidc.NewVerifier(md.Issuer, oidc.NewRemoteKeySet(ctx, md.JWKSURI), &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{alg}})
}

// ES256 and RS256 are selectable; go-oidc and the JWT stage verify both,
// and switching algorithms keeps the old key verifying.
func TestSigningAlgorithms(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256"} {
		e := setupAlg(t, alg)
		ctx := oidc.ClientContext(context.Background(), e.srv.Client())
		tok := e.token(t, e.id, e.sec)
		v := e.oidcVerifier(t, ctx, alg)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("%s: go-oidc: %v", alg, err)
		}
		gv := jwt.NewVerifier([]*jwt.Issuer{e.s.JWTIssuer()}, jwt.VerifierOptions{CacheSize: -1})
		if _, err := gv.Verify(ctx, tok, &jwt.Require{Audience: "orders-api"}); err != nil {
			t.Fatalf("%s: JWT stage: %v", alg, err)
		}
		if err := e.keys.UseAlgorithm("EdDSA"); err != nil {
			t.Fatal(err)
		}
		if err := e.keys.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, alg2, _ := e.keys.signer(); alg2 != "EdDSA" {
			t.Fatalf("after switching: %s", alg2)
		}
		if _, err := gv.Verify(ctx, tok, &jwt.Require{Audience: "orders-api"}); err != nil {
			t.Fatalf("%s token after switching to EdDSA: %v", alg, err)
		}
	}
	if err := (&KeyRing{}).UseAlgorithm("HS256"); err == nil {
		t.Fatal("HS256 accepted for signing keys")
	}
}

// RL-06: 40 concurrent sign-in attempts for one user from one address
// pass the throttle exactly loginAttemptsPerPair times: the count is taken
// before the hash, atomically.
func TestRL06ConcurrentSignInsCounted(t *testing.T) {
	th := newThrottle(loginAttemptsPerPair, loginAttemptsPerAddr, loginWindow, time.Now)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := th.take("login", "alice", "198.51.100.7"); ok {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != loginAttemptsPerPair {
		t.Fatalf("%d attempts passed, want %d", passed.Load(), loginAttemptsPerPair)
	}
	if _, ok := th.take("login", "alice", "203.0.113.1"); !ok {
		t.Fatal("another address is locked out")
	}
}
