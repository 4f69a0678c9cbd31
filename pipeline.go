package gatehouse

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/edge"
)

// This file is the one place that orders the stages. Config switches stages
// on and sets them; it never reorders them. Each piece is listed once and
// the four chains (HTTPS, plain HTTP, forward auth, and a route's checks
// for forward auth) are built from the pieces.
//
//	[edge]      recover -> request id + client IP + request record
//	            -> access log + metrics -> security headers
//	[normalise] inbound headers (PRX-08, PRX-09)
//	            -> limits (method, URI, header size, host and path normal form)
//	            -> route match (no match: 404/405 problem, never proxied)
//	[route]     body limit -> [checks] -> validate request (OpenAPI)
//	            -> concurrency limit -> validate response (OpenAPI, optional)
//	            -> proxy (identity headers set upstream)
//	[checks]    rate limit (pre-auth keys: IP, route, header)
//	            -> authenticate (API key | JWT) -> rate limit (principal keys)
//	            -> authorize (Cedar, default deny)
//
// Validation runs after authorization, so the bodies of callers who may
// not call the route are never parsed (the body limit bounds them before).
// Forward auth runs the edge, then rebuilds the original request from the
// calling proxy's headers, then normalises and matches it like any other.

type stage = func(http.Handler) http.Handler

// edge is what every call to a listener passes first; tls says whether
// the listener is HTTPS (HSTS).
func (s *snapshot) edge(tls bool) []stage {
	return []stage{
		s.recover.Wrap,
		s.requestID.Wrap,
		s.accessLog.Wrap,
		edge.SecurityHeaders{HSTS: tls}.Wrap,
	}
}

// normalise is what a request passes before it is matched to a route.
func (s *snapshot) normalise() []stage {
	return []stage{
		s.inbound.Wrap,
		s.limits.Wrap,
	}
}

// checks are a route's decisions about the caller, in order; forward auth
// runs them alone.
func (rt *route) checks() []stage {
	return []stage{
		rt.preAuth,
		rt.authn,
		rt.postAuth,
		rt.authorize,
	}
}

// globalChain is what every request on a listener passes through, up to
// and including route matching.
func (s *snapshot) globalChain(tls bool) http.Handler {
	return chain(s.matchOn(s.mux, tls), s.edge(tls), s.normalise())
}

// routeChain is what a request matched to rt passes through.
func (s *snapshot) routeChain(rt *route, upstream http.Handler) http.Handler {
	return chain(upstream,
		[]stage{rt.bodyLimit},
		rt.checks(),
		[]stage{rt.openapi, rt.concurrency, rt.openapiResponses},
	)
}

// checkChain is a route's checks without the proxy, for forward auth,
// ending in a 200 that carries the gateway's view of the caller.
func (s *snapshot) checkChain(rt *route) http.Handler {
	return chain(http.HandlerFunc(allowWithIdentity), rt.checks())
}

// forwardChain serves the forward-auth endpoint: the call passes the edge
// (so even a refused rebuild has a request id and an access-log line),
// then (from a trusted proxy only) the original request is rebuilt from
// the proxy's headers, normalised like any inbound request and matched on
// the check mux.
func (s *snapshot) forwardChain() http.Handler {
	return chain(s.matchOn(s.checkMux, true), s.edge(false), []stage{s.forwardStage}, s.normalise())
}

// chain wraps h so that the stages run in the order listed (the first
// group's first stage outermost); nil stages are skipped.
func chain(h http.Handler, groups ...[]stage) http.Handler {
	var all []stage
	for _, g := range groups {
		all = append(all, g...)
	}
	return edge.Chain(h, all...)
}
