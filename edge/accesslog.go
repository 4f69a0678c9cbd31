package edge

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/jsonenc"
)

// AccessLog writes one JSON line per request (when Enabled) and tells Done
// of every finished request (for metrics). It never logs headers,
// cookies, credentials or query values (LOG-02): the query appears as its
// parameter names only. It runs inside RequestID's record; placed before
// RequestID it logs nothing and reports an error. The zero value writes
// nothing.
type AccessLog struct {
	Out     io.Writer    // nil: os.Stderr
	Enabled bool         // write lines (Done is called either way)
	Log     *slog.Logger // where a failed write is reported; nil: nowhere
	Now     func() time.Time
	// InFlight, when set, counts the requests being served.
	InFlight interface {
		Inc()
		Dec()
	}
	// Done, when set, is told of every finished request: its record, the
	// status sent and the time taken.
	Done func(q *Request, status int, elapsed time.Duration)
}

var errNoRecord = errors.New("access log: no request record (edge.RequestID must run before edge.AccessLog)")

// Wrap returns the stage.
func (s AccessLog) Wrap(next http.Handler) http.Handler {
	out, errLog, now := s.Out, s.Log, s.Now
	if out == nil {
		out = os.Stderr
	}
	if errLog == nil {
		errLog = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.InFlight != nil {
			s.InFlight.Inc()
			defer s.InFlight.Dec()
		}
		sw := wrap(w)
		next.ServeHTTP(sw, r)
		q := RequestOf(r)
		if q == nil || q != &sw.rec {
			errLog.Error("access log", "err", errNoRecord)
			return
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		end := now()
		elapsed := end.Sub(q.start)
		if s.Done != nil {
			s.Done(q, status, elapsed)
		}
		if !s.Enabled {
			return
		}
		writeLine(out, errLog, r, q, sw, status, end, elapsed)
	})
}

// writeLine writes the access-log line of one finished request.
func writeLine(out io.Writer, errLog *slog.Logger, r *http.Request, q *Request, sw *statusWriter, status int, end time.Time, elapsed time.Duration) {
	bp := lineBufs.Get().(*[]byte)
	l := startLine((*bp)[:0], end, "request")
	l.str("request_id", q.id)
	l.str("method", r.Method)
	l.str("route", q.route)
	l.str("path", r.URL.EscapedPath())
	if r.URL.RawQuery != "" {
		l.strs("query_keys", queryKeys(r.URL.RawQuery))
	}
	l.int("status", int64(status))
	l.int("bytes", sw.bytes)
	l.float("duration_ms", float64(elapsed.Microseconds())/1000)
	var ipBuf [64]byte
	l.b = append(l.b, `,"client_ip":"`...)
	l.b = append(l.b, q.client.AppendTo(ipBuf[:0])...)
	l.b = append(l.b, '"')
	l.str("proto", r.Proto)
	if q.upstream != "" {
		l.str("upstream", q.upstream)
	}
	if p := q.principal; p != nil {
		l.str("principal_kind", string(p.Kind))
		l.str("subject", p.Subject)
		if p.Tenant != "" {
			l.str("tenant", p.Tenant)
		}
		if p.KeyID != "" {
			l.str("key_id", p.KeyID)
		}
	}
	if q.decided {
		if q.decision.Allowed {
			l.str("authz", "allow")
		} else {
			l.str("authz", "deny")
		}
		if len(q.decision.Policies) > 0 {
			l.strs("policies", q.decision.Policies)
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

// The access log is written by a dedicated encoder rather than through
// slog: it runs once per request, and the encoder below does in one pass
// with no reflection what slog's JSON handler does with several. Its lines
// have the same shape as slog's JSON records (time, level, msg, then the
// fields), so the operational and access logs parse alike.

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// logLine builds one JSON object.
type logLine struct{ b []byte }

func (l *logLine) str(key, v string) {
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, key...)
	l.b = append(l.b, '"', ':')
	l.b = jsonenc.AppendString(l.b, v)
}

func (l *logLine) int(key string, v int64) {
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, key...)
	l.b = append(l.b, '"', ':')
	l.b = strconv.AppendInt(l.b, v, 10)
}

func (l *logLine) float(key string, v float64) {
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, key...)
	l.b = append(l.b, '"', ':')
	l.b = strconv.AppendFloat(l.b, v, 'f', -1, 64)
}

func (l *logLine) strs(key string, vs []string) {
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, key...)
	l.b = append(l.b, '"', ':', '[')
	for i, v := range vs {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.b = jsonenc.AppendString(l.b, v)
	}
	l.b = append(l.b, ']')
}

func startLine(b []byte, t time.Time, msg string) logLine {
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":`...)
	b = jsonenc.AppendString(b, msg)
	return logLine{b: b}
}

// BufferedLog is an io.Writer for the access log that gathers lines in
// memory and writes them out when the buffer fills or every interval, so a
// busy gateway makes one write system call per batch instead of one per
// request. At most one interval of lines is lost if the process dies; Close
// flushes. Safe for concurrent use; each Write must be whole lines.
type BufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewBufferedLog writes to out, flushing at least every interval.
func NewBufferedLog(out io.Writer, interval time.Duration) *BufferedLog {
	bl := &BufferedLog{w: bufio.NewWriterSize(out, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(bl.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-bl.stop:
				return
			case <-t.C:
				bl.Flush()
			}
		}
	}()
	return bl
}

// Write buffers p.
func (bl *BufferedLog) Write(p []byte) (int, error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	return bl.w.Write(p)
}

// Flush writes out what is buffered.
func (bl *BufferedLog) Flush() {
	bl.mu.Lock()
	_ = bl.w.Flush()
	bl.mu.Unlock()
}

// Close stops the flusher and flushes.
func (bl *BufferedLog) Close() error {
	select {
	case <-bl.stop:
	default:
		close(bl.stop)
	}
	<-bl.done
	bl.Flush()
	return nil
}
