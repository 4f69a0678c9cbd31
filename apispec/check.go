package apispec

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Violation is one way a request or response differs from the document.
// It is safe to show the client: it names where, never what was sent.
type Violation struct {
	// Location is path, query, header, cookie, body, operation or response.
	Location string `json:"location"`
	// Name is the parameter or header name, for parameters.
	Name string `json:"name,omitempty"`
	// Pointer is an RFC 6901 JSON pointer into the body ("" is the whole body).
	Pointer string `json:"pointer,omitempty"`
	// Reason is short and fixed, or built from the document's own values.
	Reason string `json:"reason"`
}

// Failure is a refused request: the status to answer with and why.
type Failure struct {
	// Status is 400, 404, 405, 413 or 415.
	Status int
	// Allow lists the declared methods, for a 405.
	Allow      []string
	Violations []Violation
	// bodyLost: the body could not be read whole, so the request cannot
	// be passed on even when violations are only reported.
	bodyLost bool
}

// maxViolations bounds the list a client gets back.
const maxViolations = 20

// CheckRequest validates r against its operation in the document. It
// reads the body (the caller bounds it, e.g. with http.MaxBytesReader) and
// leaves r.Body re-readable from the start. It returns nil when r may pass.
//
// r.URL.Path must be the path as the document knows it (after any prefix
// the gateway strips).
func (s *Spec) CheckRequest(r *http.Request) *Failure {
	item, routeErrs, pathValue := paths.FindPath(r, s.model, s.find)
	if item == nil {
		if !s.opts.Strict {
			return nil
		}
		return &Failure{Status: http.StatusNotFound, Violations: []Violation{{Location: "operation", Reason: "the API does not declare this path"}}}
	}
	if len(routeErrs) > 0 {
		if !s.opts.Strict {
			return nil
		}
		return &Failure{Status: http.StatusMethodNotAllowed, Allow: allowedMethods(item), Violations: []Violation{{Location: "operation", Reason: "the API does not declare this method for this path"}}}
	}
	op := s.operation(item, r.Method)
	var found []Violation
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return &Failure{Status: http.StatusRequestEntityTooLarge, bodyLost: true, Violations: []Violation{{Location: "body", Reason: "body is larger than the limit"}}}
			}
			return &Failure{Status: http.StatusBadRequest, bodyLost: true, Violations: []Violation{{Location: "body", Reason: "body could not be read"}}}
		}
		setBody(r, body)
		ct := r.Header.Get("Content-Type")
		if len(body) > 0 && ct != "" && mediaType(ct) == "" {
			// The validator library matches media types by prefix and would
			// check the schema while the gateway's own name checks are
			// skipped: an unparsable Content-Type is refused (VAL-06).
			return &Failure{Status: http.StatusBadRequest, Violations: []Violation{{Location: "header", Name: "Content-Type", Reason: "not a valid media type"}}}
		}
		if len(body) > 0 && isJSON(ct) {
			var root *shape
			if op != nil {
				root = op.requests[mediaType(ct)]
			}
			fatal, v := walk(body, root, inRequest, s.opts.RejectUnknownFields, s.opts.MaxDepth)
			if fatal != nil {
				return &Failure{Status: http.StatusBadRequest, Violations: []Violation{*fatal}}
			}
			found = v
		}
	}
	if s.opts.RejectUnknownFields && op != nil && r.URL.RawQuery != "" {
		found = append(found, undeclaredQuery(op, r.URL.RawQuery)...)
	}
	ok, errs := s.v.ValidateHttpRequestSyncWithPathItem(r, item, pathValue)
	if br, isBR := r.Body.(*bodyReader); isBR {
		br.Reset(br.data)
	}
	if ok && len(found) == 0 {
		return nil
	}
	f := s.failure(errs)
	if f.Status == http.StatusUnsupportedMediaType {
		return f // the body was not judged; the content type is the whole story
	}
	f.Violations = append(found, f.Violations...)
	if len(f.Violations) > maxViolations {
		f.Violations = f.Violations[:maxViolations]
	}
	return f
}

// operation is the precomputed operation of a path item and method (HEAD
// falls back to GET).
func (s *Spec) operation(item *v3.PathItem, method string) *operation {
	if op, ok := s.ops[opKey{item, method}]; ok {
		return op
	}
	if method == http.MethodHead {
		return s.ops[opKey{item, http.MethodGet}]
	}
	return nil
}

// undeclaredQuery lists query parameters the operation does not declare
// (a deepObject's filter[status] counts as filter).
func undeclaredQuery(op *operation, raw string) []Violation {
	var out []Violation
	for part := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(part, "=")
		if name == "" {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		base, _, _ := strings.Cut(name, "[")
		if !op.query[name] && !op.query[base] && len(out) < maxViolations {
			out = append(out, Violation{Location: "query", Name: truncate(name, 64), Reason: "query parameter not declared"})
		}
	}
	return out
}

// bodyReader is a re-readable request body.
type bodyReader struct {
	bytes.Reader
	data []byte
}

func (b *bodyReader) Close() error { return nil }

func setBody(r *http.Request, body []byte) {
	br := &bodyReader{data: body}
	br.Reader.Reset(body)
	r.Body = br
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) {
		nb := &bodyReader{data: body}
		nb.Reader.Reset(body)
		return nb, nil
	}
}

// isJSON reports whether a content type is JSON (application/json or a
// +json suffix type).
func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt := mediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// mediaType is the lower-case media type of a Content-Type value.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

func (s *Spec) failure(errs []*verrors.ValidationError) *Failure {
	f := &Failure{Status: http.StatusBadRequest}
	for _, e := range errs {
		switch {
		case e.ValidationType == helpers.PathValidation:
			// Routing was decided before; the library's second opinion
			// adds nothing a client can act on.
		case e.ValidationType == helpers.RequestBodyValidation && e.ValidationSubType == helpers.RequestBodyContentType:
			return &Failure{Status: http.StatusUnsupportedMediaType, Violations: []Violation{{Location: "header", Name: "Content-Type", Reason: "content type not declared for this operation"}}}
		default:
			f.Violations = append(f.Violations, s.convert(e)...)
		}
	}
	return f
}

// convert turns one library finding into client-safe violations. It never
// copies the library's Message or Reason when they may hold request data.
func (s *Spec) convert(e *verrors.ValidationError) []Violation {
	switch e.ValidationType {
	case helpers.ParameterValidation:
		loc := e.ValidationSubType
		if len(e.SchemaValidationErrors) > 0 {
			out := make([]Violation, 0, len(e.SchemaValidationErrors))
			for _, sve := range e.SchemaValidationErrors {
				out = append(out, Violation{Location: loc, Name: e.ParameterName, Pointer: pointer(sve.InstancePath), Reason: keywordReason(sve)})
			}
			return out
		}
		return []Violation{{Location: loc, Name: e.ParameterName, Reason: parameterReason(e.Message)}}
	case helpers.RequestBodyValidation, helpers.URLEncodedValidation:
		return bodyViolations("body", e)
	case helpers.ResponseBodyValidation:
		return bodyViolations("response", e)
	}
	return []Violation{{Location: "request", Reason: "does not match the API description"}}
}

func bodyViolations(loc string, e *verrors.ValidationError) []Violation {
	if len(e.SchemaValidationErrors) > 0 {
		out := make([]Violation, 0, len(e.SchemaValidationErrors))
		for _, sve := range e.SchemaValidationErrors {
			out = append(out, Violation{Location: loc, Pointer: pointer(sve.InstancePath), Reason: keywordReason(sve)})
		}
		return out
	}
	m := strings.ToLower(e.Message + " " + e.Reason)
	switch {
	case strings.Contains(m, "status code") || strings.Contains(m, "response code"):
		return []Violation{{Location: loc, Reason: "status code not declared for this operation"}}
	case strings.Contains(m, "content type") || strings.Contains(m, "content-type"):
		return []Violation{{Location: loc, Reason: "content type not declared for this operation"}}
	case strings.Contains(m, "is empty"):
		return []Violation{{Location: loc, Reason: "a body is required"}}
	case strings.Contains(m, "not declared") || strings.Contains(m, "does not declare"):
		return []Violation{{Location: loc, Reason: "this operation takes no body"}}
	case strings.Contains(m, "decode") || strings.Contains(m, "unmarshal") || strings.Contains(m, "invalid character"):
		return []Violation{{Location: loc, Reason: "body could not be decoded as its content type"}}
	}
	return []Violation{{Location: loc, Reason: "does not match the schema"}}
}

func parameterReason(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "is missing"):
		return "required parameter is missing"
	case strings.Contains(m, "allowed values"):
		return "not one of the allowed values"
	case strings.Contains(m, "too many items"):
		return "too many items"
	case strings.Contains(m, "not have enough items"):
		return "too few items"
	case strings.Contains(m, "non-unique"):
		return "items are not unique"
	case strings.Contains(m, "delimited") || strings.Contains(m, "exploded") || strings.Contains(m, "deepobject"):
		return "not serialised as the API declares"
	}
	return "invalid value"
}

var (
	typeReason   = regexp.MustCompile(`^got [a-z]+(, [a-z]+)*, want [a-z]+( or [a-z]+)*$`)
	wantValue    = regexp.MustCompile(`, want ([-+0-9.,]{1,32})$`)
	keywordShape = regexp.MustCompile(`^[A-Za-z$]{1,32}$`)
	requiredList = regexp.MustCompile(`^missing propert(y|ies) ('[^']{1,64}'(, )?){1,10}$`)
)

// knownFormats are the format names a reason may name, longest first so
// date-time is found before date.
var knownFormats = []string{
	"date-time", "duration", "email", "idn-email", "hostname", "idn-hostname", "ipv4", "ipv6",
	"uri-reference", "uri-template", "uri", "iri-reference", "iri", "uuid", "json-pointer",
	"relative-json-pointer", "regex", "date", "time", "int32", "int64", "float", "double", "byte", "binary", "password",
}

// keywordReason describes a schema failure by the keyword that failed.
// The library's reason is used only where its shape proves it holds no
// request data (a type list, a bound taken from the schema).
func keywordReason(sve *verrors.SchemaValidationFailure) string {
	kw := sve.KeywordLocation
	if i := strings.LastIndexByte(kw, '/'); i >= 0 {
		kw = kw[i+1:]
	}
	want := ""
	if m := wantValue.FindStringSubmatch(sve.Reason); m != nil {
		want = " " + strings.ReplaceAll(m[1], ",", "")
	}
	switch kw {
	case "type":
		if typeReason.MatchString(sve.Reason) {
			return "wrong type: " + sve.Reason
		}
		return "wrong type"
	case "required":
		if requiredList.MatchString(sve.Reason) {
			return sve.Reason
		}
		return "a required property is missing"
	case "additionalProperties", "unevaluatedProperties":
		return "property not allowed (" + kw + ")"
	case "enum":
		return "not one of the allowed values"
	case "const":
		return "not the allowed value"
	case "pattern":
		return "does not match the pattern"
	case "format":
		// The reason quotes the value first; the format name is taken
		// only from a fixed list, so nothing sent can come back.
		for _, f := range knownFormats {
			if strings.Contains(sve.Reason, " is not valid "+f) || strings.Contains(sve.Reason, " is not valid '"+f+"'") {
				return "not a valid " + f
			}
		}
		return "invalid format"
	case "minimum":
		return "below the minimum" + want
	case "maximum":
		return "above the maximum" + want
	case "exclusiveMinimum":
		return "not above the exclusive minimum" + want
	case "exclusiveMaximum":
		return "not below the exclusive maximum" + want
	case "multipleOf":
		return "not a multiple of" + want
	case "minLength":
		return "shorter than" + want
	case "maxLength":
		return "longer than" + want
	case "minItems":
		return "fewer items than" + want
	case "maxItems":
		return "more items than" + want
	case "uniqueItems":
		return "items are not unique"
	case "minProperties":
		return "fewer properties than" + want
	case "maxProperties":
		return "more properties than" + want
	case "false":
		return "not allowed"
	}
	if keywordShape.MatchString(kw) {
		return "does not match the schema (" + kw + ")"
	}
	return "does not match the schema"
}

// pointer builds an RFC 6901 pointer from path segments.
func pointer(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		s = strings.ReplaceAll(s, "~", "~0")
		b.WriteString(strings.ReplaceAll(s, "/", "~1"))
	}
	return truncate(b.String(), 256)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
