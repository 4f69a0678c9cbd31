package apikey

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

// View is the JSON form of a key record shown to operators: never its
// hash. Key holds the plaintext only in the answer to a create or rotate.
type View struct {
	ID         string           `json:"id"`
	Hint       string           `json:"hint"`
	Name       string           `json:"name,omitempty"`
	Owner      string           `json:"owner"`
	Tenant     string           `json:"tenant,omitempty"`
	Roles      []string         `json:"roles,omitempty"`
	Scopes     []string         `json:"scopes,omitempty"`
	Attrs      map[string]any   `json:"attrs,omitempty"`
	RateLimits map[string]int64 `json:"rate_limits,omitempty"`
	Status     string           `json:"status"`
	RotatedTo  string           `json:"rotated_to,omitempty"`
	GraceUntil *time.Time       `json:"grace_until,omitempty"`
	ExpiresAt  *time.Time       `json:"expires_at,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	LastUsedAt *time.Time       `json:"last_used_at,omitempty"`
	Key        string           `json:"key,omitempty"`
}

func opt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ViewOf returns the view of a record.
func ViewOf(k *store.APIKey) View {
	return View{ID: k.ID, Hint: k.Hint, Name: k.Name, Owner: k.Owner, Tenant: k.Tenant, Roles: k.Roles, Scopes: k.Scopes, Attrs: k.Attrs,
		RateLimits: k.RateLimits, Status: k.Status, RotatedTo: k.RotatedTo, GraceUntil: opt(k.GraceUntil), ExpiresAt: opt(k.ExpiresAt),
		CreatedAt: k.CreatedAt, LastUsedAt: opt(k.LastUsedAt)}
}
