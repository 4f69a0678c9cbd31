package secaudit

import (
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"go.yaml.in/yaml/v3"
)

const (
	largeBody    = 10 << 20 // a body limit above this is flagged
	largeHeaders = 64 << 10
	deepJSON     = 64
)

var validationChecks = []check{
	{finding.Rule{
		ID: "GH-VAL-1", Severity: finding.Medium,
		Title: "Route that writes has no OpenAPI validation",
		Why: "Bodies reach the upstream unchecked: undeclared fields (mass assignment, OWASP API3), wrong types and " +
			"oversized values are the upstream's problem, and every upstream solves it differently.",
		Fix:  "Add validate: {openapi: FILE} with the API's document (strict and reject_unknown_fields for writes).",
		Refs: []string{"VAL-01", "OWASP API3:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if w := writes(r); r.OpenAPI == nil && len(w) > 0 && !onlyDelete(w) {
				a.at(p, "route %s takes %s bodies without checking them against an OpenAPI document", describe(r), strings.Join(w, ", "))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-2", Severity: finding.Medium,
		Title: "OpenAPI validation only reports",
		Why:   "In report mode failing requests still reach the upstream: it is for rolling validation out, and easily forgotten there.",
		Fix:   "Remove mode: report (enforce is the default) once the reported failures are understood.",
		Refs:  []string{"VAL-01"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.OpenAPI != nil && r.OpenAPI.Mode == "report" {
				a.at(p+".validate.mode", "route %s passes requests that fail validation on to the upstream", describe(r))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-3", Severity: finding.Medium,
		Title: "Responses with personal data are not validated",
		Why: "The document declares personal data in responses (an x-personal-data marker, or fields such as email, " +
			"phone or address); without response validation an upstream that returns more than declared exposes it (OWASP API3, excessive data exposure).",
		Fix:  "Set validate.responses: enforce (a response that does not match becomes a 502 and never reaches the client).",
		Refs: []string{"VAL-05", "OWASP API3:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if v := r.OpenAPI; v != nil && v.Responses != "enforce" {
				if hint := personalData(v.OpenAPI); hint != "" {
					a.at(p+".validate", "route %s does not enforce its responses, and the document declares personal data (%s)", describe(r), hint)
				}
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-4", Severity: finding.Low,
		Title: "OpenAPI validation is not strict",
		Why:   "Operations the document does not declare pass unchecked: an undocumented debug or admin endpoint of the upstream stays reachable.",
		Fix:   "Set validate.strict: true (undeclared paths get 404, undeclared methods 405).",
		Refs:  []string{"VAL-02"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.OpenAPI != nil && !r.OpenAPI.Strict {
				a.at(p+".validate", "route %s passes operations the document does not declare", describe(r))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-5", Severity: finding.Medium,
		Title: "Write route accepts undeclared fields",
		Why: "Where a schema allows additional properties, a caller can send fields the document never mentions " +
			"(role, owner, tenant) and a back end that binds the body to its model takes them (mass assignment).",
		Fix:  "Set validate.reject_unknown_fields: true on routes that take bodies.",
		Refs: []string{"VAL-06", "OWASP API3:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if w := writes(r); r.OpenAPI != nil && !r.OpenAPI.RejectUnknownFields && len(w) > 0 && !onlyDelete(w) {
				a.at(p+".validate", "route %s takes %s bodies with fields the document does not declare", describe(r), strings.Join(w, ", "))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-6", Severity: finding.Low,
		Title: "Body limit above 10 MiB",
		Why:   "Each request may hold that much memory or disk in the gateway, the validator and the upstream: a few clients exhaust them.",
		Fix:   "Lower limits.max_body_bytes (default 1MiB) and raise it only on the routes that upload, with their own max_body_bytes.",
		Refs:  []string{"PRX-04"},
	}, func(a *auditor) {
		if n := int64(a.cfg.Limits.MaxBodyBytes); n > largeBody {
			a.at("limits.max_body_bytes", "every route takes bodies up to %d bytes", n)
		}
		a.routes(func(p string, r *gatehouse.Route) {
			if r.MaxBodyBytes != nil && int64(*r.MaxBodyBytes) > largeBody {
				a.at(p+".max_body_bytes", "route %s takes bodies up to %d bytes", describe(r), int64(*r.MaxBodyBytes))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-7", Severity: finding.Low,
		Title: "Header or URI limits raised far above the defaults",
		Why:   "Large header blocks and URIs cost memory before any check runs, and are where parser differentials between proxies hide.",
		Fix:   "Keep server.max_header_bytes at 64KiB or less (default 32KiB) and limits.max_uri_bytes at 16384 or less (default 8192).",
		Refs:  []string{"PRX-04"},
	}, func(a *auditor) {
		if n := int64(a.cfg.Server.MaxHeaderBytes); n > largeHeaders {
			a.at("server.max_header_bytes", "header blocks up to %d bytes are read", n)
		}
		if n := a.cfg.Limits.MaxURIBytes; n > 16384 {
			a.at("limits.max_uri_bytes", "URIs up to %d bytes are accepted", n)
		}
	}},
	{finding.Rule{
		ID: "GH-VAL-8", Severity: finding.Low,
		Title: "JSON nesting limit raised above 64",
		Why:   "Deeply nested documents cost stack and time in every parser on the way; no real API needs that depth.",
		Fix:   "Keep validate.max_depth at 64 or less (default 32).",
		Refs:  []string{"VAL-03"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.OpenAPI != nil && r.OpenAPI.MaxDepth > deepJSON {
				a.at(p+".validate.max_depth", "route %s accepts JSON nested %d deep", describe(r), r.OpenAPI.MaxDepth)
			}
		})
	}},
	{finding.Rule{
		ID: "GH-VAL-9", Severity: finding.Medium,
		Title: "Paths with segment parameters are allowed",
		Why: "Servlet containers and other stacks strip ;params from path segments (/admin;x/ is /admin/ to them), so the " +
			"route the gateway matched is not the resource the upstream serves.",
		Fix:  "Remove limits.path_params: allow (refuse is the default) unless the upstream needs matrix parameters.",
		Refs: []string{"PRX-11"},
	}, func(a *auditor) {
		if a.cfg.Limits.PathParams == "allow" {
			a.at("limits.path_params", "paths with ';' segment parameters reach the upstreams")
		}
	}},
	{finding.Rule{
		ID: "GH-VAL-10", Severity: finding.Medium,
		Title: "Slow-client timeouts are off or long",
		Why:   "A client that sends headers or bodies a byte at a time holds a connection and its memory for as long as the timeout allows (slowloris).",
		Fix:   "Keep server.read_header_timeout at 10s or less (default 5s) and server.read_timeout at 60s or less (default 30s).",
		Refs:  []string{"PRX-04"},
	}, func(a *auditor) {
		s := a.cfg.Server
		if d := s.ReadHeaderTimeout.D(); d > 10e9 {
			a.at("server.read_header_timeout", "a client may take %s to send its headers", d)
		}
		if d := s.ReadTimeout.D(); d > 60e9 {
			a.at("server.read_timeout", "a client may take %s to send a request", d)
		}
	}},
}

func onlyDelete(methods []string) bool { return len(methods) == 1 && methods[0] == "DELETE" }

// personalFields are property names taken as personal data.
var personalFields = map[string]bool{
	"email": true, "e_mail": true, "phone": true, "phone_number": true, "phonenumber": true, "mobile": true,
	"address": true, "street": true, "postal_code": true, "postcode": true, "zip": true,
	"birthdate": true, "birth_date": true, "date_of_birth": true, "dob": true,
	"ssn": true, "national_id": true, "passport": true, "iban": true, "card_number": true,
	"first_name": true, "last_name": true, "full_name": true, "firstname": true, "lastname": true,
}

// personalData reads an OpenAPI document and returns a hint of the personal
// data it declares ("" when none): an x-personal-data: true marker, a
// property whose name is personal data, or format: email.
func personalData(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return ""
	}
	var hint string
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		if hint != "" || n == nil {
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch {
				case (k == "x-personal-data" || k == "x-gatehouse-personal-data") && v.Value == "true":
					hint = "x-personal-data"
				case k == "format" && v.Value == "email":
					hint = "format: email"
				case key == "properties" && personalFields[strings.ToLower(strings.ReplaceAll(k, "-", "_"))]:
					hint = "property " + k
				}
				walk(v, k)
			}
			return
		}
		for _, c := range n.Content {
			walk(c, key)
		}
	}
	walk(&doc, "")
	return hint
}
