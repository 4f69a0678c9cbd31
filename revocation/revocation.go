// Package revocation keeps every instance's view of revoked tokens: one
// token by its jti, or all tokens of a subject (a disabled user or
// client), per issuer (JWT-09). Revocations are written to the store and
// each instance follows the store, so a revocation reaches every instance
// within one sync interval (default 1s); the JWT stage asks the in-memory
// list on every request, cached tokens included.
package revocation

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

// List is the in-memory view. Safe for concurrent use; implements
// jwt.Revocations.
type List struct {
	st    store.TokenRevocations
	now   func() time.Time
	mu    sync.RWMutex
	jtis  map[key]time.Time // issuer and jti -> until
	subs  map[key]time.Time // issuer and subject -> until
	after int64             // highest Seq applied
	ok    atomic.Bool       // the last sync succeeded
	// synced is closed (and replaced) when a Sync succeeds; under mu.
	synced chan struct{}
}

// Synced returns a channel that is closed when the next Sync succeeds
// (for callers that wait for a revocation to arrive).
func (l *List) Synced() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.synced == nil {
		l.synced = make(chan struct{})
	}
	return l.synced
}

// New returns an empty list following st.
func New(st store.TokenRevocations, now func() time.Time) *List {
	if now == nil {
		now = time.Now
	}
	return &List{st: st, now: now, jtis: map[key]time.Time{}, subs: map[key]time.Time{}}
}

// key is a map key made of two strings: looking it up allocates nothing
// (Revoked runs on every JWT-authenticated request).
type key struct{ issuer, v string }

func k(issuer, v string) key { return key{issuer, v} }

// Revoked reports whether the token jti, or any token of subject, of
// issuer is revoked.
func (l *List) Revoked(issuer, jti, subject string) bool {
	now := l.now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if jti != "" {
		if until, ok := l.jtis[k(issuer, jti)]; ok && now.Before(until) {
			return true
		}
	}
	if subject != "" {
		if until, ok := l.subs[k(issuer, subject)]; ok && now.Before(until) {
			return true
		}
	}
	return false
}

// Revoke stores r and applies it here at once (other instances follow at
// their next sync).
func (l *List) Revoke(ctx context.Context, r *store.RevokedToken) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = l.now()
	}
	if !r.Until.After(r.CreatedAt) {
		return errors.New("revocation: until must be in the future")
	}
	if err := l.st.RevokeToken(ctx, r); err != nil {
		return err
	}
	l.apply([]*store.RevokedToken{r}, false)
	return nil
}

// List returns the revocations in force, oldest first.
func (l *List) List(ctx context.Context) ([]*store.RevokedToken, error) {
	var out []*store.RevokedToken
	after := int64(0)
	for {
		page, err := l.st.RevokedTokensAfter(ctx, after, l.now(), 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

// apply adds revocations; advance moves the sync position (only for
// revocations read from the store in order).
func (l *List) apply(rs []*store.RevokedToken, advance bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		m, v := l.jtis, r.JTI
		if r.JTI == "" {
			m, v = l.subs, r.Subject
		}
		if old, ok := m[k(r.Issuer, v)]; !ok || r.Until.After(old) {
			m[k(r.Issuer, v)] = r.Until
		}
		if advance && r.Seq > l.after {
			l.after = r.Seq
		}
	}
}

// Sync reads the revocations stored since the last sync and drops expired
// ones from memory.
func (l *List) Sync(ctx context.Context) error {
	l.mu.RLock()
	after := l.after
	l.mu.RUnlock()
	for {
		page, err := l.st.RevokedTokensAfter(ctx, after, l.now(), 1000)
		if err != nil {
			l.ok.Store(false)
			return err
		}
		l.apply(page, true)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	l.ok.Store(true)
	now := l.now()
	l.mu.Lock()
	for key, until := range l.jtis {
		if !now.Before(until) {
			delete(l.jtis, key)
		}
	}
	for key, until := range l.subs {
		if !now.Before(until) {
			delete(l.subs, key)
		}
	}
	if l.synced != nil {
		close(l.synced)
		l.synced = nil
	}
	l.mu.Unlock()
	return nil
}

// Healthy reports whether the last sync succeeded.
func (l *List) Healthy() bool { return l.ok.Load() }

// Run syncs every interval until ctx ends, and purges expired rows from
// the store once an hour. A failed sync is logged; the revocations already
// known keep applying.
func (l *List) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastPurge := time.Time{}
	failing := false
	for {
		if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
			if !failing && log != nil {
				log.Warn("token revocations cannot be read; the known ones keep applying", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		if now := l.now(); now.Sub(lastPurge) > time.Hour {
			if _, err := l.st.PurgeRevokedTokens(ctx, now); err == nil {
				lastPurge = now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
