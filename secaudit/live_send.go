package secaudit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// errBudget is returned by a send when the request budget is spent.
var errBudget = errors.New("secaudit: request budget spent")

// errRateLimited is returned when the answer was still 429 after what
// MaxWait allowed: the probe cannot tell a refusal from a rate limit.
var errRateLimited = errors.New("rate limited (429) past --max-wait, so the answer says nothing")

// maxBody is how much of a response body a probe reads.
const maxBody = 64 << 10

// answer is what a probe got back.
type answer struct {
	status int
	header http.Header
	body   []byte
	// second is the status of a second response read from the same
	// connection (raw requests that ask for it), 0 when none came.
	second int
	// closed: the server closed the connection after the (first) answer.
	closed bool
}

func (a answer) ok() bool { return a.status >= 200 && a.status < 300 }

// do sends one request through the HTTP client, target being the
// request-target (path and query, sent as given). A 429 with a short
// Retry-After is waited out and retried, within MaxWait over the run.
func (p *prober) do(ctx context.Context, method, target string, h http.Header, body []byte) (answer, error) {
	for attempt := 0; ; attempt++ {
		a, err := p.doOnce(ctx, method, target, h, body)
		if err != nil || a.status != http.StatusTooManyRequests {
			return a, err
		}
		if attempt >= 3 || !p.waitRetry(ctx, a.header) {
			return a, errRateLimited
		}
	}
}

func (p *prober) doOnce(ctx context.Context, method, target string, h http.Header, body []byte) (answer, error) {
	if !p.spend() {
		return answer{}, errBudget
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.origin+"/", bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	// Keep the request-target byte for byte: no cleaning, no re-escaping.
	path, query, _ := strings.Cut(target, "?")
	req.URL.Path, req.URL.RawPath = "", ""
	req.URL.Opaque, req.URL.RawQuery = path, query
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", "gatehouse-audit-live")
	res, err := p.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, p.redact(target), err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxBody))
	return answer{status: res.StatusCode, header: res.Header, body: b, closed: res.Close}, nil
}

// waitRetry waits out a 429's Retry-After if it fits in what is left of
// MaxWait; false when it does not (the 429 stands).
func (p *prober) waitRetry(ctx context.Context, h http.Header) bool {
	secs, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || secs < 0 {
		secs = 1
	}
	// A value beyond MaxWait is refused before it is multiplied: a huge
	// one would overflow into a negative wait and unbound the total.
	if p.o.MaxWait < 0 || int64(secs) > int64(p.o.MaxWait/time.Second) {
		return false
	}
	d := time.Duration(secs)*time.Second + 100*time.Millisecond
	p.mu.Lock()
	if p.waited+d > p.o.MaxWait {
		p.mu.Unlock()
		return false
	}
	p.waited += d
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// dialRaw opens one connection to the target (TLS when the URL is
// https), speaking HTTP/1.1; it counts against the budget.
func (p *prober) dialRaw(ctx context.Context) (net.Conn, error) {
	if !p.spend() {
		return nil, errBudget
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	c, err := p.dialTarget(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if p.scheme != "https" {
		return c, nil
	}
	cfg := p.tlsConfig()
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// raw writes req (a whole HTTP/1.1 request, maybe more) on a new
// connection and reads the answer; with second it also tries to read a
// second response from the same connection (a smuggled request). A 429 is
// waited out and retried like do.
func (p *prober) raw(ctx context.Context, req []byte, second bool) (answer, error) {
	for attempt := 0; ; attempt++ {
		a, err := p.rawOnce(ctx, req, second)
		if err != nil || a.status != http.StatusTooManyRequests {
			return a, err
		}
		if attempt >= 3 || !p.waitRetry(ctx, a.header) {
			return a, errRateLimited
		}
	}
}

func (p *prober) rawOnce(ctx context.Context, req []byte, second bool) (answer, error) {
	c, err := p.dialRaw(ctx)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	deadline := time.Now().Add(p.o.Timeout)
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	// Write while reading: a server may answer (413, 431) and close
	// before it has read all of a large request.
	go func() { _, _ = c.Write(req) }()
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return answer{}, err
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxBody))
	res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header, body: b, closed: res.Close}
	if second {
		wait := min(3*time.Second, p.o.Timeout)
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if res2, err := http.ReadResponse(br, nil); err == nil {
			a.second = res2.StatusCode
			res2.Body.Close()
		} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			a.closed = true
		}
	}
	return a, nil
}

// rawRequest renders an HTTP/1.1 request for raw: the request line, Host,
// the given header lines (written as given, for malformed ones) and body.
func (p *prober) rawRequest(method, target string, lines []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-audit-live\r\n", method, target, p.hostHeader())
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// hostHeader is the Host the probes send: the URL's host and port.
func (p *prober) hostHeader() string {
	return strings.TrimPrefix(strings.TrimPrefix(p.origin, "https://"), "http://")
}

// credentialLines are the first principal's credentials as raw header
// lines (an API key if there is one, else the token).
func (p *prober) credentialLines() []string {
	switch {
	case p.o.APIKey != "":
		return []string{p.o.APIKeyHeader + ": " + p.o.APIKey}
	case p.o.Token != "":
		return []string{"Authorization: Bearer " + p.o.Token}
	}
	return nil
}

// credentialHeader is credentialLines as an http.Header.
func (p *prober) credentialHeader() http.Header {
	switch {
	case p.o.APIKey != "":
		return p.keyHeader(p.o.APIKey)
	case p.o.Token != "":
		return bearer(p.o.Token)
	}
	return nil
}
