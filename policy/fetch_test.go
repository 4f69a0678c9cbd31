package policy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
)

func TestFetchedAttributes(t *testing.T) {
	var hits atomic.Int64
	var lastPath atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		lastPath.Store(r.URL.EscapedPath())
		if r.URL.Path != "/orders/1" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"id":"1","owner":"alice","tenant":"acme","secret":"not taken"}`)
	}))
	defer up.Close()
	e, err := Compile([]File{{Name: "o.cedar", Data: []byte(`@id("owner") permit (principal, action == Gatehouse::Action::"orders.update", resource is Gatehouse::Order)
		when { resource has owner && principal.subject == resource.owner && !(resource has secret) };`)}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rt := &Route{Name: "upd", Action: "orders.update", ResourceType: "Order", ResourceID: "{id}", Params: []string{"id"},
		Fetch: NewFetcher(up.URL+"/orders/{id}", []string{"owner", "tenant"}, time.Second, time.Minute, func() time.Time { return now }, nil)}
	mux := http.NewServeMux()
	mux.Handle("PUT /orders/{id}", (&Stage{Engine: e, Route: rt, Now: time.Now}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })))
	put := func(p *identity.Principal, path string) int {
		req := httptest.NewRequest("PUT", path, nil)
		req = req.WithContext(identity.With(req.Context(), p))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := put(alice, "/orders/1"); c != 204 {
		t.Errorf("owner: %d", c)
	}
	if c := put(carol, "/orders/1"); c != 403 {
		t.Errorf("not the owner: %d", c)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("fetches %d, want 1 (cached)", n)
	}
	if c := put(alice, "/orders/2"); c != 403 {
		t.Errorf("resource the upstream does not know: %d", c)
	}
	if c := put(alice, "/orders/1%2F..%2Fadmin"); c != 403 || lastPath.Load() != "/orders/1%2F..%2Fadmin" {
		t.Errorf("path parameter not escaped: %d %v", c, lastPath.Load())
	}
	up.Close()
	rt.Fetch = NewFetcher(up.URL+"/orders/{id}", []string{"owner"}, 200*time.Millisecond, time.Minute, nil, nil)
	mux = http.NewServeMux()
	mux.Handle("PUT /orders/{id}", (&Stage{Engine: e, Route: rt, Now: time.Now}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })))
	if c := put(alice, "/orders/1"); c != 403 {
		t.Errorf("upstream down: %d, want deny", c)
	}
}
