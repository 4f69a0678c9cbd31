// Package clientip decides the client address of a request (PRX-01).
//
// The peer address of the TCP connection is the client, unless the peer is a
// trusted proxy: then the right-most address of X-Forwarded-For that is not
// itself a trusted proxy is the client. Headers sent by untrusted peers are
// never believed. A Resolver is immutable and safe for concurrent use.
package clientip

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-dev/gatehouse/record"
)

// Resolver finds the client IP. The zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts forwarded headers only from peers in trusted.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

// Trusted reports whether addr is a trusted proxy.
func (rs *Resolver) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range rs.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Peer parses the peer address of r (r.RemoteAddr).
func Peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// Resolve returns the client address of r and whether the peer was a trusted proxy.
func (rs *Resolver) Resolve(r *http.Request) (client netip.Addr, viaProxy bool) {
	peer := Peer(r)
	if !peer.IsValid() || !rs.Trusted(peer) {
		return peer, false
	}
	values := r.Header.Values("X-Forwarded-For")
	// Walk right to left over every listed hop: the first one that is not a
	// trusted proxy is the client. A malformed entry stops the walk and the
	// last good address wins (never a client-chosen one beyond it).
	client = peer
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client, true
			}
			client = a.Unmap()
			if !rs.Trusted(client) {
				return client, true
			}
		}
	}
	return client, true
}

type ctxKey struct{}

// With returns a context carrying the client address, for code that runs
// outside a pipeline (a pipeline's request record carries it).
func With(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// From returns the client address of ctx: the request record's
// (record.From), else one stored by With, else the zero Addr.
func From(ctx context.Context) netip.Addr {
	if rec := record.Lookup(ctx); rec != nil {
		return rec.ClientIP()
	}
	a, _ := ctx.Value(ctxKey{}).(netip.Addr)
	return a
}
