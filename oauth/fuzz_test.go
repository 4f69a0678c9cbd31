package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzEndpoints: arbitrary bodies, content types and Authorization headers
// at the token, introspection and revocation endpoints never panic, never
// answer 5xx, never issue a token without the right credentials, and
// always answer in the RFC 6749 error format when they refuse.
func FuzzEndpoints(f *testing.F) {
	e := setup(&testing.T{})
	h := e.s.Handler()
	f.Add(uint8(0), "grant_type=client_credentials", "application/x-www-form-urlencoded", "Basic YmlsbGluZzp4")
	f.Add(uint8(0), "grant_type=client_credentials&client_id=billing&client_secret=x&scope=orders:read", "application/x-www-form-urlencoded", "")
	f.Add(uint8(1), "token=eyJhbGciOiJFZERTQSJ9.e30.x", "application/x-www-form-urlencoded; charset=utf-8", "Basic cmVwb3J0czp5")
	f.Add(uint8(2), "token=a&token_type_hint=refresh_token", "application/x-www-form-urlencoded", "Basic %%%")
	f.Add(uint8(0), `{"grant_type":"client_credentials"}`, "application/json", "Bearer x")
	f.Add(uint8(0), "grant_type=client_credentials&resource=a&resource=b", "application/x-www-form-urlencoded", "Basic Og==")
	paths := []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"}
	f.Fuzz(func(t *testing.T, which uint8, body, ct, auth string) {
		path := paths[int(which)%len(paths)]
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Fatal("no Cache-Control: no-store")
		}
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		switch {
		case w.Code == 200 && path == "/oauth2/token":
			// Only the real secrets may get a token; the fuzzer never has them.
			t.Fatalf("a token was issued: %s", w.Body)
		case w.Code == 200 && path == "/oauth2/introspect" && out["active"] != false:
			t.Fatalf("active introspection without credentials: %s", w.Body)
		case w.Code >= 400 && (out["error"] == nil || out["error"] == ""):
			t.Fatalf("%d without an RFC 6749 error: %s", w.Code, w.Body)
		}
	})
}

// FuzzAuthorize: arbitrary authorization requests never panic, never
// answer 5xx, and never redirect anywhere but a registered redirect URI.
func FuzzAuthorize(f *testing.F) {
	t := &testing.T{}
	e := setup(t)
	e.browser(t) // registers the public client spa with appCallback
	h := e.s.Handler()
	f.Add("response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=x")
	f.Add("response_type=token&client_id=spa&redirect_uri=https%3A%2F%2Fapp.example%2Fcb")
	f.Add("client_id=spa&redirect_uri=https%3A%2F%2Fevil.example%2Fcb")
	f.Add("client_id=spa&client_id=other&redirect_uri=x")
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%d", w.Code)
		}
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, appCallback+"?") {
			t.Fatalf("redirected to %q", loc)
		}
	})
}
