package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/redis/go-redis/v9"
)

// RL-04 end to end: three gateways sharing one Redis admit at most the
// limit (+1%) and not less than 99% of it, whichever gateway a request hits.
func TestSharedRateLimitAcrossGateways(t *testing.T) {
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		t.Skip("GATEHOUSE_TEST_REDIS not set: skipping tests against a real Redis")
	}
	ro, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "gatehouse-test:" + hex.EncodeToString(b) + ":"
	up := echoUpstream(t)
	var clients []*http.Client
	var addrs []string
	for i := range 3 {
		dir := t.TempDir()
		cfg, err := gatehouse.Parse("rl.yaml", []byte(fmt.Sprintf(`
data_dir: %q
listen: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:0"}
log: {access: false}
rate_limit:
  backend: redis
  instances: 3
  on_error: closed   # a slow Redis call must fail the test, not fall back and admit more
  redis: {addrs: [%q], prefix: %q, timeout: 1s}
routes:
  - name: limited
    match: {path: /limited}
    rate_limit:
      policies:
        - {name: shared-quota, limit: 300, window: 1h, key: [route]}
    upstream: {url: %q}
`, dir, ro.Addr, prefix, up.URL)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		readyc, done := make(chan Ready, 1), make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Config: cfg, LogOutput: io.Discard, OnReady: func(r Ready) { readyc <- r }})
		}()
		t.Cleanup(func() { cancel(); <-done })
		var rd Ready
		select {
		case rd = <-readyc:
		case err := <-done:
			t.Fatalf("gateway %d: %v", i, err)
		}
		pem, _ := os.ReadFile(rd.CAFile)
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		clients = append(clients, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 16}})
		addrs = append(addrs, rd.PublicAddr)
	}
	var ok, limited, other, sent atomic.Int64
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, addr := clients[i%3], addrs[i%3]
			for sent.Add(1) <= 900 {
				res, err := c.Get("https://" + addr + "/limited")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch res.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("3 gateways, 900 requests, shared limit 300: admitted %d, limited %d, other %d", ok.Load(), limited.Load(), other.Load())
	if n := ok.Load(); n > 303 || n < 297 || other.Load() != 0 {
		t.Fatalf("admitted %d (other %d), want 297..303", n, other.Load())
	}
}
