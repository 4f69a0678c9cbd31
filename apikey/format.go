// Package apikey defines Gatehouse API keys: their format, generation,
// parsing and the keyed hash they are stored as (KEY-01, KEY-02).
//
// A key is 46 ASCII characters:
//
//	gthk_ <key id: 12 base62> _ <secret: 22 base62><checksum: 6 base62>
//
// The prefix "gthk_" makes leaked keys easy to find for secret scanners
// (regular expression: KeyPattern). The id (about 71 random bits) names the
// key in logs and stores and is not secret. The secret holds 22 base62
// characters from crypto/rand (about 131 bits). The checksum is the CRC32
// of everything before it in base62, so a mistyped or truncated key is
// refused by Parse without a store lookup. Keys are stored only as
// HMAC-SHA-256 under a server secret that never enters the database; Verify
// compares in constant time.
package apikey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"io"
	"regexp"
)

// Format constants.
const (
	Prefix    = "gthk_"
	idLen     = 12
	secretLen = 22
	crcLen    = 6
	// Len is the length of every key.
	Len = len(Prefix) + idLen + 1 + secretLen + crcLen
)

// KeyPattern matches Gatehouse API keys, for secret scanners.
const KeyPattern = `\bgthk_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}\b`

// KeyRegexp is KeyPattern compiled.
var KeyRegexp = regexp.MustCompile(KeyPattern)

// Parse errors. Both mean "not a key": they never reveal which part is wrong
// to a client, but tell operators (logs) why a presented key was refused.
var (
	ErrMalformed = errors.New("apikey: malformed key")
	ErrChecksum  = errors.New("apikey: key checksum mismatch (mistyped or truncated)")
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// Key is a parsed or generated key. Secret must never be logged or stored.
type Key struct {
	ID     string
	Secret string
}

// String returns the full key text. It contains the secret.
func (k Key) String() string {
	body := Prefix + k.ID + "_" + k.Secret
	return body + checksum(body)
}

// Hint is a short, non-secret way to show a key to its owner: the prefix,
// the id and the last four characters.
func (k Key) Hint() string {
	s := k.String()
	return Prefix + k.ID + "_..." + s[len(s)-4:]
}

// checksum is the CRC32 (IEEE) of body in fixed-width base62.
func checksum(body string) string {
	v := crc32.ChecksumIEEE([]byte(body))
	var b [crcLen]byte
	for i := crcLen - 1; i >= 0; i-- {
		b[i] = alphabet[v%62]
		v /= 62
	}
	return string(b[:])
}

// randomBase62 returns n characters drawn uniformly from the alphabet
// (bytes >= 248 are rejected, so no character is likelier than another).
func randomBase62(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			if c < 248 && len(out) < n {
				out = append(out, alphabet[c%62])
			}
		}
	}
	return string(out), nil
}

// Generate returns a new key from crypto/rand.
func Generate() (Key, error) { return generate(rand.Reader) }

func generate(r io.Reader) (Key, error) {
	id, err := randomBase62(r, idLen)
	if err != nil {
		return Key{}, err
	}
	secret, err := randomBase62(r, secretLen)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Secret: secret}, nil
}

// Parse checks the format and checksum of a presented key. It does no
// lookup and takes time independent of the secret's value.
func Parse(s string) (Key, error) {
	if len(s) != Len || s[:len(Prefix)] != Prefix || s[len(Prefix)+idLen] != '_' {
		return Key{}, ErrMalformed
	}
	for i := len(Prefix); i < Len; i++ {
		if i == len(Prefix)+idLen {
			continue
		}
		if !isBase62(s[i]) {
			return Key{}, ErrMalformed
		}
	}
	body := s[:Len-crcLen]
	if checksum(body) != s[Len-crcLen:] {
		return Key{}, ErrChecksum
	}
	return Key{ID: s[len(Prefix) : len(Prefix)+idLen], Secret: s[len(Prefix)+idLen+1 : Len-crcLen]}, nil
}

// MinServerSecret is the shortest server secret Hash accepts (256 bits).
const MinServerSecret = 32

// ErrWeakServerSecret is returned for a server secret under MinServerSecret bytes.
var ErrWeakServerSecret = errors.New("apikey: the server secret must be at least 32 bytes")

// Hash returns what is stored for a key: HMAC-SHA-256 of its id and
// secret under serverSecret. Binding the id means a stored hash cannot be
// moved to another key id.
func Hash(serverSecret []byte, k Key) ([]byte, error) {
	if len(serverSecret) < MinServerSecret {
		return nil, ErrWeakServerSecret
	}
	m := hmac.New(sha256.New, serverSecret)
	m.Write([]byte(k.ID))
	m.Write([]byte{':'})
	m.Write([]byte(k.Secret))
	return m.Sum(nil), nil
}

// Verify reports whether k matches a stored hash, in constant time.
func Verify(serverSecret []byte, k Key, stored []byte) bool {
	h, err := Hash(serverSecret, k)
	return err == nil && hmac.Equal(h, stored)
}
