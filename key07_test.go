package gatehouse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/apikey"
)

// KEY-07: one credential per request, parsed byte for byte, consumed by
// the gateway; KEY-06: keys never in the query, in any encoding.
func TestKEY07OneCredential(t *testing.T) {
	ctx := context.Background()
	m := testKeyManager(t)
	alice, _, _ := m.Create(ctx, apikey.CreateOptions{Owner: "alice", Tenant: "acme"})
	carol, _, _ := m.Create(ctx, apikey.CreateOptions{Owner: "carol", Tenant: "globex"})
	up := newUpstream(t, nil)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	cfg := mustParse(t, fmt.Sprintf(`
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
routes:
  - name: orders
    match: {path: /orders}
    auth: {api_key: {}}
    upstream: {url: %[1]q}
  - name: keys-only
    match: {path: /x-only}
    auth: {api_key: {headers: [x-api-key]}}
    upstream: {url: %[1]q}
  - name: forwarded
    match: {path: /forwarded}
    auth: {api_key: {}, forward_credentials: true}
    upstream: {url: %[1]q}
`, up.URL))
	gw, err := New(cfg, Deps{AccessLog: io.Discard, APIKeys: m})
	if err != nil {
		t.Fatal(err)
	}
	tg := struct{ srv *httptest.Server }{httptest.NewServer(gw)}
	defer tg.srv.Close()
	call := func(path string, hdr [][2]string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, tg.srv.URL+path, nil)
		for _, kv := range hdr {
			req.Header[kv[0]] = append(req.Header[kv[0]], kv[1])
		}
		return do(t, req)
	}
	cases := []struct {
		name   string
		path   string
		hdr    [][2]string
		status int
	}{
		{"one key", "/orders", [][2]string{{"X-Api-Key", alice}}, 200},
		{"same key twice in both headers", "/orders", [][2]string{{"X-Api-Key", alice}, {"Authorization", "Bearer " + alice}}, 200},
		{"two Authorization, valid first", "/orders", [][2]string{{"Authorization", "Bearer " + alice}, {"Authorization", "Bearer forged"}}, 400},
		{"two Authorization, valid last", "/orders", [][2]string{{"Authorization", "Bearer forged"}, {"Authorization", "Bearer " + alice}}, 400},
		{"two X-API-Key", "/orders", [][2]string{{"X-Api-Key", alice}, {"X-Api-Key", carol}}, 400},
		{"key and another bearer", "/orders", [][2]string{{"Authorization", "Bearer " + alice}, {"X-Api-Key", carol}}, 400},
		{"route reads X-API-Key only, bearer differs", "/x-only", [][2]string{{"Authorization", "Bearer " + alice}, {"X-Api-Key", carol}}, 400},
		{"tab after Bearer, another key", "/orders", [][2]string{{"Authorization", "Bearer\t" + carol}, {"X-Api-Key", alice}}, 400},
		{"Basic beside a key", "/orders", [][2]string{{"Authorization", "Basic Y2Fyb2w6cHc="}, {"X-Api-Key", alice}}, 400},
		{"trailing NBSP", "/orders", [][2]string{{"X-Api-Key", alice + "\u00a0"}}, 401},
		{"trailing NEL", "/orders", [][2]string{{"Authorization", "Bearer " + alice + "\u0085"}}, 401},
		{"leading NBSP", "/orders", [][2]string{{"X-Api-Key", "\u00a0" + alice}}, 401},
		{"several spaces after Bearer", "/orders", [][2]string{{"Authorization", "Bearer   " + alice}}, 200},
	}
	for _, tc := range cases {
		before := up.hits.Load()
		res := call(tc.path, tc.hdr)
		body(t, res)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.status)
		}
		if tc.status != 200 && up.hits.Load() != before {
			t.Errorf("%s: reached the upstream", tc.name)
		}
		if tc.status == 200 {
			if h := up.lastRequest().Header; h.Get("X-Api-Key") != "" || h.Get("Authorization") != "" {
				t.Errorf("%s: the consumed key reached the upstream: %v", tc.name, h)
			}
			// PRX-08: on an authenticated route every identity header is
			// set, blank when the principal lacks it (alice has no roles).
			if vs, ok := up.lastRequest().Header["X-Gatehouse-Roles"]; !ok || len(vs) != 1 || vs[0] != "" {
				t.Errorf("%s: X-Gatehouse-Roles upstream %q, want one blank value", tc.name, vs)
			}
		}
	}
	res := call("/forwarded", [][2]string{{"X-Api-Key", alice}})
	body(t, res)
	if res.StatusCode != 200 || up.lastRequest().Header.Get("X-Api-Key") != alice {
		t.Errorf("forward_credentials: %d %v", res.StatusCode, up.lastRequest().Header)
	}
	for _, q := range []string{"k=" + alice, "k=%67thk_" + alice[5:], "k=%2567thk_x", "k=%47THK_x", "API_KEY=x", "%61pi_key=x", "x=1&access_token=a", "%61ccess_token=a", "x;api_key=1", "q=%zz&k=%67thk_x", "%zz&access%5Ftoken=a"} {
		req, _ := http.NewRequest(http.MethodGet, tg.srv.URL+"/orders?"+q, nil)
		req.Header.Set("X-Api-Key", alice)
		checkProblem(t, do(t, req), 400, "bad-request")
	}
}
