package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/store"
)

// clientsAPI serves /v1/clients: the built-in OAuth server's clients.
type clientsAPI struct {
	st  store.OAuthClients
	now func() time.Time
}

type clientRequest struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Public       bool     `json:"public"`
	RedirectURIs []string `json:"redirect_uris"`
	Grants       []string `json:"grants"`
	Scopes       []string `json:"scopes"`
	Audiences    []string `json:"audiences"`
	Roles        []string `json:"roles"`
	Tenant       string   `json:"tenant"`
}

func (a *clientsAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such client"))
	case errors.Is(err, store.ErrConflict):
		problem.Write(w, r, problem.New(http.StatusConflict, problem.TypeBase+"conflict", "a client with this id exists").Wrap(err))
	case errors.Is(err, oauth.ErrBadClient):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, err.Error()))
	default:
		problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.TypeInternal, "the client could not be stored").Wrap(err))
	}
}

// create registers a client; the secret is in this answer only.
func (a *clientsAPI) create(w http.ResponseWriter, r *http.Request, _ string) {
	var req clientRequest
	if !decode(w, r, &req) {
		return
	}
	c, secret, err := oauth.CreateClient(r.Context(), a.st, oauth.ClientOptions{ID: req.ID, Name: req.Name, Public: req.Public,
		RedirectURIs: req.RedirectURIs, Grants: req.Grants, Scopes: req.Scopes,
		Audiences: req.Audiences, Roles: req.Roles, Tenant: req.Tenant}, a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := oauth.ViewClient(c)
	v.Secret = secret
	w.Header().Set("Location", "/v1/clients/"+c.ID)
	reply(w, http.StatusCreated, v)
}

func (a *clientsAPI) list(w http.ResponseWriter, r *http.Request, _ string) {
	cs, err := a.st.ListClients(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]oauth.ClientView, len(cs))
	for i, c := range cs {
		out[i] = oauth.ViewClient(c)
	}
	reply(w, http.StatusOK, map[string]any{"clients": out})
}

func (a *clientsAPI) get(w http.ResponseWriter, r *http.Request, _ string) {
	c, err := a.st.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, oauth.ViewClient(c))
}

func (a *clientsAPI) rotate(w http.ResponseWriter, r *http.Request, _ string) {
	secret, err := oauth.RotateSecret(r.Context(), a.st, r.PathValue("id"), a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.st.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := oauth.ViewClient(c)
	v.Secret = secret
	reply(w, http.StatusOK, v)
}

func (a *clientsAPI) setDisabled(disabled bool) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, _ string) {
		c, err := a.st.UpdateClient(r.Context(), r.PathValue("id"), func(c *store.OAuthClient) error {
			c.Disabled, c.UpdatedAt = disabled, a.now()
			return nil
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		reply(w, http.StatusOK, oauth.ViewClient(c))
	}
}

func (a *clientsAPI) delete(w http.ResponseWriter, r *http.Request, _ string) {
	if err := a.st.DeleteClient(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
