package edge

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/record"
)

// Recover turns a panic below it into a 500 problem and an error log line
// with the stack; the client never sees the stack (PD-01). The zero value
// logs nowhere.
type Recover struct {
	Log *slog.Logger // nil: the panic is answered but not logged
}

// Wrap returns the stage.
func (s Recover) Wrap(next http.Handler) http.Handler {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := wrap(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("panic serving request", "request_id", problem.RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.wroteHeader {
				problem.Write(sw, r, problem.New(http.StatusInternalServerError, problem.TypeInternal, "the gateway failed to handle the request"))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

var (
	idEncoding  = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)
	safeIDRegex = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)
)

// NewRequestID returns a new request id: 120 random bits, base32.
func NewRequestID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// RequestID gives every request an id (NewRequestID), resolves the client
// address (PRX-01) and creates the request's record (Request), stored in
// the context with record.With. An incoming X-Request-Id is kept only from
// a trusted proxy and only if it is a short token of safe characters. The
// id is sent back in X-Request-Id. The zero value trusts no proxy and uses
// time.Now.
type RequestID struct {
	Resolver *clientip.Resolver // nil: no proxy is trusted
	Now      func() time.Time   // nil: time.Now
}

// Wrap returns the stage.
func (s RequestID) Wrap(next http.Handler) http.Handler {
	resolver, now := s.Resolver, s.Now
	if resolver == nil {
		resolver = clientip.New(nil)
	}
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, viaProxy := resolver.Resolve(r)
		id := ""
		if viaProxy {
			if in := r.Header.Get("X-Request-Id"); safeIDRegex.MatchString(in) {
				id = in
			}
		}
		if id == "" {
			id = NewRequestID()
		}
		sw := wrap(w)
		q := &sw.rec
		q.id, q.start, q.client = id, now(), client
		q.idHdr[0] = id
		sw.Header()["X-Request-Id"] = q.idHdr[:]
		next.ServeHTTP(sw, r.WithContext(record.With(r.Context(), q)))
	})
}

// Header values shared by every response. Each slice has len == cap, so an
// Add by a later writer (the proxy copying upstream headers) appends to a
// new array and never writes into these.
var (
	valNosniff    = []string{"nosniff"}
	valNoReferrer = []string{"no-referrer"}
	valCSP        = []string{"frame-ancestors 'none'"}
	valHSTS       = []string{hsts}
)

// hsts is the Strict-Transport-Security value on every HTTPS response (TLS-05).
const hsts = "max-age=63072000; includeSubDomains"

// SecurityHeaders sets HDR-01 (and HSTS, TLS-05, when HSTS is true) before
// anything else writes, so errors and proxied responses both carry them.
// A later writer may replace Content-Security-Policy with a stricter one.
type SecurityHeaders struct {
	HSTS bool // the listener is HTTPS: send Strict-Transport-Security
}

// Wrap returns the stage.
func (s SecurityHeaders) Wrap(next http.Handler) http.Handler {
	tls := s.HSTS
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = valNosniff
		h["Referrer-Policy"] = valNoReferrer
		h["Content-Security-Policy"] = valCSP
		if tls {
			h["Strict-Transport-Security"] = valHSTS
		}
		next.ServeHTTP(w, r)
	})
}

// InboundHeaders drops the client-sent headers no stage and no upstream
// may believe (PRX-08, PRX-09): names other than letters, digits and '-',
// forwarding and original-request headers, method overrides, other
// proxies' identity headers and the gateway's own, in every spelling. The
// client address and request id are read before it, from trusted proxies
// only.
type InboundHeaders struct {
	Inbound *proxy.Inbound // nil: proxy.NewInbound(nil)
}

// Wrap returns the stage.
func (s InboundHeaders) Wrap(next http.Handler) http.Handler {
	in := s.Inbound
	if in == nil {
		in = proxy.NewInbound(nil)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.Clean(r.Header)
		next.ServeHTTP(w, r)
	})
}

// Limits applies the limits that do not depend on the route: methods
// never proxied (PRX-02), URI length (PRX-04), header size (PRX-12), the
// host (PRX-10) and path (PRX-05, PRX-11) normal forms. Requests framed
// with Transfer-Encoding get their connection closed after the response,
// so no bytes smuggled after a chunked body can be read as another request
// (PRX-03).
type Limits struct {
	MaxURIBytes    int // 0: 8192
	MaxHeaderBytes int // 0: no check here (the server's own bound applies)
	// AllowPathParams lets ';' path parameters through (limits.path_params:
	// allow); dot segments with parameters are refused regardless.
	AllowPathParams bool
}

// Check returns r with its host and path in normal form (r itself when
// they already are), or the problem that refuses it.
func (s *Limits) Check(r *http.Request) (*http.Request, *problem.Problem) {
	maxURI := s.MaxURIBytes
	if maxURI <= 0 {
		maxURI = 8192
	}
	if r.Method == http.MethodTrace || r.Method == http.MethodConnect {
		return nil, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, r.Method+" is not allowed")
	}
	if len(r.RequestURI) > maxURI {
		return nil, problem.New(http.StatusRequestURITooLong, problem.TypeURITooLong, fmt.Sprintf("the request URI is longer than %d bytes", maxURI))
	}
	// The server reads a little more than max_header_bytes, so this limit
	// is answered here, with a problem and the security headers (PRX-12);
	// only past the server's own bound does Go answer a plain 431.
	if s.MaxHeaderBytes > 0 && headerBytes(r) > s.MaxHeaderBytes {
		return nil, problem.New(http.StatusRequestHeaderFieldsTooLarge, problem.TypeBadRequest, fmt.Sprintf("the request headers are larger than %d bytes", s.MaxHeaderBytes))
	}
	host, ok := CanonicalHost(r.Host)
	if !ok {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the Host header is not a host name")
	}
	normal, decoded, err := NormalizePath(rawPath(r))
	if err == nil && !s.AllowPathParams && HasPathParams(normal) {
		err = ErrPathParams
	}
	if err != nil {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadPath, err.Error())
	}
	// A raw path the URL could not keep (RawPath set but not what
	// EscapedPath returns) is replaced too, so no later reader sees it.
	pathChanged := decoded != r.URL.Path || normal != r.URL.EscapedPath() || r.URL.RawPath != "" && normal != r.URL.RawPath
	if pathChanged || host != r.Host {
		r2 := *r
		r2.Host = host
		if pathChanged {
			u := url.URL{Path: decoded}
			if u.EscapedPath() != normal {
				// Keep the normal form as sent on: Go would otherwise
				// re-escape sub-delimiters ('!' as %21), and the upstream
				// would get another path than the one decided on.
				u.RawPath = normal
			}
			u2 := *r.URL
			u2.Path, u2.RawPath = u.Path, u.RawPath
			r2.URL = &u2
		}
		r = &r2
	}
	return r, nil
}

// Wrap returns the stage.
func (s *Limits) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close") // refused or not (PRX-03)
		}
		r2, p := s.Check(r)
		if p != nil {
			switch p.Status {
			case http.StatusMethodNotAllowed:
				w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			case http.StatusRequestHeaderFieldsTooLarge:
				w.Header().Set("Connection", "close")
			}
			problem.Write(w, r, p)
			return
		}
		next.ServeHTTP(w, r2)
	})
}

// rawPath is the path as the client sent it, from the request target: not
// r.URL.EscapedPath, which re-escapes the decoded path (turning %2F into
// '/') when the raw path holds characters such as '{' or '|'.
func rawPath(r *http.Request) string {
	if t := r.RequestURI; t != "" && t[0] == '/' {
		if i := strings.IndexByte(t, '?'); i >= 0 {
			return t[:i]
		}
		return t
	}
	return r.URL.EscapedPath()
}

// headerBytes is the size of the header block as sent (names, values,
// separators and line ends); the URI has a limit of its own.
func headerBytes(r *http.Request) int {
	n := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + len(r.Host) + 8 // Host is taken out of the map
}

// BodyLimit caps the request body (PRX-04): a declared length over Max is
// refused at once with 413, an undeclared one is cut off at Max (the
// reader returns *http.MaxBytesError, which the proxy answers with 413).
type BodyLimit struct {
	Max int64 // bytes; 0 allows no body at all
}

// Wrap returns the stage.
func (s BodyLimit) Wrap(next http.Handler) http.Handler {
	limit := max(s.Max, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, problem.TypeBodyTooLarge, fmt.Sprintf("the request body is larger than %d bytes", limit)))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}
