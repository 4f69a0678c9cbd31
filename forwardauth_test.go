package gatehouse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/apikey"
)

// forwardGateway is a gateway with forward auth for proxy kind, three
// routes (a tenant-isolated one, a public one and one limited to one
// request per minute) and the API keys of alice (acme) and carol (globex).
func forwardGateway(t *testing.T, kind string) (fa http.Handler, alice, carol string) {
	t.Helper()
	ctx := context.Background()
	m := testKeyManager(t)
	alice, _, _ = m.Create(ctx, apikey.CreateOptions{Owner: "alice", Tenant: "acme"})
	carol, _, _ = m.Create(ctx, apikey.CreateOptions{Owner: "carol", Tenant: "globex"})
	pol := filepath.Join(t.TempDir(), "p.cedar")
	os.WriteFile(pol, []byte(`permit (principal, action, resource is Gatehouse::Route) when { principal.tenant == resource.tenant };`), 0o600)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	block := "forward_auth: {proxy: " + kind + "}"
	if kind == "headers" {
		block = "forward_auth: {proxy: headers, headers: {method: X-Auth-Method, uri: x-auth-target, host: X-Auth-Host}}"
	}
	cfg := mustParse(t, fmt.Sprintf(`
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
policies: [%q]
%s
routes:
  - name: tenant-orders
    match: {methods: [GET, DELETE], path: "/tenants/{tenant}/orders"}
    auth: {api_key: {}}
    authorize: {}
    upstream: {url: "http://127.0.0.1:1"}
  - name: public
    match: {path: "/public/"}
    upstream: {url: "http://127.0.0.1:1"}
  - name: limited
    match: {path: "/limited"}
    rate_limit: {policies: [{name: one, limit: 1, window: 1m}]}
    upstream: {url: "http://127.0.0.1:1"}
`, pol, block))
	gw, err := New(cfg, Deps{AccessLog: io.Discard, APIKeys: m})
	if err != nil {
		t.Fatal(err)
	}
	return gw.ForwardAuth(), alice, carol
}

type forwardCase struct {
	name   string
	peer   string // default 127.0.0.1 (a trusted proxy by default)
	method string // of the call; default GET
	target string // of the call; default ForwardPath
	host   string // of the call
	hdr    map[string]string
	extra  [][2]string // added, for repeated headers
	status int         // the status the proxy receives
	real   string      // X-Gatehouse-Status, when the proxy passes only 401/403
	uri    string      // X-Gatehouse-Uri on 200
	sub    string      // X-Gatehouse-Subject on 200
}

func runForwardCases(t *testing.T, fa http.Handler, cases []forwardCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, target := tc.method, tc.target
			if method == "" {
				method = http.MethodGet
			}
			if target == "" {
				target = ForwardPath
			}
			req := httptest.NewRequest(method, target, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if tc.peer != "" {
				req.RemoteAddr = tc.peer + ":40000"
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.hdr {
				req.Header[k] = []string{v} // as sent: not canonicalised
			}
			for _, kv := range tc.extra {
				req.Header[kv[0]] = append(req.Header[kv[0]], kv[1])
			}
			rec := httptest.NewRecorder()
			fa.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get(HeaderForwardStatus); got != tc.real {
				t.Errorf("%s = %q, want %q", HeaderForwardStatus, got, tc.real)
			}
			if rec.Code == 200 {
				if got := rec.Header().Get(HeaderForwardURI); got != tc.uri {
					t.Errorf("%s = %q, want %q", HeaderForwardURI, got, tc.uri)
				}
				if got := rec.Header().Get("X-Gatehouse-Subject"); got != tc.sub {
					t.Errorf("subject %q, want %q", got, tc.sub)
				}
				if _, ok := rec.Header()["X-Gatehouse-Roles"]; !ok {
					t.Error("identity headers are not all set (blank when empty)")
				}
			} else if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("refusal content type %q", ct)
			}
		})
	}
}

// PRX-08: nginx auth_request, with the headers the documented snippet
// sends (X-Original-Method, -URI, -Host, X-Forwarded-For) and the client's
// own headers, which auth_request passes on. Refusals other than 401/403
// become 403 with the real status in X-Gatehouse-Status.
func TestPRX08ForwardAuthNginx(t *testing.T) {
	fa, alice, carol := forwardGateway(t, "nginx")
	orig := func(method, uri string, more ...string) map[string]string {
		h := map[string]string{"X-Original-Method": method, "X-Original-Uri": uri, "X-Original-Host": "api.example", "X-Forwarded-For": "198.51.100.7"}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = more[i+1]
		}
		return h
	}
	runForwardCases(t, fa, []forwardCase{
		{name: "allowed", hdr: orig("GET", "/tenants/acme/orders?page=2", "X-Api-Key", alice), status: 200, real: "200", uri: "/tenants/acme/orders?page=2", sub: "alice"},
		{name: "other tenant", hdr: orig("GET", "/tenants/acme/orders", "X-Api-Key", carol), status: 403, real: "403"},
		{name: "no key", hdr: orig("GET", "/tenants/acme/orders"), status: 401, real: "401"},
		{name: "normalised URI handed back", hdr: orig("GET", "/public/a/./b/../c?x=1"), status: 200, real: "200", uri: "/public/a/c?x=1"},
		{name: "no route", hdr: orig("GET", "/elsewhere", "X-Api-Key", alice), status: 403, real: "404"},
		{name: "encoded slash", hdr: orig("GET", "/tenants/acme%2Forders", "X-Api-Key", alice), status: 403, real: "400"},
		// The review's exploit: the client adds Traefik's headers to an
		// anonymous DELETE; nginx passes them to the subrequest.
		{name: "spoofed X-Forwarded-Uri", hdr: orig("DELETE", "/tenants/globex/orders", "X-Forwarded-Uri", "/public/x", "X-Forwarded-Method", "GET"), status: 403, real: "400"},
		{name: "spoofed X-Forwarded-Host", hdr: orig("GET", "/public/x", "X-Forwarded-Host", "admin.example"), status: 403, real: "400"},
		{name: "X-Original-URI repeated", hdr: orig("GET", "/public/x"), extra: [][2]string{{"X-Original-Uri", "/tenants/acme/orders"}}, status: 403, real: "400"},
		{name: "underscore spelling", hdr: orig("DELETE", "/tenants/globex/orders", "X_Original_URI", "/public/x"), status: 401, real: "401"},
		{name: "fragment cut", hdr: orig("DELETE", "/tenants/acme/orders#/../../public/x"), status: 401, real: "401"},
		{name: "not a request target", hdr: orig("GET", "http://evil.example/public/x"), status: 403, real: "400"},
		{name: "space in target", hdr: orig("GET", "/public/a b"), status: 403, real: "400"},
		{name: "bad method", hdr: orig("GE T", "/public/x"), status: 403, real: "400"},
		{name: "method missing", hdr: map[string]string{"X-Original-Uri": "/public/x"}, status: 403, real: "400"},
		{name: "untrusted peer", peer: "203.0.113.9", hdr: orig("GET", "/public/x"), status: 403, real: "403"},
		{name: "forged identity dropped", hdr: orig("GET", "/public/x", "X-Gatehouse-Subject", "admin", "X-Gatehouse_Roles", "gatehouse:admin"), status: 200, real: "200", uri: "/public/x", sub: ""},
		{name: "rate limit first", hdr: orig("GET", "/limited"), status: 200, real: "200", uri: "/limited"},
		{name: "rate limited", hdr: orig("GET", "/limited"), status: 403, real: "429"},
	})
}

// PRX-08: Traefik ForwardAuth sends a GET with every client header plus
// its own X-Forwarded-Method, -Proto, -Host, -Uri and -For (overwriting the
// client's); it passes every refusal on as it is.
func TestPRX08ForwardAuthTraefik(t *testing.T) {
	fa, alice, carol := forwardGateway(t, "traefik")
	orig := func(method, uri string, more ...string) map[string]string {
		h := map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, "X-Forwarded-Host": "api.example",
			"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = more[i+1]
		}
		return h
	}
	runForwardCases(t, fa, []forwardCase{
		{name: "allowed", hdr: orig("GET", "/tenants/acme/orders", "Authorization", "Bearer "+alice), status: 200, uri: "/tenants/acme/orders", sub: "alice"},
		{name: "other tenant", hdr: orig("GET", "/tenants/acme/orders", "Authorization", "Bearer "+carol), status: 403},
		{name: "delete by another tenant", hdr: orig("DELETE", "/tenants/acme/orders", "X-Api-Key", carol), status: 403},
		{name: "client-sent X-Original-URI", hdr: orig("DELETE", "/tenants/acme/orders", "X-Original-Uri", "/public/x"), status: 400},
		{name: "no route", hdr: orig("GET", "/nowhere"), status: 404},
		{name: "encoded slash beside a brace", hdr: orig("GET", "/admin/y%2F..%2F..%2Fpublic/x{"), status: 400},
		{name: "host missing", hdr: map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x"}, status: 200, uri: "/public/x"},
		{name: "untrusted peer", peer: "10.9.9.9", hdr: orig("GET", "/public/x"), status: 403},
		{name: "rate limit first", hdr: orig("GET", "/limited"), status: 200, uri: "/limited"},
		{name: "rate limited", hdr: orig("GET", "/limited"), status: 429},
	})
}

// PRX-08: Envoy ext_authz (HTTP service) sends the original method and
// :authority, the original path and query after path_prefix, and only the
// allowed headers (authorization, x-api-key here); it appends its own
// address to X-Forwarded-For and adds x-envoy-internal.
func TestPRX08ForwardAuthEnvoy(t *testing.T) {
	fa, alice, carol := forwardGateway(t, "envoy")
	envoy := func(more ...string) map[string]string {
		h := map[string]string{"X-Envoy-Internal": "true", "X-Forwarded-For": "198.51.100.7, 127.0.0.1", "X-Envoy-Expected-Rq-Timeout-Ms": "250"}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = more[i+1]
		}
		return h
	}
	runForwardCases(t, fa, []forwardCase{
		{name: "allowed", target: ForwardPath + "/tenants/acme/orders?page=2", host: "api.example", hdr: envoy("X-Api-Key", alice), status: 200, uri: "/tenants/acme/orders?page=2", sub: "alice"},
		{name: "delete by another tenant", method: "DELETE", target: ForwardPath + "/tenants/acme/orders", hdr: envoy("X-Api-Key", carol), status: 403},
		{name: "client-sent X-Forwarded-Uri", method: "DELETE", target: ForwardPath + "/tenants/acme/orders", hdr: envoy("X-Forwarded-Uri", "/public/x"), status: 400},
		{name: "no route", target: ForwardPath + "/x", hdr: envoy(), status: 404},
		{name: "untrusted peer", peer: "192.0.2.1", target: ForwardPath + "/public/x", hdr: envoy(), status: 403},
	})
}

// PRX-08: proxy: headers reads names of the operator's own ('_' as '-').
func TestPRX08ForwardAuthOwnHeaders(t *testing.T) {
	fa, alice, _ := forwardGateway(t, "headers")
	runForwardCases(t, fa, []forwardCase{
		{name: "allowed", hdr: map[string]string{"X-Auth-Method": "GET", "X-Auth-Target": "/tenants/acme/orders", "X-Api-Key": alice}, status: 200, uri: "/tenants/acme/orders", sub: "alice"},
		{name: "nginx headers too", hdr: map[string]string{"X-Auth-Method": "GET", "X-Auth-Target": "/public/x", "X-Original-Uri": "/x"}, status: 400},
		{name: "the call's Host is not the original host", host: "api.example", hdr: map[string]string{"X-Auth-Method": "GET", "X-Auth-Target": "/public/x"}, status: 200, uri: "/public/x"},
	})
}

// Without forward_auth, the endpoint is not there.
func TestForwardAuthOff(t *testing.T) {
	gw, err := New(mustParse(t, "routes: []\n"), Deps{AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", ForwardPath, nil)
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	gw.ForwardAuth().ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("status %d", rec.Code)
	}
}
