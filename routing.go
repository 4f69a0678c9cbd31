package gatehouse

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// Routing: the compiled routes are registered on a ServeMux (patterns,
// buildMux); a request is matched by dispatching through the mux with a
// matchWriter, so the mux sets r.Pattern and the path values, and a
// request no route matches is answered with a problem (notMatched) — never
// proxied.

// route is one compiled route; it is the handler registered on the mux.
// Its stages are listed in pipeline order; nil ones are off.
type route struct {
	name    string
	browser bool
	metrics *routeMetrics
	chain   http.Handler // the whole route, ending in the proxy
	check   http.Handler // the checks alone, answering 200: forward auth

	bodyLimit        stage
	preAuth          stage // rate limit by pre-auth keys
	authn            stage // nil for public routes
	postAuth         stage // rate limit by principal
	authorize        stage // Cedar policies
	openapi          stage // OpenAPI request check
	concurrency      stage
	openapiResponses stage // OpenAPI response check
}

// ServeHTTP is called by the mux for a matched request.
func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.dispatch(w, r, rt.chain) }

// dispatch takes the real writer back out of the matchWriter the mux was
// handed, marks the request matched and records the route.
func (rt *route) dispatch(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if mw, ok := w.(*matchWriter); ok {
		mw.matched = true
		rt.recordOn(mw.rec)
		w = mw.ResponseWriter
	}
	h.ServeHTTP(w, r)
}

// recordOn notes in the request record that rt matched: its name for the
// log, rt itself for the route's metrics (compileEdge's Done).
func (rt *route) recordOn(q *edge.Request) {
	q.SetRoute(rt.name)
	q.Data = rt
}

// routeCheck is a route as registered on the check mux (forward auth).
type routeCheck struct{ rt *route }

func (c routeCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.rt.dispatch(w, r, c.rt.check)
}

// matchWriter is what the mux writes to. When the mux finds no route, its
// own not-found, method-not-allowed or redirect handler writes here instead:
// the writes are captured (status, Allow) and the gateway answers with a
// problem. Pooled, so matching allocates nothing.
type matchWriter struct {
	http.ResponseWriter
	rec     *edge.Request
	matched bool
	status  int
	scratch http.Header
}

var matchWriters = sync.Pool{New: func() any { return new(matchWriter) }}

func (mw *matchWriter) Header() http.Header {
	if mw.matched {
		return mw.ResponseWriter.Header()
	}
	if mw.scratch == nil {
		mw.scratch = http.Header{}
	}
	return mw.scratch
}

func (mw *matchWriter) WriteHeader(code int) {
	if mw.matched {
		mw.ResponseWriter.WriteHeader(code)
		return
	}
	mw.status = code
}

func (mw *matchWriter) Write(b []byte) (int, error) {
	if mw.matched {
		return mw.ResponseWriter.Write(b)
	}
	return len(b), nil
}

// matchOn finds the route on mux. On the HTTPS listener it dispatches
// through the mux (which sets r.Pattern and path values for later stages);
// on the plain listener it answers with a redirect or a refusal.
func (s *snapshot) matchOn(mux *http.ServeMux, tls bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := edge.RequestOf(r)
		if !tls || q == nil {
			h, _ := mux.Handler(r)
			rt, ok := h.(*route)
			if !ok {
				c := &capture{header: http.Header{}}
				h.ServeHTTP(c, r)
				s.notMatched(w, r, c.status, c.header)
				return
			}
			if q != nil {
				rt.recordOn(q)
			}
			if !tls {
				s.servePlain(w, r, rt)
			} else {
				mux.ServeHTTP(w, r)
			}
			return
		}
		mw := matchWriters.Get().(*matchWriter)
		*mw = matchWriter{ResponseWriter: w, rec: q}
		mux.ServeHTTP(mw, r)
		if !mw.matched {
			s.notMatched(w, r, mw.status, mw.scratch)
		}
		*mw = matchWriter{}
		matchWriters.Put(mw)
	})
}

// servePlain answers a request that arrived over plain HTTP (TLS-06).
// Browser pages are redirected to HTTPS, only for a host name the config
// names (PRX-10): a client-chosen Host never becomes a Location.
func (s *snapshot) servePlain(w http.ResponseWriter, r *http.Request, rt *route) {
	if rt.browser && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		name := edge.HostName(r.Host)
		if !s.redirectHosts[name] {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the Host is not a name of this gateway; use its https URL"))
			return
		}
		if strings.Contains(name, ":") {
			name = "[" + name + "]"
		}
		u := url.URL{Scheme: "https", Host: name + s.httpsPort, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
		return
	}
	problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeHTTPSRequired, "this API is served over HTTPS only; the request was not forwarded"))
}

// capture records what ServeMux's own not-found, method-not-allowed and
// redirect handlers would answer, so the gateway can answer with a problem.
type capture struct {
	header http.Header
	status int
}

func (c *capture) Header() http.Header         { return c.header }
func (c *capture) Write(b []byte) (int, error) { return len(b), nil }
func (c *capture) WriteHeader(code int)        { c.status = code }

func (s *snapshot) notMatched(w http.ResponseWriter, r *http.Request, status int, h http.Header) {
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", h.Get("Allow"))
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, "the route does not allow "+r.Method))
		return
	}
	problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no route matches this request"))
}

type muxError struct{ path, msg string }

// patterns returns the ServeMux patterns of one route: one per method, or one
// without a method when the route allows all methods.
func patterns(rt *Route) []string {
	hostPath := rt.Match.Host + rt.Match.Path
	if len(rt.Match.Methods) == 0 {
		return []string{hostPath}
	}
	ps := make([]string, len(rt.Match.Methods))
	for i, m := range rt.Match.Methods {
		ps[i] = m + " " + hostPath
	}
	return ps
}

// buildMux registers every route on a new ServeMux. ServeMux panics on an
// invalid or conflicting pattern; that panic becomes a config error naming
// the route, so a bad config never crashes the gateway.
func buildMux(routes []Route, handler func(i int) http.Handler) (mux *http.ServeMux, merr *muxError) {
	mux = http.NewServeMux()
	owner := map[string]int{}
	for i := range routes {
		h := handler(i)
		for _, p := range patterns(&routes[i]) {
			func() {
				defer func() {
					if v := recover(); v != nil {
						msg := fmt.Sprint(v)
						// Name the other route instead of its pattern alone.
						for op, j := range owner {
							if strings.Contains(msg, "pattern \""+op+"\"") || strings.Contains(msg, op) && j != i {
								msg = fmt.Sprintf("%s (routes[%d] %q)", msg, j, routes[j].Name)
								break
							}
						}
						merr = &muxError{path: fmt.Sprintf("routes[%d].match", i), msg: "route conflicts or is invalid: " + msg}
					}
				}()
				mux.Handle(p, h)
				owner[p] = i
			}()
			if merr != nil {
				return nil, merr
			}
		}
	}
	return mux, nil
}

// oauthRoute names the built-in authorization server's endpoints in logs
// and metrics.
const oauthRoute = "gatehouse-oauth"

// registerInternal puts the gateway's own endpoints on the mux. A user
// route that takes one of their patterns is a config error.
func registerInternal(mux *http.ServeMux, patterns []string, h http.Handler) (err error) {
	for _, p := range patterns {
		func() {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("routes: a route conflicts with the built-in endpoint %q: %v", p, v)
				}
			}()
			mux.Handle(p, h)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
