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

// CreateCode implements store.AuthCodes.
func (s *Store) CreateCode(ctx context.Context, c *store.AuthCode) error {
	scopes, err := json.Marshal(nonNilStrings(c.Scopes))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scopes, audience, challenge, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), c.Hash, c.ClientID, c.UserID, c.RedirectURI, string(scopes), c.Audience, c.Challenge, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create code: %w", err)
	}
	return nil
}

func nonNilStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// RedeemCode implements store.AuthCodes.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, now time.Time, grant func(*store.AuthCode) (*store.CodeGrant, error)) (*store.AuthCode, error) {
	var out *store.AuthCode
	err := tx(ctx, s.db, func(t *sql.Tx) error {
		c := &store.AuthCode{Hash: hash}
		var scopes string
		var created, expires, used int64
		err := s.lockRow(ctx, t, `SELECT client_id, user_id, redirect_uri, scopes, audience, challenge, created_at, expires_at, used_at, token_id, family
			FROM oauth_codes WHERE code_hash = ?`, hash).Scan(&c.ClientID, &c.UserID, &c.RedirectURI, &scopes, &c.Audience, &c.Challenge, &created, &expires, &used, &c.TokenID, &c.Family)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlstore: redeem code: %w", err)
		}
		if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
			return err
		}
		c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMicros(created), fromMicros(expires), fromMicros(used)
		out = c
		if used != 0 {
			return store.ErrConflict
		}
		if !now.Before(c.ExpiresAt) {
			out = nil
			return store.ErrNotFound
		}
		g, err := grant(c)
		if err != nil {
			out = nil
			return err
		}
		c.UsedAt, c.TokenID = now, g.TokenID
		if g.Refresh != nil {
			c.Family = g.Refresh.Family
			if err := s.insertRefresh(ctx, t, g.Refresh); err != nil {
				return err
			}
		}
		_, err = t.ExecContext(ctx, s.q("UPDATE oauth_codes SET used_at = ?, token_id = ?, family = ? WHERE code_hash = ?"), micros(now), c.TokenID, c.Family, hash)
		return err
	})
	return keepOnConflict(out, err)
}

// PurgeCodes implements store.AuthCodes.
func (s *Store) PurgeCodes(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM oauth_codes WHERE expires_at < ?"), micros(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
