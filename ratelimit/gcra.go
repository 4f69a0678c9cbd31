// Package ratelimit limits request rates with the generic cell rate
// algorithm (GCRA): each key keeps one number, its theoretical arrival time
// (TAT). A policy admits Limit requests per Window with bursts of up to
// Burst; a request is allowed when admitting it would not push the TAT more
// than Burst emission intervals past now.
//
// Decide is pure (the math); Memory is a sharded, bounded in-process
// backend; ratelimit/redislimit shares counters between instances;
// ratelimit/limitertest is the conformance suite both pass. Stage
// (NewStage) is the HTTP stage, with a pure Check: keys from the request,
// 429 problems with
// Retry-After, and the RateLimit-Policy / RateLimit headers of
// draft-ietf-httpapi-ratelimit-headers-10 (RL-01, RL-02).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy is one named limit. The zero value is invalid; see Validate.
type Policy struct {
	Name   string
	Limit  int64         // requests per Window (the draft's quota, q)
	Window time.Duration // w
	Burst  int64         // most requests admitted at once; 0 means Limit
	// Failure says what a shared backend does when it cannot decide
	// (RL-05). The in-memory backend never fails.
	Failure FailureMode
}

// FailureMode is what happens when a shared backend is unreachable.
type FailureMode string

// Failure modes.
const (
	FailLocal  FailureMode = "local"  // decide with a per-instance limit (Limit / instances); the default
	FailOpen   FailureMode = "open"   // admit every request
	FailClosed FailureMode = "closed" // refuse with 503
)

// Validate reports a policy that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("ratelimit: policy needs a name")
	case p.Limit <= 0:
		return fmt.Errorf("ratelimit: policy %s: limit must be positive", p.Name)
	case p.Window <= 0:
		return fmt.Errorf("ratelimit: policy %s: window must be positive", p.Name)
	case p.Burst < 0:
		return fmt.Errorf("ratelimit: policy %s: burst must not be negative", p.Name)
	case p.Window/time.Duration(p.Limit) <= 0:
		return fmt.Errorf("ratelimit: policy %s: more than one request per nanosecond", p.Name)
	case p.burst() > int64(MaxTolerance/p.Interval()):
		return fmt.Errorf("ratelimit: policy %s: burst × window / limit must not exceed %v", p.Name, MaxTolerance)
	}
	return nil
}

// MaxTolerance bounds a policy's Tolerance (Burst emission intervals,
// the Window when Burst is Limit): theoretical arrival times are stored as
// Unix nanoseconds (and in Redis as microseconds in a Lua double), which a
// longer tolerance would overflow, refusing every request for decades.
const MaxTolerance = 100 * 365 * 24 * time.Hour

// Interval is the emission interval: the time one request "costs".
func (p Policy) Interval() time.Duration { return p.Window / time.Duration(p.Limit) }

func (p Policy) burst() int64 {
	if p.Burst <= 0 {
		return p.Limit
	}
	return p.Burst
}

// Tolerance is how far past now the TAT may run: Burst intervals.
func (p Policy) Tolerance() time.Duration { return p.Interval() * time.Duration(p.burst()) }

// Decision is the outcome of one request under one policy.
type Decision struct {
	Policy  *Policy
	Allowed bool
	// Remaining is how many more requests would be admitted right now (r).
	Remaining int64
	// Reset is when the key is back to its full burst (t).
	Reset time.Duration
	// RetryAfter is, for a denied request, when the next one would pass.
	RetryAfter time.Duration
}

// Decide applies GCRA to one request: given the key's TAT (zero time when
// the key is new) and now, it returns the decision and the TAT to store
// (unchanged when denied).
func Decide(p *Policy, tat, now time.Time) (Decision, time.Time) {
	var t int64
	if !tat.IsZero() {
		t = tat.UnixNano()
	}
	d, next := decide(p, t, now.UnixNano())
	return d, time.Unix(0, next)
}

// decide is Decide on Unix nanoseconds (tat 0: a new key).
func decide(p *Policy, tat, now int64) (Decision, int64) {
	if tat < now {
		tat = now
	}
	interval := int64(p.Window) / p.Limit
	tol := interval * p.burst()
	next := tat + interval
	allowAt := next - tol
	if now < allowAt {
		return Decision{Policy: p, Allowed: false, Reset: time.Duration(tat - now), RetryAfter: time.Duration(allowAt - now)}, tat
	}
	return Decision{Policy: p, Allowed: true, Remaining: (tol - (next - now)) / interval, Reset: time.Duration(next - now)}, next
}

// Limiter decides requests for keys under policies. Implementations are
// safe for concurrent use.
type Limiter interface {
	// Allow counts one request of key under each policy and returns one
	// decision per policy, in order. Every policy counts the request, also
	// when another denies it. An error means the backend could not decide.
	Allow(ctx context.Context, key string, policies []*Policy) ([]Decision, error)
}
