package gatehouse

import (
	"fmt"
	"net/http"
	"strings"
)

type muxError struct{ path, msg string }

// patterns returns the ServeMux patterns of one route: one per method, or one
// without a method when the route allows all methods.
func patterns(rt *Route) []string {
	hostPath := rt.Match.Host + rt.Match.Path
	if len(rt.Match.Methods) == 0 {
		return []string{hostPath}
	}
	ps := make([]string, len(rt.Match.Methods))
	for i, m := range rt.Match.Methods {
		ps[i] = m + " " + hostPath
	}
	return ps
}

// buildMux registers every route on a new ServeMux. ServeMux panics on an
// invalid or conflicting pattern; that panic becomes a config error naming
// the route, so a bad config never crashes the gateway.
func buildMux(routes []Route, handler func(i int) http.Handler) (mux *http.ServeMux, merr *muxError) {
	mux = http.NewServeMux()
	owner := map[string]int{}
	for i := range routes {
		h := handler(i)
		for _, p := range patterns(&routes[i]) {
			func() {
				defer func() {
					if v := recover(); v != nil {
						msg := fmt.Sprint(v)
						// Name the other route instead of its pattern alone.
						for op, j := range owner {
							if strings.Contains(msg, "pattern \""+op+"\"") || strings.Contains(msg, op) && j != i {
								msg = fmt.Sprintf("%s (routes[%d] %q)", msg, j, routes[j].Name)
								break
							}
						}
						merr = &muxError{path: fmt.Sprintf("routes[%d].match", i), msg: "route conflicts or is invalid: " + msg}
					}
				}()
				mux.Handle(p, h)
				owner[p] = i
			}()
			if merr != nil {
				return nil, merr
			}
		}
	}
	return mux, nil
}

// oauthRoute names the built-in authorization server's endpoints in logs
// and metrics.
const oauthRoute = "gatehouse-oauth"

// registerInternal puts the gateway's own endpoints on the mux. A user
// route that takes one of their patterns is a config error.
func registerInternal(mux *http.ServeMux, patterns []string, h http.Handler) (err error) {
	for _, p := range patterns {
		func() {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("routes: a route conflicts with the built-in endpoint %q: %v", p, v)
				}
			}()
			mux.Handle(p, h)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
