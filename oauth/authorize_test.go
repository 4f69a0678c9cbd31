package oauth

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"golang.org/x/oauth2"
)

const (
	appCallback = "https://app.example/cb"
	alicePass   = "alice's long password"
)

type browser struct {
	t    *testing.T
	e    *env
	http *http.Client
	conf oauth2.Config
}

func (e *env) browser(t *testing.T) *browser {
	t.Helper()
	ctx := context.Background()
	if _, err := CreateUser(ctx, e.st, UserOptions{Username: "alice", Password: alicePass, Tenant: "acme", Roles: []string{"customer"}}, time.Now()); err != nil && !strings.Contains(err.Error(), "conflict") {
		t.Fatal(err)
	}
	if _, _, err := CreateClient(ctx, e.st, ClientOptions{ID: "spa", Name: "Shop app", Public: true, RedirectURIs: []string{appCallback},
		Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}}, time.Now()); err != nil && !strings.Contains(err.Error(), "conflict") {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, http: &http.Client{Jar: jar, Transport: e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		conf: oauth2.Config{ClientID: "spa", RedirectURL: appCallback, Scopes: []string{"orders:read"},
			Endpoint: oauth2.Endpoint{AuthURL: e.srv.URL + "/oauth2/authorize", TokenURL: e.srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}}
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// open loads the sign-in page and returns its form fields.
func (b *browser) open(authURL string) (*http.Response, url.Values) {
	b.t.Helper()
	res, err := b.http.Get(authURL)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	form := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	return res, form
}

func (b *browser) signIn(form url.Values, user, pass string) *http.Response {
	b.t.Helper()
	form.Set("username", user)
	form.Set("password", pass)
	form.Set("action", "allow")
	res, err := b.http.PostForm(b.e.srv.URL+"/oauth2/authorize", form)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// code runs the flow up to the redirect and returns the code.
func (b *browser) code(verifier, state string) string {
	b.t.Helper()
	res, form := b.open(b.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if res.StatusCode != 200 || form.Get("csrf") == "" {
		b.t.Fatalf("sign-in page: %d %v", res.StatusCode, form)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		b.t.Fatalf("CSP %q", csp)
	}
	res = b.signIn(form, "alice", alicePass)
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), appCallback+"?") || loc.Query().Get("state") != state || loc.Query().Get("iss") != b.e.srv.URL {
		b.t.Fatalf("after sign-in: %d %s", res.StatusCode, loc)
	}
	return loc.Query().Get("code")
}

func (b *browser) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, b.e.srv.Client())
}

// The code flow with PKCE, driven by golang.org/x/oauth2 (AuthCodeURL,
// S256ChallengeOption, Exchange with VerifierOption).
func TestAuthorizationCodeFlow(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	verifier := oauth2.GenerateVerifier()
	code := b.code(verifier, "st-1")
	tok, err := b.conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.RefreshToken, RefreshPrefix) {
		t.Errorf("refresh token %q", tok.RefreshToken)
	}
	gv := jwt.NewVerifier([]*jwt.Issuer{e.s.JWTIssuer()}, jwt.VerifierOptions{Revocations: e.rev, CacheSize: -1})
	c, err := gv.Verify(context.Background(), tok.AccessToken, &jwt.Require{Audience: "orders-api", Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Principal(); p.Kind != "user" || p.Tenant != "acme" || p.Roles[0] != "customer" || c.ClientID != "spa" {
		t.Fatalf("principal %+v", p)
	}
	// The code again: refused, and the token issued for it is revoked.
	if _, err := b.conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("code reuse: %v", err)
	}
	if _, err := gv.Verify(context.Background(), tok.AccessToken, &jwt.Require{Audience: "orders-api"}); !errors.Is(err, jwt.ErrRevoked) {
		t.Fatalf("token of a reused code: %v", err)
	}
	// Another code, a wrong verifier.
	code = b.code(verifier, "st-2")
	if _, err := b.conf.Exchange(b.ctx(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("wrong verifier: %v", err)
	}
	// No verifier at all (PKCE downgrade at the token endpoint).
	code = b.code(verifier, "st-3")
	if _, err := b.conf.Exchange(b.ctx(), code); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("no verifier: %v", err)
	}
	// Another redirect_uri at the token endpoint.
	code = b.code(verifier, "st-4")
	other := b.conf
	other.RedirectURL = appCallback + "/x"
	if _, err := other.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("other redirect_uri: %v", err)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	verifier := oauth2.GenerateVerifier()
	// Redirect URI variants: an error page, never a redirect.
	for _, ru := range []string{appCallback + "/", "https://APP.example/cb", appCallback + "/extra", appCallback + "?x=1",
		"https://user@app.example/cb", "https://evil.app.example/cb", "https://app.example/c", "http://app.example/cb", ""} {
		c := b.conf
		c.RedirectURL = ru
		res, _ := b.open(c.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %q: %d %q", ru, res.StatusCode, res.Header.Get("Location"))
		}
	}
	redirectError := func(authURL, want string) {
		t.Helper()
		res, _ := b.open(authURL)
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != want || loc.Query().Get("iss") != e.srv.URL {
			t.Errorf("%s: %d %s, want error %s", authURL, res.StatusCode, loc, want)
		}
	}
	base := b.conf.AuthCodeURL("s")
	redirectError(base, "invalid_request") // no PKCE
	redirectError(base+"&code_challenge=abc&code_challenge_method=plain", "invalid_request")
	redirectError(strings.Replace(b.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "response_type=code", "response_type=token", 1), "unsupported_response_type")
	wide := b.conf
	wide.Scopes = []string{"orders:read", "orders:admin"}
	redirectError(wide.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "invalid_scope")
	// Wrong password: a generic answer and no code; then the throttle.
	authURL := b.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))
	_, form := b.open(authURL)
	if res := b.signIn(form, "alice", "not the password"); res.StatusCode != 401 || res.Header.Get("Location") != "" {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	_, form = b.open(authURL)
	if res := b.signIn(form, "nobody", "not the password"); res.StatusCode != 401 {
		t.Fatalf("unknown user: %d", res.StatusCode)
	}
	// CSRF: a form without the cookie is refused.
	_, form = b.open(authURL)
	fresh := &http.Client{Transport: e.srv.Client().Transport, CheckRedirect: b.http.CheckRedirect}
	form.Set("username", "alice")
	form.Set("password", alicePass)
	if res, _ := fresh.PostForm(e.srv.URL+"/oauth2/authorize", form); res.StatusCode != 403 {
		t.Fatalf("no CSRF cookie: %d", res.StatusCode)
	}
	// Deny.
	_, form = b.open(authURL)
	form.Set("action", "deny")
	res, _ := b.http.PostForm(e.srv.URL+"/oauth2/authorize", form)
	if loc, _ := url.Parse(res.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "access_denied" {
		t.Fatalf("deny: %d %v", res.StatusCode, res.Header)
	}
	for range loginAttemptsPerPair {
		_, form = b.open(authURL)
		b.signIn(form, "alice", "guess")
	}
	_, form = b.open(authURL)
	if res := b.signIn(form, "alice", alicePass); res.StatusCode != 429 {
		t.Fatalf("after %d failures: %d", loginAttemptsPerPair, res.StatusCode)
	}
}

func (b *browser) refresh(rt, scope string) (*http.Response, map[string]any) {
	b.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"spa"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return b.e.post(b.t, "/oauth2/token", form, "", "")
}

// Refresh tokens rotate; a replayed one revokes its family; scopes only
// narrow; revocation (RFC 7009, by the public client) ends the family.
func TestRefreshTokens(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	verifier := oauth2.GenerateVerifier()
	tok, err := b.conf.Exchange(b.ctx(), b.code(verifier, "s"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	r1 := tok.RefreshToken
	res, body := b.refresh(r1, "")
	r2, _ := body["refresh_token"].(string)
	if res.StatusCode != 200 || body["access_token"] == nil || r2 == "" || r2 == r1 {
		t.Fatalf("refresh: %d %v", res.StatusCode, body)
	}
	if res, body := b.refresh(r2, "orders:read orders:admin"); res.StatusCode != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("scope widening on refresh: %d %v", res.StatusCode, body)
	}
	// The refused widening did not spend r2.
	res, body = b.refresh(r2, "orders:read")
	r3, _ := body["refresh_token"].(string)
	if res.StatusCode != 200 || r3 == "" {
		t.Fatalf("refresh after a refused widening: %d %v", res.StatusCode, body)
	}
	// A replay of r1 revokes the family: r3 stops too.
	if res, body := b.refresh(r1, ""); res.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("replayed refresh token: %d %v", res.StatusCode, body)
	}
	if res, body := b.refresh(r3, ""); res.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("successor after a replay: %d %v", res.StatusCode, body)
	}
	// A new family, revoked by the client.
	tok, err = b.conf.Exchange(b.ctx(), b.code(verifier, "s2"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.post(t, "/oauth2/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {"spa"}}, "", ""); res.StatusCode != 200 {
		t.Fatalf("revoke refresh token: %d", res.StatusCode)
	}
	if res, _ := b.refresh(tok.RefreshToken, ""); res.StatusCode != 400 {
		t.Fatalf("revoked refresh token: %d", res.StatusCode)
	}
	// Another client cannot use it.
	if res, body := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r2}}, e.id, e.sec); res.StatusCode != 400 {
		t.Fatalf("confidential client without the grant: %d %v", res.StatusCode, body)
	}
}

// OA-10: a reused code revokes every token it produced, refresh family
// included, also when the two redemptions race; RFC 7009: revoking a
// refresh token revokes the access tokens of its grant.
func TestOA10CodeReuseRevokesTheGrant(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	gv := jwt.NewVerifier([]*jwt.Issuer{e.s.JWTIssuer()}, jwt.VerifierOptions{Revocations: e.rev, CacheSize: -1})
	dead := func(access string) bool {
		_, err := gv.Verify(context.Background(), access, &jwt.Require{Audience: "orders-api"})
		return errors.Is(err, jwt.ErrRevoked)
	}
	for round := range 5 {
		verifier := oauth2.GenerateVerifier()
		code := b.code(verifier, fmt.Sprintf("race-%d", round))
		type result struct {
			tok *oauth2.Token
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				tok, err := b.conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier))
				results <- result{tok, err}
			}()
		}
		var issued []*oauth2.Token
		for range 2 {
			if r := <-results; r.err == nil {
				issued = append(issued, r.tok)
			}
		}
		if len(issued) > 1 {
			t.Fatalf("round %d: a code was redeemed twice", round)
		}
		if len(issued) == 1 {
			// The loser's replay must have revoked what the winner got.
			tok := issued[0]
			if !dead(tok.AccessToken) {
				t.Fatalf("round %d: the access token of a raced code still works", round)
			}
			if res, body := b.refresh(tok.RefreshToken, ""); res.StatusCode != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("round %d: the refresh token of a raced code still works: %d", round, res.StatusCode)
			}
		}
	}
	// Sequential reuse: the access token, the refresh token and every
	// access token refreshed from it die.
	verifier := oauth2.GenerateVerifier()
	code := b.code(verifier, "seq")
	tok, err := b.conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, body := b.refresh(tok.RefreshToken, "")
	refreshed, _ := body["access_token"].(string)
	r2, _ := body["refresh_token"].(string)
	if refreshed == "" || dead(refreshed) {
		t.Fatalf("refresh: %v", body)
	}
	if _, err := b.conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a reused code was accepted")
	}
	if !dead(tok.AccessToken) || !dead(refreshed) {
		t.Fatal("access tokens of a reused code's grant still work")
	}
	if res, _ := b.refresh(r2, ""); res.StatusCode != 400 {
		t.Fatalf("refresh token of a reused code's grant: %d", res.StatusCode)
	}
	// RFC 7009 2.1: revoking the refresh token revokes the grant's access tokens.
	verifier = oauth2.GenerateVerifier()
	tok, err = b.conf.Exchange(b.ctx(), b.code(verifier, "rev"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.post(t, "/oauth2/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {"spa"}}, "", ""); res.StatusCode != 200 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if !dead(tok.AccessToken) {
		t.Fatal("the access token outlived its revoked refresh token")
	}
}
