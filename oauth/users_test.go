package oauth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if !CheckPassword(h, "correct horse battery staple") || CheckPassword(h, "correct horse battery stapl") || CheckPassword(h, "") {
		t.Fatal("check")
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h2 == h {
		t.Fatal("no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", strings.Replace(h, "$v=19$", "$v=16$", 1), h[:len(h)-4]} {
		if CheckPassword(bad, "correct horse battery staple") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	if _, err := HashPassword("short"); !errors.Is(err, ErrBadUser) {
		t.Errorf("short password: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLen+1)); !errors.Is(err, ErrBadUser) {
		t.Errorf("long password: %v", err)
	}
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "u.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := CreateUser(ctx, st, UserOptions{Username: " Alice@Example.com ", Password: "a long enough password", Roles: []string{"customer"}, Tenant: "acme"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice@example.com" || strings.Contains(u.PasswordHash, "long enough") {
		t.Fatalf("user %+v", u)
	}
	if _, err := CreateUser(ctx, st, UserOptions{Username: "alice@example.com", Password: "another long password"}, time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate username: %v", err)
	}
	if _, err := CreateUser(ctx, st, UserOptions{Username: "bad name", Password: "a long enough password"}, time.Now()); !errors.Is(err, ErrBadUser) {
		t.Fatalf("bad username: %v", err)
	}
	got, err := st.GetUserByName(ctx, "alice@example.com")
	if err != nil || !CheckPassword(got.PasswordHash, "a long enough password") || got.Tenant != "acme" || got.Roles[0] != "customer" {
		t.Fatalf("by name: %+v %v", got, err)
	}
	if err := SetPassword(ctx, st, u.ID, "a new long password", time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = st.GetUser(ctx, u.ID)
	if CheckPassword(got.PasswordHash, "a long enough password") || !CheckPassword(got.PasswordHash, "a new long password") {
		t.Fatal("password not changed")
	}
	if _, err := st.UpdateUser(ctx, u.ID, func(u *store.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.ListUsers(ctx); len(list) != 1 || !list[0].Disabled {
		t.Fatalf("list %+v", list)
	}
}

func TestClientRegistrationRules(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ok := ClientOptions{ID: "spa", Public: true, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:8000/cb"}, Audiences: []string{"a"}}
	c, secret, err := CreateClient(ctx, st, ok, time.Now())
	if err != nil || secret != "" || len(c.SecretHash) != 0 || c.Grants[0] != GrantAuthorizationCode {
		t.Fatalf("public client: %+v %q %v", c, secret, err)
	}
	for _, bad := range []ClientOptions{
		{ID: "a", Public: true, RedirectURIs: []string{"http://app.example/cb"}, Audiences: []string{"a"}},
		{ID: "b", Public: true, RedirectURIs: []string{"https://app.example/cb#frag"}, Audiences: []string{"a"}},
		{ID: "c", Public: true, RedirectURIs: []string{"https://user@app.example/cb"}, Audiences: []string{"a"}},
		{ID: "d", Public: true, RedirectURIs: []string{"https://*.example/cb"}, Audiences: []string{"a"}},
		{ID: "e", Public: true, RedirectURIs: []string{"/relative"}, Audiences: []string{"a"}},
		{ID: "f", Public: true, Grants: []string{GrantClientCredentials}, Audiences: []string{"a"}},
		{ID: "g", Public: true, Audiences: []string{"a"}},
		{ID: "h", Grants: []string{"password"}, Audiences: []string{"a"}},
		{ID: "i", Grants: []string{"implicit"}, RedirectURIs: []string{"https://x/cb"}, Audiences: []string{"a"}},
	} {
		if _, _, err := CreateClient(ctx, st, bad, time.Now()); !errors.Is(err, ErrBadClient) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestRedirectMatching(t *testing.T) {
	for _, c := range []struct {
		reg, req string
		ok       bool
	}{
		{"https://app.example/cb", "https://app.example/cb", true},
		{"https://app.example/cb", "https://app.example/cb/", false},
		{"https://app.example/cb", "https://App.example/cb", false},
		{"https://app.example/cb", "https://app.example:443/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53682/cb", true},
		{"http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb", true},
		{"http://[::1]/cb", "http://[::1]:4000/cb", true},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53682/cb/x", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53682/cb?x=1", false},
		{"http://127.0.0.1/cb", "http://localhost:53682/cb", false},
		{"http://127.0.0.1/cb", "http://user@127.0.0.1:1/cb", false},
		{"http://localhost/cb", "http://localhost:1234/cb", false},
		{"https://127.0.0.1/cb", "https://127.0.0.1:8443/cb", false},
	} {
		if got := redirectMatches(c.reg, c.req); got != c.ok {
			t.Errorf("%s vs %s: %v, want %v", c.reg, c.req, got, c.ok)
		}
	}
}
