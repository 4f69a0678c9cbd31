package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// startOAuthServer runs a gateway with the built-in OAuth server, a route
// /orders that takes its tokens (audience orders-api, the given scopes)
// and a public route /app/, and returns it with a handle on its store.
func startOAuthServer(t *testing.T, scopes string) (*running, *sqlstore.Store) {
	t.Helper()
	up := echoUpstream(t)
	t.Setenv("GH_TEST_OAUTH_SECRET", strings.Repeat("o", 32))
	r := start(t, up.URL, fmt.Sprintf(`  - name: orders
    match: {path: /orders}
    auth: {jwt: {audience: orders-api, scopes: [%[2]s]}}
    upstream: {url: %[1]q}
  - name: app
    match: {path: /app/}
    upstream: {url: %[1]q}
oauth:
  issuer: https://gateway.test
  signing_key_secret: "${env:GH_TEST_OAUTH_SECRET}"
`, up.URL, scopes))
	st, err := OpenStore(context.Background(), r.Gateway.Config(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return r, st
}

// The built-in server end to end: a client gets a token from the public
// listener with golang.org/x/oauth2 and calls a route that trusts the
// built-in issuer; the token revoked through /oauth2/revoke stops working.
func TestOAuthClientCredentials(t *testing.T) {
	r, st := startOAuthServer(t, "orders:read")
	ctx := context.Background()
	c, secret, err := oauth.CreateClient(ctx, st, oauth.ClientOptions{ID: "reports", Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + r.PublicAddr
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: base + "/oauth2/token"}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, r.client))
	if err != nil {
		t.Fatal(err)
	}
	call := func() int {
		req, _ := http.NewRequest(http.MethodGet, base+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := call(); code != 200 {
		t.Fatalf("route with the built-in issuer's token: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/revoke", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, secret)
	res, err := r.client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", err, res)
	}
	if code := call(); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
	// The token endpoint is never served over plain HTTP.
	if res, err := http.Post("http://"+r.HTTPAddr+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials")); err != nil || res.StatusCode == 200 {
		t.Fatalf("plain HTTP token endpoint: %v %v", err, res)
	}
}

// RL-03: the OAuth endpoints have a per-address limit of their own by
// default (60 per minute).
func TestRL03OAuthPerAddressLimit(t *testing.T) {
	r, _ := startOAuthServer(t, "orders:read")
	url := "https://" + r.PublicAddr + "/.well-known/oauth-authorization-server"
	for i := range 60 {
		if res := r.get(t, url); res.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, res.StatusCode)
		}
	}
	res := r.get(t, url)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(res.Header.Get("RateLimit-Policy"), "per-address") {
		t.Fatalf("61st request: %d %v", res.StatusCode, res.Header)
	}
}
