package admin

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store"
)

// tokensAPI serves /v1/tokens: revocation of JWT access tokens (by jti) and
// of every token of a subject, for each issuer (JWT-09).
type tokensAPI struct {
	l   *revocation.List
	now func() time.Time
}

// DefaultRevocationFor is how long a revocation lasts when the request does
// not say: longer than any access token lifetime worth accepting.
const DefaultRevocationFor = 24 * time.Hour

type revokeRequest struct {
	Issuer  string     `json:"issuer"`
	JTI     string     `json:"jti"`
	Subject string     `json:"subject"`
	Until   *time.Time `json:"until"`
	Reason  string     `json:"reason"`
}

type revokedToken struct {
	Issuer    string    `json:"issuer"`
	JTI       string    `json:"jti,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Until     time.Time `json:"until"`
	CreatedAt time.Time `json:"created_at"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
}

func view(r *store.RevokedToken) revokedToken {
	return revokedToken{Issuer: r.Issuer, JTI: r.JTI, Subject: r.Subject, Until: r.Until.UTC(), CreatedAt: r.CreatedAt.UTC(), Actor: r.Actor, Reason: r.Reason}
}

func (a *tokensAPI) revoke(w http.ResponseWriter, r *http.Request, actor string) {
	var req revokeRequest
	if !decode(w, r, &req) {
		return
	}
	bad := func(msg string) {
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, msg))
	}
	switch {
	case req.Issuer == "":
		bad("issuer is required")
		return
	case (req.JTI == "") == (req.Subject == ""):
		bad("give exactly one of jti (one token) and subject (every token of a user or client)")
		return
	case len(req.Issuer) > 512 || len(req.JTI) > 256 || len(req.Subject) > 256 || len(req.Reason) > 512:
		bad("a field is too long")
		return
	}
	now := a.now()
	until := now.Add(DefaultRevocationFor)
	if req.Until != nil {
		if !req.Until.After(now) {
			bad("until must be in the future")
			return
		}
		until = *req.Until
	}
	rec := &store.RevokedToken{Issuer: req.Issuer, JTI: req.JTI, Subject: req.Subject, Until: until, CreatedAt: now, Actor: actor, Reason: req.Reason}
	if err := a.l.Revoke(r.Context(), rec); err != nil {
		problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.TypeInternal, "the revocation could not be stored").Wrap(err))
		return
	}
	reply(w, http.StatusCreated, view(rec))
}

func (a *tokensAPI) list(w http.ResponseWriter, r *http.Request, _ string) {
	rs, err := a.l.List(r.Context())
	if err != nil {
		problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.TypeInternal, "revocations could not be read").Wrap(err))
		return
	}
	out := make([]revokedToken, len(rs))
	for i, rec := range rs {
		out[i] = view(rec)
	}
	reply(w, http.StatusOK, map[string]any{"revoked": out})
}
