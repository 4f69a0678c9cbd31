// Package postgres opens the PostgreSQL store through pgx's database/sql
// driver, for several gateway instances sharing one database, and listens
// for the key-change notifications that let every instance drop a revoked
// key from its cache at once. It is the only package that imports pgx.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Open connects to dsn (a postgres:// URL) and applies pending migrations
// unless migrate is false.
func Open(ctx context.Context, dsn string, migrate bool) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	s, err := sqlstore.Prepare(ctx, db, sqlstore.Postgres, isConflict, migrate)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.SetKeyChannel(sqlstore.DefaultKeyChannel)
	return s, nil
}

func isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

// Listen delivers the payload of every notification on channel to fn until
// ctx is done. Each (re)connection calls onConnect first: a listener that
// was away may have missed notifications, so callers drop what they cached.
// It reconnects with a growing delay, up to 5 s.
func Listen(ctx context.Context, dsn, channel string, onConnect func(), fn func(payload string)) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, dsn, channel, func() { delay = 100 * time.Millisecond; onConnect() }, fn)
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, dsn, channel string, onConnect func(), fn func(string)) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	onConnect()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
