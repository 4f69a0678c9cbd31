package apikey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/store"
)

// memStore is a store.APIKeys in memory for the manager's unit tests (the
// SQL stores pass the same contract in store/storetest); down simulates an
// unreachable database.
type memStore struct {
	mu    sync.Mutex
	keys  map[string]store.APIKey
	gets  int
	down  bool
	touch map[string]time.Time
}

var errDown = errors.New("connection refused")

func newMemStore() *memStore {
	return &memStore{keys: map[string]store.APIKey{}, touch: map[string]time.Time{}}
}

func (m *memStore) CreateAPIKey(_ context.Context, k *store.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return store.ErrConflict
	}
	m.keys[k.ID] = *k
	return nil
}

func (m *memStore) GetAPIKey(_ context.Context, id string) (*store.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.down {
		return nil, errDown
	}
	k, ok := m.keys[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &k, nil
}

func (m *memStore) ListAPIKeys(context.Context, store.KeyFilter) ([]*store.APIKey, error) {
	return nil, nil
}

func (m *memStore) UpdateAPIKey(_ context.Context, id string, fn func(*store.APIKey) error) (*store.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	if err := fn(&k); err != nil {
		return nil, err
	}
	m.keys[id] = k
	return &k, nil
}

func (m *memStore) RotateAPIKey(_ context.Context, oldID string, s *store.APIKey, grace time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.keys[oldID]
	old.Status, old.RotatedTo, old.GraceUntil = store.StatusRotated, s.ID, grace
	m.keys[oldID], m.keys[s.ID] = old, *s
	return nil
}

func (m *memStore) TouchAPIKeys(_ context.Context, used map[string]time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range used {
		m.touch[id] = t
	}
	return nil
}

type events struct {
	mu  sync.Mutex
	got []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	e.mu.Unlock()
}

func (e *events) types() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var t []string
	for _, ev := range e.got {
		t = append(t, ev.Type)
	}
	return strings.Join(t, ",")
}

type fixture struct {
	m   *Manager
	st  *memStore
	ev  *events
	now time.Time
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{st: newMemStore(), ev: &events{}, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	m, err := NewManager(Options{Store: f.st, ServerSecret: bytes.Repeat([]byte("s"), 32), CacheTTL: time.Second, Events: f.ev, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

func (f *fixture) create(t *testing.T, mod func(*CreateOptions)) (string, *store.APIKey) {
	t.Helper()
	o := CreateOptions{Name: "ci", Owner: "alice", Tenant: "acme", Roles: []string{"reader"}, Scopes: []string{"orders:read"}, Actor: "test"}
	if mod != nil {
		mod(&o)
	}
	plain, rec, err := f.m.Create(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return plain, rec
}

// Bad input from the issue: each refused.
func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	plain, rec := f.create(t, nil)
	other, _ := Generate()
	wrongSecret := Key{ID: rec.ID, Secret: other.Secret}.String()
	tests := []struct {
		name, key string
		want      error
	}{
		{"truncated", plain[:len(plain)-3], ErrInvalid},
		{"bad checksum", plain[:len(plain)-1] + map[bool]string{true: "A", false: "B"}[plain[len(plain)-1] != 'A'], ErrInvalid},
		{"unknown id", other.String(), ErrInvalid},
		{"right id, wrong secret", wrongSecret, ErrInvalid},
		{"non-ASCII", "gthk_\u00e9" + plain[6:], ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.m.Verify(ctx, tc.key); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := f.m.Verify(ctx, plain); err != nil {
		t.Fatalf("the real key: %v", err)
	}
	// Malformed keys never reach the store.
	gets := f.st.gets
	for range 100 {
		f.m.Verify(ctx, "gthk_garbage")
	}
	if f.st.gets != gets {
		t.Error("malformed keys caused store lookups")
	}
}

func TestExpiryRevocationRotation(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	exp, _ := f.create(t, func(o *CreateOptions) { o.ExpiresAt = f.now.Add(time.Hour) })
	if _, err := f.m.Verify(ctx, exp); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Hour)
	if _, err := f.m.Verify(ctx, exp); !errors.Is(err, ErrExpired) {
		t.Errorf("expired key: %v", err)
	}

	rev, revRec := f.create(t, nil)
	f.m.Verify(ctx, rev) // now cached
	if err := f.m.Revoke(ctx, revRec.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(ctx, rev); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked key (cached before) still works on this instance: %v", err)
	}

	old, oldRec := f.create(t, nil)
	succ, succRec, err := f.m.Rotate(ctx, oldRec.ID, 24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if succRec.Owner != oldRec.Owner || succRec.Tenant != oldRec.Tenant || succRec.Scopes[0] != "orders:read" || succRec.ID == oldRec.ID {
		t.Errorf("successor %+v", succRec)
	}
	if _, err := f.m.Verify(ctx, old); err != nil {
		t.Errorf("old key during grace: %v", err)
	}
	if !strings.Contains(f.ev.types(), "api_key.used_in_grace") {
		t.Error("use during grace not recorded")
	}
	if _, err := f.m.Verify(ctx, succ); err != nil {
		t.Errorf("successor: %v", err)
	}
	f.now = f.now.Add(25 * time.Hour)
	if _, err := f.m.Verify(ctx, old); !errors.Is(err, ErrRotatedOut) {
		t.Errorf("old key past grace: %v", err)
	}
	for _, want := range []string{"api_key.created", "api_key.revoked", "api_key.rotated"} {
		if !strings.Contains(f.ev.types(), want) {
			t.Errorf("no %s event: %s", want, f.ev.types())
		}
	}
}

// KEY-05 and the store-down rule: cached keys keep working until their
// entry expires; others get ErrUnavailable; service comes back by itself.
func TestCacheAndStoreOutage(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	cachedKey, _ := f.create(t, nil)
	coldKey, _ := f.create(t, nil)
	f.m.Verify(ctx, cachedKey)
	gets := f.st.gets
	for range 50 {
		if _, err := f.m.Verify(ctx, cachedKey); err != nil {
			t.Fatal(err)
		}
	}
	if f.st.gets != gets {
		t.Errorf("cached verifications hit the store %d times", f.st.gets-gets)
	}
	f.st.down = true
	if _, err := f.m.Verify(ctx, cachedKey); err != nil {
		t.Errorf("cached key while the store is down: %v", err)
	}
	if _, err := f.m.Verify(ctx, coldKey); !errors.Is(err, ErrUnavailable) {
		t.Errorf("uncached key while the store is down: %v", err)
	}
	f.now = f.now.Add(2 * time.Second) // the entry expired
	if _, err := f.m.Verify(ctx, cachedKey); !errors.Is(err, ErrUnavailable) {
		t.Errorf("expired cache entry while the store is down: %v", err)
	}
	f.st.down = false
	if _, err := f.m.Verify(ctx, coldKey); err != nil {
		t.Errorf("after the store returned: %v", err)
	}
}

func TestLastUsedIsBatched(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	plain, rec := f.create(t, nil)
	for range 100 {
		f.m.Verify(ctx, plain)
	}
	if len(f.st.touch) != 0 {
		t.Fatal("last use written per request")
	}
	if err := f.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.st.touch[rec.ID].Equal(f.now) {
		t.Errorf("last use after flush: %v", f.st.touch)
	}
}

func TestCreateRefusesBadFields(t *testing.T) {
	f := setup(t)
	for _, o := range []CreateOptions{{Owner: ""}, {Owner: "a\r\nX-Injected: 1"}, {Owner: "a", Tenant: "t t"}, {Owner: "a", Roles: []string{"r,s"}}} {
		if _, _, err := f.m.Create(context.Background(), o); !errors.Is(err, ErrBadField) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// Cached verification, with 1k and 100k keys known to the cache.
func BenchmarkVerifyCached(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n, "keys"), func(b *testing.B) {
			st := newMemStore()
			m, _ := NewManager(Options{Store: st, ServerSecret: bytes.Repeat([]byte("s"), 32), CacheTTL: time.Hour, CacheSize: 2 * n})
			keys := make([]string, n)
			for i := range keys {
				keys[i], _, _ = m.Create(context.Background(), CreateOptions{Owner: "o"})
				m.Verify(context.Background(), keys[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := m.Verify(context.Background(), keys[i%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
