package policy

import (
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
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

// Wrap returns the authorization stage: a denied request gets a 403
// problem that reveals no policy; onDecision is told every decision (for
// the access log and audit).
func Wrap(e *Engine, rt *Route, now func() time.Time, onDecision func(*http.Request, Decision)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			in := rt.Input(r, now())
			var d Decision
			if rt.Fetch != nil {
				attrs, err := rt.Fetch.Fetch(r.Context(), r)
				if err != nil {
					d = Decision{Errors: []string{err.Error()}}
					if onDecision != nil {
						onDecision(r, d)
					}
					problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "the request is not allowed").Wrap(err))
					return
				}
				for k, v := range attrs {
					in.Resource.Attrs[k] = v
				}
			}
			d = e.Decide(in)
			if onDecision != nil {
				onDecision(r, d)
			}
			if !d.Allowed {
				problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "the request is not allowed"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
