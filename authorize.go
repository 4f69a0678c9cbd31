package gatehouse

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/proxy"
)

// loadPolicies reads and compiles the policy files; any error fails the
// load or reload as a whole, so the previous policies keep deciding.
func loadPolicies(paths []string, groups map[string][]string) (*policy.Engine, error) {
	files := make([]policy.File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policies: %w", err)
		}
		files = append(files, policy.File{Name: p, Data: data})
	}
	e, err := policy.WithActionGroups(files, groups)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	return e, nil
}

// compileAuthorize builds a route's authorization stage.
func (s *snapshot) compileAuthorize(rc *Route, a *Authorize) (stage, error) {
	rt := &policy.Route{Name: rc.Name, Action: a.Action, Headers: a.Headers}
	for _, m := range wildcardRE.FindAllString(rc.Match.Path, -1) {
		rt.Params = append(rt.Params, strings.TrimSuffix(strings.Trim(m, "{}"), "..."))
	}
	if res := a.Resource; res != nil {
		rt.ResourceType, rt.ResourceID, rt.Attrs = res.Type, res.ID, res.Attrs
		if f := res.Fetch; f != nil {
			timeout := f.Timeout.D()
			if timeout <= 0 {
				timeout = time.Second
			}
			// A shared transport, retained across reloads like the
			// upstreams' (CFG-04).
			tr, key, err := s.deps.Transports.Get(proxy.TransportOptions{DialTimeout: timeout, TLSHandshakeTimeout: timeout,
				ResponseHeaderTimeout: timeout, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 16})
			if err != nil {
				return nil, err
			}
			s.transports[key] = true
			rt.Fetch = policy.NewFetcher(f.URL, f.Attrs, timeout, f.CacheTTL.D(), s.deps.Now, tr)
		}
	}
	return policy.Wrap(s.policies, rt, s.deps.Now, func(r *http.Request, d policy.Decision) {
		st := stateFrom(r)
		if st != nil {
			st.decision = &d
		}
		if !d.Allowed {
			actor := "anonymous"
			if p := identity.From(r.Context()); !p.Anonymous() {
				actor = string(p.Kind) + ":" + p.Subject
			}
			attrs := map[string]string{"route": rc.Name, "policies": strings.Join(d.Policies, ",")}
			if st != nil {
				attrs["request_id"] = st.id
			}
			s.deps.Events.Record(r.Context(), audit.Event{Time: s.deps.Now(), Type: "authz.denied", Actor: actor, Object: r.URL.Path, Outcome: "denied", Attrs: attrs})
		}
		if len(d.Errors) > 0 {
			s.deps.Log.Debug("policy evaluation errors (they deny)", "route", rc.Name, "errors", d.Errors)
		}
	}), nil
}
