package secaudit

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

var authorizationChecks = []check{
	{finding.Rule{
		ID: "GH-AZ-1", Severity: finding.Critical,
		Title: "Route with path parameters authenticates but never authorizes",
		Why: "Any authenticated caller can name any object id in the path: one tenant reads, changes or deletes " +
			"another's objects (broken object level authorization, OWASP API1). Authentication says who calls, not what they may touch.",
		Fix:  "Add authorize with a resource built from the path parameter (resource: {type: Order, id: \"{id}\"}, with fetch for owner/tenant) and a policy that compares principal and resource.",
		Refs: []string{"AZ-01", "AZ-03", "OWASP API1:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if authenticated(r) && r.Authorize == nil && namesObjects(r.Match.Path) {
				a.at(p, "route %s authenticates but has no authorize: any caller reaches any %s", describe(r), r.Match.Path)
			}
		})
	}},
	{finding.Rule{
		ID: "GH-AZ-2", Severity: finding.High,
		Title: "Route that writes authenticates but never authorizes",
		Why: "Every authenticated caller may create, replace or delete through it, whatever its role, tenant or scopes " +
			"(broken function level authorization, OWASP API5).",
		Fix:  "Add authorize with an action for the operation and a policy that says who may perform it.",
		Refs: []string{"AZ-01", "OWASP API5:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if w := writes(r); authenticated(r) && r.Authorize == nil && !namesObjects(r.Match.Path) && len(w) > 0 {
				a.at(p, "route %s allows %s to any authenticated caller: it has no authorize", describe(r), strings.Join(w, ", "))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-AZ-3", Severity: finding.High,
		Title: "Cedar permit without any condition on principal or resource",
		Why: "A permit whose principal and resource scopes name no entity and that has no when/unless clause allows its " +
			"action to every caller on every object: default deny is switched off for that action.",
		Fix:  "Constrain the principal (principal in Gatehouse::Role::\"...\") or the resource, or add a when clause (principal.tenant == resource.tenant).",
		Refs: []string{"AZ-01", "AZ-02"},
	}, func(a *auditor) {
		e := a.policyEngine()
		if e == nil {
			return
		}
		for _, s := range e.Summaries() {
			if s.Permit && s.AnyPrincipal && s.AnyResource && s.Conditions == s.TrivialConditions {
				what := "action " + strings.Join(s.Actions, ", ")
				if s.AnyAction {
					what = "every action"
				}
				a.atFile(s.File, s.Line, "policy %q permits %s to any principal on any resource, unconditionally", s.ID, what)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-AZ-4", Severity: finding.Medium,
		Title: "Route asks about an action no permit policy mentions",
		Why: "No permit can match the action, so every request of the route is denied: usually a typo in the action or " +
			"the policy, found in production by users instead of by the audit.",
		Fix:  "Write a policy for the action, or correct the route's authorize.action to the name the policies use.",
		Refs: []string{"AZ-01"},
	}, func(a *auditor) {
		e := a.policyEngine()
		if e == nil {
			return
		}
		a.routes(func(p string, r *gatehouse.Route) {
			if r.Authorize == nil {
				return
			}
			for _, act := range action(r) {
				if !e.Permits(act) {
					a.at(p+".authorize", "route %s asks about action %q, which no permit policy mentions: it is always denied", describe(r), act)
				}
			}
		})
	}},
	{finding.Rule{
		ID: "GH-AZ-5", Severity: finding.Low,
		Title: "Policies are not type-checked against a schema",
		Why: "Without a schema a policy reading a misspelt attribute (principal.tennant) or a wrong entity type " +
			"still loads; it silently never matches, or errors at request time.",
		Fix:  "Write a Cedar schema of the Gatehouse entities and set policy_schema: the load then fails on any policy that does not type-check.",
		Refs: []string{"AZ-01", "AZ-02"},
	}, func(a *auditor) {
		if len(a.cfg.Policies) > 0 && a.cfg.PolicySchema == "" {
			a.at("policies", "%d policy file(s) load without policy_schema: their types are never checked", len(a.cfg.Policies))
		}
	}},
	{finding.Rule{
		ID: "GH-AZ-6", Severity: finding.Medium,
		Title: "Route authorizes anonymous callers",
		Why: "A route with authorize but without auth decides for the anonymous principal: a policy written for " +
			"callers with a tenant or role either denies everything or, if it tests nothing of the principal, permits everyone.",
		Fix:  "Add auth to the route, or mark it public and drop authorize if it is meant for everyone.",
		Refs: []string{"AZ-01"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.Authorize != nil && !authenticated(r) {
				a.at(p+".authorize", "route %s authorizes without authenticating: the principal is always anonymous", describe(r))
			}
		})
	}},
}

// namesObjects reports whether a route's path pattern reaches more than
// one path: a wildcard ({id}, {path...}; not the {$} end marker) or a
// trailing slash, which in ServeMux patterns matches the whole subtree
// (/orders/ matches /orders/3).
func namesObjects(path string) bool {
	return strings.Contains(strings.ReplaceAll(path, "{$}", ""), "{") || strings.HasSuffix(path, "/")
}
