package jwt

import (
	"hash/maphash"
	"sync"
	"time"
)

// tokenCache holds verified tokens until their exp, bounded in entries.
// It is keyed by a seeded hash of the token and compares the whole token
// on a hit, so a collision can only cost a verification, never admit a
// different token. An entry whose signing key left the issuer's set is
// not served. Revocation and per-route checks run on every hit.
type tokenCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
	per    int
}

type cacheShard struct {
	mu sync.Mutex
	m  map[uint64]*cached
}

type cached struct {
	token  string
	claims *Claims
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), per: max(size/16, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cached)
	}
	return c
}

func (c *tokenCache) get(token string, now time.Time) *Claims {
	if c == nil {
		return nil
	}
	h := maphash.String(c.seed, token)
	s := &c.shards[h%16]
	s.mu.Lock()
	e := s.m[h]
	s.mu.Unlock()
	if e == nil || e.token != token {
		return nil
	}
	if !now.Before(e.claims.Expiry) || e.claims.key.retired.Load() {
		s.mu.Lock()
		if s.m[h] == e {
			delete(s.m, h)
		}
		s.mu.Unlock()
		return nil
	}
	return e.claims
}

func (c *tokenCache) put(token string, cl *Claims) {
	if c == nil {
		return
	}
	h := maphash.String(c.seed, token)
	s := &c.shards[h%16]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.per {
		// Full: drop an arbitrary entry (map order is random), so the
		// cache stays bounded whatever the token mix.
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[h] = &cached{token: token, claims: cl}
}

// len counts the cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}
