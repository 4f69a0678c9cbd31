package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStripPrefix(t *testing.T) {
	tests := []struct{ path, prefix, want string }{
		{"/api/orders", "/api", "/orders"},
		{"/api", "/api", "/"},
		{"/apix/orders", "/api", "/apix/orders"},
		{"/api/orders", "/api/", "/orders"},
		{"/other", "/api", "/other"},
	}
	for _, tc := range tests {
		if got := stripPrefix(tc.path, tc.prefix); got != tc.want {
			t.Errorf("stripPrefix(%q, %q) = %q, want %q", tc.path, tc.prefix, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		ctx  context.Context
		err  error
		want string
	}{
		{context.Background(), &http.MaxBytesError{Limit: 1}, KindBodyTooLarge},
		{canceled, context.Canceled, KindCanceled},
		{context.Background(), context.DeadlineExceeded, KindTimeout},
		{context.Background(), &net.OpError{Op: "dial", Err: errors.New("refused")}, KindConnect},
		{context.Background(), errors.New("malformed HTTP response"), KindProtocol},
	}
	for _, tc := range tests {
		if got := Classify(tc.ctx, tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestPickSkipsDownTargets(t *testing.T) {
	now := time.Unix(1000, 0)
	u1, _ := url.Parse("http://a:1")
	u2, _ := url.Parse("http://b:1")
	p, err := New(Options{Targets: []*url.URL{u1, u2}, Transport: &http.Transport{}, UnhealthyFor: 10 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p.markDown(p.targets[0])
	for range 5 {
		if got := p.pick(nil); got != p.targets[1] {
			t.Fatalf("picked a down target %s", got.url)
		}
	}
	now = now.Add(11 * time.Second)
	seen := map[*target]bool{}
	for range 4 {
		seen[p.pick(nil)] = true
	}
	if len(seen) != 2 {
		t.Error("target did not come back after unhealthy_for")
	}
	p.markDown(p.targets[0])
	p.markDown(p.targets[1])
	if p.pick(nil) == nil {
		t.Error("all down must still pick one")
	}
	if p.pick(p.targets[0]) != nil {
		t.Error("an alternative to a down target was offered while all are down")
	}
}

func TestNewRefusesMissingTransport(t *testing.T) {
	u, _ := url.Parse("http://a")
	if _, err := New(Options{Targets: []*url.URL{u}}); err == nil {
		t.Error("no transport accepted")
	}
	if _, err := New(Options{Transport: &http.Transport{}}); err == nil {
		t.Error("no targets accepted")
	}
}

// TLS-07: upstream TLS is verified; a custom CA replaces the system roots.
func TestTransportTLS(t *testing.T) {
	tr, err := NewTransport(TransportOptions{DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.MinVersion < 0x0303 || tr.Proxy != nil {
		t.Errorf("insecure defaults: %+v", tr.TLSClientConfig)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := NewTransport(TransportOptions{CAFile: bad}); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
}

func TestTransportsShareAndRetain(t *testing.T) {
	var ts Transports
	a, ka, _ := ts.Get(TransportOptions{DialTimeout: time.Second})
	b, kb, _ := ts.Get(TransportOptions{DialTimeout: time.Second})
	c, kc, _ := ts.Get(TransportOptions{DialTimeout: 2 * time.Second})
	if a != b || ka != kb || a == c || ka == kc {
		t.Fatal("transports not shared by settings")
	}
	ts.Retain(map[string]bool{ka: true})
	if d, _, _ := ts.Get(TransportOptions{DialTimeout: 2 * time.Second}); d == c {
		t.Error("a dropped transport was kept")
	}
}
