package oauth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// throttle bounds online guessing (RL-06). An attempt is counted before
// the expensive check runs, atomically for all its keys, so concurrent
// attempts cannot all pass a check that happens before a count made after
// the work; a success gives its count back. Keys are SHA-256 digests of
// the (already length-checked) id and the client address, so what the
// map holds has a fixed size whatever a caller sends, and a credential is
// throttled per (id, address) and per address: failures from one address
// never lock a correct credential out when it is used from elsewhere.
// Per instance.
type throttle struct {
	mu      sync.Mutex
	counts  map[throttleKey]*attempts
	perPair int // attempts per (id, address) per window
	perAddr int // attempts per address per window
	window  time.Duration
	now     func() time.Time
}

type throttleKey [16]byte

type attempts struct {
	n     int
	start time.Time
}

// Throttle settings.
const (
	clientAttemptsPerPair = 10 // failed client authentications per (client, address) per minute
	clientAttemptsPerAddr = 30 // per address per minute, across clients
	clientWindow          = time.Minute
	maxThrottled          = 100000
)

func newThrottle(perPair, perAddr int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{counts: map[throttleKey]*attempts{}, perPair: perPair, perAddr: perAddr, window: window, now: now}
}

func digest(parts ...string) throttleKey {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var k throttleKey
	copy(k[:], h.Sum(nil))
	return k
}

// keys are the two counters of one attempt.
func (t *throttle) keys(kind, id, addr string) (pair, perAddr throttleKey) {
	return digest(kind, id, addr), digest(kind+"@", addr)
}

// take counts one attempt of id from addr, or refuses it (and counts
// nothing) when either counter is full; it says how long to wait.
func (t *throttle) take(kind, id, addr string) (time.Duration, bool) {
	pair, perAddr := t.keys(kind, id, addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	a, b := t.current(pair, now), t.current(perAddr, now)
	if a.n >= t.perPair || b.n >= t.perAddr {
		left := max(a.start.Add(t.window).Sub(now), 0)
		if b.n >= t.perAddr {
			left = max(left, b.start.Add(t.window).Sub(now))
		}
		return left, false
	}
	a.n++
	b.n++
	return 0, true
}

// succeeded gives back the attempt of a correct credential.
func (t *throttle) succeeded(kind, id, addr string) {
	pair, perAddr := t.keys(kind, id, addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []throttleKey{pair, perAddr} {
		if a := t.counts[k]; a != nil && a.n > 0 {
			a.n--
		}
	}
}

// current returns the live counter of k, starting a new window when the
// old one is over.
func (t *throttle) current(k throttleKey, now time.Time) *attempts {
	a := t.counts[k]
	if a != nil && now.Sub(a.start) < t.window {
		return a
	}
	if a == nil && len(t.counts) >= maxThrottled {
		// Full: drop expired entries; if that is not enough, arbitrary
		// ones (map order is random) down to half.
		for key, v := range t.counts {
			if now.Sub(v.start) >= t.window || len(t.counts) > maxThrottled/2 {
				delete(t.counts, key)
			}
		}
	}
	a = &attempts{start: now}
	t.counts[k] = a
	return a
}

func (t *throttle) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.counts)
}
