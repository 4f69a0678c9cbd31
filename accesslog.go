package gatehouse

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/jsonenc"
)

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
