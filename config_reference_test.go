package gatehouse

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	beginRef = "<!-- BEGIN GENERATED REFERENCE (go test -run TestConfigReference -update) -->"
	endRef   = "<!-- END GENERATED REFERENCE -->"
)

// configReference renders every config field as Markdown tables: path,
// type, default and description, from the same types and tags as the schema.
func configReference() string {
	def := &Config{HTTP: &HTTP{}, Routes: []Route{{RateLimit: &RouteRateLimit{Policies: []RatePolicy{{}}}}}}
	def.RateLimit.Redis = &Redis{}
	def.Listen.TLS.ACME = &ACME{}
	def.Listen.TLS.ClientAuth = &ClientAuth{}
	def.applyDefaults()
	var b strings.Builder
	var walk func(t reflect.Type, v reflect.Value, path string)
	walk = func(t reflect.Type, v reflect.Value, path string) {
		type row struct{ name, typ, def, doc string }
		var rows []row
		var nested []func()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			ft := f.Type
			if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				ft = ft.Elem()
				if fv.IsNil() {
					fv = reflect.New(ft).Elem() // no default object: show zero values
				} else {
					fv = fv.Elem()
				}
			}
			p := path + name
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Secret]():
				rows = append(rows, row{name, "object", "", f.Tag.Get("doc")})
				nested = append(nested, func() { walk(ft, fv, p+".") })
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				rows = append(rows, row{name, "list of objects", "", f.Tag.Get("doc")})
				elem := reflect.New(ft.Elem()).Elem() // no default element: show zero values
				if fv.Len() > 0 {
					elem = fv.Index(0)
				}
				nested = append(nested, func() { walk(ft.Elem(), elem, p+"[].") })
			default:
				rows = append(rows, row{name, typeName(ft, f.Tag.Get("enum")), defaultOf(fv), f.Tag.Get("doc")})
			}
		}
		title := strings.TrimSuffix(path, ".")
		if title == "" {
			title = "(top level)"
		}
		fmt.Fprintf(&b, "\n### `%s`\n\n| field | type | default | description |\n|---|---|---|---|\n", title)
		for _, r := range rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.name, r.typ, r.def, strings.ReplaceAll(r.doc, "|", "\\|"))
		}
		for _, n := range nested {
			n()
		}
	}
	walk(reflect.TypeFor[Config](), reflect.ValueOf(def).Elem(), "")
	return b.String()
}

func typeName(t reflect.Type, enum string) string {
	if enum != "" {
		return "one of `" + strings.ReplaceAll(enum, ",", "`, `") + "`"
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration"
	case reflect.TypeFor[ByteSize]():
		return "size"
	case reflect.TypeFor[Secret]():
		return "secret reference"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem(), "")
	case reflect.Map:
		return "map of " + typeName(t.Elem(), "")
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}

func defaultOf(v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case Duration:
		if x == 0 {
			return ""
		}
		return "`" + x.D().String() + "`"
	case ByteSize:
		if x == 0 {
			return ""
		}
		return fmt.Sprintf("`%d`", int64(x))
	case Secret:
		return ""
	case string:
		if x == "" {
			return ""
		}
		return "`" + x + "`"
	case bool:
		if !x {
			return "`false`"
		}
		return "`true`"
	case int:
		if x == 0 {
			return ""
		}
		return fmt.Sprintf("`%d`", x)
	case []string:
		if len(x) == 0 {
			return ""
		}
		return "`[" + strings.Join(x, ", ") + "]`"
	}
	return ""
}

// docs/config.md embeds the generated reference between markers.
func TestConfigReference(t *testing.T) {
	path := filepath.Join("docs", "config.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(beginRef)), bytes.Index(doc, []byte(endRef))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-reference markers", path)
	}
	want := append(append(append([]byte{}, doc[:i+len(beginRef)]...), configReference()...), doc[j:]...)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("%s is stale: run go test -run TestConfigReference -update", path)
	}
}
