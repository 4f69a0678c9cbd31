package gatehouse

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// CFG-04: a reload releases what the old snapshot held. 1 000 reloads of
// a config with every reloadable part (routes with rate limits, policies
// with an attribute fetch, an OpenAPI document), each followed by a
// request that uses the fetch: goroutines and heap stay flat.
func TestCFG04ThousandReloads(t *testing.T) {
	if testing.Short() {
		t.Skip("1 000 reloads")
	}
	attrs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"tenant":"acme"}`)
	}))
	defer attrs.Close()
	up := newUpstream(t, nil)
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.cedar")
	os.WriteFile(pol, []byte(`permit (principal, action, resource) when { resource.tenant == "acme" };`), 0o600)
	spec, _ := filepath.Abs("apispec/testdata/orders-3.1.yaml")
	path := filepath.Join(dir, "gatehouse.yaml")
	write := func(i int) {
		os.WriteFile(path, []byte(fmt.Sprintf(`
policies: [%q]
routes:
  - name: orders-%d
    match: {path: "/orders/{id}"}
    authorize:
      resource: {type: Order, id: "{id}", fetch: {url: "%s/orders/{id}", attrs: [tenant], cache_ttl: 1ms}}
    rate_limit: {policies: [{name: per-ip, limit: 1000000, window: 1s}]}
    upstream: {url: %q}
  - name: spec
    match: {path: "/spec/orders"}
    validate: {openapi: %q}
    upstream: {url: %q}
`, pol, i%7, attrs.URL, up.URL, spec, up.URL)), 0o600)
	}
	write(0)
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(cfg, Deps{AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	client := srv.Client()
	step := func(i int) {
		write(i)
		if err := gw.ReloadFile(path); err != nil {
			t.Fatal(err)
		}
		res, err := client.Get(fmt.Sprintf("%s/orders/%d", srv.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("reload %d: status %d", i, res.StatusCode)
		}
	}
	measure := func() (int, uint64) {
		var m runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&m)
		return runtime.NumGoroutine(), m.HeapAlloc
	}
	for i := range 50 { // warm up: pools, caches, first documents
		step(i)
	}
	g0, h0 := measure()
	for i := range 1000 {
		step(50 + i)
	}
	// Idle connections of a released transport close at once; give their
	// goroutines a moment to exit (polling an event, not a fixed sleep).
	deadline := time.Now().Add(5 * time.Second)
	g1, h1 := measure()
	for g1 > g0+10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		g1, h1 = measure()
	}
	t.Logf("after 1 000 reloads: goroutines %d -> %d, heap %.1f -> %.1f MiB", g0, g1, float64(h0)/(1<<20), float64(h1)/(1<<20))
	if g1 > g0+10 {
		t.Errorf("goroutines grew from %d to %d over 1 000 reloads", g0, g1)
	}
	if h1 > h0+32<<20 {
		t.Errorf("heap grew from %d to %d bytes over 1 000 reloads", h0, h1)
	}
}
