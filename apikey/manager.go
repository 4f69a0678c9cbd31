package apikey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/store"
)

// Verification errors. ErrInvalid covers malformed, mistyped, unknown and
// wrong-secret keys alike, so a client learns nothing about which.
var (
	ErrInvalid     = errors.New("apikey: invalid key")
	ErrExpired     = errors.New("apikey: key expired")
	ErrRevoked     = errors.New("apikey: key revoked")
	ErrRotatedOut  = errors.New("apikey: key rotated and past its grace period")
	ErrUnavailable = errors.New("apikey: key store unavailable")
)

// DefaultGrace is how long a rotated key keeps working.
const DefaultGrace = 24 * time.Hour

// Options configure a Manager.
type Options struct {
	Store        store.APIKeys
	ServerSecret []byte // >= 32 bytes, kept outside the database
	// CacheTTL bounds how long a verified or refused key id is served from
	// memory (KEY-05: every instance sees a revocation within CacheTTL; the
	// instance that revokes sees it at once). Default 1s.
	CacheTTL time.Duration
	// CacheSize bounds the cached ids. Default 100,000.
	CacheSize int
	Events    audit.Sink
	Now       func() time.Time
}

// Manager creates, rotates, revokes and verifies keys. Safe for concurrent use.
type Manager struct {
	o     Options
	macs  sync.Pool // keyed HMAC-SHA-256 instances; Reset restores the key
	mu    sync.Mutex
	cache map[string]cached
	used  map[string]time.Time // last use, written in batches by Flush
}

type cached struct {
	rec     *store.APIKey // nil: the id is unknown (negative entry)
	expires time.Time
}

// NewManager checks the options and returns a manager.
func NewManager(o Options) (*Manager, error) {
	if len(o.ServerSecret) < MinServerSecret {
		return nil, ErrWeakServerSecret
	}
	if o.Store == nil {
		return nil, errors.New("apikey: a store is required")
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 100_000
	}
	if o.Events == nil {
		o.Events = audit.Discard{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{o: o, cache: map[string]cached{}, used: map[string]time.Time{}}
	secret := append([]byte(nil), o.ServerSecret...)
	m.macs.New = func() any { return hmac.New(sha256.New, secret) }
	return m, nil
}

// matches is Verify with a pooled keyed HMAC: same result, no key setup
// and no allocation per call.
func (m *Manager) matches(k Key, stored []byte) bool {
	mac := m.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(k.ID))
	mac.Write([]byte{':'})
	mac.Write([]byte(k.Secret))
	var buf [sha256.Size]byte
	ok := hmac.Equal(mac.Sum(buf[:0]), stored)
	m.macs.Put(mac)
	return ok
}

// CreateOptions describe a new key.
type CreateOptions struct {
	Name, Owner, Tenant string
	Roles, Scopes       []string
	Attrs               map[string]any
	RateLimits          map[string]int64
	ExpiresAt           time.Time
	Actor               string // who creates it, for the audit event
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9._@:/-]{1,128}$`)

// ErrBadField is returned for an owner, tenant, role or scope that is not a
// short token: they travel upstream in headers and into policies.
var ErrBadField = errors.New("apikey: owner, tenant, roles and scopes must be tokens of letters, digits and ._@:/- (at most 128)")

func checkTokens(owner, tenant string, lists ...[]string) error {
	if owner == "" || !tokenRE.MatchString(owner) || tenant != "" && !tokenRE.MatchString(tenant) {
		return ErrBadField
	}
	for _, l := range lists {
		for _, v := range l {
			if !tokenRE.MatchString(v) {
				return ErrBadField
			}
		}
	}
	return nil
}

// Create makes a key and returns its plaintext, which is shown once and
// never stored.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (string, *store.APIKey, error) {
	if err := checkTokens(o.Owner, o.Tenant, o.Roles, o.Scopes); err != nil {
		return "", nil, err
	}
	if len(o.Name) > 200 {
		return "", nil, errors.New("apikey: name longer than 200 characters")
	}
	k, rec, err := m.newRecord(o.Name, o.Owner, o.Tenant, o.Roles, o.Scopes, o.Attrs, o.RateLimits, o.ExpiresAt)
	if err != nil {
		return "", nil, err
	}
	if err := m.o.Store.CreateAPIKey(ctx, rec); err != nil {
		return "", nil, err
	}
	m.record(ctx, "api_key.created", o.Actor, rec.ID, map[string]string{"owner": rec.Owner, "tenant": rec.Tenant, "name": rec.Name})
	return k.String(), rec, nil
}

func (m *Manager) newRecord(name, owner, tenant string, roles, scopes []string, attrs map[string]any, limits map[string]int64, expires time.Time) (Key, *store.APIKey, error) {
	k, err := Generate()
	if err != nil {
		return Key{}, nil, err
	}
	h, err := Hash(m.o.ServerSecret, k)
	if err != nil {
		return Key{}, nil, err
	}
	return k, &store.APIKey{
		ID: k.ID, Hash: h, Hint: k.Hint(), Name: name, Owner: owner, Tenant: tenant, Roles: roles, Scopes: scopes,
		Attrs: attrs, RateLimits: limits, ExpiresAt: expires, CreatedAt: m.o.Now().UTC(), Status: store.StatusActive,
	}, nil
}

// Rotate creates a successor with the same owner, tenant, roles, scopes and
// attributes; the old key keeps working for grace (DefaultGrace if 0).
func (m *Manager) Rotate(ctx context.Context, id string, grace time.Duration, actor string) (string, *store.APIKey, error) {
	if grace <= 0 {
		grace = DefaultGrace
	}
	old, err := m.o.Store.GetAPIKey(ctx, id)
	if err != nil {
		return "", nil, err
	}
	k, rec, err := m.newRecord(old.Name, old.Owner, old.Tenant, old.Roles, old.Scopes, old.Attrs, old.RateLimits, old.ExpiresAt)
	if err != nil {
		return "", nil, err
	}
	until := m.o.Now().Add(grace).UTC()
	if err := m.o.Store.RotateAPIKey(ctx, id, rec, until); err != nil {
		return "", nil, err
	}
	m.forget(id)
	m.record(ctx, "api_key.rotated", actor, id, map[string]string{"successor": rec.ID, "grace_until": until.Format(time.RFC3339)})
	return k.String(), rec, nil
}

// Revoke stops a key at once on this instance (within CacheTTL elsewhere).
func (m *Manager) Revoke(ctx context.Context, id, actor string) error {
	_, err := m.o.Store.UpdateAPIKey(ctx, id, func(k *store.APIKey) error {
		if k.Status == store.StatusRevoked {
			return nil
		}
		k.Status, k.RevokedAt = store.StatusRevoked, m.o.Now().UTC()
		return nil
	})
	m.forget(id)
	if err == nil {
		m.record(ctx, "api_key.revoked", actor, id, nil)
	}
	return err
}

// Get returns a key record.
func (m *Manager) Get(ctx context.Context, id string) (*store.APIKey, error) {
	return m.o.Store.GetAPIKey(ctx, id)
}

// List returns key records.
func (m *Manager) List(ctx context.Context, f store.KeyFilter) ([]*store.APIKey, error) {
	return m.o.Store.ListAPIKeys(ctx, f)
}

func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.cache, id)
	m.mu.Unlock()
}

// Forget drops a key id from the cache: another instance changed it.
func (m *Manager) Forget(id string) { m.forget(id) }

// ForgetAll drops the whole cache (for example after missing notifications).
func (m *Manager) ForgetAll() {
	m.mu.Lock()
	clear(m.cache)
	m.mu.Unlock()
}

func (m *Manager) record(ctx context.Context, typ, actor, id string, attrs map[string]string) {
	if actor == "" {
		actor = "unknown"
	}
	m.o.Events.Record(ctx, audit.Event{Time: m.o.Now(), Type: typ, Actor: actor, Object: id, Outcome: "ok", Attrs: attrs})
}

// lookup returns the record of id from the cache or the store. A store
// error is ErrUnavailable unless the id is cached.
func (m *Manager) lookup(ctx context.Context, id string) (*store.APIKey, error) {
	now := m.o.Now()
	m.mu.Lock()
	c, ok := m.cache[id]
	m.mu.Unlock()
	if ok && now.Before(c.expires) {
		if c.rec == nil {
			return nil, store.ErrNotFound
		}
		return c.rec, nil
	}
	rec, err := m.o.Store.GetAPIKey(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = nil
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	m.mu.Lock()
	if len(m.cache) >= m.o.CacheSize {
		for k, v := range m.cache { // drop expired entries, then any one
			if !now.Before(v.expires) {
				delete(m.cache, k)
			}
		}
		for k := range m.cache {
			if len(m.cache) < m.o.CacheSize {
				break
			}
			delete(m.cache, k)
		}
	}
	m.cache[id] = cached{rec: rec, expires: now.Add(m.o.CacheTTL)}
	m.mu.Unlock()
	if rec == nil {
		return nil, store.ErrNotFound
	}
	return rec, nil
}

// Verify checks a presented key: format and checksum first (no lookup),
// then the stored record (cached), the constant-time hash comparison,
// status, grace period and expiry. A rotated key used during its grace
// period works and is recorded as an audit event.
func (m *Manager) Verify(ctx context.Context, presented string) (*store.APIKey, error) {
	k, err := Parse(presented)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rec, err := m.lookup(ctx, k.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown key id %s", ErrInvalid, k.ID)
	}
	if err != nil {
		return nil, err
	}
	if !m.matches(k, rec.Hash) {
		return nil, fmt.Errorf("%w: wrong secret for key id %s", ErrInvalid, k.ID)
	}
	now := m.o.Now()
	switch rec.Status {
	case store.StatusRevoked:
		return nil, ErrRevoked
	case store.StatusRotated:
		if !now.Before(rec.GraceUntil) {
			return nil, ErrRotatedOut
		}
		m.record(ctx, "api_key.used_in_grace", rec.Owner, rec.ID, map[string]string{"successor": rec.RotatedTo, "grace_until": rec.GraceUntil.Format(time.RFC3339)})
	}
	if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
		return nil, ErrExpired
	}
	m.mu.Lock()
	m.used[rec.ID] = now
	m.mu.Unlock()
	return rec, nil
}

// Flush writes the last-use times gathered since the previous flush in one
// batch (never one write per request).
func (m *Manager) Flush(ctx context.Context) error {
	m.mu.Lock()
	used := m.used
	m.used = map[string]time.Time{}
	m.mu.Unlock()
	if err := m.o.Store.TouchAPIKeys(ctx, used); err != nil {
		m.mu.Lock()
		for id, t := range used { // keep them for the next try
			if t.After(m.used[id]) {
				m.used[id] = t
			}
		}
		m.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes last-use times every interval until ctx is done, then once more.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = m.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			_ = m.Flush(ctx)
		}
	}
}
