package jwt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// JWT-10: discovery documents, jwks_uri and every redirect on the way
// are https (loopback excepted) and stay on the same scheme and host.
func TestJWT10FetchURLs(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a redirect to another host was followed")
	}))
	defer other.Close()
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/insecure-jwks/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer":"https://idp.example","jwks_uri":"http://198.51.100.1/jwks"}`))
		case "/offsite/.well-known/openid-configuration":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/jwks-redirect":
			http.Redirect(w, r, other.URL+"/jwks", http.StatusFound)
		case "/same-host":
			http.Redirect(w, r, base+"/keys", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base = srv.URL
	for name, tc := range map[string]struct {
		cfg  IssuerConfig
		want string
	}{
		"http jwks_uri off loopback":      {IssuerConfig{Issuer: "https://idp.example", DiscoveryURL: srv.URL + "/insecure-jwks/.well-known/openid-configuration"}, "must be https"},
		"discovery redirected off host":   {IssuerConfig{Issuer: "https://idp.example", DiscoveryURL: srv.URL + "/offsite/.well-known/openid-configuration"}, "another scheme or host"},
		"jwks redirected off host":        {IssuerConfig{Issuer: "https://idp.example", JWKSURL: srv.URL + "/jwks-redirect"}, "another scheme or host"},
		"jwks on plain http off loopback": {IssuerConfig{Issuer: "https://idp.example", JWKSURL: "http://198.51.100.1/jwks"}, "must be https"},
		"same host redirect is followed":  {IssuerConfig{Issuer: "https://idp.example", JWKSURL: srv.URL + "/same-host"}, "status 404"},
	} {
		iss, err := NewIssuer(tc.cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = iss.fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
