package admin

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// decideHandler serves POST /v1/decide: a policy.Query as JSON in, the
// decision (allow or deny, deciding policies, evaluation errors) out, for
// other proxies and services that want the gateway's policies.
func decideHandler(decide func(policy.Input) policy.Decision) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, _ string) {
		var q policy.Query
		if !decode(w, r, &q) {
			return
		}
		in, bad := q.Input()
		if bad != "" {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, bad))
			return
		}
		d := decide(in)
		reply(w, http.StatusOK, map[string]any{
			"decision": map[bool]string{true: "allow", false: "deny"}[d.Allowed],
			"policies": nonNil(d.Policies),
			"errors":   nonNil(d.Errors),
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
