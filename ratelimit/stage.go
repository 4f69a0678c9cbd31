package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// Key parts a rule can combine. Header parts are written "header:Name".
const (
	PartIP      = "ip"      // client IP, after trusted_proxies
	PartRoute   = "route"   // the route name
	PartAPIKey  = "api_key" // the API key id of the principal
	PartSubject = "subject" // the principal's subject
	PartClient  = "client"  // the OAuth client of the principal
	PartTenant  = "tenant"  // the principal's tenant
	PartHeader  = "header:" // prefix: the value of a request header
)

// PreAuthPart reports whether a key part is known before authentication.
func PreAuthPart(part string) bool {
	return part == PartIP || part == PartRoute || strings.HasPrefix(part, PartHeader)
}

// ValidPart reports whether part is a known key part.
func ValidPart(part string) bool {
	switch part {
	case PartIP, PartRoute, PartAPIKey, PartSubject, PartClient, PartTenant:
		return true
	}
	name, ok := strings.CutPrefix(part, PartHeader)
	return ok && name != "" && http.CanonicalHeaderKey(name) != ""
}

// Rule is a policy and the key it counts by.
type Rule struct {
	Policy Policy
	Key    []string
}

// HeaderMode says who sees the RateLimit headers.
type HeaderMode int

// Header modes.
const (
	HeadersAlways        HeaderMode = iota // every response of the route
	HeadersAuthenticated                   // only responses to authenticated callers
	HeadersNever
)

// ErrUnavailable is returned by backends whose failure mode is closed.
var ErrUnavailable = errors.New("ratelimit: backend unavailable")

// StageOptions configure one rate-limit stage (one slot of one route).
type StageOptions struct {
	Route   string
	Rules   []Rule
	Limiter Limiter
	Headers HeaderMode
	// OnDecision is told of every decision (for metrics).
	OnDecision func(policy string, allowed bool)
	// OnError is told when the backend failed and the request was refused.
	OnError func(err error)
	// DisplayName maps a policy's (bucket) name to the name clients see in
	// the headers; nil shows the name as is.
	DisplayName func(string) string
	// Overrides applies the principal's RateLimits (per shown policy name)
	// to this stage's policies: for the post-auth slot.
	Overrides bool
}

// Stage returns the rate-limit stage. Requests over any policy get 429
// with Retry-After and a quota-exceeded problem; a backend that cannot
// decide (closed failure mode) gets 503.
func Stage(o StageOptions) func(http.Handler) http.Handler {
	if o.DisplayName == nil {
		o.DisplayName = func(s string) string { return s }
	}
	policies := make([]*Policy, len(o.Rules))
	items := make([]string, len(o.Rules))
	shown := map[*Policy]string{}
	for i := range o.Rules {
		policies[i] = &o.Rules[i].Policy
		p := policies[i]
		shown[p] = strconv.Quote(o.DisplayName(p.Name))
		items[i] = fmt.Sprintf("%s;q=%d;w=%d", shown[p], p.Limit, ceilSeconds(p.Window))
	}
	policyHeader := []string{strings.Join(items, ", ")}
	// Rules sharing a key are decided in one backend call.
	type group struct {
		key      []string
		policies []*Policy
		index    []int
	}
	var groups []group
	for i, r := range o.Rules {
		found := false
		for g := range groups {
			if slices.Equal(groups[g].key, r.Key) {
				groups[g].policies = append(groups[g].policies, policies[i])
				groups[g].index = append(groups[g].index, i)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, group{key: r.Key, policies: []*Policy{policies[i]}, index: []int{i}})
		}
	}
	var ov *overrides
	if o.Overrides && len(policies) <= 16 {
		ov = &overrides{names: map[*Policy]string{}}
		for _, p := range policies {
			ov.names[p] = o.DisplayName(p.Name)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var small [4]Decision
			var effective [16]int64 // quotas after overrides, when any applied
			decisions := small[:0]
			if len(policies) > len(small) {
				decisions = make([]Decision, 0, len(policies))
			}
			decisions = decisions[:len(policies)]
			overridden := false
			for _, g := range groups {
				gp := g.policies
				if ov != nil {
					gp = ov.apply(identity.From(r.Context()), gp)
					overridden = overridden || &gp[0] != &g.policies[0]
				}
				ds, err := o.Limiter.Allow(r.Context(), BuildKey(r, o.Route, g.key), gp)
				if err != nil {
					if o.OnError != nil {
						o.OnError(err)
					}
					w.Header().Set("Retry-After", "1")
					problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "rate limiting is unavailable; try again shortly").Wrap(err))
					return
				}
				for j, d := range ds {
					q := d.Policy.Limit
					d.Policy = g.policies[j] // report under the configured policy
					decisions[g.index[j]] = d
					if overridden {
						effective[g.index[j]] = q
					}
				}
			}
			denied := false
			var retry time.Duration
			for _, d := range decisions {
				if o.OnDecision != nil {
					o.OnDecision(d.Policy.Name, d.Allowed)
				}
				if !d.Allowed {
					denied = true
					retry = max(retry, d.RetryAfter)
				}
			}
			if show(o.Headers, r) {
				h := w.Header()
				h["Ratelimit-Policy"] = policyHeader
				if overridden {
					h["Ratelimit-Policy"] = []string{policyField(policies, effective[:len(policies)], shown)}
				}
				h["Ratelimit"] = []string{rateLimitField(decisions, shown)}
			}
			if denied {
				w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(retry), 10))
				p := problem.New(http.StatusTooManyRequests, problem.TypeQuotaExceeded, "too many requests: the rate limit of this route is exhausted")
				problem.Write(w, r, p)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// overrides applies a principal's per-policy limits (identity.Principal.
// RateLimits, by shown policy name) to a stage's policies. Derived policies
// are cached, so an override costs no allocation after its first use.
type overrides struct {
	names   map[*Policy]string
	derived sync.Map // overrideKey -> *Policy
}

type overrideKey struct {
	p     *Policy
	limit int64
}

// apply returns ps itself when the principal overrides none of them.
func (o *overrides) apply(p *identity.Principal, ps []*Policy) []*Policy {
	if p == nil || len(p.RateLimits) == 0 {
		return ps
	}
	var out []*Policy
	for i, pol := range ps {
		limit, ok := p.RateLimits[o.names[pol]]
		if !ok || limit <= 0 || limit == pol.Limit {
			if out != nil {
				out[i] = pol
			}
			continue
		}
		if out == nil {
			out = append(make([]*Policy, 0, len(ps)), ps...)
		}
		k := overrideKey{pol, limit}
		d, found := o.derived.Load(k)
		if !found {
			cp := *pol
			cp.Limit = limit
			if pol.Burst > 0 {
				cp.Burst = max(1, pol.Burst*limit/pol.Limit)
			}
			if cp.Validate() != nil {
				continue // an override the algorithm cannot express is ignored
			}
			d, _ = o.derived.LoadOrStore(k, &cp)
		}
		out[i] = d.(*Policy)
	}
	if out == nil {
		return ps
	}
	return out
}

// policyField is the RateLimit-Policy header with the effective quotas.
func policyField(ps []*Policy, quota []int64, shown map[*Policy]string) string {
	var b []byte
	for i, p := range ps {
		if i > 0 {
			b = append(b, ", "...)
		}
		q := quota[i]
		if q == 0 {
			q = p.Limit
		}
		b = append(b, shown[p]...)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, q, 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, ceilSeconds(p.Window), 10)
	}
	return string(b)
}

func show(m HeaderMode, r *http.Request) bool {
	switch m {
	case HeadersNever:
		return false
	case HeadersAuthenticated:
		return !identity.From(r.Context()).Anonymous()
	}
	return true
}

// rateLimitField is the RateLimit header: one item per policy with the
// remaining quota (r) and the seconds until it is whole again (t).
func rateLimitField(ds []Decision, shown map[*Policy]string) string {
	var buf [128]byte
	b := buf[:0]
	for i, d := range ds {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, shown[d.Policy]...)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, d.Remaining, 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, ceilSeconds(d.Reset), 10)
	}
	return string(b)
}

// ceilSeconds rounds d up to whole seconds (delta-seconds), never below 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// maxHeaderPart bounds how much of a header value goes into a key.
const maxHeaderPart = 256

// BuildKey builds the counting key of a request from parts. Parts that need
// a principal fall back to the client IP for anonymous requests, so an
// unauthenticated caller can never share (or dodge) a principal's bucket.
func BuildKey(r *http.Request, route string, parts []string) string {
	var buf [256]byte
	b := buf[:0]
	p := identity.From(r.Context())
	for i, part := range parts {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, part...)
		b = append(b, '=')
		switch {
		case part == PartIP:
			b = appendClientIP(b, r)
		case part == PartRoute:
			b = append(b, route...)
		case strings.HasPrefix(part, PartHeader):
			v := r.Header.Get(part[len(PartHeader):])
			if len(v) > maxHeaderPart {
				v = v[:maxHeaderPart]
			}
			b = append(b, v...)
		case p.Anonymous():
			b = append(b, "anonymous@"...)
			b = appendClientIP(b, r)
		case part == PartAPIKey:
			b = append(b, p.KeyID...)
		case part == PartSubject:
			b = append(b, p.Issuer...)
			b = append(b, ' ')
			b = append(b, p.Subject...)
		case part == PartClient:
			if c, ok := p.Attrs["client_id"].(string); ok {
				b = append(b, c...)
			} else {
				b = append(b, p.Subject...)
			}
		case part == PartTenant:
			b = append(b, p.Tenant...)
		}
	}
	return string(b)
}

func appendClientIP(b []byte, r *http.Request) []byte {
	if a := clientip.From(r.Context()); a.IsValid() {
		return a.AppendTo(b)
	}
	return clientip.Peer(r).AppendTo(b)
}

// Concurrency limits the requests in flight per key on this instance.
// Safe for concurrent use.
type Concurrency struct {
	Name  string
	Limit int
	Key   []string
	mu    sync.Mutex
	m     map[string]int
}

// ConcurrencyStage refuses a request with 429 while Limit requests of the
// same key are in flight on this instance.
func ConcurrencyStage(route string, c *Concurrency) func(http.Handler) http.Handler {
	c.m = map[string]int{}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := BuildKey(r, route, c.Key)
			c.mu.Lock()
			if c.m[key] >= c.Limit {
				c.mu.Unlock()
				w.Header().Set("Retry-After", "1")
				problem.Write(w, r, problem.New(http.StatusTooManyRequests, problem.TypeQuotaExceeded, "too many requests in flight for this caller"))
				return
			}
			c.m[key]++
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				if c.m[key]--; c.m[key] <= 0 {
					delete(c.m, key)
				}
				c.mu.Unlock()
			}()
			next.ServeHTTP(w, r)
		})
	}
}
