package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/store"
)

const (
	userColumns = "id, username, password_hash, roles, tenant, disabled, created_at, updated_at"
	userByID    = "SELECT " + userColumns + " FROM users WHERE id = ?"
)

func scanUser(row scanner) (*store.User, error) {
	u := &store.User{}
	var roles string
	var disabled, created, updated int64
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &roles, &u.Tenant, &disabled, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("sqlstore: scan user: %w", err)
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return nil, fmt.Errorf("sqlstore: user %s: %w", u.ID, err)
	}
	u.Disabled = disabled == 1
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

func rolesJSON(roles []string) string {
	if roles == nil {
		roles = []string{}
	}
	b, _ := json.Marshal(roles)
	return string(b)
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	_, err := s.db.ExecContext(ctx, s.q("INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		u.ID, u.Username, u.PasswordHash, rolesJSON(u.Roles), u.Tenant, b2i(u.Disabled), micros(u.CreatedAt), micros(u.UpdatedAt))
	if err != nil {
		if s.isConflict(err) {
			return fmt.Errorf("sqlstore: user %s: %w", u.Username, store.ErrConflict)
		}
		return fmt.Errorf("sqlstore: create user: %w", err)
	}
	return nil
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, s.q(userByID), id))
}

// GetUserByName implements store.Users.
func (s *Store) GetUserByName(ctx context.Context, username string) (*store.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, s.q("SELECT "+userColumns+" FROM users WHERE username = ?"), username))
}

// ListUsers implements store.Users.
func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	return list(ctx, s, "list users", scanUser, "SELECT "+userColumns+" FROM users ORDER BY username")
}

// UpdateUser implements store.Users.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (*store.User, error) {
	return updateRow(ctx, s, userByID, id, scanUser, fn, func(t *sql.Tx, was, u *store.User) error {
		u.ID, u.Username = id, was.Username // they cannot change
		if _, err := t.ExecContext(ctx, s.q("UPDATE users SET password_hash = ?, roles = ?, tenant = ?, disabled = ?, updated_at = ? WHERE id = ?"),
			u.PasswordHash, rolesJSON(u.Roles), u.Tenant, b2i(u.Disabled), micros(u.UpdatedAt), id); err != nil {
			return fmt.Errorf("sqlstore: update user: %w", err)
		}
		return nil
	})
}
