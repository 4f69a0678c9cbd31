package edge

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/record"
)

// Request is the record of one request (a record.Recorder): RequestID
// fills its id, start time and client address; later stages report what
// they learn through record.From; AccessLog reads it when the response is
// done. It belongs to its request; do not keep it after the request ends.
type Request struct {
	id        string
	idHdr     [1]string // the X-Request-Id header value, without a new slice
	start     time.Time
	client    netip.Addr
	route     string
	upstream  string
	principal *identity.Principal
	decision  record.Decision
	decided   bool
	// Data is for the program that runs the pipeline (the gateway keeps
	// its compiled route here); the edge stages never read it.
	Data any
}

var _ record.Recorder = (*Request)(nil)

// RequestID returns the request's id.
func (q *Request) RequestID() string { return q.id }

// ClientIP returns the client address, after trusted proxies.
func (q *Request) ClientIP() netip.Addr { return q.client }

// Start is when the request-id stage saw the request.
func (q *Request) Start() time.Time { return q.start }

// SetRoute implements record.Recorder.
func (q *Request) SetRoute(name string) { q.route = name }

// Route is the matched route's name, or "".
func (q *Request) Route() string { return q.route }

// SetPrincipal implements record.Recorder.
func (q *Request) SetPrincipal(p *identity.Principal) { q.principal = p }

// Principal is who the request was authenticated as, or nil.
func (q *Request) Principal() *identity.Principal { return q.principal }

// SetDecision implements record.Recorder.
func (q *Request) SetDecision(d record.Decision) { q.decision, q.decided = d, true }

// Decision is the authorization decision, if one was made.
func (q *Request) Decision() (record.Decision, bool) { return q.decision, q.decided }

// SetUpstream implements record.Recorder.
func (q *Request) SetUpstream(target string) { q.upstream = target }

// Upstream is the upstream target the request was sent to, or "".
func (q *Request) Upstream() string { return q.upstream }

// RequestOf returns the record RequestID made for r, or nil outside a
// pipeline.
func RequestOf(r *http.Request) *Request {
	q, _ := record.Lookup(r.Context()).(*Request)
	return q
}

// statusWriter records the status and size of a response and the problem
// written through it; the request's record lives inside it (one
// allocation for both). It unwraps, so http.ResponseController keeps
// working.
type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	problem     *problem.Problem
	rec         Request
}

// wrap returns w as a statusWriter, wrapping it when an outer edge stage
// has not already.
func wrap(w http.ResponseWriter) *statusWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw
	}
	return &statusWriter{ResponseWriter: w}
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

// RecordProblem implements problem.CauseRecorder.
func (w *statusWriter) RecordProblem(p *problem.Problem) { w.problem = p }
