// Package store holds Gatehouse's records and the small interfaces that
// persist them. One implementation, store/sqlstore, serves SQLite (the
// embedded default, store/sqlite) and PostgreSQL (several instances,
// store/postgres); store/storetest is the conformance suite both pass.
//
// Implementations are safe for concurrent use. Every write is one
// transaction. Errors wrap ErrNotFound and ErrConflict where they apply.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no record with that id.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with that id exists, or a state change raced.
	ErrConflict = errors.New("store: conflict")
)

// Key statuses.
const (
	StatusActive  = "active"
	StatusRotated = "rotated" // works until GraceUntil, then stops
	StatusRevoked = "revoked"
)

// APIKey is the stored form of an API key: never its plaintext, only the
// keyed hash (see package apikey).
type APIKey struct {
	ID     string
	Hash   []byte
	Hint   string
	Name   string
	Owner  string // the subject the key acts for
	Tenant string
	Roles  []string
	Scopes []string
	// Attrs are free attributes for policies (ABAC).
	Attrs map[string]any
	// RateLimits override post-auth rate-limit policies, by policy name.
	RateLimits map[string]int64
	Status     string
	// RotatedTo names the successor of a rotated key.
	RotatedTo  string
	GraceUntil time.Time // zero unless rotated
	ExpiresAt  time.Time // zero: no expiry
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time
}

// KeyFilter selects keys in List; empty fields match everything.
type KeyFilter struct {
	Owner, Tenant, Status string
	Limit                 int // 0: 1000
}

// APIKeys persists API keys.
type APIKeys interface {
	// CreateAPIKey stores a new key; ErrConflict if the id exists.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKey returns a key or ErrNotFound.
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	// ListAPIKeys returns keys matching f, newest first.
	ListAPIKeys(ctx context.Context, f KeyFilter) ([]*APIKey, error)
	// UpdateAPIKey reads a key, lets fn change it and writes it back, in
	// one transaction. The id and hash cannot change.
	UpdateAPIKey(ctx context.Context, id string, fn func(*APIKey) error) (*APIKey, error)
	// RotateAPIKey stores successor and marks the old key rotated until
	// graceUntil, in one transaction; ErrConflict if the old key is not active.
	RotateAPIKey(ctx context.Context, oldID string, successor *APIKey, graceUntil time.Time) error
	// TouchAPIKeys records last-use times in one batch.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// RevokedToken revokes tokens of an issuer: one token by its jti, or every
// token of a subject (a disabled user or client), until Until (after the
// longest lifetime of the tokens concerned; then the entry is purged).
type RevokedToken struct {
	// Seq orders revocations; set by the store.
	Seq       int64
	Issuer    string
	JTI       string // exactly one of JTI and Subject
	Subject   string
	Until     time.Time
	CreatedAt time.Time
	Actor     string
	Reason    string
}

// TokenRevocations persists revoked tokens, for every instance to follow.
type TokenRevocations interface {
	// RevokeToken stores r and sets r.Seq.
	RevokeToken(ctx context.Context, r *RevokedToken) error
	// RevokedTokensAfter returns revocations with Seq > after that are not
	// yet past Until at now, in Seq order, at most limit.
	RevokedTokensAfter(ctx context.Context, after int64, now time.Time, limit int) ([]*RevokedToken, error)
	// PurgeRevokedTokens deletes revocations past Until at now.
	PurgeRevokedTokens(ctx context.Context, now time.Time) (int64, error)
}

// OAuthClient is a client of the built-in authorization server. Only a
// hash of its secret is stored.
type OAuthClient struct {
	ID           string
	SecretHash   []byte // empty for public clients
	Name         string
	Public       bool
	RedirectURIs []string
	Grants       []string
	Scopes       []string // scopes it may be granted
	Audiences    []string // resources it may get tokens for; the first is the default
	Roles        []string // put into its tokens
	Tenant       string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SigningKey is a token signing key of the authorization server. The
// private key is stored sealed (encrypted) under a key the database never
// sees.
type SigningKey struct {
	ID        string
	Alg       string
	Public    []byte // the raw public key (Ed25519: 32 bytes)
	Sealed    []byte // the private key, AES-GCM sealed
	CreatedAt time.Time
	RetiredAt time.Time // zero while it signs
}

// User is a person who signs in to the authorization server. Only an
// argon2id hash of the password is stored (PHC string format).
type User struct {
	ID           string
	Username     string
	PasswordHash string
	Roles        []string
	Tenant       string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Users persists users; usernames are unique.
type Users interface {
	// CreateUser stores u; ErrConflict if the id or the username exists.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByName(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser reads a user, lets fn change it and writes it back in one
	// transaction; the id and username cannot change.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
}

// AuthCode is an authorization code, stored by the hash of its value.
type AuthCode struct {
	Hash        []byte
	ClientID    string
	UserID      string
	RedirectURI string
	Scopes      []string
	Audience    string
	Challenge   string // PKCE S256 code challenge
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      time.Time // zero until redeemed
	TokenID     string    // jti of the access token issued for it
	Family      string    // refresh-token family it started, if any
}

// CodeGrant is what a redeemed code produces, recorded in the redeeming
// transaction (OA-10): the access token's jti and, optionally, the first
// refresh token of a new family.
type CodeGrant struct {
	TokenID string
	Refresh *RefreshToken
}

// AuthCodes persists authorization codes.
type AuthCodes interface {
	CreateCode(ctx context.Context, c *AuthCode) error
	// RedeemCode redeems a code in one transaction: grant checks the code
	// (an error leaves it unused and is returned) and says what it
	// produces; the code is marked used at now with the grant's token id
	// and family, and the grant's refresh token is stored. A code used
	// before is returned with ErrConflict, carrying the token id and family
	// recorded by its redemption (so they can be revoked, even when two
	// redemptions race); an unknown or expired one gives ErrNotFound.
	RedeemCode(ctx context.Context, hash []byte, now time.Time, grant func(*AuthCode) (*CodeGrant, error)) (*AuthCode, error)
	// PurgeCodes deletes codes that expired before now.
	PurgeCodes(ctx context.Context, before time.Time) (int64, error)
}

// RefreshToken is a refresh token, stored by the hash of its value. Tokens
// rotated from one another share a family.
type RefreshToken struct {
	Hash      []byte
	Family    string
	ClientID  string
	UserID    string
	Scopes    []string
	Audience  string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // set when it was exchanged for its successor
	Revoked   bool      // the whole family is revoked
	// AccessTokenID is the jti of the access token issued with it.
	AccessTokenID string
}

// RefreshTokens persists refresh tokens.
type RefreshTokens interface {
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// UseRefreshToken marks the token used at now, stores its successor
	// next (of the same family) in the same transaction, and returns the
	// used token. A token used before is returned with ErrConflict (a
	// replay: the caller revokes its family); an unknown, expired or
	// revoked one gives ErrNotFound.
	UseRefreshToken(ctx context.Context, hash []byte, now time.Time, next *RefreshToken) (*RefreshToken, error)
	// RevokeRefreshFamily revokes every token of a family and returns the
	// access token ids issued with them.
	RevokeRefreshFamily(ctx context.Context, family string) ([]string, error)
	// GetRefreshToken returns a token by hash (any state) or ErrNotFound.
	GetRefreshToken(ctx context.Context, hash []byte) (*RefreshToken, error)
}

// OAuthClients persists the authorization server's clients.
type OAuthClients interface {
	// CreateClient stores c; ErrConflict if the id exists.
	CreateClient(ctx context.Context, c *OAuthClient) error
	// GetClient returns a client or ErrNotFound.
	GetClient(ctx context.Context, id string) (*OAuthClient, error)
	// ListClients returns every client, newest first.
	ListClients(ctx context.Context) ([]*OAuthClient, error)
	// UpdateClient reads a client, lets fn change it and writes it back in
	// one transaction; the id cannot change.
	UpdateClient(ctx context.Context, id string, fn func(*OAuthClient) error) (*OAuthClient, error)
	// DeleteClient deletes a client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
}

// SigningKeys persists the authorization server's token signing keys.
type SigningKeys interface {
	// AddSigningKey stores k and retires every other active key at
	// k.CreatedAt, in one transaction.
	AddSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys returns the keys not retired before since, newest first.
	SigningKeys(ctx context.Context, since time.Time) ([]*SigningKey, error)
}

// Store is everything a store provides.
type Store interface {
	APIKeys
	TokenRevocations
	OAuthClients
	SigningKeys
	Users
	AuthCodes
	RefreshTokens
	Close() error
}
