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

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return tx(ctx, s.db, func(tx *sql.Tx) error { return s.insertRefresh(ctx, tx, t) })
}

func (s *Store) insertRefresh(ctx context.Context, tx *sql.Tx, t *store.RefreshToken) error {
	scopes, err := json.Marshal(nonNilStrings(t.Scopes))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO oauth_refresh_tokens (token_hash, family, client_id, user_id, scopes, audience, created_at, expires_at, access_token_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), t.Hash, t.Family, t.ClientID, t.UserID, string(scopes), t.Audience, micros(t.CreatedAt), micros(t.ExpiresAt), t.AccessTokenID)
	if err != nil {
		return fmt.Errorf("sqlstore: create refresh token: %w", err)
	}
	return nil
}

const (
	refreshColumns = "family, client_id, user_id, scopes, audience, created_at, expires_at, used_at, revoked, access_token_id"
	refreshByHash  = "SELECT " + refreshColumns + " FROM oauth_refresh_tokens WHERE token_hash = ?"
)

func scanRefresh(row scanner, hash []byte) (*store.RefreshToken, error) {
	t := &store.RefreshToken{Hash: hash}
	var scopes string
	var created, expires, used, revoked int64
	if err := row.Scan(&t.Family, &t.ClientID, &t.UserID, &scopes, &t.Audience, &created, &expires, &used, &revoked, &t.AccessTokenID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("sqlstore: refresh token: %w", err)
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.Revoked = fromMicros(created), fromMicros(expires), fromMicros(used), revoked == 1
	return t, nil
}

// GetRefreshToken implements store.RefreshTokens.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (*store.RefreshToken, error) {
	return scanRefresh(s.db.QueryRowContext(ctx, s.q(refreshByHash), hash), hash)
}

// UseRefreshToken implements store.RefreshTokens.
func (s *Store) UseRefreshToken(ctx context.Context, hash []byte, now time.Time, next *store.RefreshToken) (*store.RefreshToken, error) {
	var out *store.RefreshToken
	err := tx(ctx, s.db, func(t *sql.Tx) error {
		rt, err := scanRefresh(s.lockRow(ctx, t, refreshByHash, hash), hash)
		if err != nil {
			return err
		}
		out = rt
		switch {
		case rt.Revoked || !now.Before(rt.ExpiresAt):
			out = nil
			return store.ErrNotFound
		case !rt.UsedAt.IsZero():
			return store.ErrConflict
		}
		rt.UsedAt = now
		if _, err = t.ExecContext(ctx, s.q("UPDATE oauth_refresh_tokens SET used_at = ? WHERE token_hash = ?"), micros(now), hash); err != nil {
			return err
		}
		if next != nil {
			if next.Family != rt.Family {
				return fmt.Errorf("sqlstore: a successor of family %q given for family %q", next.Family, rt.Family)
			}
			return s.insertRefresh(ctx, t, next)
		}
		return nil
	})
	return keepOnConflict(out, err)
}

// RevokeRefreshFamily implements store.RefreshTokens.
func (s *Store) RevokeRefreshFamily(ctx context.Context, family string) ([]string, error) {
	var ids []string
	err := tx(ctx, s.db, func(t *sql.Tx) error {
		if _, err := t.ExecContext(ctx, s.q("UPDATE oauth_refresh_tokens SET revoked = 1 WHERE family = ?"), family); err != nil {
			return err
		}
		rows, err := t.QueryContext(ctx, s.q("SELECT access_token_id FROM oauth_refresh_tokens WHERE family = ? AND access_token_id <> ''"), family)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}
