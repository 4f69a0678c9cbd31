package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/admin"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/store"
)

// Keys are the demo's API keys, kept (0600) in the data directory so the
// printed commands keep working across restarts.
type Keys struct {
	Admin  string `json:"admin"`  // role gatehouse:admin
	Alice  string `json:"alice"`  // tenant acme, orders:read + orders:write
	Carol  string `json:"carol"`  // tenant globex, orders:read
	Reader string `json:"reader"` // tenant acme, no scopes
}

// EnsureSecret writes a random 256-bit server secret to path once.
func EnsureSecret(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600)
}

// EnsureKeys returns the demo keys stored at path if they still verify,
// or creates them with m.
func EnsureKeys(ctx context.Context, m *apikey.Manager, path string) (Keys, error) {
	var k Keys
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &k) == nil {
		if _, err := m.Verify(ctx, k.Alice); err == nil {
			return k, nil
		}
	}
	create := func(o apikey.CreateOptions) (string, error) {
		o.Actor = "demo"
		plain, _, err := m.Create(ctx, o)
		return plain, err
	}
	var err error
	var errs []error
	k.Admin, err = create(apikey.CreateOptions{Name: "demo admin", Owner: "admin", Roles: []string{admin.AdminRole}})
	errs = append(errs, err)
	k.Alice, err = create(apikey.CreateOptions{Name: "alice at acme", Owner: "alice", Tenant: "acme", Roles: []string{"customer"}, Scopes: []string{"orders:read", "orders:write"}})
	errs = append(errs, err)
	k.Carol, err = create(apikey.CreateOptions{Name: "carol at globex", Owner: "carol", Tenant: "globex", Roles: []string{"customer"}, Scopes: []string{"orders:read"}})
	errs = append(errs, err)
	k.Reader, err = create(apikey.CreateOptions{Name: "no scopes", Owner: "dave", Tenant: "acme"})
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return k, fmt.Errorf("demo keys: %w", err)
	}
	b, _ := json.MarshalIndent(k, "", "  ")
	return k, os.WriteFile(path, b, 0o600)
}

// Client is the demo's OAuth client (client credentials).
type Client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// EnsureClient returns the demo OAuth client stored at path while it is
// registered, or registers it anew.
func EnsureClient(ctx context.Context, st store.OAuthClients, path string) (Client, error) {
	var c Client
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &c) == nil {
		if _, err := st.GetClient(ctx, c.ID); err == nil {
			return c, nil
		}
	}
	_ = st.DeleteClient(ctx, "demo-reports")
	rec, secret, err := oauth.CreateClient(ctx, st, oauth.ClientOptions{ID: "demo-reports", Name: "demo reporting service",
		Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}, Tenant: "acme", Roles: []string{"service"}}, time.Now())
	if err != nil {
		return c, fmt.Errorf("demo client: %w", err)
	}
	c = Client{ID: rec.ID, Secret: secret}
	b, _ := json.MarshalIndent(c, "", "  ")
	return c, os.WriteFile(path, b, 0o600)
}

// User is the demo's user for the authorization code flow.
type User struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// EnsureUser returns the demo user stored at path while it exists, or
// creates it with a generated password.
func EnsureUser(ctx context.Context, st store.Users, path string) (User, error) {
	var u User
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &u) == nil {
		if rec, err := st.GetUserByName(ctx, u.Username); err == nil && oauth.CheckPassword(rec.PasswordHash, u.Password) {
			return u, nil
		}
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return u, err
	}
	u = User{Username: "alice", Password: hex.EncodeToString(b)}
	if rec, err := st.GetUserByName(ctx, u.Username); err == nil {
		if err := oauth.SetPassword(ctx, st, rec.ID, u.Password, time.Now()); err != nil {
			return u, err
		}
	} else if _, err := oauth.CreateUser(ctx, st, oauth.UserOptions{Username: u.Username, Password: u.Password, Tenant: "acme", Roles: []string{"customer"}}, time.Now()); err != nil {
		return u, fmt.Errorf("demo user: %w", err)
	}
	out, _ := json.MarshalIndent(u, "", "  ")
	return u, os.WriteFile(path, out, 0o600)
}

// EnsureSPA registers the demo's public client (the code flow with PKCE)
// with redirect as its only redirect URI.
func EnsureSPA(ctx context.Context, st store.OAuthClients, redirect string) error {
	if c, err := st.GetClient(ctx, "demo-spa"); err == nil && len(c.RedirectURIs) == 1 && c.RedirectURIs[0] == redirect {
		return nil
	}
	_ = st.DeleteClient(ctx, "demo-spa")
	_, _, err := oauth.CreateClient(ctx, st, oauth.ClientOptions{ID: "demo-spa", Name: "Demo shop app", Public: true,
		RedirectURIs: []string{redirect}, Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}}, time.Now())
	return err
}
