package gatehouse

import (
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// compileRateLimit builds a route's rate-limit stages: one for the
// policies keyed by what is known before authentication, one for those
// keyed by the principal, and the concurrency limit.
func (s *snapshot) compileRateLimit(rc *Route) (pre, post, concurrency stage) {
	rl := rc.RateLimit
	headers := map[string]ratelimit.HeaderMode{"always": ratelimit.HeadersAlways, "authenticated": ratelimit.HeadersAuthenticated, "never": ratelimit.HeadersNever}[rl.Headers]
	var preRules, postRules []ratelimit.Rule
	counters := map[string][2]prometheus.Counter{}
	for _, p := range rl.Policies {
		// Buckets are per route unless shared: the policy name the backend
		// sees carries the route.
		bucket := rc.Name + "/" + p.Name
		if p.Shared {
			bucket = "shared/" + p.Name
		}
		rule := ratelimit.Rule{Policy: ratelimit.Policy{Name: bucket, Limit: int64(p.Limit), Window: p.Window.D(), Burst: int64(p.Burst), Failure: ratelimit.FailureMode(p.OnError)}, Key: p.Key}
		if p.Stage == "post_auth" {
			postRules = append(postRules, rule)
		} else {
			preRules = append(preRules, rule)
		}
		counters[bucket] = [2]prometheus.Counter{
			s.deps.Metrics.rlDecisions.WithLabelValues(rc.Name, p.Name, "limited"),
			s.deps.Metrics.rlDecisions.WithLabelValues(rc.Name, p.Name, "allowed"),
		}
	}
	onDecision := func(policy string, allowed bool) {
		c := counters[policy]
		if allowed {
			c[1].Inc()
		} else {
			c[0].Inc()
		}
	}
	onError := func(err error) {
		s.deps.Log.Warn("rate limiting unavailable; request refused (failure mode closed)", "route", rc.Name, "err", err)
	}
	build := func(rules []ratelimit.Rule, postAuth bool) stage {
		if len(rules) == 0 {
			return nil
		}
		return ratelimit.Stage(ratelimit.StageOptions{Route: rc.Name, Rules: rules, Limiter: s.deps.RateLimiter, Headers: headers,
			OnDecision: onDecision, OnError: onError, DisplayName: displayName, Overrides: postAuth})
	}
	pre, post = build(preRules, false), build(postRules, true)
	if cc := rl.Concurrency; cc != nil {
		concurrency = ratelimit.ConcurrencyStage(rc.Name, &ratelimit.Concurrency{Name: "concurrency", Limit: cc.Limit, Key: cc.Key})
	}
	return pre, post, concurrency
}

// displayName turns a bucket name (route/policy or shared/policy) back into
// the policy name clients see in the RateLimit headers.
func displayName(bucket string) string {
	for i := 0; i < len(bucket); i++ {
		if bucket[i] == '/' {
			return bucket[i+1:]
		}
	}
	return bucket
}
