package gatehouse

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/proxy"
)

// ForwardPath is where the forward-auth endpoint is mounted (admin listener).
const ForwardPath = "/v1/forward-auth"

// ForwardAuth returns the forward-auth handler for other proxies: nginx
// auth_request (X-Original-Method, X-Original-URI), Traefik ForwardAuth
// (X-Forwarded-Method, -Uri, -Host) and Envoy ext_authz over HTTP (the
// original path after ForwardPath). The original request is matched to a
// route and runs that route's rate limits, authentication and
// authorization; the answer is 200 with X-Gatehouse-* identity headers, or
// the problem (401, 403, 404, 429) those stages give.
func (g *Gateway) ForwardAuth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.snap.Load().forward.ServeHTTP(w, r)
	})
}

// Decide evaluates a policy input against the current policies (the
// decision API). Without policies everything is denied.
func (g *Gateway) Decide(in policy.Input) policy.Decision { return g.snap.Load().policies.Decide(in) }

func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// originalRequestStage replaces the forward-auth request with the request
// the calling proxy is asking about.
func originalRequestStage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri := firstHeader(r, "X-Forwarded-Uri", "X-Original-Uri")
		if uri == "" { // Envoy: the original path follows the endpoint's prefix
			uri = strings.TrimPrefix(r.URL.RequestURI(), ForwardPath)
			if uri == "" || uri[0] != '/' {
				uri = "/" + uri
			}
		}
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the original request URI is not valid"))
			return
		}
		orig := r.Clone(r.Context())
		orig.Method = r.Method
		if m := firstHeader(r, "X-Forwarded-Method", "X-Original-Method"); m != "" {
			orig.Method = strings.ToUpper(m)
		}
		orig.URL, orig.RequestURI = u, uri
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			orig.Host = h
		}
		orig.Body, orig.ContentLength = http.NoBody, 0
		next.ServeHTTP(w, orig)
	})
}

// allowWithIdentity ends a check chain: the request passed every check.
func allowWithIdentity(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	proxy.SetIdentityHeaders(h, identity.From(r.Context()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
