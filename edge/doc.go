// Package edge holds the stages every request passes before it reaches a
// route, as plain net/http middleware a Go service can use without the
// gateway:
//
//	Recover          a panic below becomes a 500 problem and a logged stack (PD-01)
//	RequestID        request id, client address (PRX-01), the request record
//	AccessLog        one JSON line per request, no secrets (LOG-02)
//	SecurityHeaders  nosniff, no-referrer, frame-ancestors, HSTS on HTTPS (HDR-01, TLS-05)
//	InboundHeaders   client-sent headers no upstream may believe (PRX-08, PRX-09)
//	Limits           methods, URI and header size, host and path normal form
//	                 (PRX-02..05, PRX-10..12)
//	BodyLimit        the request body cap of a route (PRX-04)
//
// Each is a struct whose zero value is usable (documented per field) with
// a Wrap(next http.Handler) http.Handler method; Limits also has a pure
// Check. They are meant to run in the order above, outermost first:
//
//	h := edge.Chain(mux, recover.Wrap, ids.Wrap, log.Wrap, headers.Wrap, inbound.Wrap, limits.Wrap)
//
// RequestID creates the request's record (Request, a record.Recorder) in
// the same allocation as the response-writer wrapper Recover or AccessLog
// made, so the edge costs one allocation per request besides the context.
package edge

import "net/http"

// Chain wraps h so that stages[0] runs first (outermost). Nil stages are
// skipped, so optional stages can be listed in place.
func Chain(h http.Handler, stages ...func(http.Handler) http.Handler) http.Handler {
	for i := len(stages) - 1; i >= 0; i-- {
		if stages[i] != nil {
			h = stages[i](h)
		}
	}
	return h
}
