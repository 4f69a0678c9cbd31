package ratelimit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/ratelimit/limitertest"
)

// fakeClock is the injected clock of one Memory under the suite.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestMemoryConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		c := &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
		return limitertest.Backend{Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.now}), Advance: c.add}
	})
}
