// Package identity defines the authenticated caller (Principal) that
// authentication stages put into the request context and later stages
// (authorization, rate limiting, logging, upstream headers) read.
//
// A Principal is immutable once stored; readers must not modify it.
package identity

import "context"

// Kind says how a principal authenticated.
type Kind string

// Principal kinds.
const (
	KindAPIKey Kind = "api_key"
	KindUser   Kind = "user"
	KindClient Kind = "client"
	KindMTLS   Kind = "mtls"
)

// Principal is an authenticated caller. The zero value means anonymous.
type Principal struct {
	Kind    Kind
	Subject string
	Issuer  string
	Tenant  string
	// KeyID is the API key id or the token's jti, when there is one.
	KeyID  string
	Roles  []string
	Scopes []string
	Attrs  map[string]any
	// RateLimits overrides, per policy name, the limit (requests per
	// window) of the route's post-auth rate-limit policies for this caller,
	// e.g. from an API key record. Nil: the route's limits apply.
	RateLimits map[string]int64
}

// Anonymous reports whether p is the zero principal.
func (p *Principal) Anonymous() bool { return p == nil || p.Kind == "" }

type ctxKey struct{}

// With returns a context carrying p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal in ctx, or nil when the request is anonymous.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
