package secaudit

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

var rateLimitChecks = []check{
	{finding.Rule{
		ID: "GH-RL-1", Severity: finding.High,
		Title: "No per-address limit on the token endpoint and sign-in",
		Why: "/oauth2/token and the sign-in page check secrets and passwords: unlimited, they invite credential stuffing " +
			"and burn CPU on hashing for anyone who asks.",
		Fix:  "Remove oauth.rate_limit.off (default: 60 requests per minute per address).",
		Refs: []string{"RL-03", "RL-06"},
	}, func(a *auditor) {
		if o := a.cfg.OAuth; o != nil && o.RateLimit != nil && o.RateLimit.Off {
			a.at("oauth.rate_limit.off", "the OAuth endpoints and sign-in take unlimited requests per address")
		}
	}},
	{finding.Rule{
		ID: "GH-RL-2", Severity: finding.Medium,
		Title: "Authenticated route without a rate limit",
		Why:   "One key or token can send as many requests as the upstream survives: scraping, enumeration of ids and cost attacks (OWASP API4).",
		Fix:   "Add rate_limit.policies, keyed by api_key, subject or tenant (post-auth) and by ip (pre-auth).",
		Refs:  []string{"RL-03", "OWASP API4:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if authenticated(r) && !limited(r) {
				a.at(p, "route %s has no rate limit", describe(r))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-RL-3", Severity: finding.Medium,
		Title: "Rate limits fail open",
		Why:   "With on_error: open, an attacker who slows or floods Redis switches every limit off.",
		Fix:   "Use on_error: local (per-instance limits while Redis is away, the default) or closed.",
		Refs:  []string{"RL-05"},
	}, func(a *auditor) {
		if a.cfg.RateLimit.Backend == "redis" && a.cfg.RateLimit.OnError == "open" {
			a.at("rate_limit.on_error", "every limit admits all requests while Redis cannot decide")
		}
		a.routes(func(p string, r *gatehouse.Route) {
			if r.RateLimit == nil {
				return
			}
			for i, pol := range r.RateLimit.Policies {
				if pol.OnError == "open" {
					a.at(fmt.Sprintf("%s.rate_limit.policies[%d].on_error", p, i), "policy %q of route %s admits all requests while Redis cannot decide", pol.Name, describe(r))
				}
			}
		})
	}},
	{finding.Rule{
		ID: "GH-RL-4", Severity: finding.Medium,
		Title: "Several instances count limits in memory",
		Why:   "With the memory backend each instance counts apart: N instances admit N times every limit.",
		Fix:   "Set rate_limit.backend: redis so every instance shares one counter.",
		Refs:  []string{"RL-04"},
	}, func(a *auditor) {
		if a.cfg.RateLimit.Backend != "redis" && a.cfg.RateLimit.Instances > 1 {
			a.at("rate_limit.instances", "%d instances each admit every limit in full", a.cfg.RateLimit.Instances)
		}
	}},
	{finding.Rule{
		ID: "GH-RL-5", Severity: finding.Low,
		Title: "Public route without a rate limit",
		Why:   "Routes without credentials are the cheapest to flood and to enumerate: nothing ties requests to a caller but the address.",
		Fix:   "Add a rate_limit policy keyed by ip.",
		Refs:  []string{"RL-03"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if !authenticated(r) && r.Public && !limited(r) {
				a.at(p, "public route %s has no rate limit", describe(r))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-RL-6", Severity: finding.Low,
		Title: "Burst above the limit",
		Why:   "A burst larger than the limit admits more requests at once than the whole window allows: the limit no longer bounds a spike.",
		Fix:   "Set burst at or below limit (default: limit).",
		Refs:  []string{"RL-01"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.RateLimit == nil {
				return
			}
			for i, pol := range r.RateLimit.Policies {
				if pol.Burst > pol.Limit {
					a.at(fmt.Sprintf("%s.rate_limit.policies[%d].burst", p, i), "policy %q admits %d at once for a limit of %d", pol.Name, pol.Burst, pol.Limit)
				}
			}
		})
	}},
}

func limited(r *gatehouse.Route) bool {
	return r.RateLimit != nil && (len(r.RateLimit.Policies) > 0 || r.RateLimit.Concurrency != nil)
}
