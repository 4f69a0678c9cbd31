package oauth

import (
	"sync"
	"time"
)

// throttle counts failed client authentications per client id and refuses
// further attempts for a while once there are too many: online guessing of
// a client secret is bounded (a 256-bit secret cannot be guessed anyway;
// the bound keeps the store and the log quiet). Per instance.
type throttle struct {
	mu     sync.Mutex
	fails  map[string]*failures
	limit  int
	window time.Duration
	now    func() time.Time
}

type failures struct {
	n     int
	start time.Time
}

// Throttle settings: at most 10 failures per client id per minute.
const (
	maxAuthFailures   = 10
	authFailureWindow = time.Minute
	maxThrottled      = 100000
)

func newThrottle(now func() time.Time) *throttle {
	return newThrottleOf(maxAuthFailures, authFailureWindow, now)
}

func newThrottleOf(limit int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{fails: map[string]*failures{}, limit: limit, window: window, now: now}
}

// blocked reports whether id is locked out, and for how long.
func (t *throttle) blocked(id string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.fails[id]
	if f == nil {
		return 0, false
	}
	left := f.start.Add(t.window).Sub(t.now())
	if left <= 0 {
		delete(t.fails, id)
		return 0, false
	}
	return left, f.n >= t.limit
}

// failed records a failed authentication of id.
func (t *throttle) failed(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.fails[id]
	if f == nil || now.Sub(f.start) >= t.window {
		if len(t.fails) >= maxThrottled {
			// Full: drop the expired entries, and if that is not enough,
			// arbitrary ones (map order is random) down to half.
			for k, v := range t.fails {
				if now.Sub(v.start) >= t.window || len(t.fails) > maxThrottled/2 {
					delete(t.fails, k)
				}
			}
		}
		f = &failures{start: now}
		t.fails[id] = f
	}
	f.n++
}
