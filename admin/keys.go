package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
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
type keysAPI struct{ m *apikey.Manager }

func (a *keysAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/keys", a.admin(a.create))
	mux.HandleFunc("GET /v1/keys", a.admin(a.list))
	mux.HandleFunc("GET /v1/keys/{id}", a.admin(a.get))
	mux.HandleFunc("POST /v1/keys/{id}/rotate", a.admin(a.rotate))
	mux.HandleFunc("POST /v1/keys/{id}/revoke", a.admin(a.revoke))
	mux.HandleFunc("DELETE /v1/keys/{id}", a.admin(a.revoke))
}

type adminHandler func(w http.ResponseWriter, r *http.Request, actor string)

// admin authenticates the caller with an API key that has AdminRole.
func (a *keysAPI) admin(h adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("Authorization")
		if len(v) < 8 || !strings.EqualFold(v[:7], "bearer ") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.TypeUnauthorized, "an admin API key is required (Authorization: Bearer)"))
			return
		}
		rec, err := a.m.Verify(r.Context(), strings.TrimSpace(v[7:]))
		switch {
		case errors.Is(err, apikey.ErrUnavailable):
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "the key store is unreachable").Wrap(err))
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token"`)
			problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.TypeUnauthorized, "the API key is not valid").Wrap(err))
			return
		case !slices.Contains(rec.Roles, AdminRole):
			problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "this key may not use the admin API").Wrap(fmt.Errorf("key %s lacks role %s", rec.ID, AdminRole)))
			return
		}
		h(w, r, "admin-key:"+rec.ID)
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
