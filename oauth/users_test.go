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
