// Package limitertest is the conformance suite every ratelimit.Limiter
// backend passes (the in-memory one and ratelimit/redislimit against a real
// Redis): run it from the backend's tests with Run. It asserts only what
// the interface and ratelimit.Policy document; where the backends
// legitimately differ, the subtest says so.
//
// The contract the suite holds backends to:
//
//   - A policy admits Burst requests at once (Limit when Burst is 0), then
//     one per emission interval (Window / Limit). A refused request has
//     RetryAfter > 0 and is admitted once that much time has passed; it
//     costs nothing.
//   - Remaining is how many more would pass now; Reset is when the bucket
//     is full again; an admitted decision has RetryAfter 0, a refused one
//     Remaining 0.
//   - Allow returns one decision per policy, in order, each naming its
//     policy. Every policy counts the request, also when another refuses
//     it: a call is not all or nothing (the stage refuses the request if
//     any policy does, and the admitting policies have spent a unit).
//   - A bucket is the key and the policy's Name, not the *Policy: equal
//     policies share it (per-caller overrides derive policies under the
//     same Name), other names and other keys are independent, whatever
//     bytes the key holds.
//   - Concurrent calls on one key admit exactly the burst.
//   - Backends are given policies that Validate accepts; what Allow does
//     with others is undefined (the in-memory backend divides by a zero
//     limit).
//
// Time: the in-memory backend takes an injected clock; Redis takes its
// time from the server (RL-04), which no test can set. A backend therefore
// supplies Advance (the Redis tests move the stored arrival times back,
// which for GCRA is the same as moving the clock forward) and Drift, how
// far its own clock may run during one subtest. Every window the suite
// times is far longer than Drift, so no subtest sleeps or waits for state,
// and expectations are exact for an injected clock and within Drift for a
// real one.
package limitertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// Backend is one fresh limiter, with no buckets, for one subtest.
type Backend struct {
	Limiter ratelimit.Limiter
	// Advance moves the limiter's time forward by d, as if d passed
	// between two calls. d is always a whole number of microseconds.
	Advance func(d time.Duration)
	// Drift bounds how far the limiter's clock may move by itself during a
	// subtest: 0 for an injected clock. The suite refuses more than
	// MaxDrift.
	Drift time.Duration
}

// New returns a fresh Backend; it registers its own cleanup with t.
type New func(t *testing.T) Backend

// MaxDrift is the most Drift the suite's timings allow: its shortest
// timed emission interval is a minute.
const MaxDrift = 10 * time.Second

const minute = time.Minute

// policy is a suite policy. Every one fails closed: a backend that cannot
// decide must say so with an error, which fails the subtest, rather than
// decide by another rule (a Redis fallback) and pass or fail by luck.
func policy(name string, limit int64, window time.Duration, burst int64) *ratelimit.Policy {
	return &ratelimit.Policy{Name: name, Limit: limit, Window: window, Burst: burst, Failure: ratelimit.FailClosed}
}

// env is one subtest's backend with its assertions.
type env struct {
	t *testing.T
	Backend
}

func start(t *testing.T, newBackend New) *env {
	t.Helper()
	b := newBackend(t)
	if b.Limiter == nil || b.Advance == nil {
		t.Fatal("limitertest: Backend needs a Limiter and Advance")
	}
	if b.Drift < 0 || b.Drift > MaxDrift {
		t.Fatalf("limitertest: Drift %v is outside 0..%v", b.Drift, MaxDrift)
	}
	return &env{t: t, Backend: b}
}

// allow decides one request with a live context; any error fails the test.
func (e *env) allow(key string, ps ...*ratelimit.Policy) []ratelimit.Decision {
	e.t.Helper()
	ds, err := e.Limiter.Allow(context.Background(), key, ps)
	if err != nil {
		e.t.Fatalf("Allow(%q): %v", key, err)
	}
	e.checkShape(key, ps, ds)
	return ds
}

// checkShape: one decision per policy, in order, naming it; the fields
// that do not depend on time.
func (e *env) checkShape(key string, ps []*ratelimit.Policy, ds []ratelimit.Decision) {
	e.t.Helper()
	if len(ds) != len(ps) {
		e.t.Fatalf("Allow(%q) with %d policies: %d decisions", key, len(ps), len(ds))
	}
	for i, d := range ds {
		switch {
		case d.Policy != ps[i]:
			e.t.Errorf("Allow(%q): decision %d names policy %p, want %p (%s)", key, i, d.Policy, ps[i], ps[i].Name)
		case d.Allowed && d.RetryAfter != 0:
			e.t.Errorf("Allow(%q) %s: admitted with RetryAfter %v, want 0", key, ps[i].Name, d.RetryAfter)
		case !d.Allowed && d.Remaining != 0:
			e.t.Errorf("Allow(%q) %s: refused with Remaining %d, want 0", key, ps[i].Name, d.Remaining)
		case !d.Allowed && d.RetryAfter <= 0:
			e.t.Errorf("Allow(%q) %s: refused with RetryAfter %v, want > 0", key, ps[i].Name, d.RetryAfter)
		case d.Remaining < 0 || d.Reset < 0 || d.RetryAfter < 0:
			e.t.Errorf("Allow(%q) %s: negative figure in %+v", key, ps[i].Name, d)
		}
	}
}

// one decides one request under one policy.
func (e *env) one(key string, p *ratelimit.Policy) ratelimit.Decision {
	e.t.Helper()
	return e.allow(key, p)[0]
}

// admitted asserts an admitted decision with remaining left and a reset
// of about reset (a real clock makes it shorter by at most Drift).
func (e *env) admitted(what string, d ratelimit.Decision, remaining int64, reset time.Duration) {
	e.t.Helper()
	if !d.Allowed || d.Remaining != remaining || !e.near(d.Reset, reset) {
		e.t.Errorf("%s: %s, want admitted with Remaining %d, Reset %v", what, show(d), remaining, reset)
	}
}

// refused asserts a refused decision with the expected reset and
// retry-after (each at most Drift shorter on a real clock).
func (e *env) refused(what string, d ratelimit.Decision, reset, retryAfter time.Duration) {
	e.t.Helper()
	if d.Allowed || !e.near(d.Reset, reset) || !e.near(d.RetryAfter, retryAfter) {
		e.t.Errorf("%s: %s, want refused with Reset %v, RetryAfter %v", what, show(d), reset, retryAfter)
	}
}

func (e *env) near(got, want time.Duration) bool { return got <= want && got >= want-e.Drift }

func show(d ratelimit.Decision) string {
	return fmt.Sprintf("allowed %v, Remaining %d, Reset %v, RetryAfter %v", d.Allowed, d.Remaining, d.Reset, d.RetryAfter)
}

// Run runs the suite; every subtest starts a fresh backend.
func Run(t *testing.T, newBackend New) {
	t.Run("admits the burst then refuses with a retry-after", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			p      *ratelimit.Policy
			admits int64
		}{
			{"burst defaults to limit", policy("default", 5, 5*minute, 0), 5},
			{"burst below limit", policy("below", 10, 10*minute, 3), 3},
			{"burst above limit", policy("above", 2, 2*minute, 6), 6},
			{"burst of one", policy("one", 4, 4*minute, 1), 1},
			{"limit of one", policy("single", 1, minute, 0), 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := start(t, newBackend)
				for i := range tc.admits {
					e.admitted(fmt.Sprintf("request %d", i+1), e.one("k", tc.p), tc.admits-1-i, time.Duration(i+1)*minute)
				}
				for i := range 3 {
					e.refused(fmt.Sprintf("request %d over the burst", i+1), e.one("k", tc.p), time.Duration(tc.admits)*minute, minute)
				}
			})
		}
	})

	t.Run("remaining and reset", func(t *testing.T) {
		e := start(t, newBackend)
		p := policy("p", 10, 10*minute, 4) // one a minute, bursts of 4
		for k := range int64(4) {
			e.admitted(fmt.Sprintf("request %d", k+1), e.one("k", p), 3-k, time.Duration(k+1)*minute)
		}
		d := e.one("k", p)
		e.refused("over the burst", d, 4*minute, minute)
		// Reset is when the bucket is full again: after it, a whole burst.
		e.Advance(d.Reset)
		e.admitted("after Reset", e.one("k", p), 3, minute)
		// Half an interval later, half of a unit has come back: not yet one.
		e.Advance(minute / 2)
		e.admitted("half an interval later", e.one("k", p), 2, minute+minute/2)
	})

	t.Run("refill after the emission interval", func(t *testing.T) {
		e := start(t, newBackend)
		p := policy("p", 3, 3*minute, 0)
		for range 3 {
			e.one("k", p)
		}
		d := e.one("k", p)
		e.refused("over the burst", d, 3*minute, minute)
		e.Advance(d.RetryAfter)
		e.admitted("after RetryAfter", e.one("k", p), 0, 3*minute)
		e.refused("a second one in the same interval", e.one("k", p), 3*minute, minute)
		e.Advance(minute / 2)
		e.refused("half an interval on", e.one("k", p), 3*minute-minute/2, minute/2)
		e.Advance(minute / 2)
		e.admitted("a whole interval on", e.one("k", p), 0, 3*minute)
		// Idle for the window: the whole burst again.
		e.Advance(3 * minute)
		for i := range int64(3) {
			e.admitted(fmt.Sprintf("after idling, request %d", i+1), e.one("k", p), 2-i, time.Duration(i+1)*minute)
		}
	})

	t.Run("refused requests cost nothing", func(t *testing.T) {
		e := start(t, newBackend)
		p := policy("p", 2, 2*minute, 0)
		e.one("k", p)
		e.one("k", p)
		first := e.one("k", p)
		for i := range 20 {
			e.refused(fmt.Sprintf("refusal %d", i+2), e.one("k", p), 2*minute, minute)
		}
		e.Advance(first.RetryAfter)
		e.admitted("after the first refusal's RetryAfter", e.one("k", p), 0, 2*minute)
	})

	t.Run("several policies in one call", func(t *testing.T) {
		// Allow is not all or nothing: each policy decides and counts on its
		// own bucket, whatever the others decide. Redis decides a call's
		// policies in one atomic script; the in-memory backend locks each
		// policy's shard in turn, so a concurrent caller may see one policy
		// charged and not yet the next. No decision depends on that: each
		// bucket sees the same sequence of requests either way.
		e := start(t, newBackend)
		p := policy("p", 2, 2*minute, 0)
		q := policy("q", 5, 5*minute, 0)
		e.allow("k", p, q)
		e.allow("k", p, q)
		ds := e.allow("k", p, q)
		e.refused("p on the third call", ds[0], 2*minute, minute)
		e.admitted("q on the third call, with p refusing", ds[1], 2, 3*minute)
		e.admitted("q alone: the refused call counted for q", e.one("k", q), 1, 4*minute)
		ds = e.allow("k", q, p) // the other order: decisions follow it
		e.admitted("q first", ds[0], 0, 5*minute)
		e.refused("p second", ds[1], 2*minute, minute)
		ds = e.allow("k", q, p)
		e.refused("q exhausted", ds[0], 5*minute, minute)
		e.refused("p still exhausted", ds[1], 2*minute, minute)
		e.Advance(minute)
		ds = e.allow("k", p, q)
		e.admitted("p an interval later", ds[0], 0, 2*minute)
		e.admitted("q an interval later", ds[1], 0, 5*minute)
		if ds := e.allow("k"); len(ds) != 0 {
			t.Errorf("no policies: %d decisions", len(ds))
		}
	})

	t.Run("a bucket is the key and the policy name", func(t *testing.T) {
		e := start(t, newBackend)
		a, same := policy("orders/burst", 4, 4*minute, 0), policy("orders/burst", 4, 4*minute, 0)
		e.one("k", a)
		e.one("k", same)
		e.one("k", a)
		e.admitted("the fourth, through an equal copy", e.one("k", same), 0, 4*minute)
		e.refused("the fifth", e.one("k", a), 4*minute, minute)
		for _, name := range []string{"orders/burs", "orders/burst2", "Orders/burst", "orders", "shared/burst"} {
			e.admitted("policy "+name, e.one("k", policy(name, 4, 4*minute, 0)), 3, minute)
		}
	})

	t.Run("distinct keys are independent", func(t *testing.T) {
		e := start(t, newBackend)
		p := policy("p", 2, 2*minute, 0)
		e.one("ip=203.0.113.9", p)
		e.one("ip=203.0.113.9", p)
		for _, k := range []string{"ip=203.0.113.90", "ip=203.0.113.", "IP=203.0.113.9", "ip=203.0.113.9 ", "ip=2001:db8::9", "ip=203.0.113.9|route=r"} {
			e.admitted("key "+k, e.one(k, p), 1, minute)
		}
		e.refused("the exhausted key", e.one("ip=203.0.113.9", p), 2*minute, minute)
	})

	t.Run("keys with odd bytes", func(t *testing.T) {
		// Keys are built from request parts joined by '|' and '=', with up
		// to 256 bytes of any header value: no byte may merge two keys or
		// break a backend (Redis puts the key in a {hash tag}).
		long := strings.Repeat("x", 4096)
		keys := []string{
			"ip=203.0.113.9|route=orders|header:X-Tenant=acme",
			"ip=203.0.113.9|route=orders|header:X-Tenant=acme|b=c",
			"ip=203.0.113.9|route=orders|header:X-Tenant=acme|",
			"header:X-Tenant==|==|",
			"|", "=", "||", "==",
			"{", "}", "{}", "}{", "a}b", "{a}b", "a{b}c}",
			"*", "?", "[a-z]", "\\", "%s%d", "'\"",
			"\x00", "a\x00b", "\r\n", "\t ",
			"\xff\xfe\x80", "ключ", "鍵", "🔑",
			"header:X-Api-Key=" + strings.Repeat("\xc3", 256),
			long, long[:len(long)-1] + "y", long + "x",
		}
		e := start(t, newBackend)
		p := policy("p", 2, 2*minute, 0)
		// Round robin, so keys that wrongly shared a bucket would show it.
		for i := range int64(2) {
			for _, k := range keys {
				e.admitted(fmt.Sprintf("request %d of key %q", i+1, short(k)), e.one(k, p), 1-i, time.Duration(i+1)*minute)
			}
		}
		for _, k := range keys {
			e.refused(fmt.Sprintf("request 3 of key %q", short(k)), e.one(k, p), 2*minute, minute)
		}
	})

	t.Run("concurrent callers admit exactly the burst", func(t *testing.T) {
		e := start(t, newBackend)
		p := policy("p", 100, 100*time.Hour, 0) // an hour per unit: nothing refills during the test
		q := policy("q", 250, 250*time.Hour, 0)
		const goroutines, calls = 16, 40 // 640 calls on each key
		var mu sync.Mutex
		admitted := map[string]int64{}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				other := "ip=198.51.100." + fmt.Sprint(g%2) // two more keys, raced on too
				n := map[string]int64{}
				for range calls {
					ds, err := e.Limiter.Allow(context.Background(), "shared", []*ratelimit.Policy{p, q})
					if err != nil {
						t.Error(err)
						return
					}
					for _, d := range ds {
						if d.Allowed {
							n[d.Policy.Name]++
						}
					}
					ds, err = e.Limiter.Allow(context.Background(), other, []*ratelimit.Policy{p})
					if err != nil {
						t.Error(err)
						return
					}
					if ds[0].Allowed {
						n[other]++
					}
				}
				mu.Lock()
				for k, v := range n {
					admitted[k] += v
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		// p and q on "shared" race 640 calls; p on each other key 320.
		want := map[string]int64{"p": 100, "q": 250, "ip=198.51.100.0": 100, "ip=198.51.100.1": 100}
		for k, w := range want {
			if admitted[k] != w {
				t.Errorf("%s: admitted %d racing calls, want exactly %d", k, admitted[k], w)
			}
		}
		t.Logf("%d goroutines x %d calls: admitted %v", goroutines, calls, admitted)
	})

	t.Run("policy validation", func(t *testing.T) {
		// Backends are only given policies Validate accepts.
		for _, tc := range []struct {
			name string
			p    ratelimit.Policy
		}{
			{"no name", ratelimit.Policy{Limit: 1, Window: minute}},
			{"zero limit", ratelimit.Policy{Name: "zero-limit", Window: minute}},
			{"negative limit", ratelimit.Policy{Name: "negative-limit", Limit: -1, Window: minute}},
			{"zero window", ratelimit.Policy{Name: "zero-window", Limit: 1}},
			{"negative window", ratelimit.Policy{Name: "negative-window", Limit: 1, Window: -minute}},
			{"negative burst", ratelimit.Policy{Name: "negative-burst", Limit: 1, Window: minute, Burst: -1}},
			{"more than one per nanosecond", ratelimit.Policy{Name: "too-fast", Limit: 1e10, Window: time.Second}},
			{"burst past the tolerance bound", ratelimit.Policy{Name: "burst-overflow", Limit: 1, Window: time.Hour, Burst: 1e7}},
			{"window past the tolerance bound", ratelimit.Policy{Name: "window-overflow", Limit: 1, Window: ratelimit.MaxTolerance + time.Hour}},
		} {
			err := tc.p.Validate()
			if err == nil {
				t.Errorf("%s: %+v validated", tc.name, tc.p)
			} else if !strings.Contains(err.Error(), tc.p.Name) {
				t.Errorf("%s: %q does not name the policy", tc.name, err)
			}
		}
		// The edges Validate accepts decide as documented. One microsecond is
		// the shortest interval configuration allows (and Redis counts in
		// microseconds); only a fresh bucket is timed, a real clock may
		// refill the next unit before the next call.
		e := start(t, newBackend)
		for _, tc := range []struct {
			p      *ratelimit.Policy
			remain int64
			reset  time.Duration
		}{
			{policy("one-microsecond", 1000, time.Millisecond, 0), 999, time.Microsecond},
			{policy("one-microsecond-burst-one", 1, time.Microsecond, 0), 0, time.Microsecond},
			{policy("burst-one", 10, 10*minute, 1), 0, minute},
			{policy("at-the-bound", 1, ratelimit.MaxTolerance, 0), 0, ratelimit.MaxTolerance},
			{policy("burst-at-the-bound", 1, minute, int64(ratelimit.MaxTolerance/minute)), int64(ratelimit.MaxTolerance/minute) - 1, minute},
		} {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			d := e.one("k", tc.p)
			if !d.Allowed || d.Remaining != tc.remain || d.Reset != tc.reset {
				t.Errorf("%s, fresh: %s, want admitted with Remaining %d, Reset %v", tc.p.Name, show(d), tc.remain, tc.reset)
			}
		}
	})

	t.Run("large limits", func(t *testing.T) {
		// Figures near the tolerance bound: no overflow (int64 nanoseconds
		// in memory) and no precision loss (microseconds in a Lua double in
		// Redis).
		e := start(t, newBackend)
		big := policy("big", 50_000_000, 50_000_000*minute, 0) // one a minute for 95 years
		for i := range int64(50) {
			e.admitted(fmt.Sprintf("big, request %d", i+1), e.one("k", big), big.Limit-1-i, time.Duration(i+1)*minute)
		}
		// A huge burst of one a microsecond: a real clock refills a unit
		// per microsecond between calls, so only the fresh bucket is exact.
		burst := int64(ratelimit.MaxTolerance / time.Microsecond)
		wide := policy("wide", 1_000_000, time.Second, burst)
		e.admitted("wide, fresh", e.one("k", wide), burst-1, time.Microsecond)
		for i := range 20 {
			d := e.one("k", wide)
			if !d.Allowed || d.Remaining < burst-2-int64(i) || d.Remaining > burst-1 || d.Reset > time.Duration(i+2)*time.Microsecond {
				t.Errorf("wide, request %d: %s", i+2, show(d))
			}
		}
		// One per 100 years.
		slow := policy("slow", 1, ratelimit.MaxTolerance, 0)
		e.admitted("slow, first", e.one("k", slow), 0, ratelimit.MaxTolerance)
		d := e.one("k", slow)
		e.refused("slow, second", d, ratelimit.MaxTolerance, ratelimit.MaxTolerance)
		e.Advance(d.RetryAfter)
		e.admitted("slow, a century later", e.one("k", slow), 0, ratelimit.MaxTolerance)
	})

	t.Run("a done context", func(t *testing.T) {
		// The interface promises nothing about ctx beyond this: a call with
		// a done context returns, with one decision per policy or an error,
		// and never lets the key past its burst. The backends differ, both
		// legitimately: Memory never reads ctx (it cannot block) and decides;
		// Redis sends nothing, so the policy's failure mode answers (closed
		// here: ErrUnavailable) without counting against Redis, and the live
		// calls that follow are decided by Redis as before.
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel2()
		for _, tc := range []struct {
			name string
			ctx  context.Context
		}{{"cancelled", cancelled}, {"deadline passed", expired}} {
			t.Run(tc.name, func(t *testing.T) {
				e := start(t, newBackend)
				p := policy("p", 3, 3*minute, 0)
				var done, errs int64
				for range 5 {
					ds, err := e.Limiter.Allow(tc.ctx, "k", []*ratelimit.Policy{p})
					if err != nil {
						errs++
						continue
					}
					e.checkShape("k", []*ratelimit.Policy{p}, ds)
					if ds[0].Allowed {
						done++
					}
				}
				var live int64
				for range 5 {
					if e.one("k", p).Allowed {
						live++
					}
				}
				t.Logf("with a done context: %d admitted, %d errors; then %d admitted live", done, errs, live)
				if done+live > 3 {
					t.Errorf("admitted %d with a done context and %d live: past the burst of 3", done, live)
				}
				// A done call that errs may still have reached the backend
				// and spent a unit; one that decided has spent what it says.
				if done+live < 3-errs {
					t.Errorf("admitted %d with a done context and %d live, %d errors: units lost", done, live, errs)
				}
			})
		}
	})
}

// short abbreviates a long key in messages.
func short(k string) string {
	if len(k) > 40 {
		return fmt.Sprintf("%s... (%d bytes)", k[:20], len(k))
	}
	return k
}
