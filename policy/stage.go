package policy

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/record"
)

// Route says how a route's requests become policy inputs.
type Route struct {
	Name   string
	Action string // default: "<METHOD> <route>"
	// ResourceType and ResourceID (a literal or "{param}") name the
	// resource; empty type means Gatehouse::Route::"<route>".
	ResourceType string
	ResourceID   string
	// Params are the route's path wildcards, given to the resource as
	// attributes; Attrs maps more attribute names to "{param}" or literals.
	Params  []string
	Attrs   map[string]string
	Headers []string // request headers the policies may see
	// Fetch, when set, adds attributes loaded from an upstream; they win
	// over path-derived ones. A failed fetch denies.
	Fetch *Fetcher
}

func expand(r *http.Request, v string) string {
	if len(v) > 2 && v[0] == '{' && v[len(v)-1] == '}' {
		return r.PathValue(v[1 : len(v)-1])
	}
	return v
}

// Input builds the policy input of a request on this route.
func (rt *Route) Input(r *http.Request, now time.Time) Input {
	in := Input{
		Principal: identity.From(r.Context()),
		Action:    rt.Action,
		Method:    r.Method,
		Path:      r.URL.Path,
		IP:        clientip.From(r.Context()),
		Time:      now,
		Resource:  Resource{Type: rt.ResourceType, ID: rt.Name, Attrs: map[string]string{}},
	}
	if in.Action == "" {
		in.Action = r.Method + " " + rt.Name
	}
	if rt.ResourceID != "" {
		in.Resource.ID = expand(r, rt.ResourceID)
	}
	for _, p := range rt.Params {
		in.Resource.Attrs[p] = r.PathValue(p)
	}
	for k, v := range rt.Attrs {
		in.Resource.Attrs[k] = expand(r, v)
	}
	if len(rt.Headers) > 0 {
		in.Headers = map[string]string{}
		for _, h := range rt.Headers {
			if v := r.Header.Get(h); v != "" {
				if len(v) > 1024 {
					v = v[:1024]
				}
				in.Headers[strings.ToLower(h)] = v
			}
		}
	}
	return in
}

// Stage is the authorization stage of one route: Check decides, Wrap
// refuses what Check denies with a 403 problem that reveals no policy. A
// zero Engine denies everything. Immutable; safe for concurrent use.
type Stage struct {
	Engine *Engine
	Route  *Route
	Now    func() time.Time // nil: time.Now
	// Events, when set, receives an authz.denied event for every denial
	// (actor, route, deciding policies, request id).
	Events audit.Sink
	// Log, when set, gets policy evaluation errors (they deny) at debug
	// level.
	Log *slog.Logger
}

// Check decides r. A failed attribute fetch is returned as the error,
// with a denying decision that carries it.
func (s *Stage) Check(r *http.Request) (Decision, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	in := s.Route.Input(r, now())
	if s.Route.Fetch != nil {
		attrs, err := s.Route.Fetch.Fetch(r.Context(), r)
		if err != nil {
			return Decision{Errors: []string{err.Error()}}, err
		}
		for k, v := range attrs {
			in.Resource.Attrs[k] = v
		}
	}
	return s.Engine.Decide(in), nil
}

// Wrap returns the stage; every decision goes into the request record
// (record.From).
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Check(r)
		rec := record.From(r.Context())
		rec.SetDecision(record.Decision{Allowed: d.Allowed, Policies: d.Policies, Errors: d.Errors})
		if !d.Allowed && s.Events != nil {
			s.denied(r, rec.RequestID(), d)
		}
		if len(d.Errors) > 0 && s.Log != nil {
			s.Log.Debug("policy evaluation errors (they deny)", "route", s.Route.Name, "errors", d.Errors)
		}
		if !d.Allowed {
			p := problem.New(http.StatusForbidden, problem.TypeForbidden, "the request is not allowed")
			if err != nil {
				p = p.Wrap(err)
			}
			problem.Write(w, r, p)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Stage) denied(r *http.Request, requestID string, d Decision) {
	actor := "anonymous"
	if p := identity.From(r.Context()); !p.Anonymous() {
		actor = string(p.Kind) + ":" + p.Subject
	}
	attrs := map[string]string{"route": s.Route.Name, "policies": strings.Join(d.Policies, ",")}
	if requestID != "" {
		attrs["request_id"] = requestID
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.Events.Record(r.Context(), audit.Event{Time: now(), Type: "authz.denied", Actor: actor, Object: r.URL.Path, Outcome: "denied", Attrs: attrs})
}
