package oauth

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/store"
)

// KeyRing holds the server's signing keys: the active key (Ed25519 by
// default; ES256 or RS256 with UseAlgorithm), which
// signs, and the keys retired within the retention period, which still
// verify (and stay in the JWKS). Private keys are stored sealed with
// AES-256-GCM under a key derived from a secret outside the database; the
// key id is the additional data, so a sealed key cannot be moved to
// another id. Safe for concurrent use.
type KeyRing struct {
	st        store.SigningKeys
	aead      cipher.AEAD
	retention time.Duration
	now       func() time.Time
	mu        sync.RWMutex
	alg       string // the algorithm new keys are made for
	activeID  string
	activeAt  time.Time
	activeAlg string
	active    crypto.Signer
	public    []jwt.StaticKey
}

// Algorithms the server can sign with.
var Algorithms = []string{"EdDSA", "ES256", "RS256"}

// UseAlgorithm sets the algorithm of the keys Load and Rotate make
// (default EdDSA). A ring whose active key has another algorithm rotates
// on Load; the old keys keep verifying.
func (k *KeyRing) UseAlgorithm(alg string) error {
	if !slices.Contains(Algorithms, alg) {
		return fmt.Errorf("oauth: signing algorithm %q: want one of %v", alg, Algorithms)
	}
	k.alg = alg
	return nil
}

// MinSecretBytes is the shortest accepted sealing secret.
const MinSecretBytes = 32

// NewKeyRing returns a key ring on st. secret seals the private keys;
// retention is how long a retired key keeps verifying (at least the
// longest token lifetime).
func NewKeyRing(st store.SigningKeys, secret []byte, retention time.Duration, now func() time.Time) (*KeyRing, error) {
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
	return &KeyRing{st: st, aead: aead, retention: retention, now: now, alg: "EdDSA"}, nil
}

// Load reads the keys from the store, creating the first signing key when
// there is none.
func (k *KeyRing) Load(ctx context.Context) error {
	keys, err := k.st.SigningKeys(ctx, k.now().Add(-k.retention))
	if err != nil {
		return err
	}
	if len(keys) == 0 || !keys[0].RetiredAt.IsZero() || keys[0].Alg != k.alg {
		_, err := k.Rotate(ctx)
		return err
	}
	return k.use(keys)
}

// publicKey parses a stored public key.
func publicKey(sk *store.SigningKey) (any, error) {
	if sk.Alg == "EdDSA" {
		if len(sk.Public) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(sk.Public), nil
	}
	return x509.ParsePKIXPublicKey(sk.Public)
}

// privateKey parses an unsealed private key.
func privateKey(alg string, raw []byte) (crypto.Signer, error) {
	if alg == "EdDSA" {
		if len(raw) != ed25519.SeedSize {
			return nil, errors.New("bad Ed25519 seed")
		}
		return ed25519.NewKeyFromSeed(raw), nil
	}
	key, err := x509.ParsePKCS8PrivateKey(raw)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return signer, nil
}

// generate makes a key pair for alg: the public key as stored, the
// private key to seal.
func generate(alg string) (pub, priv []byte, err error) {
	switch alg {
	case "EdDSA":
		p, s, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		return p, s.Seed(), nil
	case "ES256":
		s, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		return marshalPair(s.Public(), s)
	case "RS256":
		s, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return nil, nil, err
		}
		return marshalPair(s.Public(), s)
	}
	return nil, nil, fmt.Errorf("oauth: no key generation for %s", alg)
}

func marshalPair(pub, priv any) ([]byte, []byte, error) {
	p, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	s, err := x509.MarshalPKCS8PrivateKey(priv)
	return p, s, err
}

func (k *KeyRing) use(keys []*store.SigningKey) error {
	var activeID, activeAlg string
	var activeAt time.Time
	var active crypto.Signer
	public := make([]jwt.StaticKey, 0, len(keys))
	for _, sk := range keys {
		if !slices.Contains(Algorithms, sk.Alg) {
			continue
		}
		pub, err := publicKey(sk)
		if err != nil {
			continue
		}
		public = append(public, jwt.StaticKey{KID: sk.ID, Alg: sk.Alg, Key: pub})
		if sk.RetiredAt.IsZero() && active == nil {
			raw, err := k.unseal(sk.ID, sk.Sealed)
			if err != nil {
				return fmt.Errorf("oauth: signing key %s cannot be unsealed (wrong signing_key_secret?): %w", sk.ID, err)
			}
			if active, err = privateKey(sk.Alg, raw); err != nil {
				return fmt.Errorf("oauth: signing key %s: %w", sk.ID, err)
			}
			activeID, activeAlg, activeAt = sk.ID, sk.Alg, sk.CreatedAt
		}
	}
	if active == nil {
		return errors.New("oauth: no active signing key")
	}
	k.mu.Lock()
	k.activeID, k.activeAlg, k.activeAt, k.active, k.public = activeID, activeAlg, activeAt, active, public
	k.mu.Unlock()
	return nil
}

// Rotate makes a new signing key; the previous one is retired and keeps
// verifying for the retention period. It returns the new key's id.
func (k *KeyRing) Rotate(ctx context.Context) (string, error) {
	pub, priv, err := generate(k.alg)
	if err != nil {
		return "", err
	}
	idb := make([]byte, 9)
	if _, err := rand.Read(idb); err != nil {
		return "", err
	}
	id := k.now().UTC().Format("20060102") + "-" + base64.RawURLEncoding.EncodeToString(idb)
	rec := &store.SigningKey{ID: id, Alg: k.alg, Public: pub, Sealed: k.seal(id, priv), CreatedAt: k.now()}
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

// signer returns the active key, its id and algorithm.
func (k *KeyRing) signer() (string, string, crypto.Signer) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.activeID, k.activeAlg, k.active
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
