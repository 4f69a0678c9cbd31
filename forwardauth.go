package gatehouse

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/proxy"
)

// ForwardPath is where the forward-auth endpoint is mounted (admin listener).
const ForwardPath = "/v1/forward-auth"

// Forward-auth answer headers besides the identity headers.
const (
	// HeaderForwardStatus carries the real status of a refusal when the
	// calling proxy passes on only some statuses (nginx: 401 and 403).
	HeaderForwardStatus = "X-Gatehouse-Status"
	// HeaderForwardURI is the normalised request target the decision was
	// made on; the calling proxy should send that one upstream.
	HeaderForwardURI = "X-Gatehouse-Uri"
)

// ForwardAuth returns the forward-auth handler for other proxies (see
// forward_auth in the config): the original request is read from the
// headers of the configured proxy, only when the caller is a trusted proxy,
// matched to a route and run through that route's rate limits,
// authentication and authorization. The answer is 200 with the identity
// headers and X-Gatehouse-Uri, or the refusal those stages give. Without a
// forward_auth block every call gets 404.
func (g *Gateway) ForwardAuth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.snap.Load().forward.ServeHTTP(w, r)
	})
}

// Decide evaluates a policy input against the current policies (the
// decision API). Without policies everything is denied.
func (g *Gateway) Decide(in policy.Input) policy.Decision { return g.snap.Load().policies.Decide(in) }

// forwardMode is how one kind of proxy describes the original request.
type forwardMode struct {
	// method, uri and host name the headers that carry the original
	// request; an empty name means the call's own method, path (after
	// ForwardPath) or Host (Envoy's ext_authz).
	method, uri, host string
	// conflicts are the other proxies' headers: a call that carries one
	// is refused, whatever it says.
	conflicts []string
	// passesOnly401And403: the proxy turns any other refusal into a 500,
	// so refusals are sent as 403 with the real status in
	// X-Gatehouse-Status (nginx auth_request).
	passesOnly401And403 bool
	// hostFromCall: the call's own Host is the original (Envoy).
	hostFromCall bool
}

func newForwardMode(fa *ForwardAuth) *forwardMode {
	m := &forwardMode{}
	switch fa.Proxy {
	case "nginx":
		m.method, m.uri, m.host, m.passesOnly401And403 = "X-Original-Method", "X-Original-Uri", "X-Original-Host", true
	case "traefik":
		m.method, m.uri, m.host = "X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Host"
	case "envoy":
		m.hostFromCall = true
	case "headers":
		h := fa.Headers
		m.method, m.uri, m.host = proxy.FoldName(h.Method), proxy.FoldName(h.URI), ""
		if h.Host != "" {
			m.host = proxy.FoldName(h.Host)
		}
		m.passesOnly401And403 = fa.OnlyStatuses401And403
	}
	for _, n := range append([]string{"X-Forwarded-Host"}, proxy.OriginalRequestHeaders...) {
		if n != m.method && n != m.uri && n != m.host {
			m.conflicts = append(m.conflicts, n)
		}
	}
	return m
}

// forwardStage answers the forward-auth endpoint: calls from peers that
// are not trusted proxies are refused, then the original request is
// rebuilt. Refusals are mapped for proxies that pass only 401 and 403.
func (s *snapshot) forwardStage(next http.Handler) http.Handler {
	if s.forwardMode == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "forward auth is not configured (forward_auth)"))
		})
	}
	m := s.forwardMode
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.passesOnly401And403 {
			w = &forwardStatusWriter{ResponseWriter: w}
		}
		if !s.resolver.Trusted(clientip.Peer(r)) {
			problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "forward auth answers trusted proxies only (trusted_proxies)"))
			return
		}
		orig, msg := m.original(r)
		if orig == nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, msg))
			return
		}
		next.ServeHTTP(w, orig)
	})
}

// original rebuilds the request the proxy asks about, or says why not.
func (m *forwardMode) original(r *http.Request) (*http.Request, string) {
	for _, n := range m.conflicts {
		if _, ok := r.Header[n]; ok {
			return nil, "the call carries " + n + ", which this gateway's forward_auth.proxy does not send: refused"
		}
	}
	one := func(name string) (string, bool) {
		vs := r.Header[name]
		if len(vs) > 1 {
			return "", false
		}
		if len(vs) == 1 {
			return vs[0], true
		}
		return "", true
	}
	method, uri, host := r.Method, "", ""
	if m.hostFromCall {
		host = r.Host
	}
	var ok bool
	if m.method != "" {
		if method, ok = one(m.method); !ok || method == "" {
			return nil, "the original method (" + m.method + ") is missing or repeated"
		}
	}
	if m.uri != "" {
		if uri, ok = one(m.uri); !ok || uri == "" {
			return nil, "the original URI (" + m.uri + ") is missing or repeated"
		}
	} else {
		uri = strings.TrimPrefix(r.RequestURI, ForwardPath)
		if uri == "" || uri[0] == '?' {
			uri = "/" + uri
		}
	}
	if m.host != "" {
		if host, ok = one(m.host); !ok {
			return nil, "the original host (" + m.host + ") is repeated"
		}
	}
	if !tokenRE.MatchString(method) {
		return nil, "the original method is not a method"
	}
	// A fragment is never part of a request target; the proxies in front
	// cut the path there (nginx does), so the gateway decides on the same.
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	if !requestTarget(uri) {
		return nil, "the original URI is not an origin-form request target"
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return nil, "the original URI is not valid"
	}
	if _, ok := edge.CanonicalHost(host); host != "" && !ok {
		return nil, "the original host is not a host name"
	}
	orig := r.Clone(r.Context())
	orig.Method, orig.URL, orig.RequestURI, orig.Host = method, u, uri, host
	orig.Body, orig.ContentLength, orig.TransferEncoding = http.NoBody, 0, nil
	return orig, ""
}

// requestTarget reports whether s is an origin-form request target
// (RFC 9112 3.2.1): an absolute path and an optional query, only visible
// ASCII.
func requestTarget(s string) bool {
	if s == "" || s[0] != '/' || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// forwardStatusWriter sends refusals other than 401 and 403 as 403 with
// the real status in X-Gatehouse-Status (and keeps Retry-After and the
// problem body), for proxies that turn other statuses into 500s.
type forwardStatusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *forwardStatusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		w.Header().Set(HeaderForwardStatus, strconv.Itoa(code))
		if code >= 300 && code != http.StatusUnauthorized && code != http.StatusForbidden {
			code = http.StatusForbidden
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *forwardStatusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *forwardStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// allowWithIdentity ends a check chain: the request passed every check.
func allowWithIdentity(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	proxy.SetIdentityHeaders(h, identity.From(r.Context()))
	target := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	h.Set(HeaderForwardURI, target)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
