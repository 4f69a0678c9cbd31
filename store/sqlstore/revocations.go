package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
)

// RevokeToken implements store.TokenRevocations.
func (s *Store) RevokeToken(ctx context.Context, r *store.RevokedToken) error {
	if r.Issuer == "" || (r.JTI == "") == (r.Subject == "") || r.Until.IsZero() {
		return errors.New("sqlstore: a revocation needs an issuer, exactly one of jti and subject, and an until time")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	q := s.q(`INSERT INTO revoked_tokens (issuer, jti, subject, until_at, created_at, actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`)
	err := s.db.QueryRowContext(ctx, q, r.Issuer, r.JTI, r.Subject, micros(r.Until), micros(r.CreatedAt), r.Actor, r.Reason).Scan(&r.Seq)
	if err != nil {
		return fmt.Errorf("sqlstore: revoke token: %w", err)
	}
	return nil
}

// RevokedTokensAfter implements store.TokenRevocations.
func (s *Store) RevokedTokensAfter(ctx context.Context, after int64, now time.Time, limit int) ([]*store.RevokedToken, error) {
	if limit <= 0 {
		limit = 1000
	}
	return list(ctx, s, "revoked tokens", scanRevoked, `SELECT seq, issuer, jti, subject, until_at, created_at, actor, reason FROM revoked_tokens
		WHERE seq > ? AND until_at > ? ORDER BY seq LIMIT ?`, after, micros(now), limit)
}

func scanRevoked(row scanner) (*store.RevokedToken, error) {
	r := &store.RevokedToken{}
	var until, created int64
	if err := row.Scan(&r.Seq, &r.Issuer, &r.JTI, &r.Subject, &until, &created, &r.Actor, &r.Reason); err != nil {
		return nil, fmt.Errorf("sqlstore: revoked tokens: %w", err)
	}
	r.Until, r.CreatedAt = fromMicros(until), fromMicros(created)
	return r, nil
}

// PurgeRevokedTokens implements store.TokenRevocations.
func (s *Store) PurgeRevokedTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM revoked_tokens WHERE until_at <= ?`), micros(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge revoked tokens: %w", err)
	}
	return res.RowsAffected()
}
