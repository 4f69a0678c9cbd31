package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
)

// openSchema opens the test PostgreSQL (GATEHOUSE_TEST_POSTGRES) in a schema
// of its own, dropped afterwards, or skips.
func openSchema(t *testing.T) store.Store {
	s, _ := openSchemaDSN(t)
	return s
}

func openSchemaDSN(t *testing.T) (*sqlstore.Store, string) {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES not set: skipping tests against a real PostgreSQL")
	}
	ctx := context.Background()
	admin, err := Open(ctx, dsn, false)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "gatehouse_test_" + hex.EncodeToString(b)
	if _, err := admin.DB().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.DB().ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := Open(ctx, u.String(), true)
	if err != nil {
		t.Fatal(err)
	}
	s.SetKeyChannel(schema) // notifications are database-wide: one channel per test
	t.Cleanup(func() { s.Close() })
	return s, u.String()
}

func TestConformance(t *testing.T) { storetest.Run(t, openSchema) }

// KEY-05 across instances: with hour-long caches, a revocation on one
// instance reaches another through LISTEN/NOTIFY within a second.
func TestRevocationReachesOtherInstances(t *testing.T) {
	s, dsn := openSchemaDSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	secret := bytes.Repeat([]byte("n"), 32)
	a, _ := apikey.NewManager(apikey.Options{Store: s, ServerSecret: secret, CacheTTL: time.Hour})
	sb, err := Open(ctx, dsn, false) // the second instance has its own pool
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	b, _ := apikey.NewManager(apikey.Options{Store: sb, ServerSecret: secret, CacheTTL: time.Hour})
	connected, notified := make(chan struct{}, 4), make(chan string, 4)
	go Listen(ctx, dsn, s.KeyChannel(), func() { b.ForgetAll(); connected <- struct{}{} }, func(id string) { b.Forget(id); notified <- id })
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not connect")
	}
	plain, rec, err := a.Create(ctx, apikey.CreateOptions{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, plain); err != nil { // cached on b for an hour
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Revoke(ctx, rec.ID, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-notified:
		if id != rec.ID {
			t.Fatalf("notified %q", id)
		}
	case <-time.After(time.Second):
		t.Fatal("no notification within 1s")
	}
	if _, err := b.Verify(ctx, plain); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("other instance after revocation: %v", err)
	}
	t.Logf("revocation reached the other instance in %v", time.Since(start).Round(time.Millisecond))
}
