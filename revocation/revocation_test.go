package revocation

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

// Two instances on one database: a revocation made through one applies
// there at once and on the other after its next sync; it ends at Until.
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gh.db")
	stA, err := sqlite.Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer stA.Close()
	stB, err := sqlite.Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, b := New(stA, clock), New(stB, clock)
	if err := b.Sync(ctx); err != nil || !b.Healthy() {
		t.Fatal(err)
	}
	const iss = "https://idp.example/"
	if err := a.Revoke(ctx, &store.RevokedToken{Issuer: iss, JTI: "leaked", Until: now.Add(time.Hour), Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, &store.RevokedToken{Issuer: iss, Subject: "mallory", Until: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if !a.Revoked(iss, "leaked", "alice") || !a.Revoked(iss, "other", "mallory") {
		t.Fatal("not revoked on the instance that revoked")
	}
	if b.Revoked(iss, "leaked", "alice") {
		t.Fatal("revoked on the other instance before its sync")
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.Revoked(iss, "leaked", "alice") || !b.Revoked(iss, "x", "mallory") {
		t.Fatal("not revoked on the other instance after its sync")
	}
	if b.Revoked("https://other/", "leaked", "mallory") || b.Revoked(iss, "fine", "alice") {
		t.Fatal("revocation leaked to another issuer or token")
	}
	mu.Lock()
	now = now.Add(20 * time.Minute)
	mu.Unlock()
	b.Sync(ctx)
	if b.Revoked(iss, "x", "mallory") || !b.Revoked(iss, "leaked", "") {
		t.Fatal("until not honoured")
	}
	list, err := a.List(ctx)
	if err != nil || len(list) != 1 || list[0].JTI != "leaked" || list[0].Actor != "test" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := a.Revoke(ctx, &store.RevokedToken{Issuer: iss, JTI: "past", Until: now.Add(-time.Second)}); err == nil {
		t.Fatal("a revocation already over was stored")
	}
}

// Run follows the store on its own.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gh.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := New(st, nil)
	go l.Run(ctx, 20*time.Millisecond, nil)
	if err := st.RevokeToken(ctx, &store.RevokedToken{Issuer: "i", JTI: "j", Until: time.Now().Add(time.Hour), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		synced := l.Synced()
		if l.Revoked("i", "j", "") {
			break
		}
		select {
		case <-synced:
		case <-timeout:
			t.Fatal("Run never picked the revocation up")
		}
	}
}
