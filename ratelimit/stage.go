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

// Stage is one rate-limit stage: Check decides a request under every
// rule, Wrap answers refusals (429 with Retry-After and a quota-exceeded
// problem; 503 when a backend whose failure mode is closed cannot decide)
// and sets the RateLimit headers. Made by NewStage; safe for concurrent use.
type Stage struct {
	o            StageOptions
	policies     []*Policy
	shown        map[*Policy]string // quoted display names
	policyHeader []string
	groups       []group
	ov           *overrides // nil without Overrides
}

// group is the rules sharing a key: they are decided in one backend call.
type group struct {
	key      []string
	policies []*Policy
	index    []int
}

// NewStage builds the stage of o.
func NewStage(o StageOptions) *Stage {
	if o.DisplayName == nil {
		o.DisplayName = func(s string) string { return s }
	}
	s := &Stage{o: o, policies: make([]*Policy, len(o.Rules)), shown: map[*Policy]string{}}
	items := make([]string, len(o.Rules))
	for i := range o.Rules {
		p := &s.o.Rules[i].Policy
		s.policies[i] = p
		s.shown[p] = strconv.Quote(o.DisplayName(p.Name))
		items[i] = fmt.Sprintf("%s;q=%d;w=%d", s.shown[p], p.Limit, ceilSeconds(p.Window))
	}
	s.policyHeader = []string{strings.Join(items, ", ")}
	for i, r := range s.o.Rules {
		found := false
		for g := range s.groups {
			if slices.Equal(s.groups[g].key, r.Key) {
				s.groups[g].policies = append(s.groups[g].policies, s.policies[i])
				s.groups[g].index = append(s.groups[g].index, i)
				found = true
				break
			}
		}
		if !found {
			s.groups = append(s.groups, group{key: r.Key, policies: []*Policy{s.policies[i]}, index: []int{i}})
		}
	}
	if o.Overrides {
		s.ov = &overrides{names: map[*Policy]string{}}
		for _, p := range s.policies {
			s.ov.names[p] = o.DisplayName(p.Name)
		}
	}
	return s
}

// Result is the outcome of Check: one RuleResult per rule, in rule order.
// Keep it on the stack: Check fills the caller's value.
type Result struct {
	// Allowed is true when every rule admits the request.
	Allowed bool
	// RetryAfter is, when refused, the longest wait among refusing rules.
	RetryAfter time.Duration
	// Overridden is true when a principal's own limit replaced a policy's.
	Overridden bool
	n          int
	small      [4]RuleResult
	more       []RuleResult
}

// RuleResult is the decision under one rule. Decision.Policy is the
// configured policy; Quota is the limit that applied (a principal's
// override, or the policy's own).
type RuleResult struct {
	Decision
	Quota int64
}

// Rules returns the results in rule order.
func (r *Result) Rules() []RuleResult {
	if r.more != nil {
		return r.more
	}
	return r.small[:r.n]
}

// Check decides r under every rule, counting it as the Limiter does. The
// error is the backend's when it could not decide (ErrUnavailable or the
// cause); res.Allowed is then false.
func (s *Stage) Check(r *http.Request, res *Result) error {
	*res = Result{Allowed: true, n: len(s.policies)}
	rules := res.small[:0]
	if len(s.policies) > len(res.small) {
		res.more = make([]RuleResult, len(s.policies))
		rules = res.more
	} else {
		rules = rules[:len(s.policies)]
	}
	for _, g := range s.groups {
		gp := g.policies
		if s.ov != nil {
			gp = s.ov.apply(identity.From(r.Context()), gp)
			res.Overridden = res.Overridden || &gp[0] != &g.policies[0]
		}
		ds, err := s.o.Limiter.Allow(r.Context(), BuildKey(r, s.o.Route, g.key), gp)
		if err != nil {
			res.Allowed = false
			return err
		}
		for j, d := range ds {
			q := d.Policy.Limit
			d.Policy = g.policies[j] // report under the configured policy
			rules[g.index[j]] = RuleResult{Decision: d, Quota: q}
			if !d.Allowed {
				res.Allowed = false
				res.RetryAfter = max(res.RetryAfter, d.RetryAfter)
			}
		}
	}
	return nil
}

// Wrap returns the stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	o := &s.o
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var res Result
		if err := s.Check(r, &res); err != nil {
			if o.OnError != nil {
				o.OnError(err)
			}
			w.Header().Set("Retry-After", "1")
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "rate limiting is unavailable; try again shortly").Wrap(err))
			return
		}
		rules := res.Rules()
		if o.OnDecision != nil {
			for i := range rules {
				o.OnDecision(rules[i].Policy.Name, rules[i].Allowed)
			}
		}
		if show(o.Headers, r) {
			h := w.Header()
			h["Ratelimit-Policy"] = s.policyHeader
			if res.Overridden {
				h["Ratelimit-Policy"] = []string{policyField(rules, s.shown)}
			}
			h["Ratelimit"] = []string{rateLimitField(rules, s.shown)}
		}
		if !res.Allowed {
			w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(res.RetryAfter), 10))
			problem.Write(w, r, problem.New(http.StatusTooManyRequests, problem.TypeQuotaExceeded, "too many requests: the rate limit of this route is exhausted"))
			return
		}
		next.ServeHTTP(w, r)
	})
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
func policyField(rules []RuleResult, shown map[*Policy]string) string {
	var b []byte
	for i := range rules {
		if i > 0 {
			b = append(b, ", "...)
		}
		p := rules[i].Policy
		b = append(b, shown[p]...)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, rules[i].Quota, 10)
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
func rateLimitField(rules []RuleResult, shown map[*Policy]string) string {
	var buf [128]byte
	b := buf[:0]
	for i := range rules {
		if i > 0 {
			b = append(b, ", "...)
		}
		d := &rules[i]
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

// Concurrency limits the requests in flight per key on this instance. The
// zero value with a Limit is usable; safe for concurrent use.
type Concurrency struct {
	Route string // the route name, for PartRoute keys
	Name  string
	Limit int
	Key   []string
	mu    sync.Mutex
	m     map[string]int
}

// Acquire counts r in flight and returns its key, or reports false (and
// counts nothing) when Limit requests of that key are in flight. Every
// acquired key must be released once.
func (c *Concurrency) Acquire(r *http.Request) (string, bool) {
	key := BuildKey(r, c.Route, c.Key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	if c.m[key] >= c.Limit {
		return "", false
	}
	c.m[key]++
	return key, true
}

// Release ends one request of key in flight.
func (c *Concurrency) Release(key string) {
	c.mu.Lock()
	if c.m[key]--; c.m[key] <= 0 {
		delete(c.m, key)
	}
	c.mu.Unlock()
}

// Wrap returns the stage: a request over the limit gets 429.
func (c *Concurrency) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := c.Acquire(r)
		if !ok {
			w.Header().Set("Retry-After", "1")
			problem.Write(w, r, problem.New(http.StatusTooManyRequests, problem.TypeQuotaExceeded, "too many requests in flight for this caller"))
			return
		}
		defer c.Release(key)
		next.ServeHTTP(w, r)
	})
}
