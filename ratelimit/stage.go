package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
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
			if equalParts(groups[g].key, r.Key) {
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
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var small [4]Decision
			decisions := small[:0]
			if len(policies) > len(small) {
				decisions = make([]Decision, 0, len(policies))
			}
			decisions = decisions[:len(policies)]
			for _, g := range groups {
				ds, err := o.Limiter.Allow(r.Context(), BuildKey(r, o.Route, g.key), g.policies)
				if err != nil {
					if o.OnError != nil {
						o.OnError(err)
					}
					w.Header().Set("Retry-After", "1")
					problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "rate limiting is unavailable; try again shortly").Wrap(err))
					return
				}
				for j, d := range ds {
					decisions[g.index[j]] = d
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

func show(m HeaderMode, r *http.Request) bool {
	switch m {
	case HeadersNever:
		return false
	case HeadersAuthenticated:
		return !identity.From(r.Context()).Anonymous()
	}
	return true
}

func equalParts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
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
