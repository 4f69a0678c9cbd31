package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Sign-in throttles (RL-06): attempts per (user name, address) and per
// address, counted before the password hash runs.
const (
	loginAttemptsPerPair = 5
	loginAttemptsPerAddr = 20
	loginWindow          = 5 * time.Minute
)

// hashGate bounds the password hashes running at once (each argon2id
// check takes 19 MiB): at most one per CPU run, a few more wait briefly,
// and the rest are refused at once, so a burst of sign-ins costs bounded
// memory instead of exhausting it.
type hashGate struct {
	slots   chan struct{}
	waiting atomic.Int64
	maxWait int64
	wait    time.Duration
}

func newHashGate(n int) *hashGate {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &hashGate{slots: make(chan struct{}, n), maxWait: int64(4 * n), wait: 2 * time.Second}
}

// errBusy: too many sign-ins are being checked; try again shortly.
var errBusy = errors.New("oauth: too many sign-ins at once")

// run runs fn in a slot, or returns errBusy.
func (g *hashGate) run(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.maxWait {
			g.waiting.Add(-1)
			return errBusy
		}
		t := time.NewTimer(g.wait)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
			g.waiting.Add(-1)
		case <-t.C:
			g.waiting.Add(-1)
			return errBusy
		case <-ctx.Done():
			t.Stop()
			g.waiting.Add(-1)
			return errBusy
		}
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// csrf makes and checks the sign-in form's tokens. A token is a random
// nonce and an expiry under an HMAC (so a client cannot make its own), sent
// both as a __Host- cookie and in the form (double submit), and spent on
// first use: one token, one password attempt (per instance; with the same
// key, every instance accepts it once).
type csrf struct {
	key   []byte
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	spent map[[16]byte]time.Time
}

const maxSpentTokens = 200000

func newCSRF(key []byte, now func() time.Time) *csrf {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &csrf{key: key, ttl: 15 * time.Minute, now: now, spent: map[[16]byte]time.Time{}}
}

func (c *csrf) mac(b []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// issue returns a new token.
func (c *csrf) issue() (string, error) {
	b := make([]byte, 16+8, 16+8+16)
	if _, err := rand.Read(b[:16]); err != nil {
		return "", err
	}
	binary.BigEndian.PutUint64(b[16:], uint64(c.now().Add(c.ttl).Unix()))
	return base64.RawURLEncoding.EncodeToString(append(b, c.mac(b)...)), nil
}

// spend checks a token and spends it; false for a forged, expired or
// spent one.
func (c *csrf) spend(tok string) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 40 || !hmac.Equal(c.mac(b[:24]), b[24:]) {
		return false
	}
	now := c.now()
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[16:24])), 0)
	if !now.Before(exp) {
		return false
	}
	var nonce [16]byte
	copy(nonce[:], b[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, used := c.spent[nonce]; used {
		return false
	}
	if len(c.spent) >= maxSpentTokens {
		for k, e := range c.spent {
			if !now.Before(e) {
				delete(c.spent, k)
			}
		}
		if len(c.spent) >= maxSpentTokens {
			return false // full of live tokens: refuse rather than forget one
		}
	}
	c.spent[nonce] = exp
	return true
}
