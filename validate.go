package gatehouse

import (
	"net/http"
	"slices"

	"github.com/gatehouse-dev/gatehouse/apispec"
)

// compileValidate builds a route's OpenAPI stages: the request check and,
// when responses are checked, the response check.
func (s *snapshot) compileValidate(rc *Route, vc *Validate) (req, resp stage, err error) {
	spec := vc.spec
	if spec == nil { // a Config built in code, not by Load
		_, o := vc.options()
		if spec, err = apispec.Load(vc.OpenAPI, o); err != nil {
			return nil, nil, err
		}
	}
	mode, ok := apispec.ParseMode(vc.Mode)
	if !ok || mode == apispec.Off {
		mode = apispec.Enforce
	}
	respMode, _ := apispec.ParseMode(vc.Responses)
	counter := s.deps.Metrics.validation
	for _, m := range []string{"enforce", "report"} {
		counter.WithLabelValues(rc.Name, "body", m) // export zeros, so rates work from the start
	}
	opts := apispec.StageOptions{
		StripPrefix:      rc.Upstream.StripPrefix,
		MaxResponseBytes: int64(vc.MaxResponseBytes),
		OnViolation: func(r *http.Request, f *apispec.Failure, response, enforced bool) {
			m := "report"
			if enforced {
				m = "enforce"
			}
			var seen []string
			for _, v := range f.Violations {
				if !slices.Contains(seen, v.Location) {
					seen = append(seen, v.Location)
					counter.WithLabelValues(rc.Name, v.Location, m).Inc()
				}
			}
			id := ""
			if st := stateFrom(r); st != nil {
				id = st.id
			}
			switch {
			case response && enforced:
				s.deps.Log.Warn("upstream response fails the OpenAPI document; replaced by a 502", "route", rc.Name, "request_id", id, "violations", apispec.Describe(f.Violations))
			case response:
				s.deps.Log.Warn("upstream response fails the OpenAPI document (report mode: passed on)", "route", rc.Name, "request_id", id, "violations", apispec.Describe(f.Violations))
			case !enforced:
				s.deps.Log.Warn("request fails the OpenAPI document (report mode: passed on)", "route", rc.Name, "request_id", id, "status", f.Status, "violations", apispec.Describe(f.Violations))
			}
		},
	}
	req = spec.Requests(mode, opts)
	if respMode != apispec.Off {
		resp = spec.Responses(respMode, opts)
	}
	return req, resp, nil
}
