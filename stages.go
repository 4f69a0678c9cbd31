package gatehouse

import (
	"bufio"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/proxy"
)

// reqState is the one mutable per-request record the global stages share.
// It lives inside the statusWriter made by the outermost stage (one
// allocation for both), is filled by the request-id stage, and later stages
// add what they learn (route, upstream) for the access log. It is the
// context's request info (problem.RequestID) and client address source
// (clientip.From).
type reqState struct {
	id        string
	idHdr     [1]string // the X-Request-Id header value, without a new slice
	start     time.Time
	client    netip.Addr
	route     *route
	upstream  string
	principal *identity.Principal
	decision  *policy.Decision
	mw        matchWriter
}

// RequestID implements problem.RequestInfo.
func (s *reqState) RequestID() string { return s.id }

// ClientIP implements clientip.Source.
func (s *reqState) ClientIP() netip.Addr { return s.client }

func stateFrom(r *http.Request) *reqState {
	s, _ := problem.Info(r.Context()).(*reqState)
	return s
}

// recoverStage turns a panic below it into a 500 problem and an error log
// line with the stack; the client never sees the stack (PD-01).
func recoverStage(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
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
}

var (
	idEncoding  = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)
	safeIDRegex = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)
)

func newRequestID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// requestIDStage gives every request an id (120 random bits), resolves the
// client address (PRX-01) and creates the shared request state. An incoming
// X-Request-Id is kept only from a trusted proxy and only if it is a short
// token of safe characters.
func requestIDStage(resolver *clientip.Resolver, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, viaProxy := resolver.Resolve(r)
			id := ""
			if viaProxy {
				if in := r.Header.Get("X-Request-Id"); safeIDRegex.MatchString(in) {
					id = in
				}
			}
			if id == "" {
				id = newRequestID()
			}
			var st *reqState
			if sw, ok := w.(*statusWriter); ok {
				st = &sw.st
			} else {
				st = &reqState{}
			}
			st.id, st.start, st.client = id, now(), client
			st.idHdr[0] = id
			ctx := problem.WithRequestInfo(r.Context(), st)
			ctx = clientip.WithSource(ctx, st)
			w.Header()["X-Request-Id"] = st.idHdr[:]
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// Header values shared by every response. Each slice has len == cap, so an
// Add by a later writer (the proxy copying upstream headers) appends to a
// new array and never writes into these.
var (
	valNosniff    = []string{"nosniff"}
	valNoReferrer = []string{"no-referrer"}
	valCSP        = []string{"frame-ancestors 'none'"}
	valHSTS       = []string{HSTS}
)

// securityHeadersStage sets HDR-01 (and HSTS, TLS-05, on HTTPS) before anything
// else writes, so gateway errors and proxied responses both carry them. The
// keys are canonical, so the map is written directly.
func securityHeadersStage(tls bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
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
}

// HSTS is the Strict-Transport-Security value on every HTTPS response (TLS-05).
const HSTS = "max-age=63072000; includeSubDomains"

// limitsStage applies the global limits that do not depend on the route:
// methods never proxied (PRX-02), URI length (PRX-04), the host (PRX-10)
// and path (PRX-05, PRX-11) normal forms. Requests framed with Transfer-Encoding get their connection
// closed after the response, so no bytes a client smuggled after a chunked
// body can be read as another request (PRX-03).
func limitsStage(maxURI, maxHeader int, allowParams bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodTrace || r.Method == http.MethodConnect {
				w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
				problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, r.Method+" is not allowed"))
				return
			}
			if len(r.RequestURI) > maxURI {
				problem.Write(w, r, problem.New(http.StatusRequestURITooLong, problem.TypeURITooLong, fmt.Sprintf("the request URI is longer than %d bytes", maxURI)))
				return
			}
			// The server reads a little more than max_header_bytes, so this
			// limit is answered here, with a problem and the security
			// headers (PRX-12); only past the server's own bound does Go
			// answer a plain 431.
			if maxHeader > 0 && headerBytes(r) > maxHeader {
				w.Header().Set("Connection", "close")
				problem.Write(w, r, problem.New(http.StatusRequestHeaderFieldsTooLarge, problem.TypeBadRequest, fmt.Sprintf("the request headers are larger than %d bytes", maxHeader)))
				return
			}
			if len(r.TransferEncoding) > 0 {
				w.Header().Set("Connection", "close")
			}
			host, ok := canonicalHost(r.Host)
			if !ok {
				problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the Host header is not a host name"))
				return
			}
			normal, decoded, err := NormalizePath(rawPath(r))
			if err == nil && !allowParams && HasPathParams(normal) {
				err = ErrPathParams
			}
			if err != nil {
				problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadPath, err.Error()))
				return
			}
			// A raw path the URL could not keep (RawPath set but not what
			// EscapedPath returns) is replaced too, so no later reader sees it.
			pathChanged := decoded != r.URL.Path || normal != r.URL.EscapedPath() || r.URL.RawPath != "" && normal != r.URL.RawPath
			if pathChanged || host != r.Host {
				r2 := *r
				r2.Host = host
				if pathChanged {
					u := *r.URL
					u.Path, u.RawPath = decoded, normal
					if normal == decoded {
						u.RawPath = ""
					}
					r2.URL = &u
				}
				r = &r2
			}
			next.ServeHTTP(w, r)
		})
	}
}

// inboundStage drops the client-sent headers no stage and no upstream may
// believe (PRX-08, PRX-09): names other than letters, digits and '-',
// forwarding and original-request headers, method overrides, other
// proxies' identity headers and the gateway's own, in every spelling.
// The client address and request id were read before, from trusted
// proxies only.
func inboundStage(in *proxy.Inbound) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			in.Clean(r.Header)
			next.ServeHTTP(w, r)
		})
	}
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

// bodyLimitStage caps the request body of a route (PRX-04): a declared
// length over the cap is refused at once, an undeclared one is cut off at
// the cap and answered with 413 by the proxy.
func bodyLimitStage(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				w.Header().Set("Connection", "close")
				problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, problem.TypeBodyTooLarge, fmt.Sprintf("the request body is larger than %d bytes", max)))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// statusWriter records the status and size of a response and the problem
// written through it. It unwraps, so http.ResponseController keeps working.
type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	problem     *problem.Problem
	st          reqState
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps streaming responses streaming through the wrapper.
func (w *statusWriter) Flush() {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack is passed through for protocol upgrades (WebSocket).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) RecordProblem(p *problem.Problem) { w.problem = p }

var errNoState = errors.New("no request state")

// accessLogStage writes one JSON line per request (when enabled) and updates
// the request metrics. It never logs headers, cookies, credentials or query
// values (LOG-02): the query appears as its parameter names only.
func accessLogStage(out io.Writer, errLog *slog.Logger, enabled bool, unmatched *routeMetrics, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw, ok := w.(*statusWriter)
			if !ok {
				sw = &statusWriter{ResponseWriter: w}
			}
			next.ServeHTTP(sw, r)
			st := stateFrom(r)
			if st == nil {
				errLog.Error("access log", "err", errNoState)
				return
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			end := now()
			elapsed := end.Sub(st.start)
			rm, routeName := unmatched, ""
			if st.route != nil {
				rm, routeName = st.route.metrics, st.route.name
			}
			rm.observe(status, elapsed.Seconds())
			if !enabled {
				return
			}
			bp := lineBufs.Get().(*[]byte)
			l := startLine((*bp)[:0], end, "request")
			l.str("request_id", st.id)
			l.str("method", r.Method)
			l.str("route", routeName)
			l.str("path", r.URL.EscapedPath())
			if r.URL.RawQuery != "" {
				l.strs("query_keys", queryKeys(r.URL.RawQuery))
			}
			l.int("status", int64(status))
			l.int("bytes", sw.bytes)
			l.float("duration_ms", float64(elapsed.Microseconds())/1000)
			var ipBuf [64]byte
			l.b = append(l.b, `,"client_ip":"`...)
			l.b = append(l.b, st.client.AppendTo(ipBuf[:0])...)
			l.b = append(l.b, '"')
			l.str("proto", r.Proto)
			if st.upstream != "" {
				l.str("upstream", st.upstream)
			}
			if p := st.principal; p != nil {
				l.str("principal_kind", string(p.Kind))
				l.str("subject", p.Subject)
				if p.Tenant != "" {
					l.str("tenant", p.Tenant)
				}
				if p.KeyID != "" {
					l.str("key_id", p.KeyID)
				}
			}
			if d := st.decision; d != nil {
				l.str("authz", map[bool]string{true: "allow", false: "deny"}[d.Allowed])
				if len(d.Policies) > 0 {
					l.strs("policies", d.Policies)
				}
			}
			if sw.problem != nil {
				l.str("problem", sw.problem.Type)
				if sw.problem.Err != nil {
					l.str("error", sw.problem.Err.Error())
				}
			}
			l.b = append(l.b, '}', '\n')
			if _, err := out.Write(l.b); err != nil {
				errLog.Warn("access log write failed", "err", err)
			}
			*bp = l.b
			if cap(l.b) <= 16<<10 {
				lineBufs.Put(bp)
			}
		})
	}
}

// queryKeys returns the parameter names of a raw query, at most 20, each
// at most 64 bytes; values are never returned.
func queryKeys(raw string) []string {
	var keys []string
	for part := range strings.SplitSeq(raw, "&") {
		if len(keys) == 20 {
			keys = append(keys, "...")
			break
		}
		k, _, _ := strings.Cut(part, "=")
		if len(k) > 64 {
			k = k[:64] + "..."
		}
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
