package apispec

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
)

// Mode says what a failed check does.
type Mode int

const (
	// Off: no check.
	Off Mode = iota
	// Report lets the request or response through and tells OnViolation.
	Report
	// Enforce refuses it (requests: 400/404/405/413/415; responses: 502).
	Enforce
)

func (m Mode) String() string {
	switch m {
	case Report:
		return "report"
	case Enforce:
		return "enforce"
	}
	return "off"
}

// ParseMode reads off, report or enforce.
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "off":
		return Off, true
	case "report":
		return Report, true
	case "enforce":
		return Enforce, true
	}
	return Off, false
}

// StageOptions configure the request and response stages.
type StageOptions struct {
	// Mode is Report or Enforce (Off counts as Enforce: a stage that is
	// built checks).
	Mode Mode
	// StripPrefix is removed from the request path before it is looked up
	// in the document (the path as the upstream sees it).
	StripPrefix string
	// MaxResponseBytes is the largest response body checked. Enforced: a
	// larger one is refused (502); reported: it passes unchecked. Default 4 MiB.
	MaxResponseBytes int64
	// OnViolation is told of every failed check, refused or reported.
	// response says whether the response failed; enforced whether it was
	// refused.
	OnViolation func(r *http.Request, f *Failure, response, enforced bool)
}

// DefaultMaxResponseBytes bounds the response bodies that are checked.
const DefaultMaxResponseBytes = 4 << 20

// Problem types of validation failures.
const (
	TypeInvalidRequest       = problem.TypeBase + "invalid-request"
	TypeUnsupportedMediaType = problem.TypeBase + "unsupported-media-type"
	TypeInvalidResponse      = problem.TypeBase + "invalid-upstream-response"
)

// specRequest is r as the document sees it: the path with the prefix the
// gateway strips removed. It shares r's body.
func specRequest(r *http.Request, strip string) *http.Request {
	if strip == "" || !strings.HasPrefix(r.URL.Path, strip) {
		return r
	}
	r2 := *r
	u := *r.URL
	u.Path = "/" + strings.TrimLeft(strings.TrimPrefix(u.Path, strip), "/")
	u.RawPath = ""
	r2.URL = &u
	return &r2
}

// Stage checks requests against one document. Made by NewStage;
// immutable, safe for concurrent use.
type Stage struct {
	spec *Spec
	o    StageOptions
}

// NewStage returns the request stage of s.
func NewStage(s *Spec, o StageOptions) *Stage {
	if o.Mode == Off {
		o.Mode = Enforce
	}
	return &Stage{spec: s, o: o}
}

// Check checks r (with StripPrefix applied) and returns nil or the
// failure. The body is read and replaced by an equal one.
func (st *Stage) Check(r *http.Request) *Failure {
	sr := specRequest(r, st.o.StripPrefix)
	f := st.spec.CheckRequest(sr)
	if sr != r {
		r.Body, r.GetBody, r.ContentLength = sr.Body, sr.GetBody, sr.ContentLength
	}
	return f
}

// Wrap returns the stage. In Report mode a failing request goes on, with
// its body intact; a body over the limit is refused in both modes, as it
// cannot be passed on.
func (st *Stage) Wrap(next http.Handler) http.Handler {
	o := &st.o
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := st.Check(r); f != nil {
			enforced := o.Mode == Enforce || f.bodyLost
			if o.OnViolation != nil {
				o.OnViolation(r, f, false, enforced)
			}
			if enforced {
				WriteFailure(w, r, f)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// WriteFailure answers with the problem for f.
func WriteFailure(w http.ResponseWriter, r *http.Request, f *Failure) {
	var p *problem.Problem
	switch f.Status {
	case http.StatusNotFound:
		p = problem.New(f.Status, problem.TypeNotFound, "The API does not declare this path.")
	case http.StatusMethodNotAllowed:
		p = problem.New(f.Status, problem.TypeMethodNotAllowed, "The API does not declare this method for this path.")
		if len(f.Allow) > 0 {
			w.Header().Set("Allow", strings.Join(f.Allow, ", "))
		}
	case http.StatusRequestEntityTooLarge:
		p = problem.New(f.Status, problem.TypeBodyTooLarge, "The request body is larger than this route accepts.")
	case http.StatusUnsupportedMediaType:
		p = problem.New(f.Status, TypeUnsupportedMediaType, "The API does not accept this content type here.")
	default:
		p = problem.New(http.StatusBadRequest, TypeInvalidRequest, "The request does not match the API description.")
	}
	p.Extra = map[string]any{"errors": f.Violations}
	p.Err = violationsError(f.Violations)
	problem.Write(w, r, p)
}

type violationsError []Violation

// Describe renders violations on one line, for logs. Like the violations
// themselves it holds no request data.
func Describe(v []Violation) string { return violationsError(v).Error() }

func (v violationsError) Error() string {
	var b strings.Builder
	b.WriteString("validation failed:")
	for i, x := range v {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteByte(' ')
		b.WriteString(x.Location)
		if x.Name != "" {
			b.WriteString(" " + x.Name)
		}
		if x.Pointer != "" {
			b.WriteString(" " + x.Pointer)
		}
		b.WriteString(": " + x.Reason)
	}
	return b.String()
}

// CheckResponse validates a response to r (status, headers, body) against
// the document. It returns nil when the response matches or when r's
// operation is not in the document.
func (s *Spec) CheckResponse(r *http.Request, status int, h http.Header, body []byte) []Violation {
	item, routeErrs, _ := paths.FindPath(r, s.model, s.find)
	if item == nil || len(routeErrs) > 0 {
		return nil // the request's operation is not in the document
	}
	var out []Violation
	ct := h.Get("Content-Type")
	if len(body) > 0 && ct != "" && mediaType(ct) == "" {
		return []Violation{{Location: "response", Name: "Content-Type", Reason: "not a valid media type"}} // VAL-05
	}
	if len(body) > 0 && isJSON(ct) {
		var root *shape
		if op := s.operation(item, r.Method); op != nil {
			root, _ = op.responseShape(status, mediaType(ct))
		}
		fatal, found := walk(body, root, inResponse, s.opts.RejectUnknownFields, maxResponseDepth)
		if fatal != nil {
			found = []Violation{*fatal}
		}
		out = append(out, found...)
	}
	resp := &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}
	if ok, errs := s.v.ValidateHttpResponse(r, resp); !ok {
		for _, e := range errs {
			if e.ValidationType == helpers.PathValidation {
				continue
			}
			out = append(out, s.convert(e)...)
		}
	}
	for i := range out {
		out[i].Location = "response"
	}
	if len(out) > maxViolations {
		out = out[:maxViolations]
	}
	return out
}

// maxResponseDepth bounds the nesting of checked responses: upstreams are
// trusted further than clients, not without bound.
const maxResponseDepth = 256

// ResponseStage checks the responses of the handler it wraps (mode
// Report or Enforce). Enforced, the response is held until checked and a
// failing one is replaced by a 502 problem: the upstream's body never
// reaches the client (OWASP API3, excessive data exposure). Reported, the
// response streams through and is checked afterwards.
//
// Responses the gateway wrote itself (a problem from a later stage) and
// upgrades are not checked. The upstream is asked for an unencoded body
// (Accept-Encoding is removed; Go's transport still compresses the hop).
type ResponseStage struct {
	spec *Spec
	o    StageOptions
}

// NewResponseStage returns the response stage of s.
func NewResponseStage(s *Spec, o StageOptions) *ResponseStage {
	if o.Mode == Off {
		o.Mode = Enforce
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return &ResponseStage{spec: s, o: o}
}

// Wrap returns the stage.
func (rs *ResponseStage) Wrap(next http.Handler) http.Handler {
	s, o, limit, mode := rs.spec, &rs.o, rs.o.MaxResponseBytes, rs.o.Mode
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead { // a header alone (Upgrade) never skips the check (VAL-05): only a 101 answer does
			next.ServeHTTP(w, r)
			return
		}
		r.Header.Del("Accept-Encoding")
		sr := specRequest(r, o.StripPrefix)
		cw := &captureWriter{inner: w, limit: limit, hold: mode == Enforce}
		next.ServeHTTP(cw, r)
		if cw.own {
			if cw.hold {
				cw.flushHeld()
			}
			return
		}
		var viol []Violation
		switch {
		case cw.over:
			if !cw.hold {
				return // streamed, too large to check
			}
			viol = []Violation{{Location: "response", Reason: "body larger than the validation limit"}}
		case encoded(cw.header()):
			viol = []Violation{{Location: "response", Reason: "encoded body cannot be checked"}}
		default:
			viol = s.CheckResponse(sr, cw.statusCode(), cw.header(), cw.buf.Bytes())
		}
		if len(viol) > 0 && o.OnViolation != nil {
			o.OnViolation(r, &Failure{Status: http.StatusBadGateway, Violations: viol}, true, cw.hold)
		}
		if !cw.hold {
			return
		}
		if len(viol) > 0 {
			p := problem.New(http.StatusBadGateway, TypeInvalidResponse, "The upstream response does not match the API description.")
			p.Err = violationsError(viol)
			clear(w.Header())
			problem.Write(w, r, p)
			return
		}
		cw.flushHeld()
	})
}

func encoded(h http.Header) bool {
	ce := h.Get("Content-Encoding")
	return ce != "" && !strings.EqualFold(ce, "identity")
}

// captureWriter holds (enforce) or tees (report) a response for checking.
type captureWriter struct {
	inner  http.ResponseWriter
	limit  int64
	hold   bool // enforce: nothing reaches inner until checked
	held   http.Header
	status int
	wrote  bool
	buf    bytes.Buffer
	over   bool
	own    bool // the gateway wrote a problem itself; not checked
}

func (c *captureWriter) Header() http.Header {
	if c.hold {
		if c.held == nil {
			c.held = make(http.Header)
		}
		return c.held
	}
	return c.inner.Header()
}

func (c *captureWriter) header() http.Header {
	if c.hold {
		return c.Header()
	}
	return c.inner.Header()
}

func (c *captureWriter) statusCode() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

func (c *captureWriter) WriteHeader(code int) {
	if c.wrote {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if !c.hold {
			c.inner.WriteHeader(code)
		}
		return
	}
	c.wrote, c.status = true, code
	if code == http.StatusSwitchingProtocols || code == http.StatusNotModified || code == http.StatusNoContent {
		// Nothing to check; never hold an upgrade.
		c.own = true
		if c.hold {
			c.hold = false
			copyHeader(c.inner.Header(), c.held)
		}
	}
	if !c.hold {
		c.inner.WriteHeader(code)
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if !c.own && !c.over {
		if int64(c.buf.Len()+len(b)) > c.limit {
			c.over = true
			if c.hold {
				c.buf.Reset()
			}
		} else {
			c.buf.Write(b)
		}
	}
	if c.hold {
		return len(b), nil // held, or dropped once over the limit
	}
	return c.inner.Write(b)
}

// Flush streams in report mode; while holding it is a no-op.
func (c *captureWriter) Flush() {
	if c.hold {
		return
	}
	if f, ok := c.inner.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection when the
// response is not held.
func (c *captureWriter) Unwrap() http.ResponseWriter {
	if c.hold {
		return nil
	}
	return c.inner
}

// RecordProblem marks a response the gateway wrote itself (it is not
// checked) and passes the cause on to the access log.
func (c *captureWriter) RecordProblem(p *problem.Problem) {
	c.own = true
	problem.RecordCause(c.inner, p)
}

func (c *captureWriter) flushHeld() {
	copyHeader(c.inner.Header(), c.held)
	c.inner.WriteHeader(c.statusCode())
	if c.buf.Len() > 0 {
		_, _ = c.inner.Write(c.buf.Bytes())
	}
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}
