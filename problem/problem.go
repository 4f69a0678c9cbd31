// Package problem writes RFC 9457 problem details (application/problem+json)
// for every error the gateway itself produces (PD-01).
//
// A Problem separates what the client may see (Title, Detail) from what only
// the operator may see (Err, which is logged and never serialised). Every
// problem carries the request id, so a client report can be matched to the
// access log line.
package problem

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/jsonenc"
	"github.com/gatehouse-dev/gatehouse/record"
)

// TypeBase prefixes every problem type URI. Types are stable identifiers, not
// fetched by clients.
const TypeBase = "https://gatehouse.dev/problems/"

// Stable problem types. Later stages add their own.
const (
	TypeNotFound           = TypeBase + "not-found"
	TypeMethodNotAllowed   = TypeBase + "method-not-allowed"
	TypeBadRequest         = TypeBase + "bad-request"
	TypeBadPath            = TypeBase + "bad-path"
	TypeURITooLong         = TypeBase + "uri-too-long"
	TypeBodyTooLarge       = TypeBase + "body-too-large"
	TypeHTTPSRequired      = TypeBase + "https-required"
	TypeBadGateway         = TypeBase + "bad-gateway"
	TypeGatewayTimeout     = TypeBase + "gateway-timeout"
	TypeServiceUnavailable = TypeBase + "service-unavailable"
	TypeInternal           = TypeBase + "internal"
	TypeUnauthorized       = TypeBase + "unauthorized"
	TypeForbidden          = TypeBase + "forbidden"
	TypeQuotaExceeded      = TypeBase + "quota-exceeded"
)

// Problem is one RFC 9457 problem. The zero value is not useful; use New.
//
// Title and Detail are sent to the client and must never hold secrets,
// hostnames, SQL, stack traces or credentials. Err is for the log only.
type Problem struct {
	Type   string
	Title  string
	Status int
	Detail string
	// Extra members, serialised beside the standard ones (e.g. "errors").
	// Keys must not collide with the standard members.
	Extra map[string]any
	// Err is the internal cause. It is logged, never sent.
	Err error
}

// New returns a problem of the given type and status with a client-safe detail.
func New(status int, typ, detail string) *Problem {
	title := http.StatusText(status)
	if status == 499 {
		title = "Client Closed Request"
	}
	return &Problem{Type: typ, Title: title, Status: status, Detail: detail}
}

// Wrap returns p with the internal cause err attached (for the log only).
func (p *Problem) Wrap(err error) *Problem { p.Err = err; return p }

// Error implements error; it reports the internal cause when there is one.
func (p *Problem) Error() string {
	if p.Err != nil {
		return p.Title + ": " + p.Detail + ": " + p.Err.Error()
	}
	return p.Title + ": " + p.Detail
}

// Unwrap returns the internal cause.
func (p *Problem) Unwrap() error { return p.Err }

type ctxKey struct{}

// WithRequestID returns a context that carries the request id, for code
// that runs outside a pipeline (a pipeline's request record carries it).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request id of ctx: the request record's
// (record.From), else one stored by WithRequestID, else "".
func RequestID(ctx context.Context) string {
	if rec := record.Lookup(ctx); rec != nil {
		return rec.RequestID()
	}
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// CauseRecorder is implemented by response writers that want to learn the
// internal cause of a problem written through them (the access log does).
type CauseRecorder interface {
	RecordProblem(p *Problem)
}

// Write sends p as application/problem+json. It sets status equal to the
// HTTP status and the request id from r's context. If w (or a writer it
// unwraps to) implements CauseRecorder, the problem is handed to it so the
// internal cause reaches the log.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	RecordCause(w, p)
	body := Marshal(p, RequestID(r.Context()))
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// RecordCause hands p to the first CauseRecorder among w and the writers it
// unwraps to, if any.
func RecordCause(w http.ResponseWriter, p *Problem) {
	for cw := w; cw != nil; {
		if rec, ok := cw.(CauseRecorder); ok {
			rec.RecordProblem(p)
			return
		}
		u, ok := cw.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		cw = u.Unwrap()
	}
}

// Marshal returns the JSON body of p with the given request id. The
// standard members are encoded directly; Extra, when present, through
// encoding/json.
func Marshal(p *Problem, requestID string) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"type":`...)
	b = jsonenc.AppendString(b, p.Type)
	b = append(b, `,"title":`...)
	b = jsonenc.AppendString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = jsonenc.AppendString(b, p.Detail)
	}
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = jsonenc.AppendString(b, requestID)
	}
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		switch k {
		case "type", "title", "status", "detail", "request_id":
			continue // the standard members cannot be overridden
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := json.Marshal(p.Extra[k])
		if err != nil {
			continue // an unserialisable extra is dropped, never the problem
		}
		b = append(b, ',')
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}', '\n')
}
