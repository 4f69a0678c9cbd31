package gatehouse

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/proxy"
	"golang.org/x/net/http/httpguts"
)

// PRX-08: identity headers in any spelling stack upstreams read alike
// (X-Gatehouse_Roles, x.gatehouse.roles become HTTP_X_GATEHOUSE_ROLES)
// never reach the upstream; the gateway's own are always set, blank for
// an anonymous caller.
func TestPRX08ForgedIdentitySpellings(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	addr := strings.TrimPrefix(g.srv.URL, "http://")
	raw := "GET /api/orders HTTP/1.1\r\nHost: x\r\n" +
		"X-Gatehouse_Roles: gatehouse:admin\r\nx_gatehouse_subject: admin\r\nX.Gatehouse.Tenant: acme\r\n" +
		"X-GATEHOUSE-KEY-ID: k1\r\nx-gatehouse-issuer: evil\r\nX_Forwarded_For: 6.6.6.6\r\nX-Real_IP: 6.6.6.6\r\n" +
		"Connection: close\r\n\r\n"
	if line := rawRequest(t, addr, raw); !strings.Contains(line, "200") {
		t.Fatalf("status line %q", line)
	}
	r := up.lastRequest()
	for name, vs := range r.Header {
		if !proxy.PlainName(name) {
			t.Errorf("header %q reached the upstream: %q", name, vs)
		}
	}
	for _, n := range proxy.IdentityHeaders {
		if vs, ok := r.Header[n]; ok && (len(vs) != 1 || vs[0] != "") {
			t.Errorf("%s upstream = %q for an anonymous caller", n, vs)
		}
	}
	if got := r.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
}

// PRX-09: method overrides, other proxies' identity headers, original
// request headers and the configured extras never reach an upstream, in
// any case or with '_' for '-'.
func TestPRX09OverridesAndForeignIdentity(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, "request_headers: {remove: [X-Internal-Token]}\n"+routeYAML(up.URL, ""))
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/orders", nil)
	sent := []string{"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method", "Remote-User", "X-Remote-User",
		"X-Forwarded-User", "X-Auth-Request-User", "X-Auth-Request-Email", "X-Forwarded-Uri", "X-Forwarded-Method",
		"X-Original-URI", "X-Original-Url", "X-Rewrite-Url", "X-Forwarded-Prefix", "X-Forwarded-Port", "X-Internal-Token",
		"x-internal-TOKEN", "X-Forwarded-Ssl", "Forwarded", "X-Real-Ip", "True-Client-Ip"}
	for _, n := range sent {
		req.Header[n] = []string{"DELETE"}
	}
	req.Header.Set("X-Custom", "kept")
	res := do(t, req)
	body(t, res)
	r := up.lastRequest()
	for _, n := range sent {
		if v := r.Header.Get(n); v != "" {
			t.Errorf("%s reached the upstream: %q", n, v)
		}
	}
	if r.Method != http.MethodGet || r.Header.Get("X-Custom") != "kept" {
		t.Errorf("method %s, X-Custom %q", r.Method, r.Header.Get("X-Custom"))
	}
}

// PRX-10: the Host is canonicalised before host matching: case, a
// trailing dot and a port do not skip a host route for a host-less one.
func TestPRX10HostCanonical(t *testing.T) {
	admin, public := newUpstream(t, nil), newUpstream(t, nil)
	g := startGateway(t, fmt.Sprintf(`
routes:
  - name: admin
    match: {host: Admin.Example., path: /x}
    upstream: {url: %q}
  - name: public
    match: {path: /x}
    upstream: {url: %q}
`, admin.URL, public.URL))
	for _, host := range []string{"admin.example", "ADMIN.example", "admin.example.", "Admin.Example.:8443", "admin.example:443"} {
		req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/x", nil)
		req.Host = host
		before := admin.hits.Load()
		if res := do(t, req); res.StatusCode != 200 || admin.hits.Load() != before+1 {
			t.Errorf("Host %q: status %d, admin route not taken", host, res.StatusCode)
		}
	}
	for _, host := range []string{"admin..example", "admin.example..", "admin.example..:443", "admin.example:99999", "admin.example:+1", "[::1%eth0]:1", ":80", "admin.example:80:80", "a/b"} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		g.gw.ServeHTTP(rec, req)
		if rec.Code != 400 {
			t.Errorf("Host %q: %d", host, rec.Code)
		}
	}
}

// PRX-11: dot segments with parameters, which servlet containers resolve,
// are refused; so are ';' parameters anywhere unless allowed.
func TestPRX11DotSegmentParams(t *testing.T) {
	up := newUpstream(t, nil)
	src := `
routes:
  - name: pub
    match: {path: "/pub/"}
    upstream: {url: %q}
  - name: orders
    match: {path: /api/orders}
    auth: {api_key: {}}
    upstream: {url: %q}
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
`
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	for _, allow := range []bool{false, true} {
		cfg := mustParse(t, fmt.Sprintf(src, up.URL, up.URL)+map[bool]string{true: "limits: {path_params: allow}\n"}[allow])
		gw, err := New(cfg, Deps{AccessLog: io.Discard, APIKeys: testKeyManager(t)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/pub/..;/api/orders", "/pub/.;x/../api/orders", "/pub/..;jsessionid=1/api/orders", "/pub/%2e%2e;/api/orders",
			"/pub/..%3B/api/orders", "/pub/..%3b/api/orders", "/pub/.%2E;x/api/orders"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "http://x"+p, nil)
			gw.ServeHTTP(rec, req)
			if rec.Code != 400 {
				t.Errorf("allow=%v %s: %d", allow, p, rec.Code)
			}
		}
		for _, p := range []string{"/pub/x%2F..%2F..%2Fapi/orders{", "/pub/%2F|"} {
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			if rec.Code != 400 {
				t.Errorf("PRX-05 %s: %d", p, rec.Code)
			}
		}
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest("GET", "http://x/pub/a;v=1/b", nil))
		if want := map[bool]int{false: 400, true: 200}[allow]; rec.Code != want {
			t.Errorf("allow=%v: ;params %d, want %d", allow, rec.Code, want)
		}
	}
	if up.hits.Load() != 1 {
		t.Errorf("upstream hits %d, want 1", up.hits.Load())
	}
}

// FuzzHeaderTrustBoundary sends random headers from an untrusted peer.
// Nothing the gateway reads as identity, forwarding or original-request
// data survives to the upstream, and forward auth refuses the call.
func FuzzHeaderTrustBoundary(f *testing.F) {
	f.Add("X-Gatehouse_Roles: admin\nX-Forwarded-Uri: /x\nX-HTTP-Method-Override: DELETE")
	f.Add("x.gatehouse.subject: a\nRemote-User: root\nX-Original-URI: /admin\nConnection: X-Gatehouse-Subject")
	f.Add("X-Forwarded-For: 1.2.3.4\nForwarded: for=1.2.3.4\nX-Auth-Request-User: a\nUpgrade: websocket")
	up := newUpstream(f, nil)
	cfg := mustParse(f, fmt.Sprintf(`
forward_auth: {proxy: nginx}
trusted_proxies: [10.0.0.1/32]
routes:
  - name: pub
    match: {path: "/pub"}
    upstream: {url: %q}
`, up.URL))
	gw, err := New(cfg, Deps{AccessLog: io.Discard})
	if err != nil {
		f.Fatal(err)
	}
	fa := gw.ForwardAuth()
	f.Fuzz(func(t *testing.T, block string) {
		h := http.Header{}
		for line := range strings.SplitSeq(block, "\n") {
			name, value, ok := strings.Cut(line, ":")
			value = strings.TrimSpace(value)
			if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) || len(h) > 40 {
				continue // Go's server refuses these before any handler
			}
			h.Add(name, value) // canonicalised, as the server does
		}
		req := httptest.NewRequest("GET", "http://gw.example/pub", nil)
		req.RemoteAddr = "203.0.113.9:5000"
		req.Header = h.Clone()
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		if rec.Code != 200 {
			if rec.Code == 400 || rec.Code == 502 { // e.g. Connection naming a hop header the transport refuses
				return
			}
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		r := up.lastRequest()
		gatewaySets := map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "gw.example", "X-Forwarded-Proto": "http",
			"X-Request-Id": rec.Header().Get("X-Request-Id")}
		for name, vs := range r.Header {
			if !proxy.PlainName(name) {
				t.Fatalf("header %q reached the upstream", name)
			}
			if want, ok := gatewaySets[name]; ok {
				if len(vs) != 1 || vs[0] != want {
					t.Fatalf("%s = %q, want %q", name, vs, want)
				}
				continue
			}
			if strings.HasPrefix(name, proxy.IdentityHeaderPrefix) {
				if len(vs) != 1 || vs[0] != "" {
					t.Fatalf("%s = %q for an anonymous caller", name, vs)
				}
				continue
			}
			if (&proxy.Inbound{}).Removed(name) {
				t.Fatalf("%s reached the upstream: %q", name, vs)
			}
		}
		// Forward auth: the same headers from an untrusted peer.
		freq := httptest.NewRequest("GET", ForwardPath, nil)
		freq.RemoteAddr = "203.0.113.9:5000"
		freq.Header = h.Clone()
		frec := httptest.NewRecorder()
		fa.ServeHTTP(frec, freq)
		if frec.Code != http.StatusForbidden || frec.Header().Get(proxy.HeaderSubject) != "" {
			t.Fatalf("forward auth from an untrusted peer: %d %v", frec.Code, frec.Header())
		}
	})
}
