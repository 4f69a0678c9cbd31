package gatehouse

import (
	"net/http"
	"testing"
)

// gatehouse_requests_in_flight counts the requests being served: one
// while the upstream holds a request, none after.
func TestRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	g := startGateway(t, routeYAML(up.URL, ""))
	inflight := func() float64 {
		mfs, err := g.gw.Metrics().Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "gatehouse_requests_in_flight" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("gatehouse_requests_in_flight is not exported")
		return 0
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := http.Get(g.srv.URL + "/api/orders")
		if err == nil {
			res.Body.Close()
		}
	}()
	<-entered
	if n := inflight(); n != 1 {
		t.Errorf("in flight while the upstream holds the request: %v", n)
	}
	close(release)
	<-done
	if n := inflight(); n != 0 {
		t.Errorf("in flight after the response: %v", n)
	}
}
