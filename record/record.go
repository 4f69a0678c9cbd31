// Package record is the per-request record: what the stages of one request
// learn about it — its id and client address, the route it matched, the
// principal, the authorization decision, the upstream it went to — kept
// for the access log and the audit trail.
//
// The outermost stage (edge.RequestID in a Gatehouse pipeline) creates one
// Recorder per request and stores it in the request context with With;
// every later stage reports through From(ctx), which never returns nil, so
// a stage used alone (outside a pipeline) reports into Discard. The request
// id that problem bodies carry and the client address clientip.From
// returns are read from the same record, so one context value serves
// them all.
//
// A Recorder belongs to one request: stages call it from the request's
// goroutine (or the goroutines it hands the request to, one at a time).
package record

import (
	"context"
	"net/netip"

	"github.com/gatehouse-dev/gatehouse/identity"
)

// Recorder receives what the stages of one request learn. The setters
// keep the last value given; none may retain r or block.
type Recorder interface {
	// RequestID is the request's id (problem bodies and log lines carry it).
	RequestID() string
	// ClientIP is the client address, after trusted proxies.
	ClientIP() netip.Addr
	// SetRoute names the route the request matched.
	SetRoute(name string)
	// SetPrincipal records who the request was authenticated as (also
	// when a later check, such as a missing scope, refuses it).
	SetPrincipal(p *identity.Principal)
	// SetDecision records the authorization decision.
	SetDecision(d Decision)
	// SetUpstream records the upstream target (host:port) the request was
	// sent to.
	SetUpstream(target string)
}

// Decision is an authorization decision as the record keeps it.
type Decision struct {
	Allowed bool
	// Policies are the ids of the policies that decided.
	Policies []string
	// Errors are policy evaluation errors (they deny); never shown to
	// the client.
	Errors []string
}

type ctxKey struct{}

// With returns a context that carries rec.
func With(ctx context.Context, rec Recorder) context.Context {
	return context.WithValue(ctx, ctxKey{}, rec)
}

// Lookup returns the Recorder stored by With, or nil.
func Lookup(ctx context.Context) Recorder {
	rec, _ := ctx.Value(ctxKey{}).(Recorder)
	return rec
}

// From returns the Recorder stored by With, or Discard.
func From(ctx context.Context) Recorder {
	if rec := Lookup(ctx); rec != nil {
		return rec
	}
	return Discard{}
}

// Discard is a Recorder that keeps nothing: no id, no address.
type Discard struct{}

func (Discard) RequestID() string                { return "" }
func (Discard) ClientIP() netip.Addr             { return netip.Addr{} }
func (Discard) SetRoute(string)                  {}
func (Discard) SetPrincipal(*identity.Principal) {}
func (Discard) SetDecision(Decision)             {}
func (Discard) SetUpstream(string)               {}
