package secaudit

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The live probe parses what the probed server answers: metadata
// documents, JWKS, headers (HSTS, Retry-After, Content-Type), problem
// bodies and raw HTTP/1.1 responses. The server is the party under test and
// may be hostile; these targets feed those parsers arbitrary answers. None
// may panic, hang past its bounds, or let an answer lead the probe to
// another host.

// rtFunc is an http.RoundTripper of a function: the fuzz targets answer
// without a network.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fuzzProber is a prober of http://127.0.0.1:9 whose client answers with
// answer; it never dials.
func fuzzProber(t *testing.T, answer func(*http.Request) (*http.Response, error)) *prober {
	t.Helper()
	p, err := newProber(LiveOptions{URL: "http://127.0.0.1:9", APIKey: "gthk_fuzzfuzzfuzz_key", OtherKey: "gthk_otherotherot_key",
		AuthPath: "/api/x", Objects: []string{"/api/x"}, Budget: 200, Timeout: time.Second, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	p.client = &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "127.0.0.1:9" {
			t.Fatalf("the probe asked another host: %s", r.URL)
		}
		return answer(r)
	}), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p
}

// rawAnswer reads data as an HTTP/1.1 response to r; when it does not
// parse, the answer is a bare 200 with data as its body.
func rawAnswer(data []byte, r *http.Request) *http.Response {
	if res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), r); err == nil {
		return res
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}
}

func jsonAnswer(body []byte, r *http.Request) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: readCloser{bytes.NewReader(body)}, ContentLength: int64(len(body)), Request: r}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// FuzzLiveIssuerKeys: the metadata document and the JWKS of the probed
// host, and the HMAC secrets derived from the keys found in it.
func FuzzLiveIssuerKeys(f *testing.F) {
	f.Add([]byte(`{"issuer":"http://127.0.0.1:9","jwks_uri":"http://127.0.0.1:9/jwks"}`),
		[]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"a"}]}`))
	f.Add([]byte(`{"jwks_uri":"http://127.0.0.1:9@evil.example/jwks"}`), []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"jwks_uri":"//evil.example/jwks"}`), []byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"jwks_uri":"http://127.0.0.1:9"}`), []byte(`{"keys":[{"kty":"oct","k":"AAAA"},null,1,"x"]}`))
	f.Fuzz(func(t *testing.T, metadata, jwks []byte) {
		p := fuzzProber(t, func(r *http.Request) (*http.Response, error) {
			if strings.HasPrefix(r.URL.Opaque, "/.well-known/o") {
				return jsonAnswer(metadata, r), nil
			}
			return jsonAnswer(jwks, r), nil
		})
		keys, _ := p.issuerKeys(context.Background())
		if len(keys) > 3 {
			t.Fatalf("%d keys kept, at most 3", len(keys))
		}
		for _, k := range keys {
			if !k.IsPublic() {
				t.Fatalf("a private or symmetric key was kept: %+v", k)
			}
			for _, s := range hmacSecrets(k) {
				_ = signHS256(map[string]any{"alg": "HS256"}, map[string]any{}, s.secret)
			}
		}
	})
}

// FuzzLiveAnswers: every probe that goes through the HTTP client, each
// answered with the same arbitrary response (status line, headers, body).
func FuzzLiveAnswers(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/problem+json\r\nStrict-Transport-Security: max-age=\"99999999999999999999\"\r\n\r\n{\"status\":401}"))
	f.Add([]byte("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 9223372037\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 429 Too Many Requests\r\nRetry-After: -1\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/problem+json; charset=\"\r\n\r\n{\"status\":\"x\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := fuzzProber(t, func(r *http.Request) (*http.Response, error) { return rawAnswer(data, r), nil })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		p.probeHeaders(ctx)
		p.probeCrossPrincipal(ctx)
		p.probeQueryCredentials(ctx)
		p.probeJWT(ctx)
		p.probePaths(ctx)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the probes took %s on a canned answer", d)
		}
		for _, f := range p.results() {
			if strings.Contains(f.Message, "gthk_fuzzfuzzfuzz_key") || strings.Contains(f.Message, "gthk_otherotherot_key") {
				t.Fatalf("a finding names a credential: %s", f.Message)
			}
		}
	})
}

// FuzzLiveRetryAfter: the wait a 429's Retry-After asks for is bounded by
// what is left of MaxWait, whatever the value.
func FuzzLiveRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0", "-1", "9223372037", "18446744074", "1e3", " 2 ", "Wed, 21 Oct 2015 07:28:00 GMT", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p := &prober{o: LiveOptions{MaxWait: 50 * time.Millisecond}}
		start := time.Now()
		p.waitRetry(context.Background(), http.Header{"Retry-After": {v}})
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Retry-After %q waited %s with MaxWait 50ms", v, d)
		}
		if p.waited > p.o.MaxWait || p.waited < 0 {
			t.Fatalf("Retry-After %q: waited %s in total, MaxWait %s", v, p.waited, p.o.MaxWait)
		}
	})
}

// FuzzLiveHSTS: max-age from any Strict-Transport-Security value.
func FuzzLiveHSTS(f *testing.F) {
	for _, s := range []string{"max-age=63072000; includeSubDomains", `max-age="31536000"`, "max-age=-1", "MAX-AGE = 5", ";;;", "max-age=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if n, ok := hstsMaxAge(v); ok && !strings.Contains(strings.ToLower(v), "max-age") {
			t.Fatalf("%q: max-age %d without a max-age directive", v, n)
		}
	})
}

// cannedServer is a plain-TCP server on loopback that answers every
// connection with the current canned bytes and closes it: the raw
// requests of the smuggling and oversize probes read from it.
type cannedServer struct {
	ln   net.Listener
	data atomic.Pointer[[]byte]
}

var (
	canned     *cannedServer
	cannedOnce sync.Once
)

func startCanned(t *testing.T) *cannedServer {
	cannedOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		canned = &cannedServer{ln: ln}
		empty := []byte{}
		canned.data.Store(&empty)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(2 * time.Second))
					go func() { _, _ = bufio.NewReader(c).Discard(1 << 20) }()
					_, _ = c.Write(*canned.data.Load())
				}()
			}
		}()
	})
	if canned == nil {
		t.Fatal("no canned server")
	}
	return canned
}

// FuzzLiveRawResponse: raw HTTP/1.1 responses (a first and maybe a second
// one on the same connection) as the smuggling probe reads them.
func FuzzLiveRawResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := startCanned(t)
		d := append([]byte(nil), data...)
		s.data.Store(&d)
		p, err := newProber(LiveOptions{URL: "http://" + s.ln.Addr().String(), Budget: 10, Timeout: 300 * time.Millisecond, MaxWait: -1})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		a, err := p.rawOnce(context.Background(), p.rawRequest("POST", "/x", []string{"Content-Length: 4", "Transfer-Encoding: chunked"}, []byte("0\r\n\r\n")), true)
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("a raw answer took %s with a 300ms timeout", el)
		}
		if err == nil && len(a.body) > maxBody {
			t.Fatalf("read %d body bytes, more than %d", len(a.body), maxBody)
		}
	})
}
