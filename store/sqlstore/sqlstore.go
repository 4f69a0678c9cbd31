// Package sqlstore is the one database/sql implementation of the store
// interfaces, with two dialects (SQLite and PostgreSQL) and migrations
// embedded per dialect, applied with goose. It imports no driver: the
// store/sqlite and store/postgres packages open the database and hand it
// here. Times are stored as Unix microseconds (UTC), lists and maps as JSON.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/pressly/goose/v3"
)

// Dialect is the SQL flavour of a database.
type Dialect int

// Dialects.
const (
	SQLite Dialect = iota
	Postgres
)

//go:embed migrations
var migrations embed.FS

// Store implements store.Store on a *sql.DB.
type Store struct {
	db *sql.DB
	d  Dialect
	// isConflict recognises a unique-key violation of the dialect's driver.
	isConflict func(error) bool
	// notify, when set (PostgreSQL), is the channel every change of a key
	// is announced on, inside the changing transaction.
	notify string
}

// DefaultKeyChannel is the PostgreSQL notification channel of key changes.
const DefaultKeyChannel = "gatehouse_api_keys"

// SetKeyChannel makes every key change NOTIFY channel (PostgreSQL only) with
// the key id, so other instances drop it from their caches at once.
func (s *Store) SetKeyChannel(channel string) { s.notify = channel }

// KeyChannel returns the notification channel ("" when none).
func (s *Store) KeyChannel() string { return s.notify }

func (s *Store) announce(ctx context.Context, t *sql.Tx, ids ...string) error {
	if s.notify == "" || s.d != Postgres {
		return nil
	}
	for _, id := range ids {
		if _, err := t.ExecContext(ctx, "SELECT pg_notify($1, $2)", s.notify, id); err != nil {
			return fmt.Errorf("sqlstore: notify: %w", err)
		}
	}
	return nil
}

// New wraps an open database. isConflict tells unique violations apart.
func New(db *sql.DB, d Dialect, isConflict func(error) bool) *Store {
	return &Store{db: db, d: d, isConflict: isConflict}
}

// Prepare checks an opened database, wraps it and applies pending
// migrations when migrate is set; on any error it closes db.
func Prepare(ctx context.Context, db *sql.DB, d Dialect, isConflict func(error) bool, migrate bool) (*Store, error) {
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect: %w", err)
	}
	s := New(db, d, isConflict)
	if migrate {
		if _, err := s.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// DB returns the underlying database.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) provider() (*goose.Provider, error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if s.d == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(dialect, s.db, sub, goose.WithDisableGlobalRegistry(true))
}

// Migrate applies every pending migration; it returns the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	var out []int64
	for _, r := range res {
		out = append(out, r.Source.Version)
	}
	return out, nil
}

// MigrationStatus describes each known migration: version, file, applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range st {
		applied := "pending"
		if !m.AppliedAt.IsZero() {
			applied = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		}
		out = append(out, fmt.Sprintf("%05d %s %s", m.Source.Version, m.Source.Path, applied))
	}
	return out, nil
}

// q rewrites ? placeholders for the dialect.
func (s *Store) q(query string) string {
	if s.d != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

const (
	keyColumns = "id, hash, hint, name, owner, tenant, roles, scopes, attrs, rate_limits, status, rotated_to, grace_until, expires_at, created_at, last_used_at, revoked_at"
	keyByID    = "SELECT " + keyColumns + " FROM api_keys WHERE id = ?"
)

func keyArgs(k *store.APIKey) ([]any, error) {
	enc := func(v any, empty string) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		if string(b) == "null" {
			return empty, nil
		}
		return string(b), nil
	}
	roles, err := enc(k.Roles, "[]")
	if err != nil {
		return nil, err
	}
	scopes, err := enc(k.Scopes, "[]")
	if err != nil {
		return nil, err
	}
	attrs, err := enc(k.Attrs, "{}")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: attrs: %w", err)
	}
	limits, err := enc(k.RateLimits, "{}")
	if err != nil {
		return nil, err
	}
	return []any{k.ID, k.Hash, k.Hint, k.Name, k.Owner, k.Tenant, roles, scopes, attrs, limits, k.Status, k.RotatedTo,
		micros(k.GraceUntil), micros(k.ExpiresAt), micros(k.CreatedAt), micros(k.LastUsedAt), micros(k.RevokedAt)}, nil
}

func scanKey(row scanner) (*store.APIKey, error) {
	var k store.APIKey
	var roles, scopes, attrs, limits string
	var grace, expires, created, used, revoked int64
	if err := row.Scan(&k.ID, &k.Hash, &k.Hint, &k.Name, &k.Owner, &k.Tenant, &roles, &scopes, &attrs, &limits, &k.Status, &k.RotatedTo,
		&grace, &expires, &created, &used, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("sqlstore: scan key: %w", err)
	}
	for _, f := range []struct {
		src string
		dst any
	}{{roles, &k.Roles}, {scopes, &k.Scopes}, {attrs, &k.Attrs}, {limits, &k.RateLimits}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("sqlstore: key %s: %w", k.ID, err)
		}
	}
	k.GraceUntil, k.ExpiresAt, k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMicros(grace), fromMicros(expires), fromMicros(created), fromMicros(used), fromMicros(revoked)
	return &k, nil
}

func (s *Store) insertKey(ctx context.Context, t *sql.Tx, k *store.APIKey) error {
	args, err := keyArgs(k)
	if err != nil {
		return err
	}
	_, err = t.ExecContext(ctx, s.q("INSERT INTO api_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), args...)
	if err != nil {
		if s.isConflict(err) {
			return fmt.Errorf("%w: key %s exists", store.ErrConflict, k.ID)
		}
		return fmt.Errorf("sqlstore: insert key: %w", err)
	}
	return nil
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k.ID == "" || len(k.Hash) == 0 {
		return errors.New("sqlstore: a key needs an id and a hash")
	}
	if k.Status == "" {
		k.Status = store.StatusActive
	}
	return tx(ctx, s.db, func(t *sql.Tx) error { return s.insertKey(ctx, t, k) })
}

// GetAPIKey implements store.APIKeys.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	return scanKey(s.db.QueryRowContext(ctx, s.q(keyByID), id))
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context, f store.KeyFilter) ([]*store.APIKey, error) {
	query := "SELECT " + keyColumns + " FROM api_keys WHERE 1=1"
	var args []any
	for _, c := range []struct{ col, v string }{{"owner", f.Owner}, {"tenant", f.Tenant}, {"status", f.Status}} {
		if c.v != "" {
			query += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	query += " ORDER BY created_at DESC, id LIMIT " + strconv.Itoa(limit)
	return list(ctx, s, "list keys", scanKey, query, args...)
}

func (s *Store) writeKey(ctx context.Context, t *sql.Tx, k *store.APIKey) error {
	args, err := keyArgs(k)
	if err != nil {
		return err
	}
	// Everything but id and hash.
	_, err = t.ExecContext(ctx, s.q(`UPDATE api_keys SET hint = ?, name = ?, owner = ?, tenant = ?, roles = ?, scopes = ?, attrs = ?, rate_limits = ?,
		status = ?, rotated_to = ?, grace_until = ?, expires_at = ?, created_at = ?, last_used_at = ?, revoked_at = ? WHERE id = ?`), append(args[2:], k.ID)...)
	if err != nil {
		return fmt.Errorf("sqlstore: update key: %w", err)
	}
	return nil
}

// UpdateAPIKey implements store.APIKeys.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, fn func(*store.APIKey) error) (*store.APIKey, error) {
	return updateRow(ctx, s, keyByID, id, scanKey, fn, func(t *sql.Tx, was, k *store.APIKey) error {
		k.ID, k.Hash = id, was.Hash // they cannot change
		if err := s.writeKey(ctx, t, k); err != nil {
			return err
		}
		return s.announce(ctx, t, id)
	})
}

// RotateAPIKey implements store.APIKeys.
func (s *Store) RotateAPIKey(ctx context.Context, oldID string, successor *store.APIKey, graceUntil time.Time) error {
	if successor.Status == "" {
		successor.Status = store.StatusActive
	}
	return tx(ctx, s.db, func(t *sql.Tx) error {
		old, err := scanKey(s.lockRow(ctx, t, keyByID, oldID))
		if err != nil {
			return err
		}
		if old.Status != store.StatusActive {
			return fmt.Errorf("%w: key %s is %s", store.ErrConflict, oldID, old.Status)
		}
		if err := s.insertKey(ctx, t, successor); err != nil {
			return err
		}
		old.Status, old.RotatedTo, old.GraceUntil = store.StatusRotated, successor.ID, graceUntil
		if err := s.writeKey(ctx, t, old); err != nil {
			return err
		}
		return s.announce(ctx, t, oldID)
	})
}

// TouchAPIKeys implements store.APIKeys: last_used only moves forward.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return tx(ctx, s.db, func(t *sql.Tx) error {
		stmt, err := t.PrepareContext(ctx, s.q("UPDATE api_keys SET last_used_at = ? WHERE id = ? AND last_used_at < ?"))
		if err != nil {
			return fmt.Errorf("sqlstore: touch: %w", err)
		}
		defer stmt.Close()
		for id, at := range used {
			if _, err := stmt.ExecContext(ctx, micros(at), id, micros(at)); err != nil {
				return fmt.Errorf("sqlstore: touch %s: %w", id, err)
			}
		}
		return nil
	})
}

var _ store.Store = (*Store)(nil)
