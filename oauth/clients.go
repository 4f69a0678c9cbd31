package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

// ClientOptions describe a client to register.
type ClientOptions struct {
	ID     string // default: generated
	Name   string
	Public bool // no secret (a browser or mobile app): authorization_code with PKCE only
	// RedirectURIs are the exact URIs the authorization code flow may
	// return to (https, or http on a loopback host).
	RedirectURIs []string
	Grants       []string // default [client_credentials], or [authorization_code] for public clients
	Scopes       []string
	Audiences    []string // the first is the default audience
	Roles        []string
	Tenant       string
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
func CreateClient(ctx context.Context, st store.OAuthClients, o ClientOptions, now time.Time) (*store.OAuthClient, string, error) {
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
		if o.Public || len(o.RedirectURIs) > 0 {
			o.Grants = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
	}
	for _, g := range o.Grants {
		if g != GrantClientCredentials && g != GrantAuthorizationCode && g != GrantRefreshToken {
			return nil, "", fmt.Errorf("%w: grant %q is not supported (client_credentials, authorization_code, refresh_token)", ErrBadClient, g)
		}
	}
	if len(o.Audiences) == 0 {
		return nil, "", fmt.Errorf("%w: a client needs at least one audience (the APIs its tokens are for)", ErrBadClient)
	}
	if slices.Contains(o.Grants, GrantRefreshToken) && !slices.Contains(o.Grants, GrantAuthorizationCode) {
		return nil, "", fmt.Errorf("%w: refresh_token goes with authorization_code", ErrBadClient)
	}
	if o.Public && slices.Contains(o.Grants, GrantClientCredentials) {
		return nil, "", fmt.Errorf("%w: a public client cannot use client_credentials", ErrBadClient)
	}
	if slices.Contains(o.Grants, GrantAuthorizationCode) {
		if len(o.RedirectURIs) == 0 {
			return nil, "", fmt.Errorf("%w: authorization_code needs at least one redirect URI", ErrBadClient)
		}
		for _, u := range o.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return nil, "", err
			}
		}
	}
	var plain string
	var hash []byte
	if !o.Public {
		var err error
		if plain, hash, err = newSecret(); err != nil {
			return nil, "", err
		}
	}
	c := &store.OAuthClient{ID: o.ID, SecretHash: hash, Name: o.Name, Public: o.Public, RedirectURIs: o.RedirectURIs, Grants: o.Grants,
		Scopes: o.Scopes, Audiences: o.Audiences, Roles: o.Roles, Tenant: o.Tenant, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, plain, nil
}

// checkRedirectURI accepts an absolute https URI (http only on a loopback
// host) without fragment, user info or wildcard: redirect URIs are matched
// exactly, so they must be exact.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%w: redirect URI %q is not an absolute URL", ErrBadClient, raw)
	}
	host := u.Hostname()
	loopback := host == "localhost" || host == "127.0.0.1" || host == "::1"
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && loopback):
		return fmt.Errorf("%w: redirect URI %q must be https (http only on loopback)", ErrBadClient, raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%w: redirect URI %q has a fragment", ErrBadClient, raw)
	case u.User != nil:
		return fmt.Errorf("%w: redirect URI %q has user info", ErrBadClient, raw)
	case strings.Contains(raw, "*"):
		return fmt.Errorf("%w: redirect URI %q has a wildcard; they are matched exactly", ErrBadClient, raw)
	}
	return nil
}

// RotateSecret gives a client a new secret; the old one stops at once.
func RotateSecret(ctx context.Context, st store.OAuthClients, id string, now time.Time) (string, error) {
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
	Public    bool      `json:"public"`
	Redirects []string  `json:"redirect_uris,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Secret is set only in the answer that made it.
	Secret string `json:"client_secret,omitempty"`
}

// ViewClient returns the view of c.
func ViewClient(c *store.OAuthClient) ClientView {
	return ClientView{ID: c.ID, Name: c.Name, Grants: c.Grants, Scopes: c.Scopes, Audiences: c.Audiences, Roles: c.Roles,
		Tenant: c.Tenant, Disabled: c.Disabled, Public: c.Public, Redirects: c.RedirectURIs, CreatedAt: c.CreatedAt.UTC()}
}
