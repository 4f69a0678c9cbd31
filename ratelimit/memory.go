package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Memory is the in-process backend: keys are hashed (with a per-process
// random seed, so callers cannot aim collisions) into shards of
// map[uint64]int64 holding each key's TAT in nanoseconds, about 24 bytes of
// map entry per tracked key. A key whose TAT has passed is at full burst,
// the same as an absent key, so such entries are dropped without changing
// any decision; when a shard is full of live keys the one closest to full
// burst of a sample is evicted (the only way eviction can loosen a limit).
// Safe for concurrent use.
type Memory struct {
	seed      maphash.Seed
	shards    []shard
	perShard  int
	now       func() time.Time
	evictions func()
}

type shard struct {
	mu   sync.Mutex
	tats map[uint64]int64
	_    [48]byte // mutex + map pointer + padding: one 64-byte cache line per shard
}

// MemoryOptions configure a Memory backend.
type MemoryOptions struct {
	// MaxKeys bounds the tracked keys (default 1,000,000).
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnEvict, when set, is called for every live key evicted to make room.
	OnEvict func()
}

const memoryShards = 64

// NewMemory returns an in-memory backend.
func NewMemory(o MemoryOptions) *Memory {
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1_000_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Memory{seed: maphash.MakeSeed(), shards: make([]shard, memoryShards), perShard: max(1, o.MaxKeys/memoryShards), now: o.Now, evictions: o.OnEvict}
	for i := range m.shards {
		m.shards[i].tats = make(map[uint64]int64)
	}
	return m
}

// hash mixes the key's and the policy name's hashes (one-shot maphash is
// several times faster than the streaming Hash for short strings).
func (m *Memory) hash(key string, p *Policy) uint64 {
	k := maphash.String(m.seed, key)
	n := maphash.String(m.seed, p.Name)
	return k ^ (n*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019 + (k << 6) + (k >> 2))
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, policies []*Policy) ([]Decision, error) {
	out := make([]Decision, len(policies))
	for i, p := range policies {
		out[i] = m.allowOne(key, p)
	}
	return out, nil
}

// AllowOne decides one request of key under p without allocating.
func (m *Memory) AllowOne(key string, p *Policy) Decision { return m.allowOne(key, p) }

func (m *Memory) allowOne(key string, p *Policy) Decision {
	h := m.hash(key, p)
	s := &m.shards[h%memoryShards]
	now := m.now().UnixNano()
	s.mu.Lock()
	stored, ok := s.tats[h]
	d, next := decide(p, stored, now)
	if d.Allowed {
		if !ok && len(s.tats) >= m.perShard {
			m.makeRoom(s, now)
		}
		s.tats[h] = next
	}
	s.mu.Unlock()
	return d
}

// makeRoom drops expired entries; if the shard is still full, it evicts the
// entry closest to full burst among a sample.
func (m *Memory) makeRoom(s *shard, now int64) {
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
		}
	}
	if len(s.tats) < m.perShard {
		return
	}
	var victim uint64
	best, n := int64(1<<63-1), 0
	for k, tat := range s.tats { // map order is random: a random sample
		if tat < best {
			victim, best = k, tat
		}
		if n++; n == 16 {
			break
		}
	}
	delete(s.tats, victim)
	if m.evictions != nil {
		m.evictions()
	}
}

// Sweep drops every entry whose bucket is full again; it changes no
// decision and bounds memory between bursts of new keys. Call it
// periodically (Run does).
func (m *Memory) Sweep() {
	now := m.now().UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, tat := range s.tats {
			if tat <= now {
				delete(s.tats, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns the number of tracked keys.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

// Run sweeps every interval until ctx is done.
func (m *Memory) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sweep()
		}
	}
}
