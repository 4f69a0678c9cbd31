// Package apispec validates HTTP requests, and optionally responses, against
// an OpenAPI 3.0 or 3.1 document: the document is the allowlist of what a
// route accepts (VAL-01..05).
//
// A Spec is loaded and compiled once (Load), then shared by every request.
// CheckRequest and CheckResponse return client-safe violations: a location,
// a JSON pointer and a short reason, never the offending value. Wrap and
// WrapResponses turn a Spec into net/http middleware.
//
// The schema work is done by github.com/pb33f/libopenapi-validator. This
// package adds what a gateway needs on top: a JSON pre-check (depth limit,
// duplicate keys, one value), a bounded body read, undeclared operations as
// 404/405 and undeclared content types as 415, readOnly properties refused
// in requests, and violations that never echo what the client sent.
package apispec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/content"
	"github.com/pb33f/libopenapi-validator/radix"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"go.yaml.in/yaml/v3"

	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// Options set how strictly a Spec judges requests.
type Options struct {
	// Strict refuses operations the document does not declare: an unknown
	// path gets 404, a known path with an undeclared method 405.
	// Otherwise such requests pass unvalidated.
	Strict bool
	// RejectUnknownFields refuses body properties and query parameters
	// that the schema does not declare, even where additionalProperties
	// allows them (mass assignment, OWASP API3).
	RejectUnknownFields bool
	// MaxDepth is the deepest JSON nesting accepted. Default 32.
	MaxDepth int
	// AllowRemoteRefs lists URL prefixes (https://schemas.example.com/)
	// that remote $refs may be fetched from, at load time only. Any other
	// remote $ref fails the load.
	AllowRemoteRefs []string
	// RemoteTimeout bounds each remote $ref fetch. Default 10s.
	RemoteTimeout time.Duration
}

// DefaultMaxDepth is the JSON nesting limit when Options.MaxDepth is 0.
const DefaultMaxDepth = 32

// Spec is a loaded, compiled OpenAPI document. Safe for concurrent use.
type Spec struct {
	file    string
	version string
	opts    Options
	model   *v3.Document
	v       validator.Validator
	find    *config.ValidationOptions // routing alone: the path tree
	ops     map[opKey]*operation
}

// LoadError is a document that failed to load: each problem names the
// file and, where known, the line or JSON pointer in it.
type LoadError struct {
	File     string
	Problems []string
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("openapi %s: %s", e.File, strings.Join(e.Problems, "; "))
}

// maxSpecBytes bounds a document read from disk.
const maxSpecBytes = 16 << 20

// Load reads, resolves and compiles the OpenAPI document at file. Relative
// $refs resolve against the file's directory; remote $refs only under
// o.AllowRemoteRefs. The document is also checked against the OpenAPI
// schema, so a misspelt keyword fails here, not at the first request.
func Load(file string, o Options) (*Spec, error) {
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.RemoteTimeout <= 0 {
		o.RemoteTimeout = 10 * time.Second
	}
	data, err := readLimited(file)
	if err != nil {
		return nil, &LoadError{File: file, Problems: []string{err.Error()}}
	}
	if probs := duplicateKeys(data); len(probs) > 0 {
		return nil, &LoadError{File: file, Problems: probs}
	}
	logs := &collector{}
	remote := &remoteRefs{allow: o.AllowRemoteRefs, client: &http.Client{Timeout: o.RemoteTimeout}}
	abs, _ := filepath.Abs(file)
	doc, err := libopenapi.NewDocumentWithConfiguration(data, &datamodel.DocumentConfiguration{
		BasePath:              filepath.Dir(abs),
		SpecFilePath:          filepath.Base(abs),
		AllowFileReferences:   true,
		AllowRemoteReferences: true, // every fetch goes through remote.get, which enforces the allowlist
		RemoteURLHandler:      remote.get,
		Logger:                slog.New(logs),
	})
	if err != nil {
		return nil, &LoadError{File: file, Problems: []string{err.Error()}}
	}
	version := doc.GetVersion()
	if !strings.HasPrefix(version, "3.0") && !strings.HasPrefix(version, "3.1") {
		return nil, &LoadError{File: file, Problems: []string{fmt.Sprintf("openapi version %q: only 3.0 and 3.1 are supported", version)}}
	}
	m, err := doc.BuildV3Model()
	if err != nil || m == nil {
		probs := append(remote.refused(), logs.messages()...)
		if err != nil {
			probs = append(probs, err.Error())
		}
		return nil, &LoadError{File: file, Problems: dedupe(probs)}
	}
	v, errs := validator.NewValidator(doc,
		config.WithFormatAssertions(),
		config.WithoutSecurityValidation(), // authentication is the gateway's own stage
		config.WithRejectUndeclaredRequestBody(),
		config.WithURLEncodedBodyValidation(),
		config.WithBodyDecoder("multipart/form-data", content.MultipartDecoder()),
		// Undeclared properties, readOnly and writeOnly are judged by
		// walk while the body is read once (see shape.go): the
		// library's strict mode costs more than the schema check itself.
		config.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if len(errs) > 0 {
		probs := make([]string, len(errs))
		for i, e := range errs {
			probs[i] = e.Error()
		}
		return nil, &LoadError{File: file, Problems: dedupe(probs)}
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		probs := make([]string, 0, len(verrs))
		for _, ve := range verrs {
			probs = append(probs, documentProblem(ve))
		}
		return nil, &LoadError{File: file, Problems: dedupe(probs)}
	}
	find := config.NewValidationOptions()
	find.PathTree = radix.BuildPathTree(&m.Model)
	s := &Spec{file: file, version: version, opts: o, model: &m.Model, v: v, find: find, ops: compileOperations(&m.Model)}
	return s, nil
}

// File is the path the document was loaded from.
func (s *Spec) File() string { return s.file }

// Version is the document's openapi version, e.g. 3.1.0.
func (s *Spec) Version() string { return s.version }

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSpecBytes {
		return nil, errors.New("document is larger than 16 MiB")
	}
	return data, nil
}

// remoteRefs fetches remote $refs under an allowlist of URL prefixes.
type remoteRefs struct {
	allow  []string
	client *http.Client
	mu     sync.Mutex
	denied []string
}

func (rr *remoteRefs) get(u string) (*http.Response, error) {
	for _, p := range rr.allow {
		if p != "" && strings.HasPrefix(u, p) {
			resp, err := rr.client.Get(u)
			if err != nil {
				return nil, err
			}
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.LimitReader(resp.Body, maxSpecBytes), resp.Body}
			return resp, nil
		}
	}
	rr.mu.Lock()
	rr.denied = append(rr.denied, u)
	rr.mu.Unlock()
	return nil, fmt.Errorf("remote $ref %s is not allowed (validate.allow_remote_refs)", u)
}

func (rr *remoteRefs) refused() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := make([]string, len(rr.denied))
	for i, u := range rr.denied {
		out[i] = "remote $ref " + u + " is not in allow_remote_refs"
	}
	return out
}

// collector is a slog handler that keeps the library's error messages, so
// a failed load can say which reference failed and on which line.
type collector struct {
	mu   sync.Mutex
	msgs []string
}

func (c *collector) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (c *collector) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "file" || a.Key == "error" {
			msg += " (" + a.Key + ": " + a.Value.String() + ")"
		}
		return true
	})
	c.mu.Lock()
	c.msgs = append(c.msgs, msg)
	c.mu.Unlock()
	return nil
}
func (c *collector) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *collector) WithGroup(string) slog.Handler      { return c }
func (c *collector) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// duplicateKeys finds mapping keys given twice in a YAML or JSON document.
// The parser keeps one of them silently, so the document would not mean
// what it says (two "properties" blocks, say).
func duplicateKeys(data []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil // the OpenAPI parser reports syntax errors itself
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			seen := map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if first, dup := seen[k.Value]; dup && len(out) < 20 {
					out = append(out, fmt.Sprintf("line %d: key %q repeated (first at line %d)", k.Line, k.Value, first))
				} else {
					seen[k.Value] = k.Line
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return out
}

// documentProblem describes one way the document breaks the OpenAPI
// schema: the line and the JSON pointer in the document, and why.
func documentProblem(ve *verrors.ValidationError) string {
	if len(ve.SchemaValidationErrors) == 0 {
		if ve.SpecLine > 0 {
			return fmt.Sprintf("line %d: %s", ve.SpecLine, ve.Message)
		}
		return ve.Message
	}
	parts := make([]string, 0, len(ve.SchemaValidationErrors))
	for _, sve := range ve.SchemaValidationErrors {
		var b strings.Builder
		if sve.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", sve.Line)
		}
		ptr := pointer(sve.InstancePath)
		if ptr == "" {
			ptr = "/"
		}
		fmt.Fprintf(&b, "%s: %s", ptr, sve.Reason)
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "; ")
}

func dedupe(in []string) []string {
	out := in[:0]
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
