package gatehouse

import (
	"encoding/json"
	"reflect"
	"strings"
)

// ConfigSchema returns the JSON Schema (draft 2020-12) of the config file,
// generated from the Config types: field names from yaml tags, descriptions
// from doc tags, allowed values from enum tags. Unknown fields are refused
// (additionalProperties: false), as the loader refuses them.
func ConfigSchema() []byte {
	s := schemaFor(reflect.TypeFor[Config]())
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://gatehouse.dev/schema/config.json"
	s["title"] = "Gatehouse configuration"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // the schema is built from static types; this cannot fail
	}
	return append(b, '\n')
}

type schema = map[string]any

func schemaFor(t reflect.Type) schema {
	switch t {
	case reflect.TypeFor[Duration]():
		return schema{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "examples": []string{"5s", "500ms", "2m"}}
	case reflect.TypeFor[ByteSize]():
		return schema{"oneOf": []schema{
			{"type": "integer", "minimum": 0},
			{"type": "string", "pattern": `^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)?$`},
		}, "examples": []string{"1MiB", "512KiB"}}
	case reflect.TypeFor[Secret]():
		return schema{"type": "string", "pattern": `^\$\{(file|env):.+\}$`, "description": "A secret reference, never the secret: ${file:/path} or ${env:NAME}."}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaFor(t.Elem())
	case reflect.String:
		return schema{"type": "string"}
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return schema{"type": "integer"}
	case reflect.Slice:
		return schema{"type": "array", "items": schemaFor(t.Elem())}
	case reflect.Map:
		return schema{"type": "object", "additionalProperties": schemaFor(t.Elem())}
	case reflect.Struct:
		props := schema{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			p := schemaFor(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				p["description"] = d
			}
			if e := f.Tag.Get("enum"); e != "" {
				vals := strings.Split(e, ",")
				if p["type"] == "array" {
					p["items"] = schema{"type": "string", "enum": vals}
				} else {
					p["enum"] = vals
				}
			}
			props[name] = p
		}
		return schema{"type": "object", "properties": props, "additionalProperties": false}
	}
	panic("config schema: unsupported type " + t.String())
}
