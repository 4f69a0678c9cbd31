package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/store"
)

// KeyRing holds the server's signing keys: the active Ed25519 key, which
// signs, and the keys retired within the retention period, which still
// verify (and stay in the JWKS). Private keys are stored sealed with
// AES-256-GCM under a key derived from a secret outside the database; the
// key id is the additional data, so a sealed key cannot be moved to
// another id. Safe for concurrent use.
type KeyRing struct {
	st        store.OAuth
	aead      cipher.AEAD
	retention time.Duration
	now       func() time.Time
	mu        sync.RWMutex
	activeID  string
	activeAt  time.Time
	active    ed25519.PrivateKey
	public    []jwt.StaticKey
}

// MinSecretBytes is the shortest accepted sealing secret.
const MinSecretBytes = 32

// NewKeyRing returns a key ring on st. secret seals the private keys;
// retention is how long a retired key keeps verifying (at least the
// longest token lifetime).
func NewKeyRing(st store.OAuth, secret []byte, retention time.Duration, now func() time.Time) (*KeyRing, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("oauth: the signing key secret must have at least %d bytes", MinSecretBytes)
	}
	if now == nil {
		now = time.Now
	}
	sum := sha256.Sum256(append([]byte("gatehouse oauth signing keys v1\x00"), secret...))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &KeyRing{st: st, aead: aead, retention: retention, now: now}, nil
}

// Load reads the keys from the store, creating the first signing key when
// there is none.
func (k *KeyRing) Load(ctx context.Context) error {
	keys, err := k.st.SigningKeys(ctx, k.now().Add(-k.retention))
	if err != nil {
		return err
	}
	if len(keys) == 0 || !keys[0].RetiredAt.IsZero() {
		if _, err := k.Rotate(ctx); err != nil {
			return err
		}
		return nil
	}
	return k.use(keys)
}

func (k *KeyRing) use(keys []*store.SigningKey) error {
	var activeID string
	var activeAt time.Time
	var active ed25519.PrivateKey
	public := make([]jwt.StaticKey, 0, len(keys))
	for _, sk := range keys {
		if sk.Alg != "EdDSA" || len(sk.Public) != ed25519.PublicKeySize {
			continue
		}
		public = append(public, jwt.StaticKey{KID: sk.ID, Alg: "EdDSA", Key: ed25519.PublicKey(sk.Public)})
		if sk.RetiredAt.IsZero() && active == nil {
			seed, err := k.unseal(sk.ID, sk.Sealed)
			if err != nil {
				return fmt.Errorf("oauth: signing key %s cannot be unsealed (wrong signing_key_secret?): %w", sk.ID, err)
			}
			active, activeID, activeAt = ed25519.NewKeyFromSeed(seed), sk.ID, sk.CreatedAt
		}
	}
	if active == nil {
		return errors.New("oauth: no active signing key")
	}
	k.mu.Lock()
	k.activeID, k.activeAt, k.active, k.public = activeID, activeAt, active, public
	k.mu.Unlock()
	return nil
}

// Rotate makes a new signing key; the previous one is retired and keeps
// verifying for the retention period. It returns the new key's id.
func (k *KeyRing) Rotate(ctx context.Context) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	idb := make([]byte, 9)
	if _, err := rand.Read(idb); err != nil {
		return "", err
	}
	id := k.now().UTC().Format("20060102") + "-" + base64.RawURLEncoding.EncodeToString(idb)
	rec := &store.SigningKey{ID: id, Alg: "EdDSA", Public: pub, Sealed: k.seal(id, priv.Seed()), CreatedAt: k.now()}
	if err := k.st.AddSigningKey(ctx, rec); err != nil {
		return "", err
	}
	keys, err := k.st.SigningKeys(ctx, k.now().Add(-k.retention))
	if err != nil {
		return "", err
	}
	return id, k.use(keys)
}

// RotateIfOlder rotates when the active key is older than maxAge (0:
// never); it reports whether it did.
func (k *KeyRing) RotateIfOlder(ctx context.Context, maxAge time.Duration) (bool, error) {
	k.mu.RLock()
	at := k.activeAt
	k.mu.RUnlock()
	if maxAge <= 0 || k.now().Sub(at) < maxAge {
		return false, nil
	}
	_, err := k.Rotate(ctx)
	return err == nil, err
}

// Refresh reloads the keys (another instance may have rotated).
func (k *KeyRing) Refresh(ctx context.Context) error {
	keys, err := k.st.SigningKeys(ctx, k.now().Add(-k.retention))
	if err != nil {
		return err
	}
	return k.use(keys)
}

func (k *KeyRing) seal(id string, seed []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return k.aead.Seal(nonce, nonce, seed, []byte(id))
}

func (k *KeyRing) unseal(id string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	return k.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
}

// signer returns the active key.
func (k *KeyRing) signer() (string, ed25519.PrivateKey) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.activeID, k.active
}

// Public returns the verification keys (active and retained).
func (k *KeyRing) Public(context.Context) ([]jwt.StaticKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.public) == 0 {
		return nil, errors.New("oauth: keys not loaded")
	}
	return append([]jwt.StaticKey(nil), k.public...), nil
}
