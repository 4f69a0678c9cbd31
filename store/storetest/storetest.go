// Package storetest is the conformance suite every store implementation
// passes: run it from the implementation's tests with Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

// Open returns a fresh, empty, migrated store for one subtest.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func key(id string) *store.APIKey {
	return &store.APIKey{
		ID: id, Hash: []byte("hash-of-" + id), Hint: "gthk_" + id + "_...abcd", Name: "key " + id,
		Owner: "alice", Tenant: "acme", Roles: []string{"reader"}, Scopes: []string{"orders:read"},
		Attrs: map[string]any{"plan": "gold", "seats": 5.0, "beta": true}, RateLimits: map[string]int64{"per-key": 500},
		CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour),
	}
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("create and get round trip", func(t *testing.T) {
		s := open(t)
		k := key("k1")
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAPIKey(ctx, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusActive || string(got.Hash) != "hash-of-k1" || got.Owner != "alice" || got.Tenant != "acme" ||
			got.Roles[0] != "reader" || got.Scopes[0] != "orders:read" || got.Attrs["plan"] != "gold" || got.Attrs["seats"] != 5.0 ||
			got.Attrs["beta"] != true || got.RateLimits["per-key"] != 500 || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(k.ExpiresAt) ||
			!got.LastUsedAt.IsZero() || !got.GraceUntil.IsZero() {
			t.Errorf("round trip: %+v", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetAPIKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get unknown: %v", err)
		}
		if err := s.CreateAPIKey(ctx, key("dup")); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIKey(ctx, key("dup")); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate create: %v", err)
		}
		if _, err := s.UpdateAPIKey(ctx, "nope", func(*store.APIKey) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update unknown: %v", err)
		}
	})
	t.Run("list filters and order", func(t *testing.T) {
		s := open(t)
		for i, o := range []struct{ owner, tenant string }{{"alice", "acme"}, {"bob", "acme"}, {"carol", "globex"}} {
			k := key(fmt.Sprint("l", i))
			k.Owner, k.Tenant, k.CreatedAt = o.owner, o.tenant, t0.Add(time.Duration(i)*time.Minute)
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		all, _ := s.ListAPIKeys(ctx, store.KeyFilter{})
		if len(all) != 3 || all[0].ID != "l2" || all[2].ID != "l0" {
			t.Errorf("list all: %v", ids(all))
		}
		acme, _ := s.ListAPIKeys(ctx, store.KeyFilter{Tenant: "acme"})
		bob, _ := s.ListAPIKeys(ctx, store.KeyFilter{Owner: "bob"})
		limited, _ := s.ListAPIKeys(ctx, store.KeyFilter{Limit: 1})
		none, _ := s.ListAPIKeys(ctx, store.KeyFilter{Status: store.StatusRevoked})
		if len(acme) != 2 || len(bob) != 1 || bob[0].ID != "l1" || len(limited) != 1 || len(none) != 0 {
			t.Errorf("filters: acme %v bob %v limited %v revoked %v", ids(acme), ids(bob), ids(limited), ids(none))
		}
	})
	t.Run("update is read-modify-write; a failing change writes nothing", func(t *testing.T) {
		s := open(t)
		_ = s.CreateAPIKey(ctx, key("u"))
		got, err := s.UpdateAPIKey(ctx, "u", func(k *store.APIKey) error {
			k.Status, k.RevokedAt, k.Hash, k.Name = store.StatusRevoked, t0, []byte("changed"), "renamed"
			return nil
		})
		if err != nil || got.Status != store.StatusRevoked {
			t.Fatalf("update: %v %+v", err, got)
		}
		again, _ := s.GetAPIKey(ctx, "u")
		if again.Status != store.StatusRevoked || !again.RevokedAt.Equal(t0) || again.Name != "renamed" || string(again.Hash) != "hash-of-u" {
			t.Errorf("after update: %+v (the hash must not change)", again)
		}
		boom := errors.New("boom")
		if _, err := s.UpdateAPIKey(ctx, "u", func(k *store.APIKey) error { k.Name = "lost"; return boom }); !errors.Is(err, boom) {
			t.Errorf("failing change: %v", err)
		}
		if k, _ := s.GetAPIKey(ctx, "u"); k.Name != "renamed" {
			t.Errorf("a failing change was written: %q", k.Name)
		}
	})
	t.Run("rotate", func(t *testing.T) {
		s := open(t)
		_ = s.CreateAPIKey(ctx, key("old"))
		grace := t0.Add(24 * time.Hour)
		if err := s.RotateAPIKey(ctx, "old", key("new"), grace); err != nil {
			t.Fatal(err)
		}
		old, _ := s.GetAPIKey(ctx, "old")
		nw, _ := s.GetAPIKey(ctx, "new")
		if old.Status != store.StatusRotated || old.RotatedTo != "new" || !old.GraceUntil.Equal(grace) || nw.Status != store.StatusActive {
			t.Errorf("after rotate: old %+v new %+v", old, nw)
		}
		if err := s.RotateAPIKey(ctx, "old", key("newer"), grace); !errors.Is(err, store.ErrConflict) {
			t.Errorf("rotating a rotated key: %v", err)
		}
		if _, err := s.GetAPIKey(ctx, "newer"); !errors.Is(err, store.ErrNotFound) {
			t.Error("a refused rotation left its successor behind")
		}
		// A successor whose id exists: nothing changes.
		if err := s.RotateAPIKey(ctx, "new", key("old"), grace); !errors.Is(err, store.ErrConflict) {
			t.Errorf("successor id conflict: %v", err)
		}
		if k, _ := s.GetAPIKey(ctx, "new"); k.Status != store.StatusActive {
			t.Error("a failed rotation changed the old key")
		}
	})
	t.Run("touch moves last use forward only", func(t *testing.T) {
		s := open(t)
		_ = s.CreateAPIKey(ctx, key("a"))
		_ = s.CreateAPIKey(ctx, key("b"))
		if err := s.TouchAPIKeys(ctx, map[string]time.Time{"a": t0.Add(time.Hour), "b": t0.Add(2 * time.Hour), "gone": t0}); err != nil {
			t.Fatal(err)
		}
		_ = s.TouchAPIKeys(ctx, map[string]time.Time{"a": t0})
		a, _ := s.GetAPIKey(ctx, "a")
		b, _ := s.GetAPIKey(ctx, "b")
		if !a.LastUsedAt.Equal(t0.Add(time.Hour)) || !b.LastUsedAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("last used: a %v b %v", a.LastUsedAt, b.LastUsedAt)
		}
	})
	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		s := open(t)
		_ = s.CreateAPIKey(ctx, key("c"))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					if _, err := s.UpdateAPIKey(ctx, "c", func(k *store.APIKey) error { k.RateLimits["per-key"]++; return nil }); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if k, _ := s.GetAPIKey(ctx, "c"); k.RateLimits["per-key"] != 580 {
			t.Errorf("after 80 concurrent increments: %d, want 580", k.RateLimits["per-key"])
		}
	})
	t.Run("oauth clients", func(t *testing.T) {
		s := open(t)
		c := &store.OAuthClient{ID: "billing", SecretHash: []byte("h"), Name: "Billing", Grants: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, Audiences: []string{"orders-api"}, Roles: []string{"service"}, Tenant: "acme", CreatedAt: t0, UpdatedAt: t0}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate client: %v", err)
		}
		pub := &store.OAuthClient{ID: "spa", Public: true, RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: t0.Add(time.Second), UpdatedAt: t0}
		if err := s.CreateClient(ctx, pub); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClient(ctx, "billing")
		if err != nil || string(got.SecretHash) != "h" || got.Public || got.Scopes[0] != "orders:read" || got.Audiences[0] != "orders-api" ||
			got.Roles[0] != "service" || got.Tenant != "acme" || !got.CreatedAt.Equal(t0) || got.Disabled {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		if got, _ := s.GetClient(ctx, "spa"); !got.Public || got.RedirectURIs[0] != "https://app.example/cb" || len(got.SecretHash) != 0 {
			t.Fatalf("public client: %+v", got)
		}
		up, err := s.UpdateClient(ctx, "billing", func(c *store.OAuthClient) error { c.Disabled, c.SecretHash = true, []byte("h2"); return nil })
		if err != nil || !up.Disabled {
			t.Fatal(err)
		}
		if got, _ := s.GetClient(ctx, "billing"); !got.Disabled || string(got.SecretHash) != "h2" {
			t.Fatalf("update: %+v", got)
		}
		if list, _ := s.ListClients(ctx); len(list) != 2 || list[0].ID != "spa" {
			t.Fatalf("list: %d", len(list))
		}
		if err := s.DeleteClient(ctx, "spa"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetClient(ctx, "spa"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted client: %v", err)
		}
		if err := s.DeleteClient(ctx, "spa"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
	t.Run("users", func(t *testing.T) {
		s := open(t)
		u := &store.User{ID: "u1", Username: "alice", PasswordHash: "$argon2id$x", Roles: []string{"customer"}, Tenant: "acme", CreatedAt: t0, UpdatedAt: t0}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, &store.User{ID: "u2", Username: "alice", PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate username: %v", err)
		}
		got, err := s.GetUserByName(ctx, "alice")
		if err != nil || got.ID != "u1" || got.PasswordHash != "$argon2id$x" || got.Roles[0] != "customer" || got.Tenant != "acme" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("by name: %+v %v", got, err)
		}
		if _, err := s.GetUser(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if _, err := s.UpdateUser(ctx, "u1", func(u *store.User) error { u.Disabled, u.Username = true, "mallory"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetUser(ctx, "u1"); !got.Disabled || got.Username != "alice" {
			t.Fatalf("update (the username cannot change): %+v", got)
		}
		if list, _ := s.ListUsers(ctx); len(list) != 1 {
			t.Fatalf("list: %d", len(list))
		}
	})
	t.Run("authorization codes", func(t *testing.T) {
		s := open(t)
		c := &store.AuthCode{Hash: []byte("h1"), ClientID: "spa", UserID: "u1", RedirectURI: "https://app/cb", Scopes: []string{"orders:read"},
			Audience: "orders-api", Challenge: "ch", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := s.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		refuse := func(*store.AuthCode) (*store.CodeGrant, error) { return nil, errors.New("wrong verifier") }
		if _, err := s.RedeemCode(ctx, []byte("h1"), t0.Add(time.Second), refuse); err == nil || errors.Is(err, store.ErrConflict) {
			t.Fatalf("a refused grant: %v", err)
		}
		first := &store.RefreshToken{Hash: []byte("rf1"), Family: "fam-1", ClientID: "spa", UserID: "u1", AccessTokenID: "jti-1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		got, err := s.RedeemCode(ctx, []byte("h1"), t0.Add(time.Second), func(c *store.AuthCode) (*store.CodeGrant, error) {
			if c.ClientID != "spa" || c.Scopes[0] != "orders:read" || c.Challenge != "ch" || c.RedirectURI != "https://app/cb" {
				t.Errorf("grant sees %+v", c)
			}
			return &store.CodeGrant{TokenID: "jti-1", Refresh: first}, nil
		})
		if err != nil || got.TokenID != "jti-1" || got.Family != "fam-1" {
			t.Fatalf("redeem (the refused grant must leave the code unused): %+v %v", got, err)
		}
		if rt, err := s.GetRefreshToken(ctx, []byte("rf1")); err != nil || rt.AccessTokenID != "jti-1" {
			t.Fatalf("the grant's refresh token: %+v %v", rt, err)
		}
		again, err := s.RedeemCode(ctx, []byte("h1"), t0.Add(2*time.Second), func(*store.AuthCode) (*store.CodeGrant, error) {
			t.Error("grant called for a used code")
			return &store.CodeGrant{}, nil
		})
		if !errors.Is(err, store.ErrConflict) || again == nil || again.TokenID != "jti-1" || again.Family != "fam-1" {
			t.Fatalf("second redeem: %+v %v", again, err)
		}
		// OA-10: concurrent redemptions; exactly one wins and every loser
		// sees what the winner recorded.
		race := &store.AuthCode{Hash: []byte("h3"), ClientID: "spa", UserID: "u1", RedirectURI: "x", Challenge: "c", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := s.CreateCode(ctx, race); err != nil {
			t.Fatal(err)
		}
		type result struct {
			c   *store.AuthCode
			err error
		}
		results := make(chan result, 8)
		for i := range 8 {
			go func() {
				c, err := s.RedeemCode(ctx, []byte("h3"), t0.Add(time.Second), func(*store.AuthCode) (*store.CodeGrant, error) {
					fam := fmt.Sprintf("race-%d", i)
					return &store.CodeGrant{TokenID: "jti-" + fam, Refresh: &store.RefreshToken{Hash: []byte(fam), Family: fam, ClientID: "spa", UserID: "u1",
						AccessTokenID: "jti-" + fam, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}}, nil
				})
				results <- result{c, err}
			}()
		}
		wins, winner := 0, ""
		var losers []*store.AuthCode
		for range 8 {
			r := <-results
			switch {
			case r.err == nil:
				wins++
				winner = r.c.Family
			case errors.Is(r.err, store.ErrConflict):
				losers = append(losers, r.c)
			default:
				t.Fatalf("concurrent redeem: %v", r.err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d redemptions won", wins)
		}
		for _, l := range losers {
			if l.Family != winner || l.TokenID != "jti-"+winner {
				t.Fatalf("a loser saw %q/%q, the winner recorded %q", l.Family, l.TokenID, winner)
			}
		}
		late := &store.AuthCode{Hash: []byte("h2"), ClientID: "spa", UserID: "u1", RedirectURI: "x", Challenge: "c", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		s.CreateCode(ctx, late)
		if _, err := s.RedeemCode(ctx, []byte("h2"), t0.Add(2*time.Minute), refuse); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired code: %v", err)
		}
		if _, err := s.RedeemCode(ctx, []byte("nope"), t0, refuse); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown code: %v", err)
		}
		if n, err := s.PurgeCodes(ctx, t0.Add(2*time.Minute)); err != nil || n != 3 {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
	t.Run("refresh tokens", func(t *testing.T) {
		s := open(t)
		r1 := &store.RefreshToken{Hash: []byte("r1"), Family: "f1", ClientID: "spa", UserID: "u1", Scopes: []string{"orders:read"}, Audience: "api", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		r1.AccessTokenID = "a1"
		r2 := &store.RefreshToken{Hash: []byte("r2"), Family: "f1", ClientID: "spa", UserID: "u1", AccessTokenID: "a2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := s.CreateRefreshToken(ctx, r1); err != nil {
			t.Fatal(err)
		}
		got, err := s.UseRefreshToken(ctx, []byte("r1"), t0.Add(time.Minute), r2)
		if err != nil || got.Family != "f1" || got.Scopes[0] != "orders:read" || got.Audience != "api" || got.AccessTokenID != "a1" {
			t.Fatalf("use: %+v %v", got, err)
		}
		if _, err := s.GetRefreshToken(ctx, []byte("r2")); err != nil {
			t.Fatalf("the successor was not stored: %v", err)
		}
		other := &store.RefreshToken{Hash: []byte("rx"), Family: "other", ClientID: "spa", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if _, err := s.UseRefreshToken(ctx, []byte("r2"), t0.Add(time.Minute), other); err == nil {
			t.Fatal("a successor of another family was stored")
		}
		if again, err := s.UseRefreshToken(ctx, []byte("r1"), t0.Add(2*time.Minute), nil); !errors.Is(err, store.ErrConflict) || again.Family != "f1" {
			t.Fatalf("replay: %+v %v", again, err)
		}
		ids, err := s.RevokeRefreshFamily(ctx, "f1")
		if err != nil || !slices.Contains(ids, "a1") || !slices.Contains(ids, "a2") || len(ids) != 2 {
			t.Fatalf("revoke family: %v %v", ids, err)
		}
		if _, err := s.UseRefreshToken(ctx, []byte("r2"), t0.Add(time.Minute), nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked family: %v", err)
		}
		if got, err := s.GetRefreshToken(ctx, []byte("r2")); err != nil || !got.Revoked {
			t.Fatalf("get: %+v %v", got, err)
		}
		r3 := &store.RefreshToken{Hash: []byte("r3"), Family: "f2", ClientID: "spa", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		s.CreateRefreshToken(ctx, r3)
		if _, err := s.UseRefreshToken(ctx, []byte("r3"), t0.Add(2*time.Hour), nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired: %v", err)
		}
	})
	t.Run("signing keys", func(t *testing.T) {
		s := open(t)
		k1 := &store.SigningKey{ID: "k1", Alg: "EdDSA", Public: []byte("pub1"), Sealed: []byte("sealed1"), CreatedAt: t0}
		k2 := &store.SigningKey{ID: "k2", Alg: "EdDSA", Public: []byte("pub2"), Sealed: []byte("sealed2"), CreatedAt: t0.Add(time.Hour)}
		if err := s.AddSigningKey(ctx, k1); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSigningKey(ctx, k2); err != nil {
			t.Fatal(err)
		}
		keys, err := s.SigningKeys(ctx, t0)
		if err != nil || len(keys) != 2 || keys[0].ID != "k2" || !keys[0].RetiredAt.IsZero() || !keys[1].RetiredAt.Equal(k2.CreatedAt) || string(keys[1].Sealed) != "sealed1" {
			t.Fatalf("keys: %+v %v", keys, err)
		}
		// k1 retired at t0+1h: not wanted once since is past that.
		if keys, _ := s.SigningKeys(ctx, t0.Add(2*time.Hour)); len(keys) != 1 || keys[0].ID != "k2" {
			t.Fatalf("since: %+v", keys)
		}
	})
	t.Run("revoked tokens", func(t *testing.T) {
		s := open(t)
		for _, bad := range []*store.RevokedToken{
			{Issuer: "i", Until: t0},                         // neither jti nor subject
			{Issuer: "i", JTI: "j", Subject: "s", Until: t0}, // both
			{JTI: "j", Until: t0},                            // no issuer
			{Issuer: "i", JTI: "j"},                          // no until
		} {
			if err := s.RevokeToken(ctx, bad); err == nil {
				t.Errorf("stored %+v", bad)
			}
		}
		a := &store.RevokedToken{Issuer: "https://idp/", JTI: "j1", Until: t0.Add(time.Hour), CreatedAt: t0, Actor: "admin", Reason: "leaked"}
		b := &store.RevokedToken{Issuer: "https://idp/", Subject: "mallory", Until: t0.Add(2 * time.Hour), CreatedAt: t0}
		c := &store.RevokedToken{Issuer: "https://idp/", JTI: "old", Until: t0.Add(time.Minute), CreatedAt: t0}
		for _, r := range []*store.RevokedToken{a, b, c} {
			if err := s.RevokeToken(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if !(a.Seq < b.Seq && b.Seq < c.Seq) {
			t.Fatalf("sequence %d %d %d", a.Seq, b.Seq, c.Seq)
		}
		got, err := s.RevokedTokensAfter(ctx, 0, t0.Add(30*time.Minute), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].JTI != "j1" || got[0].Reason != "leaked" || got[0].Actor != "admin" || !got[0].Until.Equal(a.Until) || got[1].Subject != "mallory" {
			t.Fatalf("after 0: %+v", got)
		}
		if got, _ := s.RevokedTokensAfter(ctx, a.Seq, t0, 0); len(got) != 2 || got[0].Seq != b.Seq {
			t.Fatalf("after the first: %+v", got)
		}
		if n, err := s.PurgeRevokedTokens(ctx, t0.Add(90*time.Minute)); err != nil || n != 2 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if got, _ := s.RevokedTokensAfter(ctx, 0, t0, 0); len(got) != 1 || got[0].Subject != "mallory" {
			t.Fatalf("after purge: %+v", got)
		}
	})
}

func ids(ks []*store.APIKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}
