package gatehouse

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	authnkey "github.com/gatehouse-dev/gatehouse/authn/apikey"
	"github.com/gatehouse-dev/gatehouse/authn/credential"
	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/identity"
)

// jwtVerifier builds the verifier of cfg's issuers. An issuer whose
// settings did not change is reused with its cached keys, so a reload does
// not refetch every JWKS.
func (g *Gateway) jwtVerifier(cfg *Config) (*jwt.Verifier, error) {
	builtIn := g.deps.OAuth != nil && cfg.OAuth != nil
	if len(cfg.JWT.Issuers) == 0 && !builtIn {
		return nil, nil
	}
	next := map[string]*jwt.Issuer{}
	list := make([]*jwt.Issuer, 0, len(cfg.JWT.Issuers)+1)
	if builtIn {
		list = append(list, g.deps.OAuth.JWTIssuer())
	}
	for i, ic := range cfg.JWT.Issuers {
		k := fmt.Sprintf("%#v", ic)
		iss := g.issuers[k]
		if iss == nil {
			var err error
			iss, err = jwt.NewIssuer(jwt.IssuerConfig{
				Issuer: ic.Issuer, JWKSURL: ic.JWKSURL, DiscoveryURL: ic.DiscoveryURL,
				Algorithms: ic.Algorithms, Types: ic.Types, Leeway: ic.Leeway.D(),
				RefreshInterval: ic.RefreshInterval.D(), MaxAge: ic.MaxAge.D(),
			}, g.deps.Now)
			if err != nil {
				return nil, fmt.Errorf("jwt.issuers[%d]: %w", i, err)
			}
			m := g.deps.Metrics
			m.jwksKeys.WithLabelValues(ic.Issuer).Set(0)
			iss.OnRefresh = func(issuer string, err error, n int) {
				result := "ok"
				if err != nil {
					result = "failed"
					g.deps.Log.Warn("JWKS fetch failed; the cached keys keep serving", "issuer", issuer, "err", err)
				}
				m.jwksRefresh.WithLabelValues(issuer, result).Inc()
				m.jwksKeys.WithLabelValues(issuer).Set(float64(n))
			}
		}
		next[k] = iss
		list = append(list, iss)
	}
	g.issuers = next // compile runs under g.mu (or before the gateway is shared)
	return jwt.NewVerifier(list, jwt.VerifierOptions{
		MaxTokenBytes: int(cfg.JWT.MaxTokenBytes), CacheSize: cfg.JWT.CacheSize,
		Revocations: g.deps.TokenRevocations, Now: g.deps.Now,
	}), nil
}

// compileAuthn builds a route's authentication stage: API key, JWT, or
// either when both are configured (an X-API-Key header or a bearer
// credential that is not shaped like a JWT goes to the API key check).
func (s *snapshot) compileAuthn(a *RouteAuth) (stage, error) {
	onPrincipal := func(r *http.Request, p *identity.Principal) {
		if st := stateFrom(r); st != nil {
			st.principal = p
		}
	}
	var keyAuth *authnkey.Authenticator
	if a.APIKey != nil {
		if s.deps.APIKeys == nil {
			return nil, errors.New("auth.api_key needs api_keys.secret (no key manager)")
		}
		keyAuth = &authnkey.Authenticator{Manager: s.deps.APIKeys, Headers: a.APIKey.Headers, Scopes: a.APIKey.Scopes}
	}
	var jwtAuth *jwt.Authenticator
	if a.JWT != nil {
		if s.verifier == nil {
			return nil, errors.New("auth.jwt needs jwt.issuers or the built-in oauth server")
		}
		issuers := make([]string, len(a.JWT.Issuers))
		for i, iss := range a.JWT.Issuers {
			if s.cfg.OAuth != nil && strings.TrimSuffix(iss, "/") == s.cfg.OAuth.Issuer {
				iss = s.cfg.OAuth.Issuer // the built-in server's iss has no trailing slash
			}
			issuers[i] = iss
		}
		jwtAuth = &jwt.Authenticator{Verifier: s.verifier, Require: jwt.Require{Audience: a.JWT.Audience, Scopes: a.JWT.Scopes, Issuers: issuers}}
	}
	var st stage
	switch {
	case jwtAuth == nil && keyAuth == nil:
		return nil, nil
	case jwtAuth == nil:
		st = keyAuth.Wrap(onPrincipal)
	case keyAuth == nil:
		st = jwtAuth.Wrap(onPrincipal)
	default:
		byKey, byToken := keyAuth.Wrap(onPrincipal), jwtAuth.Wrap(onPrincipal)
		st = func(next http.Handler) http.Handler {
			k, t := byKey(next), byToken(next)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Api-Key") == "" && jwt.LooksLikeJWT(jwt.Bearer(r)) {
					t.ServeHTTP(w, r)
					return
				}
				k.ServeHTTP(w, r)
			})
		}
	}
	if a.ForwardCredentials {
		return st, nil
	}
	// The checked credential goes no further than the gateway (KEY-07).
	return func(next http.Handler) http.Handler {
		return st(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			credential.Remove(r.Header)
			next.ServeHTTP(w, r)
		}))
	}, nil
}
