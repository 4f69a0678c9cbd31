// Package redislimit shares rate-limit counters between gateway instances
// through Redis (single, Sentinel or Cluster, via go-redis's
// UniversalClient). Each decision is one atomic Lua script, one round trip,
// with time taken from Redis so instance clocks do not matter (RL-04).
// Every call has a short timeout; a circuit breaker stops calling a Redis
// that keeps failing, so a dead Redis costs no latency, and a single probe
// per cool-down finds it again. While Redis cannot decide, each policy's
// failure mode applies (RL-05): closed (503), open, or local (a per-instance
// limit of Limit/instances). It is the only package that imports go-redis.
package redislimit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/redis/go-redis/v9"
)

// script decides every policy of one key: KEYS are the policies' bucket
// keys (sharing one hash tag, so one Cluster slot); ARGV holds, per policy,
// the emission interval and the tolerance in microseconds. It returns, per
// policy, allowed (0/1), reset and retry-after in microseconds.
var script = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2*i-1])
  local tol = tonumber(ARGV[2*i])
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local nxt = tat + interval
  if now < nxt - tol then
    out[#out+1] = 0
    out[#out+1] = tat - now
    out[#out+1] = nxt - tol - now
  else
    redis.call('SET', key, string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
    out[#out+1] = 1
    out[#out+1] = nxt - now
    out[#out+1] = 0
  end
end
return out
`)

// ClientOptions say how to reach Redis.
type ClientOptions struct {
	Addrs      []string // one address: single node; several: Cluster (or Sentinel with MasterName)
	MasterName string   // Sentinel master name
	Username   string
	Password   string
	DB         int
	TLS        bool
	Timeout    time.Duration // per call (default 5ms)
}

// NewClient returns a UniversalClient whose calls honour context deadlines.
func NewClient(o ClientOptions) redis.UniversalClient {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Millisecond
	}
	uo := &redis.UniversalOptions{
		Addrs: o.Addrs, MasterName: o.MasterName, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: 250 * time.Millisecond, ReadTimeout: o.Timeout, WriteTimeout: o.Timeout,
		ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 64, MinIdleConns: 4,
	}
	if o.TLS {
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(uo)
}

// Options configure a Limiter.
type Options struct {
	Client redis.UniversalClient
	// Prefix starts every key (default "gatehouse:rl:"); tests use one each.
	Prefix string
	// Timeout bounds each call (default 5ms).
	Timeout time.Duration
	// Instances is how many gateway instances share the limit; the local
	// failure mode gives each Limit/Instances (at least 1).
	Instances int
	// Local decides while Redis cannot (default: a new Memory backend).
	Local *ratelimit.Memory
	// Breaker: after Threshold consecutive failures (default 3) Redis is
	// not called for Cooldown (default 500ms), then one probe is sent.
	Threshold int
	Cooldown  time.Duration
	Now       func() time.Time
	// OnError is told of every failed call (not of calls whose context
	// the caller ended); OnFallback when the breaker opens (true) or
	// closes (false).
	OnError    func(error)
	OnFallback func(active bool)
}

// Limiter is a ratelimit.Limiter backed by Redis. Safe for concurrent use.
type Limiter struct {
	o       Options
	local   sync.Map // *ratelimit.Policy -> *ratelimit.Policy (the per-instance share)
	mu      sync.Mutex
	fails   int
	openTil time.Time
	probing atomic.Bool
	open    atomic.Bool
}

// New returns a Redis-backed limiter.
func New(o Options) *Limiter {
	if o.Prefix == "" {
		o.Prefix = "gatehouse:rl:"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Millisecond
	}
	if o.Instances <= 0 {
		o.Instances = 1
	}
	if o.Threshold <= 0 {
		o.Threshold = 3
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Local == nil {
		o.Local = ratelimit.NewMemory(ratelimit.MemoryOptions{Now: o.Now})
	}
	return &Limiter{o: o}
}

// FallbackActive reports whether the breaker is open (Redis is not called).
func (l *Limiter) FallbackActive() bool { return l.open.Load() }

// Allow implements ratelimit.Limiter. A call whose ctx is done gets no
// decision from Redis: the policies' failure modes apply, and the breaker
// does not count it as a failure.
func (l *Limiter) Allow(ctx context.Context, key string, policies []*ratelimit.Policy) ([]ratelimit.Decision, error) {
	probe, skip := l.gate()
	if !skip {
		ds, err := l.call(ctx, key, policies)
		switch {
		case err == nil:
			l.record(nil, probe)
			return ds, nil
		case ctx.Err() != nil:
			// The caller gave up (a client that went away, its own
			// deadline): that says nothing about Redis, so it neither
			// counts towards the breaker nor is reported; otherwise
			// callers that cancel could open the breaker for everyone.
			if probe {
				l.probing.Store(false)
			}
		default:
			l.record(err, probe)
			if l.o.OnError != nil {
				l.o.OnError(err)
			}
		}
	}
	return l.fallback(key, policies)
}

// gate decides whether to call Redis: always while the breaker is closed;
// while open, only one caller per cool-down (the probe).
func (l *Limiter) gate() (probe, skip bool) {
	if !l.open.Load() {
		return false, false
	}
	l.mu.Lock()
	due := !l.o.Now().Before(l.openTil)
	l.mu.Unlock()
	if due && l.probing.CompareAndSwap(false, true) {
		return true, false
	}
	return false, true
}

func (l *Limiter) record(err error, probe bool) {
	if probe {
		defer l.probing.Store(false)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.fails = 0
		if l.open.Swap(false) && l.o.OnFallback != nil {
			l.o.OnFallback(false)
		}
		return
	}
	l.fails++
	if probe || l.fails >= l.o.Threshold {
		l.openTil = l.o.Now().Add(l.o.Cooldown)
		if !l.open.Swap(true) && l.o.OnFallback != nil {
			l.o.OnFallback(true)
		}
	}
}

func (l *Limiter) call(ctx context.Context, key string, policies []*ratelimit.Policy) ([]ratelimit.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	keys := make([]string, len(policies))
	args := make([]any, 0, 2*len(policies))
	tag := "{" + key + "}"
	for i, p := range policies {
		keys[i] = l.o.Prefix + tag + p.Name
		args = append(args, p.Interval().Microseconds(), p.Tolerance().Microseconds())
	}
	res, err := script.Run(ctx, l.o.Client, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("redislimit: %w", err)
	}
	if len(res) != 3*len(policies) {
		return nil, errors.New("redislimit: unexpected script reply")
	}
	out := make([]ratelimit.Decision, len(policies))
	for i, p := range policies {
		allowed, reset, retry := res[3*i] == 1, time.Duration(res[3*i+1])*time.Microsecond, time.Duration(res[3*i+2])*time.Microsecond
		d := ratelimit.Decision{Policy: p, Allowed: allowed, Reset: reset, RetryAfter: retry}
		if allowed {
			d.Remaining = int64((p.Tolerance() - reset) / p.Interval())
		}
		out[i] = d
	}
	return out, nil
}

// fallback applies each policy's failure mode.
func (l *Limiter) fallback(key string, policies []*ratelimit.Policy) ([]ratelimit.Decision, error) {
	out := make([]ratelimit.Decision, len(policies))
	for i, p := range policies {
		switch p.Failure {
		case ratelimit.FailClosed:
			return nil, ratelimit.ErrUnavailable
		case ratelimit.FailOpen:
			out[i] = ratelimit.Decision{Policy: p, Allowed: true, Remaining: p.Limit, Reset: 0}
		default:
			d := l.o.Local.AllowOne(key, l.share(p))
			d.Policy = p
			out[i] = d
		}
	}
	return out, nil
}

// share is the per-instance policy used by the local failure mode.
func (l *Limiter) share(p *ratelimit.Policy) *ratelimit.Policy {
	if v, ok := l.local.Load(p); ok {
		return v.(*ratelimit.Policy)
	}
	n := int64(l.o.Instances)
	lp := *p
	lp.Name = p.Name + "/local" + strconv.Itoa(l.o.Instances)
	lp.Limit = max(1, p.Limit/n)
	if p.Burst > 0 {
		lp.Burst = max(1, p.Burst/n)
	}
	v, _ := l.local.LoadOrStore(p, &lp)
	return v.(*ratelimit.Policy)
}
