package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/authn/credential"
	"github.com/gatehouse-dev/gatehouse/authn/keyauth"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/store"
)

// AdminRole is the role an API key needs to use the admin API (CFG-01:
// there are no default credentials; `gatehouse keys create --admin`
// bootstraps the first such key).
const AdminRole = "gatehouse:admin"

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 64 << 10

// keysAPI serves /v1/keys.
type keysAPI struct {
	m   *apikey.Manager
	now func() time.Time
}

func (a *keysAPI) register(mux *http.ServeMux, admin func(adminHandler) http.HandlerFunc) {
	mux.HandleFunc("POST /v1/keys", admin(a.create))
	mux.HandleFunc("GET /v1/keys", admin(a.list))
	mux.HandleFunc("GET /v1/keys/{id}", admin(a.get))
	mux.HandleFunc("POST /v1/keys/{id}/rotate", admin(a.rotate))
	mux.HandleFunc("POST /v1/keys/{id}/revoke", admin(a.revoke))
	mux.HandleFunc("DELETE /v1/keys/{id}", admin(a.revoke))
}

type adminHandler func(w http.ResponseWriter, r *http.Request, actor string)

// adminAuth authenticates admin calls: an API key in the Authorization
// header with AdminRole, checked by the same authenticator (and answered
// with the same problems) as the gateway's routes.
func adminAuth(m *apikey.Manager) func(adminHandler) http.HandlerFunc {
	auth := &keyauth.Authenticator{Manager: m, Headers: []string{keyauth.HeaderAuthorization}, Roles: []string{AdminRole}, Realm: "gatehouse-admin"}
	return func(h adminHandler) http.HandlerFunc {
		return credential.Wrap(auth, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h(w, r, "admin-key:"+identity.From(r.Context()).KeyID)
		})).ServeHTTP
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "invalid JSON body: "+safeJSONError(err)).Wrap(err))
		return false
	}
	return true
}

// safeJSONError describes a JSON decoding error without echoing input.
func safeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.As(err, &mbe):
		return "body too large"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed"
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *keysAPI) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such key"))
	case errors.Is(err, store.ErrConflict):
		problem.Write(w, r, problem.New(http.StatusConflict, problem.TypeBase+"conflict", "the key is not in a state that allows this").Wrap(err))
	case errors.Is(err, apikey.ErrBadField):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, err.Error()))
	default:
		problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.TypeInternal, "the key could not be stored").Wrap(err))
	}
}

type createRequest struct {
	Name       string           `json:"name"`
	Owner      string           `json:"owner"`
	Tenant     string           `json:"tenant"`
	Roles      []string         `json:"roles"`
	Scopes     []string         `json:"scopes"`
	Attrs      map[string]any   `json:"attrs"`
	RateLimits map[string]int64 `json:"rate_limits"`
	ExpiresAt  *time.Time       `json:"expires_at"`
}

// create makes a new key; each request makes its own key (names need not
// be unique), and the plaintext is in this one answer only.
func (a *keysAPI) create(w http.ResponseWriter, r *http.Request, actor string) {
	var req createRequest
	if !decode(w, r, &req) {
		return
	}
	o := apikey.CreateOptions{Name: req.Name, Owner: req.Owner, Tenant: req.Tenant, Roles: req.Roles, Scopes: req.Scopes, Attrs: req.Attrs, RateLimits: req.RateLimits, Actor: actor}
	if req.ExpiresAt != nil {
		o.ExpiresAt = *req.ExpiresAt
	}
	plain, rec, err := a.m.Create(r.Context(), o)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	v := apikey.ViewOf(rec)
	v.Key = plain
	w.Header().Set("Location", "/v1/keys/"+rec.ID)
	reply(w, http.StatusCreated, v)
}

func (a *keysAPI) list(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	ks, err := a.m.List(r.Context(), store.KeyFilter{Owner: q.Get("owner"), Tenant: q.Get("tenant"), Status: q.Get("status")})
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	views := make([]apikey.View, len(ks))
	for i, k := range ks {
		views[i] = apikey.ViewOf(k)
	}
	reply(w, http.StatusOK, map[string]any{"keys": views})
}

func (a *keysAPI) get(w http.ResponseWriter, r *http.Request, _ string) {
	k, err := a.m.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	reply(w, http.StatusOK, apikey.ViewOf(k))
}

func (a *keysAPI) rotate(w http.ResponseWriter, r *http.Request, actor string) {
	var req struct {
		Grace string `json:"grace"`
	}
	if !decode(w, r, &req) {
		return
	}
	var grace time.Duration
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil || d < 0 || d > 90*24*time.Hour {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "grace must be a duration between 0 and 2160h"))
			return
		}
		grace = d
	}
	plain, rec, err := a.m.Rotate(r.Context(), r.PathValue("id"), grace, actor)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	v := apikey.ViewOf(rec)
	v.Key = plain
	reply(w, http.StatusCreated, v)
}

func (a *keysAPI) revoke(w http.ResponseWriter, r *http.Request, actor string) {
	id := r.PathValue("id")
	if err := a.m.Revoke(r.Context(), id, actor); err != nil {
		a.storeError(w, r, err)
		return
	}
	k, err := a.m.Get(r.Context(), id)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	reply(w, http.StatusOK, apikey.ViewOf(k))
}
