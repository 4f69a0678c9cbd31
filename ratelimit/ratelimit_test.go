package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/identity"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func TestDecideGCRA(t *testing.T) {
	p := &Policy{Name: "p", Limit: 10, Window: 10 * time.Second, Burst: 3} // 1 per second, bursts of 3
	now := time.Unix(1000, 0)
	var tat time.Time
	var d Decision
	for i, wantRemaining := range []int64{2, 1, 0} {
		d, tat = Decide(p, tat, now)
		if !d.Allowed || d.Remaining != wantRemaining {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, d, wantRemaining)
		}
	}
	if d.Reset != 3*time.Second {
		t.Errorf("reset after a full burst = %v, want 3s", d.Reset)
	}
	d, tat2 := Decide(p, tat, now)
	if d.Allowed || d.RetryAfter != time.Second || !tat2.Equal(tat) {
		t.Fatalf("over burst: %+v (tat moved: %v)", d, !tat2.Equal(tat))
	}
	// One interval later exactly one more passes.
	d, tat = Decide(p, tat, now.Add(time.Second))
	if !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one interval: %+v", d)
	}
	if d, _ = Decide(p, tat, now.Add(time.Second)); d.Allowed {
		t.Fatal("a second request in the same interval passed")
	}
	// Idle long enough: back to the full burst.
	if d, _ = Decide(p, tat, now.Add(time.Hour)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("after idling: %+v", d)
	}
}

func TestMemoryBoundedAndSwept(t *testing.T) {
	c := newClock()
	evicted := 0
	m := NewMemory(MemoryOptions{MaxKeys: 6400, Now: c.now, OnEvict: func() { evicted++ }})
	p := &Policy{Name: "p", Limit: 1, Window: time.Minute}
	for i := range 20000 {
		m.AllowOne(strconv.Itoa(i), p)
	}
	if n := m.Len(); n > 6400 {
		t.Fatalf("tracked %d keys, bound 6400", n)
	}
	if evicted == 0 {
		t.Fatal("no evictions reported")
	}
	c.add(2 * time.Minute)
	m.Sweep()
	if n := m.Len(); n != 0 {
		t.Fatalf("%d keys left after every bucket refilled", n)
	}
	// Expired entries are dropped before live ones are evicted: fill every
	// shard, let the buckets refill, then add half the capacity again.
	for i := range 20000 {
		m.AllowOne("a"+strconv.Itoa(i), p)
	}
	c.add(2 * time.Minute)
	evicted = 0
	for i := range 3200 {
		m.AllowOne("b"+strconv.Itoa(i), p)
	}
	if evicted != 0 {
		t.Errorf("%d live keys evicted although the old ones had expired", evicted)
	}
}

// Memory per tracked key (target <= 100 bytes), measured on 1M keys.
func TestMemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 1M keys")
	}
	c := newClock()
	p := &Policy{Name: "p", Limit: 10, Window: time.Hour}
	keys := make([]string, 1_000_000)
	for i := range keys {
		keys[i] = "ip=10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := NewMemory(MemoryOptions{MaxKeys: 2_000_000, Now: c.now})
	for _, k := range keys {
		m.AllowOne(k, p)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keys) // the keys are not part of the limiter's memory
	if m.Len() != len(keys) {
		t.Fatalf("tracked %d keys", m.Len())
	}
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(keys))
	t.Logf("memory per tracked key: %.1f bytes (1M keys)", perKey)
	if perKey > 100 {
		t.Errorf("%.1f bytes per key, target <= 100", perKey)
	}
	runtime.KeepAlive(m)
}

func request(ip string, p *identity.Principal) *http.Request {
	r := httptest.NewRequest("GET", "/x", nil)
	ctx := clientip.With(r.Context(), netip.MustParseAddr(ip))
	if p != nil {
		ctx = identity.With(ctx, p)
	}
	return r.WithContext(ctx)
}

func TestBuildKey(t *testing.T) {
	alice := &identity.Principal{Kind: identity.KindAPIKey, Subject: "alice", Issuer: "gh", Tenant: "acme", KeyID: "k1"}
	r := request("198.51.100.7", alice)
	r.Header.Set("X-Team", "blue")
	if got := BuildKey(r, "orders", []string{PartIP, PartRoute, "header:X-Team", PartAPIKey, PartTenant, PartSubject}); got != "ip=198.51.100.7|route=orders|header:X-Team=blue|api_key=k1|tenant=acme|subject=gh alice" {
		t.Errorf("key %q", got)
	}
	// Anonymous callers fall back to their IP for principal parts.
	if got := BuildKey(request("198.51.100.7", nil), "orders", []string{PartSubject}); got != "subject=anonymous@198.51.100.7" {
		t.Errorf("anonymous key %q", got)
	}
}

func serveStage(t *testing.T, o StageOptions) http.Handler {
	t.Helper()
	return NewStage(o).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
}

// RL-01 and RL-02, with the headers read by a structured-fields parser.
func TestStageHeadersAnd429(t *testing.T) {
	c := newClock()
	h := serveStage(t, StageOptions{Route: "orders", Limiter: NewMemory(MemoryOptions{Now: c.now}), Rules: []Rule{
		{Policy: Policy{Name: "burst", Limit: 3, Window: 10 * time.Second}, Key: []string{PartIP}},
		{Policy: Policy{Name: "daily", Limit: 1000, Window: 24 * time.Hour}, Key: []string{PartIP}},
	}})
	var last *httptest.ResponseRecorder
	for i := range 3 {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, request("203.0.113.1", nil))
		if last.Code != 204 {
			t.Fatalf("request %d: %d", i, last.Code)
		}
	}
	pol, err := httpsfv.UnmarshalList(last.Header().Values("RateLimit-Policy"))
	if err != nil {
		t.Fatalf("RateLimit-Policy %q: %v", last.Header().Get("RateLimit-Policy"), err)
	}
	want := map[string][2]int64{"burst": {3, 10}, "daily": {1000, 86400}}
	for _, m := range pol {
		it := m.(httpsfv.Item)
		name := it.Value.(string)
		q, _ := it.Params.Get("q")
		w, _ := it.Params.Get("w")
		if want[name] != [2]int64{q.(int64), w.(int64)} {
			t.Errorf("policy %s: q=%v w=%v", name, q, w)
		}
	}
	rl, err := httpsfv.UnmarshalList(last.Header().Values("RateLimit"))
	if err != nil {
		t.Fatalf("RateLimit %q: %v", last.Header().Get("RateLimit"), err)
	}
	first := rl[0].(httpsfv.Item)
	r, _ := first.Params.Get("r")
	tt, _ := first.Params.Get("t")
	if first.Value != "burst" || r.(int64) != 0 || tt.(int64) != 10 {
		t.Errorf("RateLimit burst item: %v r=%v t=%v", first.Value, r, tt)
	}
	// The fourth request is over the burst.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request("203.0.113.1", nil))
	if rec.Code != 429 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("over limit: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra != 4 {
		t.Errorf("Retry-After %q, want 4 (one interval, 3.33s, rounded up)", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "quota-exceeded") {
		t.Errorf("problem type: %s", rec.Body)
	}
	// Another client is not affected.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, request("203.0.113.2", nil))
	if rec.Code != 204 {
		t.Errorf("other client: %d", rec.Code)
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestStageHeaderModes(t *testing.T) {
	for _, tc := range []struct {
		mode      HeaderMode
		principal *identity.Principal
		want      bool
	}{
		{HeadersAlways, nil, true},
		{HeadersNever, &identity.Principal{Kind: identity.KindUser}, false},
		{HeadersAuthenticated, nil, false},
		{HeadersAuthenticated, &identity.Principal{Kind: identity.KindUser, Subject: "u"}, true},
	} {
		h := serveStage(t, StageOptions{Route: "r", Limiter: NewMemory(MemoryOptions{}), Headers: tc.mode, Rules: []Rule{{Policy: Policy{Name: "p", Limit: 5, Window: time.Second}, Key: []string{PartIP}}}})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request("192.0.2.1", tc.principal))
		if got := rec.Header().Get("RateLimit") != ""; got != tc.want {
			t.Errorf("mode %d principal %v: headers shown %v", tc.mode, tc.principal != nil, got)
		}
	}
}

type failing struct{}

func (failing) Allow(context.Context, string, []*Policy) ([]Decision, error) {
	return nil, ErrUnavailable
}

func TestStageBackendUnavailableIs503(t *testing.T) {
	var errs int
	h := serveStage(t, StageOptions{Route: "r", Limiter: failing{}, OnError: func(error) { errs++ }, Rules: []Rule{{Policy: Policy{Name: "p", Limit: 5, Window: time.Second}, Key: []string{PartIP}}}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request("192.0.2.1", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || errs != 1 {
		t.Errorf("%d Retry-After %q errs %d", rec.Code, rec.Header().Get("Retry-After"), errs)
	}
}

func TestConcurrencyStage(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 4)
	h := (&Concurrency{Route: "r", Limit: 2, Key: []string{PartIP}}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request("192.0.2.1", nil))
			codes <- rec.Code
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request("192.0.2.1", nil))
	if rec.Code != 429 {
		t.Errorf("third in-flight request: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	go func() { <-entered }()
	close(release)
	<-codes
	<-codes
	h.ServeHTTP(rec, request("192.0.2.1", nil))
	if rec.Code != 200 {
		t.Errorf("after release: %d", rec.Code)
	}
}

func BenchmarkMemoryDecisionSerial(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	p := &Policy{Name: "p", Limit: 1 << 40, Window: time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		m.AllowOne("ip=203.0.113.7", p)
	}
}

func BenchmarkMemoryDecision(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	p := &Policy{Name: "p", Limit: 1 << 40, Window: time.Hour}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip=10.0.%d.%d", i/256, i%256)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.AllowOne(keys[i&1023], p)
			i++
		}
	})
}

// Per-caller overrides (e.g. from an API key record) replace a post-auth
// policy's limit for that caller only, and the headers show the quota that
// applies.
func TestStageOverrides(t *testing.T) {
	h := serveStage(t, StageOptions{Route: "r", Limiter: NewMemory(MemoryOptions{}), Overrides: true, Rules: []Rule{
		{Policy: Policy{Name: "per-key", Limit: 5, Window: time.Hour}, Key: []string{PartAPIKey}},
	}})
	gold := &identity.Principal{Kind: identity.KindAPIKey, Subject: "a", KeyID: "gold", RateLimits: map[string]int64{"per-key": 2}}
	plain := &identity.Principal{Kind: identity.KindAPIKey, Subject: "b", KeyID: "plain"}
	codes := func(p *identity.Principal, n int) (out []int, last http.Header) {
		for range n {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request("192.0.2.1", p))
			out = append(out, rec.Code)
			last = rec.Header()
		}
		return out, last
	}
	got, hdr := codes(gold, 3)
	if fmt.Sprint(got) != "[204 204 429]" {
		t.Errorf("overridden caller: %v", got)
	}
	if hdr.Get("RateLimit-Policy") != `"per-key";q=2;w=3600` {
		t.Errorf("RateLimit-Policy for the overridden caller: %q", hdr.Get("RateLimit-Policy"))
	}
	got, hdr = codes(plain, 6)
	if fmt.Sprint(got) != "[204 204 204 204 204 429]" {
		t.Errorf("caller without override: %v", got)
	}
	if hdr.Get("RateLimit-Policy") != `"per-key";q=5;w=3600` {
		t.Errorf("RateLimit-Policy: %q", hdr.Get("RateLimit-Policy"))
	}
}
