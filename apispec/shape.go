package apispec

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// shape is what the document declares of a JSON value, reduced to what
// the gateway judges itself while it reads a body: which property names
// exist (across allOf, anyOf and oneOf), which are readOnly or writeOnly,
// and the shapes below. Types, bounds and formats are left to the schema
// validator.
type shape struct {
	props    map[string]*shape
	addl     *shape // additionalProperties as a schema: a map, values of this shape
	items    *shape
	patterns bool // patternProperties: names are not judged
	readOnly bool
	wrOnly   bool
	// folds maps the case folding of each declared name to the name
	// (VAL-06): an undeclared name with the same folding is refused, as
	// Go, Jackson and .NET bind it to the declared property.
	folds map[string]string
}

// foldName is the case folding of a property name as Go's encoding/json
// compares names (bytes.EqualFold: upper then lower case, so U+017F 'ſ'
// is 's' and U+212A KELVIN SIGN is 'k').
func foldName(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, name)
}

// index fills folds once all properties are known.
func (s *shape) index() {
	if len(s.props) == 0 {
		return
	}
	s.folds = make(map[string]string, len(s.props))
	for name := range s.props {
		s.folds[foldName(name)] = name
	}
}

// free reports whether the shape declares no property names: a free-form
// object, whose names are not judged.
func (s *shape) free() bool {
	return s == nil || (len(s.props) == 0 && s.addl == nil && !s.patterns)
}

type shapeBuilder map[*base.Schema]*shape

// build returns the shape of a schema. Schemas are shared and may be
// recursive: each is built once.
func (b shapeBuilder) build(p *base.SchemaProxy) *shape {
	if p == nil {
		return nil
	}
	s := p.Schema()
	if s == nil {
		return nil
	}
	if sh, ok := b[s]; ok {
		return sh
	}
	sh := &shape{readOnly: s.ReadOnly != nil && *s.ReadOnly, wrOnly: s.WriteOnly != nil && *s.WriteOnly}
	b[s] = sh
	b.merge(sh, s)
	return sh
}

// merge adds what s declares to sh, flattening composition: a property
// declared in any branch is declared.
func (b shapeBuilder) merge(sh *shape, s *base.Schema) {
	if s.Properties != nil {
		for name, p := range s.Properties.FromOldest() {
			child := b.build(p)
			if sh.props == nil {
				sh.props = map[string]*shape{}
			}
			sh.props[name] = union(sh.props[name], child)
		}
	}
	if s.PatternProperties != nil && s.PatternProperties.Len() > 0 {
		sh.patterns = true
	}
	if ap := s.AdditionalProperties; ap != nil && ap.IsA() && ap.A != nil {
		sh.addl = union(sh.addl, b.build(ap.A))
	}
	if it := s.Items; it != nil && it.IsA() && it.A != nil {
		sh.items = union(sh.items, b.build(it.A))
	}
	for _, p := range s.PrefixItems {
		sh.items = union(sh.items, b.build(p))
	}
	branches := make([]*base.SchemaProxy, 0, len(s.AllOf)+len(s.AnyOf)+len(s.OneOf)+3)
	branches = append(append(append(branches, s.AllOf...), s.AnyOf...), s.OneOf...)
	branches = append(branches, s.If, s.Then, s.Else)
	for _, p := range branches {
		if p == nil {
			continue
		}
		cs := p.Schema()
		if cs == nil {
			continue
		}
		if b[cs] == sh {
			continue // a branch that refers back to this schema
		}
		b.merge(sh, cs)
	}
}

// union is a shape that accepts what either accepts. Distinct shapes for
// one name (rare: two branches declaring the same property) become free
// below that name, keeping readOnly and writeOnly.
func union(a, c *shape) *shape {
	switch {
	case a == nil:
		return c
	case c == nil || a == c:
		return a
	}
	return &shape{readOnly: a.readOnly || c.readOnly, wrOnly: a.wrOnly || c.wrOnly}
}

// operation is what the gateway precomputes for one operation.
type operation struct {
	query     map[string]bool   // declared query parameter names
	requests  map[string]*shape // request body shapes by media type
	responses map[string]map[string]*shape
}

type opKey struct {
	item   *v3.PathItem
	method string
}

// compileOperations precomputes every operation's shapes.
func compileOperations(m *v3.Document) map[opKey]*operation {
	out := map[opKey]*operation{}
	if m.Paths == nil || m.Paths.PathItems == nil {
		return out
	}
	b := shapeBuilder{}
	for _, item := range m.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := &operation{query: map[string]bool{}, requests: map[string]*shape{}, responses: map[string]map[string]*shape{}}
			for _, params := range [][]*v3.Parameter{item.Parameters, op.Parameters} {
				for _, p := range params {
					if p != nil && p.In == "query" {
						o.query[p.Name] = true
					}
				}
			}
			if rb := op.RequestBody; rb != nil && rb.Content != nil {
				for mt, media := range rb.Content.FromOldest() {
					o.requests[strings.ToLower(mt)] = b.build(media.Schema)
				}
			}
			if rs := op.Responses; rs != nil {
				add := func(code string, r *v3.Response) {
					if r == nil || r.Content == nil {
						return
					}
					byType := map[string]*shape{}
					for mt, media := range r.Content.FromOldest() {
						byType[strings.ToLower(mt)] = b.build(media.Schema)
					}
					o.responses[strings.ToUpper(code)] = byType
				}
				if rs.Codes != nil {
					for code, r := range rs.Codes.FromOldest() {
						add(code, r)
					}
				}
				add("default", rs.Default)
			}
			out[opKey{item, strings.ToUpper(method)}] = o
		}
	}
	for _, sh := range b {
		sh.index()
	}
	return out
}

// responseShape finds the shape of a response body: the exact status, its
// class (2XX), then default.
func (o *operation) responseShape(status int, mediaType string) (*shape, bool) {
	code := strconv.Itoa(status)
	for _, k := range []string{code, code[:1] + "XX", "default"} {
		if byType, ok := o.responses[k]; ok {
			sh, ok := byType[mediaType]
			return sh, ok
		}
	}
	return nil, false
}

// direction says which of readOnly and writeOnly is refused.
type direction int

const (
	inRequest direction = iota
	inResponse
)

// walk reads a JSON body once, as a token stream, without building it. It
// refuses what the schema validator cannot see or would be too slow to
// see: more than one value, invalid UTF-8, a repeated key, nesting deeper
// than maxDepth (VAL-03). Against root it also finds readOnly properties
// in requests, writeOnly ones in responses and, when unknown is set,
// property names the document declares nowhere (mass assignment).
//
// fatal is a body that cannot be judged further; viol are findings that
// leave it readable.
func walk(b []byte, root *shape, dir direction, unknown bool, maxDepth int) (fatal *Violation, viol []Violation) {
	c := checkers.Get().(*jsonChecker)
	defer checkers.Put(c)
	c.rd.Reset(b)
	c.dec.Reset(&c.rd, jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false))
	c.stack = c.stack[:0]
	var pending *shape // the shape of the value about to be read
	pending = root
	values := 0
	for {
		tok, err := c.dec.ReadToken()
		if err != nil {
			if err == io.EOF {
				if values == 0 {
					return &Violation{Location: "body", Reason: "not valid JSON: empty"}, nil
				}
				return nil, viol
			}
			return jsonViolation(err), nil
		}
		depth := c.dec.StackDepth()
		switch tok.Kind() {
		case '{', '[':
			if depth > maxDepth {
				return &Violation{Location: "body", Pointer: truncate(string(c.dec.StackPointer()), 256), Reason: "nested deeper than " + strconv.Itoa(maxDepth) + " levels"}, nil
			}
			c.stack = append(c.stack, pending)
			pending = nil
			if tok.Kind() == '[' && len(c.stack) > 0 && c.stack[len(c.stack)-1] != nil {
				pending = c.stack[len(c.stack)-1].items
			}
			continue
		case '}', ']':
			c.stack = c.stack[:len(c.stack)-1]
			pending = nil
			if n := len(c.stack); n > 0 && c.dec.StackDepth() > 0 {
				if k, _ := c.dec.StackIndex(c.dec.StackDepth()); k == '[' && c.stack[n-1] != nil {
					pending = c.stack[n-1].items
				}
			}
		case '"':
			if k, n := c.dec.StackIndex(depth); k == '{' && n%2 == 1 {
				pending = nil
				if parent := c.stack[len(c.stack)-1]; !parent.free() {
					name := tok.String()
					child, declared := parent.props[name]
					switch {
					case declared:
						pending = child
						if child != nil && (dir == inRequest && child.readOnly || dir == inResponse && child.wrOnly) && len(viol) < maxViolations {
							reason := "readOnly property: not accepted in a request"
							if dir == inResponse {
								reason = "writeOnly property: never sent in a response"
							}
							viol = append(viol, Violation{Location: "body", Pointer: namePointer(c.dec), Reason: reason})
						}
					case parent.folds[foldName(name)] != "" && len(viol) < maxViolations:
						viol = append(viol, Violation{Location: "body", Pointer: namePointer(c.dec),
							Reason: "property name differs from the declared " + strconv.Quote(parent.folds[foldName(name)]) + " only by case: back ends bind it to that property"})
					case parent.addl != nil:
						pending = parent.addl
					case parent.patterns:
					case unknown && len(viol) < maxViolations:
						viol = append(viol, Violation{Location: "body", Pointer: namePointer(c.dec), Reason: "property not declared in the schema"})
					}
				}
				continue
			}
			pending = arrayItem(c)
		default:
			pending = arrayItem(c)
		}
		if c.dec.StackDepth() == 0 {
			values++
			if values > 1 {
				return &Violation{Location: "body", Reason: "not valid JSON: more than one value"}, nil
			}
		}
	}
}

// arrayItem is the shape of the next value after a scalar: the items of
// an enclosing array, nothing in an object (a name comes next).
func arrayItem(c *jsonChecker) *shape {
	d := c.dec.StackDepth()
	if d == 0 || len(c.stack) == 0 {
		return nil
	}
	if k, _ := c.dec.StackIndex(d); k == '[' && c.stack[len(c.stack)-1] != nil {
		return c.stack[len(c.stack)-1].items
	}
	return nil
}

// namePointer is the pointer to the property whose name was just read.
func namePointer(dec *jsontext.Decoder) string {
	return truncate(string(dec.StackPointer()), 256)
}

// allowedMethods lists a path item's methods for a 405's Allow header
// (HEAD where GET is declared).
func allowedMethods(item *v3.PathItem) []string {
	ops := item.GetOperations()
	_, hasGet := ops.Get("get")
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		if _, ok := ops.Get(strings.ToLower(m)); ok || m == http.MethodHead && hasGet {
			out = append(out, m)
		}
	}
	return out
}
