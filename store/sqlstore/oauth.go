package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

const (
	clientColumns = "id, secret_hash, name, public, redirect_uris, grants, scopes, audiences, roles, tenant, disabled, created_at, updated_at"
	clientByID    = "SELECT " + clientColumns + " FROM oauth_clients WHERE id = ?"
)

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func clientArgs(c *store.OAuthClient) ([]any, error) {
	lists := make([]any, 0, 5)
	for _, l := range [][]string{c.RedirectURIs, c.Grants, c.Scopes, c.Audiences, c.Roles} {
		if l == nil {
			l = []string{}
		}
		b, err := json.Marshal(l)
		if err != nil {
			return nil, err
		}
		lists = append(lists, string(b))
	}
	hash := c.SecretHash
	if hash == nil {
		hash = []byte{}
	}
	return append([]any{c.ID, hash, c.Name, b2i(c.Public)}, append(lists, c.Tenant, b2i(c.Disabled), micros(c.CreatedAt), micros(c.UpdatedAt))...), nil
}

func scanClient(row scanner) (*store.OAuthClient, error) {
	c := &store.OAuthClient{}
	var pub, dis, created, updated int64
	var ru, gr, sc, au, ro string
	if err := row.Scan(&c.ID, &c.SecretHash, &c.Name, &pub, &ru, &gr, &sc, &au, &ro, &c.Tenant, &dis, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("sqlstore: scan client: %w", err)
	}
	for _, f := range []struct {
		src string
		dst *[]string
	}{{ru, &c.RedirectURIs}, {gr, &c.Grants}, {sc, &c.Scopes}, {au, &c.Audiences}, {ro, &c.Roles}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("sqlstore: client %s: %w", c.ID, err)
		}
	}
	c.Public, c.Disabled = pub == 1, dis == 1
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// CreateClient implements store.OAuthClients.
func (s *Store) CreateClient(ctx context.Context, c *store.OAuthClient) error {
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO oauth_clients ("+clientColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), args...)
	if err != nil {
		if s.isConflict(err) {
			return fmt.Errorf("sqlstore: client %s: %w", c.ID, store.ErrConflict)
		}
		return fmt.Errorf("sqlstore: create client: %w", err)
	}
	return nil
}

// GetClient implements store.OAuthClients.
func (s *Store) GetClient(ctx context.Context, id string) (*store.OAuthClient, error) {
	return scanClient(s.db.QueryRowContext(ctx, s.q(clientByID), id))
}

// ListClients implements store.OAuthClients.
func (s *Store) ListClients(ctx context.Context) ([]*store.OAuthClient, error) {
	return list(ctx, s, "list clients", scanClient, "SELECT "+clientColumns+" FROM oauth_clients ORDER BY created_at DESC, id")
}

// UpdateClient implements store.OAuthClients.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.OAuthClient) error) (*store.OAuthClient, error) {
	return updateRow(ctx, s, clientByID, id, scanClient, fn, func(t *sql.Tx, _, c *store.OAuthClient) error {
		c.ID = id // it cannot change
		args, err := clientArgs(c)
		if err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, s.q(`UPDATE oauth_clients SET secret_hash = ?, name = ?, public = ?, redirect_uris = ?, grants = ?, scopes = ?,
			audiences = ?, roles = ?, tenant = ?, disabled = ?, created_at = ?, updated_at = ? WHERE id = ?`), append(args[1:], id)...); err != nil {
			return fmt.Errorf("sqlstore: update client: %w", err)
		}
		return nil
	})
}

// DeleteClient implements store.OAuthClients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM oauth_clients WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete client: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AddSigningKey implements store.SigningKeys.
func (s *Store) AddSigningKey(ctx context.Context, k *store.SigningKey) error {
	return tx(ctx, s.db, func(t *sql.Tx) error {
		if _, err := t.ExecContext(ctx, s.q("UPDATE oauth_signing_keys SET retired_at = ? WHERE retired_at = 0"), micros(k.CreatedAt)); err != nil {
			return fmt.Errorf("sqlstore: retire signing keys: %w", err)
		}
		_, err := t.ExecContext(ctx, s.q("INSERT INTO oauth_signing_keys (id, alg, public_key, sealed_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?, 0)"),
			k.ID, k.Alg, k.Public, k.Sealed, micros(k.CreatedAt))
		if err != nil {
			if s.isConflict(err) {
				return fmt.Errorf("sqlstore: signing key %s: %w", k.ID, store.ErrConflict)
			}
			return fmt.Errorf("sqlstore: add signing key: %w", err)
		}
		return nil
	})
}

func scanSigningKey(row scanner) (*store.SigningKey, error) {
	k := &store.SigningKey{}
	var created, retired int64
	if err := row.Scan(&k.ID, &k.Alg, &k.Public, &k.Sealed, &created, &retired); err != nil {
		return nil, fmt.Errorf("sqlstore: signing keys: %w", err)
	}
	k.CreatedAt, k.RetiredAt = fromMicros(created), fromMicros(retired)
	return k, nil
}

// SigningKeys implements store.SigningKeys.
func (s *Store) SigningKeys(ctx context.Context, since time.Time) ([]*store.SigningKey, error) {
	return list(ctx, s, "signing keys", scanSigningKey,
		"SELECT id, alg, public_key, sealed_key, created_at, retired_at FROM oauth_signing_keys WHERE retired_at = 0 OR retired_at >= ? ORDER BY created_at DESC, id", micros(since))
}
