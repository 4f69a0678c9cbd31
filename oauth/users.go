package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/store"
	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id with the OWASP baseline (19 MiB, 2 passes,
// 1 lane), a 16-byte salt and a 32-byte hash, in the PHC string format.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	// MinPasswordLen and MaxPasswordLen bound passwords (in characters;
	// the maximum keeps hashing cost bounded).
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// ErrBadUser: the options describe no valid user.
var ErrBadUser = errors.New("oauth: invalid user")

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// HashPassword returns the argon2id PHC string of password.
func HashPassword(password string) (string, error) {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen || n > MaxPasswordLen {
		return "", fmt.Errorf("%w: a password needs %d to %d characters", ErrBadUser, MinPasswordLen, MaxPasswordLen)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string, in
// constant time for a given hash. A malformed hash never matches.
func CheckPassword(hash, password string) bool {
	if len(password) > 4*MaxPasswordLen {
		return false
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 10 || p == 0 || p > 16 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// UserOptions describe a user to create.
type UserOptions struct {
	Username string
	Password string
	Roles    []string
	Tenant   string
}

// CreateUser stores a new user with the password hashed.
func CreateUser(ctx context.Context, st store.Users, o UserOptions, now time.Time) (*store.User, error) {
	o.Username = strings.ToLower(strings.TrimSpace(o.Username))
	if !usernameRE.MatchString(o.Username) {
		return nil, fmt.Errorf("%w: username %q: lower-case letters, digits, '.', '_', '@' and '-' (at most 64)", ErrBadUser, o.Username)
	}
	hash, err := HashPassword(o.Password)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	u := &store.User{ID: "u-" + base64.RawURLEncoding.EncodeToString(id), Username: o.Username, PasswordHash: hash,
		Roles: o.Roles, Tenant: o.Tenant, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword replaces a user's password.
func SetPassword(ctx context.Context, st store.Users, id, password string, now time.Time) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	_, err = st.UpdateUser(ctx, id, func(u *store.User) error { u.PasswordHash, u.UpdatedAt = hash, now; return nil })
	return err
}
