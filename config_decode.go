package gatehouse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a config file: where (field path and line) and what.
type FieldError struct {
	Path string // e.g. routes[1].upstream.url; "" for the document itself
	Line int    // 1-based; 0 when the field is absent from the file
	Msg  string
}

func (e FieldError) String() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigError lists every problem found in a config file.
type ConfigError struct {
	File   string
	Errors []FieldError
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "config"
	}
	fmt.Fprintf(&b, "%s: %d error(s)", name, len(e.Errors))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.String())
	}
	return b.String()
}

// maxConfigBytes bounds the config file; a gateway config is never this large.
const maxConfigBytes = 8 << 20

// LoadFile reads, decodes, defaults, validates and resolves a config file.
// Errors are a *ConfigError listing every problem at once, or an I/O error.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{File: path, Errors: []FieldError{{Msg: "file is larger than 8 MiB"}}}
	}
	return Parse(path, data)
}

// Parse decodes and validates config bytes; name is used in messages and to
// resolve relative file paths is the caller's business (paths are used as given).
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{file: name}
	d := &decoder{lines: map[string]int{}}
	if d.document(data, c) {
		// Validate what did decode, so every error is reported at once; a
		// field that failed to decode is not reported again.
		c.lines = d.lines
		c.applyDefaults()
		decodeErrs := slices.Clone(d.errs)
		for _, ve := range c.validate() {
			if !slices.ContainsFunc(decodeErrs, func(de FieldError) bool { return related(de.Path, ve.Path) }) {
				d.errs = append(d.errs, ve)
			}
		}
	}
	if len(d.errs) > 0 {
		return nil, &ConfigError{File: name, Errors: d.errs}
	}
	return c, nil
}

type decoder struct {
	errs  []FieldError
	lines map[string]int
}

func (d *decoder) errf(path string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// related reports whether one field path is the other or lies under it.
func related(a, b string) bool {
	under := func(x, y string) bool {
		return x == y || strings.HasPrefix(x, y+".") || strings.HasPrefix(x, y+"[")
	}
	return a == "" || b == "" || under(a, b) || under(b, a)
}

// document decodes data into c. It reports false when the YAML itself could
// not be read, so there is nothing to validate.
func (d *decoder) document(data []byte, c *Config) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errf("", nil, "the file is empty")
			return false
		}
		d.errs = append(d.errs, yamlSyntaxError(err))
		return false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.errf("", &extra, "only one YAML document is allowed")
		return false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.value(root, reflect.ValueOf(c).Elem(), "")
	return true
}

// yamlSyntaxError turns "yaml: line 3: mapping values..." into a FieldError.
func yamlSyntaxError(err error) FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := FieldError{Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				fe.Line = n
				fe.Msg = "invalid YAML:" + rest[i+1:]
			}
		}
	}
	return fe
}

// scalarDecoder is implemented by config types that parse their own scalar form.
type scalarDecoder interface {
	decodeScalar(value string) error
}

var scalarDecoderType = reflect.TypeFor[scalarDecoder]()

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a scalar"
	}
	return "an unexpected node"
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.errf(path, n, "YAML aliases are not allowed in a gateway config")
		return
	}
	if _, ok := d.lines[path]; !ok && path != "" {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent: the default applies
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}
	if v.Addr().Type().Implements(scalarDecoderType) {
		if n.Kind != yaml.ScalarNode {
			d.errf(path, n, "expected a scalar, got %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(scalarDecoder).decodeScalar(n.Value); err != nil {
			d.errf(path, n, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errf(path, n, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			d.errf(path, n, "unsupported config type %s", v.Type())
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errf(path, n, "expected a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errf(path, k, "expected a name, got %s", kindName(k))
				continue
			}
			fp := fmt.Sprintf("%s[%q]", path, k.Value)
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.errf(fp, k, "key %q is set twice", k.Value)
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, fp)
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.errf(path, n, "expected a string, got %s (quote it if it is meant as text)", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errf(path, n, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errf(path, n, "expected an integer, got %s", kindName(n))
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || i < math.MinInt32 || i > math.MaxInt32 && v.Kind() == reflect.Int {
			d.errf(path, n, "integer %q out of range", n.Value)
			return
		}
		v.SetInt(i)
	default:
		d.errf(path, n, "unsupported config type %s", v.Type())
	}
}

type fieldInfo struct {
	index int
	name  string
}

var fieldCache sync.Map // reflect.Type -> map[string]fieldInfo

func yamlFields(t reflect.Type) map[string]fieldInfo {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]fieldInfo)
	}
	m := map[string]fieldInfo{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = fieldInfo{index: i, name: name}
	}
	fieldCache.Store(t, m)
	return m
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errf(path, n, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errf(path, k, "expected a field name, got %s", kindName(k))
			continue
		}
		fp := join(path, k.Value)
		d.lines[fp] = k.Line
		if k.Value == "<<" {
			d.errf(fp, k, "YAML merge keys are not allowed in a gateway config")
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			d.errf(fp, k, "unknown field %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			d.errf(fp, k, "field %q is set twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.value(val, v.Field(f.index), fp)
	}
}

// suggest names the known fields, to make a typo easy to spot.
func suggest(got string, fields map[string]fieldInfo) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for _, name := range names {
		if editDistance(norm(name), norm(got)) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Duration is a time.Duration written as a Go duration string ("5s", "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) decodeScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 500ms, 5s, 2m)", s)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes, written as an integer or with a unit
// (KB, MB, GB: powers of 1000; KiB, MiB, GiB: powers of 1024).
type ByteSize int64

func (b *ByteSize) decodeScalar(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mul = strings.TrimSpace(rest), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mul {
		return 0, fmt.Errorf("invalid size %q (use e.g. 1048576, 512KiB, 1MiB)", s)
	}
	return n * mul, nil
}

// Secret is a value that must never be written inline in the config file
// (CFG-02). It is written as ${file:/path} or ${env:NAME} and resolved when
// the config is loaded. Its String and JSON forms are redacted; Value returns
// the secret itself and must never be logged.
type Secret struct {
	ref   string
	value string
}

func (s *Secret) decodeScalar(v string) error {
	if v == "" {
		return nil
	}
	ref, ok := strings.CutPrefix(v, "${")
	ref, ok2 := strings.CutSuffix(ref, "}")
	kind, arg, ok3 := strings.Cut(ref, ":")
	if !ok || !ok2 || !ok3 || arg == "" || (kind != "file" && kind != "env") {
		return errors.New("secrets are never written inline: use ${file:/path/to/secret} or ${env:NAME} (CFG-02)")
	}
	var val string
	switch kind {
	case "file":
		b, err := os.ReadFile(arg)
		if err != nil {
			return fmt.Errorf("secret file: %w", errors.Unwrap(err))
		}
		val = strings.TrimRight(string(b), "\r\n")
	case "env":
		e, found := os.LookupEnv(arg)
		if !found {
			return fmt.Errorf("environment variable %s is not set", arg)
		}
		val = e
	}
	if val == "" {
		return fmt.Errorf("secret %s is empty", v)
	}
	s.ref, s.value = v, val
	return nil
}

// Value returns the resolved secret. Never log it.
func (s Secret) Value() string { return s.value }

// File returns the path of a ${file:...} secret, "" for any other.
func (s Secret) File() string {
	if p, ok := strings.CutPrefix(s.ref, "${file:"); ok {
		return strings.TrimSuffix(p, "}")
	}
	return ""
}

// IsSet reports whether a secret was configured.
func (s Secret) IsSet() bool { return s.value != "" }

// String returns the reference, never the secret.
func (s Secret) String() string {
	if s.ref == "" {
		return ""
	}
	return s.ref + " (redacted)"
}

// MarshalJSON writes the reference only.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.ref)), nil }
