package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/store"
)

// This file holds what the code of every table shares: transactions,
// locked reads, read-change-write updates and lists.

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// tx runs fn in a transaction, committed when fn returns nil.
func tx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	t, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	if err := fn(t); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// lockRow runs query, a SELECT of one row, in t with the row locked until t
// ends: FOR UPDATE on PostgreSQL; SQLite needs no clause, as its write
// transactions are immediate (see store/sqlite) and so hold the database's
// write lock from their start.
func (s *Store) lockRow(ctx context.Context, t *sql.Tx, query string, args ...any) *sql.Row {
	if s.d == Postgres {
		query += " FOR UPDATE"
	}
	return t.QueryRowContext(ctx, s.q(query), args...)
}

// updateRow is the read-change-write of one record in one transaction: it
// reads the record with query (a SELECT of one row, locked with lockRow)
// and scan, lets change edit it, and stores it with write, which gets the
// record as it was read too (to restore the fields that cannot change).
// scan gives store.ErrNotFound for a missing row; an error of change or
// write rolls back and is returned as is. On any error the record is nil.
func updateRow[T any](ctx context.Context, s *Store, query string, id any, scan func(scanner) (*T, error),
	change func(*T) error, write func(t *sql.Tx, was, v *T) error) (*T, error) {
	var out *T
	err := tx(ctx, s.db, func(t *sql.Tx) error {
		v, err := scan(s.lockRow(ctx, t, query, id))
		if err != nil {
			return err
		}
		was := *v
		if err := change(v); err != nil {
			return err
		}
		if err := write(t, &was, v); err != nil {
			return err
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// list returns the records of query, scanned with scan, in the order of the
// query; what names the listing in the error of the query.
func list[T any](ctx context.Context, s *Store, what string, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// keepOnConflict is the result of a single-use record's redemption: the
// record alone, or with store.ErrConflict when it was used before (so the
// caller can revoke what its first use issued); with any other error, none.
func keepOnConflict[T any](out *T, err error) (*T, error) {
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	return out, err
}
