package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/apispec"
	"github.com/gatehouse-dev/gatehouse/authn/keyauth"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

//go:embed policies.cedar
var policies []byte

// Options are what the service is built from.
type Options struct {
	Keys      *apikey.Manager
	OpenAPI   string    // the OpenAPI document's file
	AccessLog io.Writer // one JSON line per request
	// PerKey is how many requests one API key may make per minute.
	PerKey int64
}

// newService returns the service's handler: its own ServeMux, each route
// behind API keys, a per-key rate limit, Cedar policies and OpenAPI
// validation, and the whole mux behind the edge stages. No gateway binary
// and no config file: the stages are plain net/http middleware.
func newService(o Options) (http.Handler, error) {
	engine, err := policy.Compile([]policy.File{{Name: "policies.cedar", Data: policies}})
	if err != nil {
		return nil, err
	}
	spec, err := apispec.Load(o.OpenAPI, apispec.Options{Strict: true})
	if err != nil {
		return nil, err
	}
	validate := apispec.NewStage(spec, apispec.StageOptions{Mode: apispec.Enforce})
	keys := &keyauth.Authenticator{Manager: o.Keys}
	perKey := ratelimit.NewStage(ratelimit.StageOptions{
		Route:   "orders",
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		Rules: []ratelimit.Rule{{Key: []string{ratelimit.PartAPIKey},
			Policy: ratelimit.Policy{Name: "per-key", Limit: o.PerKey, Window: time.Minute}}},
	})

	mux := http.NewServeMux()
	// route registers a handler behind the route stages, in the order a
	// Gatehouse route runs them: body limit, authenticate, rate limit by
	// key, authorize, validate.
	route := func(pattern, action string, h http.HandlerFunc) {
		authorize := &policy.Stage{Engine: engine, Route: &policy.Route{
			Name: action, Action: action, ResourceType: "Order", ResourceID: "{tenant}", Params: []string{"tenant"},
		}}
		mux.Handle(pattern, edge.Chain(h,
			edge.BodyLimit{Max: 16 << 10}.Wrap,
			keys.Wrap,
			perKey.Wrap,
			authorize.Wrap,
			validate.Wrap,
		))
	}
	route("GET /tenants/{tenant}/orders/{id}", "orders.read", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"tenant": r.PathValue("tenant"), "id": r.PathValue("id"), "item": "widget"})
	})
	route("POST /tenants/{tenant}/orders", "orders.create", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Item     string `json:"item"`
			Quantity int    `json:"quantity"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest) // validation let it through: never expected
			return
		}
		p := identity.From(r.Context())
		writeJSON(w, http.StatusCreated, map[string]any{"tenant": r.PathValue("tenant"), "item": in.Item, "quantity": in.Quantity, "created_by": p.Subject})
	})

	return edge.Chain(mux,
		edge.Recover{}.Wrap,
		edge.RequestID{}.Wrap,
		edge.AccessLog{Out: o.AccessLog, Enabled: o.AccessLog != nil}.Wrap,
		edge.SecurityHeaders{}.Wrap,
		edge.InboundHeaders{}.Wrap,
		(&edge.Limits{MaxHeaderBytes: 16 << 10}).Wrap,
	), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint("marshal: ", err)) // edge.Recover answers with a 500 problem
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
