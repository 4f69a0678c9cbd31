package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

// ClientOptions describe a client to register.
type ClientOptions struct {
	ID        string // default: generated
	Name      string
	Grants    []string // default [client_credentials]
	Scopes    []string
	Audiences []string // the first is the default audience
	Roles     []string
	Tenant    string
}

// SecretPrefix marks client secrets (for secret scanners).
const SecretPrefix = "gthc_"

var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ErrBadClient: the options describe no valid client.
var ErrBadClient = errors.New("oauth: invalid client")

// newSecret returns a new 256-bit secret and its stored hash.
func newSecret() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	plain := SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(plain))
	return plain, sum[:], nil
}

// CreateClient registers a confidential client and returns it with its
// secret, which exists only in this answer.
func CreateClient(ctx context.Context, st store.OAuth, o ClientOptions, now time.Time) (*store.OAuthClient, string, error) {
	if o.ID == "" {
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			return nil, "", err
		}
		o.ID = "client-" + base64.RawURLEncoding.EncodeToString(b)
	}
	if !clientIDRE.MatchString(o.ID) {
		return nil, "", fmt.Errorf("%w: id %q: use letters, digits, '.', '_' and '-' (at most 64)", ErrBadClient, o.ID)
	}
	if len(o.Grants) == 0 {
		o.Grants = []string{GrantClientCredentials}
	}
	for _, g := range o.Grants {
		if g != GrantClientCredentials {
			return nil, "", fmt.Errorf("%w: grant %q is not supported (client_credentials only, for now)", ErrBadClient, g)
		}
	}
	if slices.Contains(o.Grants, GrantClientCredentials) && len(o.Audiences) == 0 {
		return nil, "", fmt.Errorf("%w: a client_credentials client needs at least one audience", ErrBadClient)
	}
	plain, hash, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	c := &store.OAuthClient{ID: o.ID, SecretHash: hash, Name: o.Name, Grants: o.Grants, Scopes: o.Scopes, Audiences: o.Audiences,
		Roles: o.Roles, Tenant: o.Tenant, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, plain, nil
}

// RotateSecret gives a client a new secret; the old one stops at once.
func RotateSecret(ctx context.Context, st store.OAuth, id string, now time.Time) (string, error) {
	plain, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	_, err = st.UpdateClient(ctx, id, func(c *store.OAuthClient) error {
		if c.Public {
			return fmt.Errorf("%w: a public client has no secret", ErrBadClient)
		}
		c.SecretHash, c.UpdatedAt = hash, now
		return nil
	})
	if err != nil {
		return "", err
	}
	return plain, nil
}

// ClientView is a client as operators see it: never its secret hash.
type ClientView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Grants    []string  `json:"grants"`
	Scopes    []string  `json:"scopes"`
	Audiences []string  `json:"audiences"`
	Roles     []string  `json:"roles,omitempty"`
	Tenant    string    `json:"tenant,omitempty"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	// Secret is set only in the answer that made it.
	Secret string `json:"client_secret,omitempty"`
}

// ViewClient returns the view of c.
func ViewClient(c *store.OAuthClient) ClientView {
	return ClientView{ID: c.ID, Name: c.Name, Grants: c.Grants, Scopes: c.Scopes, Audiences: c.Audiences, Roles: c.Roles,
		Tenant: c.Tenant, Disabled: c.Disabled, CreatedAt: c.CreatedAt.UTC()}
}
