package gatehouse

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/edge"
)

// FuzzForwardRebuild feeds the forward-auth request rebuild (a parser of
// headers a proxy sets from client input) arbitrary method, URI and host
// values, for every proxy kind. A rebuilt request is always an
// origin-form, bodiless request with a token method and a valid host, and
// the limits stage either refuses it or puts it in normal form; a refusal
// always says why.
func FuzzForwardRebuild(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/api/orders/1", "shop.example"},
		{"GET", "/api/orders/1?x=1#frag", ""},
		{"DELETE", "//evil.example/api", "shop.example"},
		{"GET", "http://evil.example/api", "a"},
		{"G\tET", "/a b", "x y"},
		{"GET", "/api/%2e%2e/admin", "[::1]:8443"},
		{"POST", "/api/..;/admin", "SHOP.example."},
		{"", "", ""},
		{"GET", "/\x00", "\xff"},
		{"GET", "*", "h:99999"},
	} {
		f.Add(s[0], s[1], s[2], uint8(0), false)
	}
	kinds := []*ForwardAuth{
		{Proxy: "nginx"}, {Proxy: "traefik"}, {Proxy: "envoy"},
		{Proxy: "headers", Headers: &ForwardAuthHeaders{Method: "X-M", URI: "X-U", Host: "X-H"}},
	}
	limits := &edge.Limits{MaxURIBytes: 8192}
	f.Fuzz(func(t *testing.T, method, uri, host string, kind uint8, twice bool) {
		fa := kinds[int(kind)%len(kinds)]
		m := newForwardMode(fa)
		r := httptest.NewRequest("GET", ForwardPath, nil)
		set := func(name, v string) {
			if name == "" {
				return
			}
			r.Header[name] = []string{v}
			if twice {
				r.Header[name] = append(r.Header[name], v)
			}
		}
		set(m.method, method)
		set(m.uri, uri)
		set(m.host, host)
		if m.hostFromCall {
			r.Host = host
		}
		if m.uri == "" {
			if !strings.HasPrefix(uri, "/") || strings.ContainsAny(uri, " \t\r\n\x00") {
				return // not a request line the server would have accepted
			}
			r.RequestURI = ForwardPath + uri
		}
		orig, msg := m.original(r)
		if orig == nil {
			if msg == "" {
				t.Fatal("refused without a reason")
			}
			return
		}
		if twice && m.method != "" {
			t.Fatalf("a repeated %s was believed", m.method)
		}
		if !tokenRE.MatchString(orig.Method) {
			t.Fatalf("method %q", orig.Method)
		}
		if !requestTarget(orig.RequestURI) || strings.Contains(orig.RequestURI, "#") || orig.URL.Host != "" || orig.URL.Scheme != "" {
			t.Fatalf("target %q (url %#v)", orig.RequestURI, orig.URL)
		}
		if orig.Body != http.NoBody || orig.ContentLength != 0 || len(orig.TransferEncoding) != 0 {
			t.Fatal("a rebuilt request has a body")
		}
		if _, ok := edge.CanonicalHost(orig.Host); !ok {
			t.Fatalf("host %q", orig.Host)
		}
		n, p := limits.Check(orig)
		if p == nil {
			// What goes upstream is the normal form the decision used.
			n.RequestURI = n.URL.RequestURI()
			again, p2 := limits.Check(n)
			if p2 != nil && p2.Status == http.StatusRequestURITooLong {
				return // the escaped form is longer than the limit
			}
			if p2 != nil || again.URL.Path != n.URL.Path || again.URL.EscapedPath() != n.URL.EscapedPath() {
				t.Fatalf("normal form %q (%q) is not stable: %v %q", n.URL.EscapedPath(), n.URL.Path, p2, again.URL.EscapedPath())
			}
		}
	})
}
