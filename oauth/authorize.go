package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/store"
)

// The authorization code flow (RFC 6749 4.1) with PKCE S256 required
// (RFC 7636; "plain" and a missing challenge are refused), exact redirect
// URI matching, the iss parameter on every redirect (RFC 9207), and a
// server-rendered sign-in page that is also the consent: signing in grants
// the client the scopes shown. The page has no script; it is protected by
// a double-submit CSRF cookie (__Host-, SameSite=Strict), a strict CSP and
// frame denial, and sign-in failures are throttled per user name and per
// address with one generic message.

const (
	codeTTL        = time.Minute
	csrfCookie     = "__Host-gatehouse-csrf"
	loginFailLimit = 5
	loginFailWin   = 5 * time.Minute
)

// authRequest is a validated authorization request.
type authRequest struct {
	client      *store.OAuthClient
	redirectURI string
	state       string
	scopes      []string
	audience    string
	challenge   string
}

// pageError is a problem shown on the page: the redirect URI could not be
// trusted, so nothing is sent back to the client.
type pageError struct {
	status int
	msg    string
}

var challengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// parseAuthRequest checks an authorization request. Until the client and
// its redirect URI are known, failures are pageErrors; after, they are
// oauthErrors to redirect with.
func (s *Server) parseAuthRequest(ctx context.Context, p url.Values) (*authRequest, *pageError, *oauthError) {
	for k, v := range p {
		if len(v) > 1 {
			return nil, &pageError{http.StatusBadRequest, "The request repeats the parameter " + truncate(k, 32) + "."}, nil
		}
	}
	if !clientIDRE.MatchString(p.Get("client_id")) {
		return nil, &pageError{http.StatusBadRequest, "The application that sent you here is not known to this server."}, nil
	}
	c, err := s.cfg.Store.GetClient(ctx, p.Get("client_id"))
	if err != nil || c.Disabled || !slices.Contains(c.Grants, GrantAuthorizationCode) {
		return nil, &pageError{http.StatusBadRequest, "The application that sent you here is not known to this server."}, nil
	}
	redirect := p.Get("redirect_uri")
	if !slices.ContainsFunc(c.RedirectURIs, func(reg string) bool { return redirectMatches(reg, redirect) }) {
		return nil, &pageError{http.StatusBadRequest, "The application sent you here with a return address it has not registered."}, nil
	}
	req := &authRequest{client: c, redirectURI: redirect, state: p.Get("state")}
	if p.Get("response_type") != "code" {
		return req, nil, fail(http.StatusBadRequest, "unsupported_response_type", "only response_type=code is supported")
	}
	if p.Get("code_challenge_method") != "S256" || !challengeRE.MatchString(p.Get("code_challenge")) {
		return req, nil, fail(http.StatusBadRequest, "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
	}
	req.challenge = p.Get("code_challenge")
	var ok bool
	if req.scopes, ok = grantScopes(p.Get("scope"), c.Scopes); !ok {
		return req, nil, fail(http.StatusBadRequest, "invalid_scope", "a requested scope is not allowed for this client")
	}
	req.audience = c.Audiences[0]
	if res := p.Get("resource"); res != "" {
		if !slices.Contains(c.Audiences, res) {
			return req, nil, fail(http.StatusBadRequest, "invalid_target", "the resource is not allowed for this client")
		}
		req.audience = res
	}
	return req, nil, nil
}

// redirectMatches compares a requested redirect URI with a registered one:
// exactly, by string, with one exception (RFC 8252 7.3): for an http
// loopback IP literal, the port may differ, as native apps listen on an
// ephemeral port. No prefix, case, slash or subdomain tolerance.
func redirectMatches(registered, requested string) bool {
	if registered == requested {
		return true
	}
	reg, err1 := url.Parse(registered)
	req, err2 := url.Parse(requested)
	if err1 != nil || err2 != nil || reg.Scheme != "http" || req.Scheme != "http" {
		return false
	}
	host := reg.Hostname()
	if host != "127.0.0.1" && host != "::1" || req.Hostname() != host || req.User != nil || req.Fragment != "" {
		return false
	}
	strip := func(u *url.URL) string {
		c := *u
		c.Host = c.Hostname()
		if strings.Contains(c.Host, ":") {
			c.Host = "[" + c.Host + "]"
		}
		return c.String()
	}
	return strip(reg) == strip(req)
}

// back redirects to the client with params, state and iss.
func (s *Server) back(w http.ResponseWriter, r *http.Request, req *authRequest, params url.Values) {
	u, _ := url.Parse(req.redirectURI)
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (s *Server) backError(w http.ResponseWriter, r *http.Request, req *authRequest, e *oauthError) {
	s.back(w, r, req, url.Values{"error": {e.code}, "error_description": {e.desc}})
}

func (s *Server) authorizeGet(w http.ResponseWriter, r *http.Request) {
	req, pe, oe := s.parseAuthRequest(r.Context(), r.URL.Query())
	switch {
	case pe != nil:
		s.page(w, pe.status, pageData{Error: pe.msg})
	case oe != nil:
		s.backError(w, r, req, oe)
	default:
		s.loginPage(w, r, req, http.StatusOK, "")
	}
}

type pageData struct {
	Error, Notice string
	Client        string
	Scopes        []string
	Fields        map[string]string
	CSRF          string
	Action        string
	Username      string
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in</title></head><body>
<main>
{{if .Client}}<h1>Sign in to continue to {{.Client}}</h1>
<p>Signing in allows {{.Client}} to:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{else}}<li>identify you</li>{{end}}</ul>
{{if .Notice}}<p role="alert" id="notice">{{.Notice}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="username">User name</label><br><input id="username" name="username" autocomplete="username" value="{{.Username}}" required></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit" name="action" value="allow" id="allow">Sign in and allow</button>
<button type="submit" name="action" value="deny" id="deny" formnovalidate>Deny</button></p>
</form>{{else}}<h1>This sign-in cannot continue</h1>
<p role="alert" id="error">{{.Error}}</p>{{end}}
</main></body></html>
`))

// page renders the sign-in page or an error page with the page's own CSP.
func (s *Server) page(w http.ResponseWriter, status int, d pageData, formTargets ...string) {
	h := w.Header()
	csp := "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	for _, t := range formTargets {
		csp += " " + t // the redirect after the form posts must be allowed too
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, req *authRequest, status int, notice string) {
	csrf, err := s.csrf.issue()
	if err != nil {
		s.page(w, http.StatusInternalServerError, pageData{Error: "Please try again."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 900})
	name := req.client.Name
	if name == "" {
		name = req.client.ID
	}
	fields := map[string]string{"client_id": req.client.ID, "redirect_uri": req.redirectURI, "response_type": "code",
		"code_challenge": req.challenge, "code_challenge_method": "S256", "scope": strings.Join(req.scopes, " "), "resource": req.audience}
	if req.state != "" {
		fields["state"] = req.state
	}
	s.page(w, status, pageData{Client: name, Scopes: req.scopes, Fields: fields, CSRF: csrf, Action: "/oauth2/authorize", Notice: notice,
		Username: r.PostFormValue("username")}, origin(req.redirectURI))
}

// dummyHash is checked when the user does not exist, so the answer takes
// as long as for a wrong password. Made on first use: argon2id at package
// initialisation would cost every command that imports this package.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("gatehouse dummy password for timing")
	return h
})

func (s *Server) authorizePost(w http.ResponseWriter, r *http.Request) {
	mt := r.Header.Get("Content-Type")
	if !strings.HasPrefix(mt, "application/x-www-form-urlencoded") || r.ParseForm() != nil || r.URL.RawQuery != "" {
		s.page(w, http.StatusBadRequest, pageData{Error: "The sign-in form was not sent as expected."})
		return
	}
	cookie, err := r.Cookie(csrfCookie)
	form := r.PostForm.Get("csrf")
	if err != nil || cookie.Value == "" || form == "" || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(form)) != 1 || !s.csrf.spend(form) {
		s.page(w, http.StatusForbidden, pageData{Error: "The sign-in form expired or did not come from this site. Go back to the application and start again."})
		return
	}
	params := url.Values{}
	for k, v := range r.PostForm {
		switch k {
		case "csrf", "username", "password", "action":
		default:
			params[k] = v
		}
	}
	req, pe, oe := s.parseAuthRequest(r.Context(), params)
	switch {
	case pe != nil:
		s.page(w, pe.status, pageData{Error: pe.msg})
		return
	case oe != nil:
		s.backError(w, r, req, oe)
		return
	}
	if r.PostForm.Get("action") == "deny" {
		s.backError(w, r, req, fail(http.StatusBadRequest, "access_denied", "the user denied the request"))
		return
	}
	username := strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))
	ip := clientAddr(r)
	password := r.PostForm.Get("password")
	if !usernameRE.MatchString(username) || len(password) > 1024 {
		// Not a user name at all: nothing to look up or count (RL-06).
		s.cfg.Log.Info("oauth: sign-in failed", "reason", "malformed user name", "ip", ip, "client_id", req.client.ID)
		s.loginPage(w, r, req, http.StatusUnauthorized, "The user name or password is not right.")
		return
	}
	// Counted before the hash runs, atomically, so concurrent posts cannot
	// all pass the check; a correct password gives its count back.
	if _, ok := s.logins.take("login", username, ip); !ok {
		s.cfg.Log.Warn("oauth: sign-in throttled", "username", username, "ip", ip, "client_id", req.client.ID)
		s.loginPage(w, r, req, http.StatusTooManyRequests, "Too many failed sign-ins. Wait a few minutes and try again.")
		return
	}
	u, err := s.cfg.Users.GetUserByName(r.Context(), username)
	hash := dummyHash()
	if err == nil {
		hash = u.PasswordHash
	}
	var ok bool
	if gerr := s.hashes.run(r.Context(), func() { ok = CheckPassword(hash, password) }); gerr != nil {
		s.logins.succeeded("login", username, ip) // not checked: not counted
		w.Header().Set("Retry-After", "2")
		s.loginPage(w, r, req, http.StatusServiceUnavailable, "Many people are signing in right now. Try again in a moment.")
		return
	}
	if err != nil || !ok || u.Disabled {
		s.cfg.Log.Info("oauth: sign-in failed", "username", username, "ip", ip, "client_id", req.client.ID)
		s.loginPage(w, r, req, http.StatusUnauthorized, "The user name or password is not right.")
		return
	}
	s.logins.succeeded("login", username, ip)
	code, err := s.newCode(r.Context(), req, u)
	if err != nil {
		s.cfg.Log.Error("oauth: code not stored", "err", err)
		s.backError(w, r, req, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "try again"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.back(w, r, req, url.Values{"code": {code}})
}

// clientAddr is the caller's address as the gateway resolved it (behind
// trusted proxies, the client's, not the proxy's), else the peer's.
func clientAddr(r *http.Request) string {
	if a := clientip.From(r.Context()); a.IsValid() {
		return a.String()
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

func (s *Server) newCode(ctx context.Context, req *authRequest, u *store.User) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	code := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(code))
	now := s.cfg.Now()
	return code, s.cfg.Codes.CreateCode(ctx, &store.AuthCode{Hash: sum[:], ClientID: req.client.ID, UserID: u.ID, RedirectURI: req.redirectURI,
		Scopes: req.scopes, Audience: req.audience, Challenge: req.challenge, CreatedAt: now, ExpiresAt: now.Add(codeTTL)})
}

var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

var (
	errCodeClient   = errors.New("oauth: the code was issued to another client or redirect URI")
	errCodeVerifier = errors.New("oauth: the PKCE code_verifier does not match")
)

// codeGrant redeems an authorization code (RFC 6749 4.1.3 with RFC 7636).
// Everything the code produces (the access token's jti, the refresh
// family and its first token) is recorded in the redeeming transaction
// (OA-10), so a replay, even a concurrent one, finds it and revokes it all.
func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request, f url.Values) {
	c, e := s.clientFor(r, f, GrantAuthorizationCode)
	if e != nil {
		s.writeError(w, e)
		return
	}
	jti, err := newID()
	if err != nil {
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	withRefresh := s.cfg.Refresh != nil && slices.Contains(c.Grants, GrantRefreshToken)
	var refreshValue string
	sum := sha256.Sum256([]byte(f.Get("code")))
	code, err := s.cfg.Codes.RedeemCode(r.Context(), sum[:], s.cfg.Now(), func(code *store.AuthCode) (*store.CodeGrant, error) {
		if code.ClientID != c.ID || f.Get("redirect_uri") != code.RedirectURI {
			return nil, errCodeClient
		}
		v := f.Get("code_verifier")
		vs := sha256.Sum256([]byte(v))
		if !verifierRE.MatchString(v) || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(vs[:])), []byte(code.Challenge)) != 1 {
			return nil, errCodeVerifier
		}
		g := &store.CodeGrant{TokenID: jti}
		if withRefresh {
			family, err := newID()
			if err != nil {
				return nil, err
			}
			refreshValue, g.Refresh, err = s.refreshRecord(family, c.ID, code.UserID, code.Scopes, code.Audience, jti)
			if err != nil {
				return nil, err
			}
		}
		return g, nil
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		// A code used twice: someone has it who should not. Everything it
		// produced dies, refresh family included.
		s.revokeGrant(r.Context(), code.TokenID, code.Family, "authorization code reused")
		s.cfg.Log.Warn("oauth: authorization code reused; its tokens are revoked", "client_id", c.ID)
		s.writeError(w, fail(http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used"))
		return
	case errors.Is(err, errCodeClient):
		s.writeError(w, fail(http.StatusBadRequest, "invalid_grant", "the code was issued to another client or redirect URI"))
		return
	case errors.Is(err, errCodeVerifier):
		s.writeError(w, fail(http.StatusBadRequest, "invalid_grant", "the PKCE code_verifier does not match"))
		return
	case err != nil:
		s.writeError(w, fail(http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used"))
		return
	}
	u, err := s.cfg.Users.GetUser(r.Context(), code.UserID)
	if err != nil || u.Disabled {
		s.revokeGrant(r.Context(), jti, code.Family, "user disabled")
		s.writeError(w, fail(http.StatusBadRequest, "invalid_grant", "the user can no longer sign in"))
		return
	}
	tok, err := s.issueFor(jti, u.ID, c.ID, code.Audience, code.Scopes, u.Roles, u.Tenant)
	if err != nil {
		s.cfg.Log.Error("oauth: token not issued", "err", err)
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	out := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.cfg.AccessTokenTTL.Seconds())}
	if len(code.Scopes) > 0 {
		out["scope"] = strings.Join(code.Scopes, " ")
	}
	if refreshValue != "" {
		out["refresh_token"] = refreshValue
	}
	writeJSON(w, http.StatusOK, out)
}

// newID is a random 128-bit identifier (jti, refresh family).
func newID() (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// revokeGrant revokes an access token (by jti) and a refresh family with
// every access token issued in it. Failures are logged: the caller has
// already refused the request.
func (s *Server) revokeGrant(ctx context.Context, jti, family, reason string) {
	var ids []string
	if jti != "" {
		ids = append(ids, jti)
	}
	if family != "" && s.cfg.Refresh != nil {
		more, err := s.cfg.Refresh.RevokeRefreshFamily(ctx, family)
		if err != nil {
			s.cfg.Log.Error("oauth: refresh family not revoked", "err", err)
		}
		ids = append(ids, more...)
	}
	if s.cfg.Revocations == nil {
		return
	}
	until := s.cfg.Now().Add(s.cfg.AccessTokenTTL + 2*time.Minute)
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		if err := s.cfg.Revocations.Revoke(ctx, &store.RevokedToken{Issuer: s.cfg.Issuer, JTI: id, Until: until, Actor: "oauth", Reason: reason}); err != nil {
			s.cfg.Log.Error("oauth: access token not revoked", "err", err)
		}
	}
}

// refreshRecord makes a refresh token of family, issued with the access
// token accessJTI: its value and the record to store.
func (s *Server) refreshRecord(family, clientID, userID string, scopes []string, aud, accessJTI string) (string, *store.RefreshToken, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	tok := RefreshPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(tok))
	now := s.cfg.Now()
	return tok, &store.RefreshToken{Hash: sum[:], Family: family, ClientID: clientID, UserID: userID, Scopes: scopes, Audience: aud,
		AccessTokenID: accessJTI, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL)}, nil
}

// RefreshPrefix marks refresh tokens (for secret scanners).
const RefreshPrefix = "gthr_"

// refreshGrant exchanges a refresh token for a new access token and a new
// refresh token of the same family (rotation), the successor stored in the
// same transaction that spends the token. A refresh token presented a
// second time means two parties hold it: the family and every access
// token issued in it are revoked.
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, f url.Values) {
	c, e := s.clientFor(r, f, GrantRefreshToken)
	if e != nil {
		s.writeError(w, e)
		return
	}
	sum := sha256.Sum256([]byte(f.Get("refresh_token")))
	invalid := fail(http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or revoked")
	// Checks that do not spend the token come first: a client asking
	// for the wrong thing keeps its refresh token.
	seen, err := s.cfg.Refresh.GetRefreshToken(r.Context(), sum[:])
	if err != nil || seen.ClientID != c.ID {
		s.writeError(w, invalid)
		return
	}
	scopes, ok := grantScopes(f.Get("scope"), seen.Scopes)
	if !ok {
		s.writeError(w, fail(http.StatusBadRequest, "invalid_scope", "a refresh can only narrow the scopes"))
		return
	}
	jti, err := newID()
	if err != nil {
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	nextValue, next, err := s.refreshRecord(seen.Family, c.ID, seen.UserID, scopes, seen.Audience, jti)
	if err != nil {
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	rt, err := s.cfg.Refresh.UseRefreshToken(r.Context(), sum[:], s.cfg.Now(), next)
	switch {
	case errors.Is(err, store.ErrConflict):
		s.revokeGrant(r.Context(), "", rt.Family, "refresh token replayed")
		s.cfg.Log.Warn("oauth: refresh token replayed; its family is revoked", "client_id", c.ID, "user_id", rt.UserID)
		s.writeError(w, invalid)
		return
	case err != nil:
		s.writeError(w, invalid)
		return
	}
	u, err := s.cfg.Users.GetUser(r.Context(), rt.UserID)
	if err != nil || u.Disabled {
		s.revokeGrant(r.Context(), "", rt.Family, "user disabled")
		s.writeError(w, fail(http.StatusBadRequest, "invalid_grant", "the user can no longer sign in"))
		return
	}
	tok, err := s.issueFor(jti, u.ID, c.ID, rt.Audience, scopes, u.Roles, u.Tenant)
	if err != nil {
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	out := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.cfg.AccessTokenTTL.Seconds()), "refresh_token": nextValue}
	if len(scopes) > 0 {
		out["scope"] = strings.Join(scopes, " ")
	}
	writeJSON(w, http.StatusOK, out)
}

// clientFor authenticates a confidential client, or identifies a public
// one by client_id alone, and checks it may use grant ("" checks no grant:
// revocation, RFC 7009 2.1).
func (s *Server) clientFor(r *http.Request, f url.Values, grant string) (*store.OAuthClient, *oauthError) {
	var c *store.OAuthClient
	if _, _, basic := r.BasicAuth(); basic || f.Get("client_secret") != "" {
		var e *oauthError
		if c, e = s.authenticate(r.Context(), r, f); e != nil {
			return nil, e
		}
	} else {
		var err error
		if !clientIDRE.MatchString(f.Get("client_id")) {
			return nil, fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		}
		c, err = s.cfg.Store.GetClient(r.Context(), f.Get("client_id"))
		if err != nil || !c.Public || c.Disabled {
			return nil, fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		}
	}
	if grant != "" && !slices.Contains(c.Grants, grant) {
		return nil, fail(http.StatusBadRequest, "unauthorized_client", "this client may not use "+grant)
	}
	return c, nil
}
