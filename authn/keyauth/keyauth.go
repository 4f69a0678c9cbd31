// Package keyauth is the API key authentication stage: Check finds the key
// in the configured headers, verifies it with an apikey.Manager and returns
// the principal; Wrap answers failures with problems (401 with
// WWW-Authenticate, 403 for a missing scope, 503 when the key store is
// unreachable and the key is not cached) and puts the principal into the
// request context. Keys in the URL query are refused (KEY-06) and never
// echoed.
package keyauth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/authn/credential"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/store"
)

// Header names the stage can read.
const (
	HeaderAuthorization = "authorization" // Authorization: Bearer <key>
	HeaderXAPIKey       = "x-api-key"
)

// Authenticator checks API keys for one route. Immutable; safe for concurrent use.
type Authenticator struct {
	Manager *apikey.Manager
	Headers []string // HeaderAuthorization and/or HeaderXAPIKey; empty means both
	Scopes  []string // every one is required
	Roles   []string // every one is required (403 without)
	Realm   string   // the challenge's realm; empty means "gatehouse"
}

// Errors of Check besides the manager's.
var (
	ErrMissing      = errors.New("authn: no API key presented")
	ErrInQuery      = errors.New("authn: API key sent in the URL query")
	ErrScope        = errors.New("authn: the key lacks a required scope")
	ErrRole         = errors.New("authn: the key lacks a required role")
	maxKeyHeaderLen = 256
)

// Check returns the principal of r's API key.
func (a *Authenticator) Check(r *http.Request) (*identity.Principal, error) {
	if credential.InQuery(r.URL.RawQuery, apikey.Prefix) {
		return nil, ErrInQuery
	}
	presented, err := a.presented(r)
	if err != nil {
		return nil, err
	}
	if presented == "" {
		return nil, ErrMissing
	}
	rec, err := a.Manager.Verify(r.Context(), presented)
	if err != nil {
		return nil, err
	}
	for _, s := range a.Scopes {
		if !slices.Contains(rec.Scopes, s) {
			return principal(rec), ErrScope
		}
	}
	for _, role := range a.Roles {
		if !slices.Contains(rec.Roles, role) {
			return principal(rec), fmt.Errorf("%w: key %s lacks %s", ErrRole, rec.ID, role)
		}
	}
	return principal(rec), nil
}

func principal(rec *store.APIKey) *identity.Principal {
	return &identity.Principal{
		Kind: identity.KindAPIKey, Subject: rec.Owner, Issuer: "gatehouse", Tenant: rec.Tenant, KeyID: rec.ID,
		Roles: rec.Roles, Scopes: rec.Scopes, Attrs: rec.Attrs, RateLimits: rec.RateLimits,
	}
}

func (a *Authenticator) reads(h string) bool {
	return len(a.Headers) == 0 || slices.Contains(a.Headers, h)
}

// presented is the key of r, read byte for byte (KEY-07).
func (a *Authenticator) presented(r *http.Request) (string, error) {
	v, _, err := credential.Presented(r.Header, a.reads(HeaderAuthorization), a.reads(HeaderXAPIKey))
	if err != nil {
		return "", err
	}
	if len(v) > maxKeyHeaderLen {
		return "", nil // oversized: not even parsed
	}
	return v, nil
}

// Wrap returns the stage (credential.Wrap): the principal goes into the
// request context and the request record; failures are answered by Fail.
func (a *Authenticator) Wrap(next http.Handler) http.Handler { return credential.Wrap(a, next) }

// Fail answers a failed Check: 400 for an ambiguous credential or a key in
// the URL, 401 with a challenge for a missing or invalid key (one answer
// for unknown, expired, revoked and rotated-out keys), 403 for a missing
// scope or role, 503 when keys cannot be checked.
func (a *Authenticator) Fail(w http.ResponseWriter, r *http.Request, err error) {
	realm := a.Realm
	if realm == "" {
		realm = "gatehouse"
	}
	challenge := `Bearer realm="` + realm + `"`
	switch {
	case errors.Is(err, credential.ErrAmbiguous):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "send one credential: one Authorization or X-API-Key header, not both with different values").Wrap(err))
	case errors.Is(err, ErrInQuery):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "API keys are accepted only in the Authorization or X-API-Key header, never in the URL; revoke a key that was sent in a URL").Wrap(err))
	case errors.Is(err, ErrMissing):
		w.Header().Set("WWW-Authenticate", challenge)
		problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.TypeUnauthorized, "an API key is required").Wrap(err))
	case errors.Is(err, ErrScope):
		w.Header().Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+strings.Join(a.Scopes, " ")+`"`)
		problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "the API key lacks a scope this route requires").Wrap(err))
	case errors.Is(err, ErrRole):
		problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "the API key lacks a role this endpoint requires").Wrap(err))
	case errors.Is(err, apikey.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "API keys cannot be checked right now").Wrap(err))
	default: // invalid, expired, revoked, rotated out: one answer
		w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
		problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.TypeUnauthorized, "the API key is not valid").Wrap(err))
	}

}
