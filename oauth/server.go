// Package oauth is the built-in OAuth 2.0 authorization server. It issues
// RFC 9068 JWT access tokens (typ at+jwt; EdDSA, or ES256 or RS256) to
// registered clients and
// serves the endpoints resource servers and clients need: metadata (RFC
// 8414, at /.well-known/oauth-authorization-server only: this is not an
// OpenID Provider), the token endpoint, the JWKS, introspection (RFC 7662)
// and revocation (RFC 7009).
//
// Grants: client_credentials, for confidential clients only, with no
// refresh token; authorization_code with PKCE S256 and a sign-in page
// (authorize.go); refresh_token, rotated on every use. The implicit and
// password grants never will be.
//
// Clients authenticate with client_secret_basic or client_secret_post;
// secrets are 256-bit random values stored as SHA-256 hashes. Scopes are
// granted only within the client's allowed set (invalid_scope otherwise)
// and the audience comes from the RFC 8707 resource parameter, within the
// client's audiences, or the client's default audience. Every answer
// carries Cache-Control: no-store (HDR-02); errors use the RFC 6749 JSON
// format.
package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store"
	jose "github.com/go-jose/go-jose/v4"
)

// Config configures a Server.
type Config struct {
	// Issuer is the server's issuer identifier: the gateway's public URL
	// (https, no path), e.g. https://api.example.com.
	Issuer string
	// AccessTokenTTL is the lifetime of access tokens. Default 10m.
	AccessTokenTTL time.Duration
	// Store persists the clients; Keys keeps the signing keys.
	Store store.OAuthClients
	Keys  *KeyRing
	// Revocations receives revoked tokens (RFC 7009); may be nil.
	Revocations *revocation.List
	// Users and Codes, when both set, turn on the authorization code
	// flow with its sign-in page.
	Users store.Users
	Codes store.AuthCodes
	// Refresh, when set with the code flow, issues refresh tokens to
	// clients with the refresh_token grant: rotated on every use, and a
	// replayed one revokes its whole family.
	Refresh store.RefreshTokens
	// RefreshTokenTTL is the lifetime of each refresh token. Default 24h.
	RefreshTokenTTL time.Duration
	// CSRFKey signs the sign-in form's single-use tokens; every instance
	// needs the same one. Nil: a random key of this process.
	CSRFKey []byte
	Log     *slog.Logger
	Now     func() time.Time
}

// Server is the authorization server. Safe for concurrent use.
type Server struct {
	cfg      Config
	verifier *jwt.Verifier
	issuer   *jwt.Issuer
	throttle *throttle // client authentications, per (client, address) and per address
	logins   *throttle // sign-ins, per (user name, address) and per address
	hashes   *hashGate // password hashes running at once
	csrf     *csrf     // single-use sign-in form tokens
}

// DefaultAccessTokenTTL is the access token lifetime when none is set.
const DefaultAccessTokenTTL = 10 * time.Minute

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// New returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("oauth: a store and a key ring are required")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oauth: issuer %q must be a URL with no path, query or fragment", cfg.Issuer)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: cfg.Issuer, KeySource: cfg.Keys.Public, Algorithms: Algorithms,
		RefreshInterval: time.Second, MaxAge: time.Minute}, cfg.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, issuer: iss, throttle: newThrottle(clientAttemptsPerPair, clientAttemptsPerAddr, clientWindow, cfg.Now),
		logins: newThrottle(loginAttemptsPerPair, loginAttemptsPerAddr, loginWindow, cfg.Now), hashes: newHashGate(0), csrf: newCSRF(cfg.CSRFKey, cfg.Now)}
	var rev jwt.Revocations
	if cfg.Revocations != nil {
		rev = cfg.Revocations
	}
	s.verifier = jwt.NewVerifier([]*jwt.Issuer{iss}, jwt.VerifierOptions{Revocations: rev, Now: cfg.Now, CacheSize: -1})
	return s, nil
}

// Issuer is the issuer identifier (no trailing slash).
func (s *Server) Issuer() string { return s.cfg.Issuer }

// JWTIssuer is the server as a trusted issuer for the JWT stage.
func (s *Server) JWTIssuer() *jwt.Issuer { return s.issuer }

// Paths are the endpoints the server serves, for the gateway's mux.
var Paths = []string{
	"GET /oauth2/authorize",
	"POST /oauth2/authorize",
	"GET /.well-known/oauth-authorization-server",
	"GET /oauth2/jwks",
	"POST /oauth2/token",
	"POST /oauth2/introspect",
	"POST /oauth2/revoke",
}

// Handler serves the endpoints in Paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	mux.HandleFunc("GET /oauth2/jwks", s.jwks)
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("POST /oauth2/introspect", s.introspect)
	mux.HandleFunc("POST /oauth2/revoke", s.revoke)
	if s.codeFlow() {
		mux.HandleFunc("GET /oauth2/authorize", s.authorizeGet)
		mux.HandleFunc("POST /oauth2/authorize", s.authorizePost)
	} else {
		mux.HandleFunc("/oauth2/authorize", func(w http.ResponseWriter, r *http.Request) {
			s.page(w, http.StatusNotFound, pageData{Error: "This server does not sign users in."})
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) codeFlow() bool { return s.cfg.Users != nil && s.cfg.Codes != nil }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError is an RFC 6749 section 5.2 error.
type oauthError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func fail(status int, code, desc string) *oauthError {
	return &oauthError{status: status, code: code, desc: desc}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (s *Server) writeError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse-oauth"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Seconds())+1))
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	iss := s.cfg.Issuer
	auth := []string{"client_secret_basic", "client_secret_post"}
	md := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + "/oauth2/token",
		"jwks_uri":                              iss + "/oauth2/jwks",
		"introspection_endpoint":                iss + "/oauth2/introspect",
		"revocation_endpoint":                   iss + "/oauth2/revoke",
		"grant_types_supported":                 []string{GrantClientCredentials},
		"response_types_supported":              []string{},
		"token_endpoint_auth_methods_supported": auth,
		"introspection_endpoint_auth_methods_supported": auth,
		"revocation_endpoint_auth_methods_supported":    auth,
	}
	if s.codeFlow() {
		md["authorization_endpoint"] = iss + "/oauth2/authorize"
		md["grant_types_supported"] = []string{GrantClientCredentials, GrantAuthorizationCode}
		if s.cfg.Refresh != nil {
			md["grant_types_supported"] = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken}
		}
		md["response_types_supported"] = []string{"code"}
		md["code_challenge_methods_supported"] = []string{"S256"}
		md["token_endpoint_auth_methods_supported"] = append(slices.Clone(auth), "none")
		md["revocation_endpoint_auth_methods_supported"] = append(slices.Clone(auth), "none") // public clients revoke by client_id
		md["authorization_response_iss_parameter_supported"] = true
	}
	writeJSON(w, http.StatusOK, md)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	keys, err := s.cfg.Keys.Public(r.Context())
	if err != nil {
		s.writeError(w, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "signing keys are not loaded"))
		return
	}
	out := make([]jose.JSONWebKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, jose.JSONWebKey{Key: k.Key, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"})
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": out})
}

// form parses an application/x-www-form-urlencoded body and refuses a
// parameter given twice (RFC 6749 3.1, 3.2).
func form(r *http.Request) (url.Values, *oauthError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fail(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return nil, fail(http.StatusBadRequest, "invalid_request", "parameters belong in the body, not the URL")
	}
	if err := r.ParseForm(); err != nil {
		return nil, fail(http.StatusBadRequest, "invalid_request", "the body cannot be parsed")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && k != "resource" {
			return nil, fail(http.StatusBadRequest, "invalid_request", "parameter "+k+" is repeated")
		}
	}
	return r.PostForm, nil
}

// authenticate checks the client's credentials (client_secret_basic or
// client_secret_post, not both) and returns the client.
func (s *Server) authenticate(ctx context.Context, r *http.Request, f url.Values) (*store.OAuthClient, *oauthError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if f.Get("client_secret") != "" || f.Get("client_id") != "" && f.Get("client_id") != id {
			return nil, fail(http.StatusBadRequest, "invalid_request", "use one client authentication method")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		}
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id == "" || secret == "" {
		return nil, fail(http.StatusUnauthorized, "invalid_client", "client authentication is required")
	}
	// Ids are checked before any lookup or throttle entry (RL-06): an
	// attacker-sized id costs nothing to keep.
	if !clientIDRE.MatchString(id) || len(secret) > 512 {
		return nil, fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	ip := clientAddr(r)
	if left, ok := s.throttle.take("client", id, ip); !ok {
		e := fail(http.StatusTooManyRequests, "temporarily_unavailable", "too many failed client authentications from this address; retry later")
		e.retryAfter = left
		s.cfg.Log.Warn("oauth: client authentication throttled", "client_id", id, "ip", ip)
		return nil, e
	}
	c, err := s.cfg.Store.GetClient(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.throttle.succeeded("client", id, ip) // not the caller's failure
			s.cfg.Log.Error("oauth: client lookup failed", "err", err)
			return nil, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "clients cannot be checked right now")
		}
		c = nil
	}
	sum := sha256.Sum256([]byte(secret))
	if c == nil || c.Public || len(c.SecretHash) != len(sum) || subtle.ConstantTimeCompare(c.SecretHash, sum[:]) != 1 || c.Disabled {
		s.cfg.Log.Info("oauth: client authentication failed", "client_id", id, "ip", ip)
		return nil, fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	s.throttle.succeeded("client", id, ip)
	return c, nil
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	f, e := form(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	switch gt := f.Get("grant_type"); gt {
	case GrantClientCredentials:
	case GrantAuthorizationCode:
		if s.codeFlow() {
			s.codeGrant(w, r, f)
			return
		}
		s.writeError(w, fail(http.StatusBadRequest, "unsupported_grant_type", "this server does not sign users in"))
		return
	case GrantRefreshToken:
		if s.codeFlow() && s.cfg.Refresh != nil {
			s.refreshGrant(w, r, f)
			return
		}
		s.writeError(w, fail(http.StatusBadRequest, "unsupported_grant_type", "this server does not sign users in"))
		return
	case "":
		s.writeError(w, fail(http.StatusBadRequest, "invalid_request", "grant_type is required"))
		return
	default:
		s.writeError(w, fail(http.StatusBadRequest, "unsupported_grant_type", "this server supports client_credentials and authorization_code"))
		return
	}
	c, e := s.authenticate(r.Context(), r, f)
	if e != nil {
		s.writeError(w, e)
		return
	}
	if !slices.Contains(c.Grants, GrantClientCredentials) {
		s.writeError(w, fail(http.StatusBadRequest, "unauthorized_client", "this client may not use client_credentials"))
		return
	}
	scopes, ok := grantScopes(f.Get("scope"), c.Scopes)
	if !ok {
		s.writeError(w, fail(http.StatusBadRequest, "invalid_scope", "a requested scope is not allowed for this client"))
		return
	}
	aud := ""
	switch res := f["resource"]; len(res) {
	case 0:
		if len(c.Audiences) > 0 {
			aud = c.Audiences[0]
		}
	case 1:
		aud = res[0]
		if !slices.Contains(c.Audiences, aud) {
			s.writeError(w, fail(http.StatusBadRequest, "invalid_target", "the resource is not allowed for this client"))
			return
		}
	default:
		s.writeError(w, fail(http.StatusBadRequest, "invalid_target", "ask for one resource per token"))
		return
	}
	if aud == "" {
		s.writeError(w, fail(http.StatusBadRequest, "invalid_target", "the client has no audience; name a resource"))
		return
	}
	jti, err := newID()
	if err != nil {
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	tok, err := s.issueFor(jti, c.ID, c.ID, aud, scopes, c.Roles, c.Tenant)
	if err != nil {
		s.cfg.Log.Error("oauth: token not issued", "err", err)
		s.writeError(w, fail(http.StatusInternalServerError, "server_error", "the token could not be issued"))
		return
	}
	out := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.cfg.AccessTokenTTL.Seconds())}
	if len(scopes) > 0 {
		out["scope"] = strings.Join(scopes, " ")
	}
	writeJSON(w, http.StatusOK, out)
}

// grantScopes returns the scopes a request asks for (a space-separated
// list; empty: all of allowed) and whether they are all within allowed.
// Scopes are never silently narrowed or widened.
func grantScopes(requested string, allowed []string) ([]string, bool) {
	if requested == "" {
		return allowed, true
	}
	scopes := strings.Fields(requested)
	for _, sc := range scopes {
		if !slices.Contains(allowed, sc) {
			return nil, false
		}
	}
	return scopes, true
}

// issueFor signs an RFC 9068 access token with id jti for subject,
// issued to client.
func (s *Server) issueFor(jti, subject, clientID, aud string, scopes, roles []string, tenant string) (string, error) {
	kid, alg, priv := s.cfg.Keys.signer()
	if priv == nil {
		return "", errors.New("no signing key")
	}
	now := s.cfg.Now()
	claims := map[string]any{
		"iss": s.cfg.Issuer, "sub": subject, "client_id": clientID, "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.cfg.AccessTokenTTL).Unix(), "jti": jti,
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	if tenant != "" {
		claims["tenant"] = tenant
	}
	return sign(kid, alg, priv, claims)
}

// introspect answers RFC 7662 for an authenticated client. An inactive
// token gets {"active": false} and nothing else.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	f, e := form(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	if _, e := s.authenticate(r.Context(), r, f); e != nil {
		s.writeError(w, e)
		return
	}
	c, err := s.check(r.Context(), f.Get("token"))
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	out := map[string]any{
		"active": true, "token_type": "Bearer", "iss": c.Issuer, "sub": c.Subject, "aud": c.Audience,
		"exp": c.Expiry.Unix(), "jti": c.ID, "client_id": c.ClientID,
	}
	if len(c.Scopes) > 0 {
		out["scope"] = strings.Join(c.Scopes, " ")
	}
	writeJSON(w, http.StatusOK, out)
}

// check verifies one of this server's access tokens, whatever its
// audience.
func (s *Server) check(ctx context.Context, tok string) (*jwt.Claims, error) {
	if tok == "" {
		return nil, errors.New("no token")
	}
	return s.verifier.VerifyAnyAudience(ctx, tok)
}

// revoke implements RFC 7009: a client revokes its own tokens. Unknown or
// invalid tokens get 200 as the RFC asks; another client's token is
// refused.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	f, e := form(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	client, e := s.clientFor(r, f, "")
	if e != nil {
		s.writeError(w, e)
		return
	}
	if hint := f.Get("token_type_hint"); hint != "" && hint != "access_token" && hint != "refresh_token" {
		s.writeError(w, fail(http.StatusBadRequest, "unsupported_token_type", "token_type_hint must be access_token"))
		return
	}
	if s.cfg.Refresh != nil {
		sum := sha256.Sum256([]byte(f.Get("token")))
		if rt, err := s.cfg.Refresh.GetRefreshToken(r.Context(), sum[:]); err == nil {
			if rt.ClientID != client.ID {
				s.writeError(w, fail(http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client"))
				return
			}
			// RFC 7009 2.1: the access tokens of the grant go too.
			ids, err := s.cfg.Refresh.RevokeRefreshFamily(r.Context(), rt.Family)
			if err != nil {
				s.writeError(w, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be revoked right now"))
				return
			}
			if s.cfg.Revocations != nil {
				until := s.cfg.Now().Add(s.cfg.AccessTokenTTL + jwt.MaxLeeway)
				for _, id := range ids {
					if err := s.cfg.Revocations.Revoke(r.Context(), &store.RevokedToken{Issuer: s.cfg.Issuer, JTI: id, Until: until, Actor: "client:" + client.ID, Reason: "RFC 7009 revocation of its refresh token"}); err != nil {
						s.writeError(w, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be revoked right now"))
						return
					}
				}
			}
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	c, err := s.check(r.Context(), f.Get("token"))
	if err != nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if c.ClientID != client.ID {
		s.writeError(w, fail(http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client"))
		return
	}
	if s.cfg.Revocations == nil {
		s.writeError(w, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "revocation is not available"))
		return
	}
	rec := &store.RevokedToken{Issuer: c.Issuer, JTI: c.ID, Until: c.Expiry.Add(jwt.MaxLeeway), Actor: "client:" + client.ID, Reason: "RFC 7009 revocation"}
	if err := s.cfg.Revocations.Revoke(r.Context(), rec); err != nil {
		s.cfg.Log.Error("oauth: revocation not stored", "err", err)
		s.writeError(w, fail(http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be revoked right now"))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// sign makes a compact JWS (typ at+jwt) of claims with priv, a key of alg.
func sign(kid, alg string, priv crypto.Signer, claims map[string]any) (string, error) {
	h, err := json.Marshal(map[string]string{"alg": alg, "typ": "at+jwt", "kid": kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	var sig []byte
	switch key := priv.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(key, []byte(input))
	case *ecdsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64) // JWS wants r and s as two 32-byte halves
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		if sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:]); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("oauth: cannot sign with %T", priv)
	}
	return input + "." + enc.EncodeToString(sig), nil
}
