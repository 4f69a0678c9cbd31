package gatehouse

import (
	"net/http"
)

// This file is the one place that orders the stages. Config switches stages
// on and sets them; it never reorders them.
//
//	[global] recover -> request id + client IP -> access log + metrics
//	         -> security headers -> inbound headers (PRX-08, PRX-09)
//	         -> limits (method, URI, host and path normal form)
//	         -> route match (no match: 404/405 problem, never proxied)
//	[route]  body limit -> rate limit (pre-auth keys: IP, route, header)
//	         -> authenticate (API key | JWT) -> rate limit (principal keys)
//	         -> authorize (Cedar, default deny) -> validate request (OpenAPI)
//	         -> concurrency limit -> validate response (OpenAPI, optional)
//	         -> proxy (identity headers set upstream)
//
// Validation runs after authorization, so the bodies of callers who may
// not call the route are never parsed (the body limit bounds them before).

type stage = func(http.Handler) http.Handler

// chain wraps h so that stages[0] runs first.
func chain(h http.Handler, stages ...stage) http.Handler {
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}

// globalChain is what every request on a listener passes through, before
// and including route matching. tls says whether the listener is HTTPS.
func (s *snapshot) globalChain(tls bool) http.Handler {
	return chain(s.matchStage(tls),
		recoverStage(s.deps.Log),
		requestIDStage(s.resolver, s.deps.Now),
		accessLogStage(s.deps.AccessLog, s.deps.Log, s.accessLog, s.unmatched, s.deps.Now),
		securityHeadersStage(tls),
		inboundStage(s.inbound),
		limitsStage(s.maxURI, int(s.cfg.Server.MaxHeaderBytes), s.cfg.Limits.PathParams == "allow"),
	)
}

// routeChain is what a request matched to rt passes through, after matching.
func (s *snapshot) routeChain(rt *route, upstream http.Handler) http.Handler {
	return chain(upstream,
		bodyLimitStage(rt.maxBody),
		optional(rt.preAuth),
		optional(rt.authn),
		optional(rt.postAuth),
		optional(rt.authorize),
		optional(rt.validate),
		optional(rt.concurrency),
		optional(rt.responses),
	)
}

// optional returns s, or a stage that does nothing when s is nil.
func optional(s stage) stage {
	if s == nil {
		return func(h http.Handler) http.Handler { return h }
	}
	return s
}

// checkChain is a route's checks without the proxy, for forward auth: the
// same stages in the same order, ending in a 200 that carries the
// gateway's view of the caller.
func (s *snapshot) checkChain(rt *route) http.Handler {
	return chain(http.HandlerFunc(allowWithIdentity),
		optional(rt.preAuth),
		optional(rt.authn),
		optional(rt.postAuth),
		optional(rt.authorize),
	)
}

// forwardChain serves the forward-auth endpoint: the call passes the
// global stages, then (from a trusted proxy only) the original request is
// rebuilt from the proxy's headers, cleaned like any inbound request and
// matched on the check mux.
func (s *snapshot) forwardChain() http.Handler {
	return chain(s.matchOn(s.checkMux, true),
		recoverStage(s.deps.Log),
		requestIDStage(s.resolver, s.deps.Now),
		accessLogStage(s.deps.AccessLog, s.deps.Log, s.accessLog, s.unmatched, s.deps.Now),
		securityHeadersStage(false),
		s.forwardStage,
		inboundStage(s.inbound),
		limitsStage(s.maxURI, int(s.cfg.Server.MaxHeaderBytes), s.cfg.Limits.PathParams == "allow"),
	)
}
