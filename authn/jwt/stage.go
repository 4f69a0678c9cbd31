package jwt

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/authn/credential"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// Authenticator checks bearer JWTs for one route. Immutable; safe for
// concurrent use.
type Authenticator struct {
	Verifier *Verifier
	Require  Require
}

// ErrInQuery: a token in the URL (access_token=...) is refused, as URLs
// end up in logs and histories.
var ErrInQuery = errors.New("jwt: bearer token sent in the URL query")

// Bearer returns the bearer token of r's Authorization header, or "".
func Bearer(r *http.Request) string { return credential.Bearer(r.Header.Get("Authorization")) }

// LooksLikeJWT reports whether a bearer credential has the shape of a JWS
// (three base64url parts), to tell it from an API key on routes that take
// both.
func LooksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && strings.HasPrefix(s, "ey")
}

// Check returns the principal of r's bearer token.
func (a *Authenticator) Check(r *http.Request) (*identity.Principal, error) {
	if credential.InQuery(r.URL.RawQuery) {
		return nil, ErrInQuery
	}
	raw, _, err := credential.Presented(r.Header, true, false)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, ErrMissing
	}
	c, err := a.Verifier.Verify(r.Context(), raw, &a.Require)
	if err != nil {
		if errors.Is(err, ErrScope) && c != nil {
			return c.Principal(), err
		}
		return nil, err
	}
	return c.Principal(), nil
}

// Wrap returns the stage (credential.Wrap): the principal goes into the
// request context and the request record; failures are answered by Fail.
func (a *Authenticator) Wrap(next http.Handler) http.Handler { return credential.Wrap(a, next) }

// Fail answers a failed check: 401 with an RFC 6750 challenge, 403 for a
// missing scope, 400 for a token in the URL, 503 when the issuer's keys
// cannot be fetched. The detail never says which check failed beyond
// what the client needs.
func (a *Authenticator) Fail(w http.ResponseWriter, r *http.Request, err error) {
	challenge := `Bearer realm="gatehouse"`
	switch {
	case errors.Is(err, credential.ErrAmbiguous):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "send one credential: one Authorization header, and no X-API-Key with another value").Wrap(err))
	case errors.Is(err, ErrInQuery):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "bearer tokens are accepted only in the Authorization header, never in the URL").Wrap(err))
	case errors.Is(err, ErrMissing):
		w.Header().Set("WWW-Authenticate", challenge)
		problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.TypeUnauthorized, "a bearer token is required").Wrap(err))
	case errors.Is(err, ErrScope):
		w.Header().Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+strings.Join(a.Require.Scopes, " ")+`"`)
		problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "the token lacks a scope this route requires").Wrap(err))
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "tokens cannot be checked right now").Wrap(err))
	default:
		w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
		problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.TypeUnauthorized, "the bearer token is not valid").Wrap(err))
	}
}
