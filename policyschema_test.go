package gatehouse

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// policy_schema type-checks the policies at load: a policy reading an
// attribute the schema does not declare fails the load, the same policy
// set against a schema that declares it loads.
func TestPolicySchemaTypeChecksAtLoad(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.cedar")
	os.WriteFile(pol, []byte(`permit (principal is Gatehouse::ApiKey, action == Gatehouse::Action::"read", resource is Gatehouse::Order) when { principal.tenant == resource.tenant };`), 0o600)
	schema := func(attrs string) string {
		p := filepath.Join(dir, fmt.Sprintf("s%d.cedarschema", len(attrs)))
		os.WriteFile(p, []byte(`namespace Gatehouse {
  entity Role;
  entity ApiKey in [Role] { subject: String, issuer: String, scopes: Set<String>`+attrs+` };
  entity Order { tenant: String };
  action "read" appliesTo { principal: [ApiKey], resource: [Order], context: {} };
}`), 0o600)
		return p
	}
	for _, c := range []struct {
		attrs string
		ok    bool
	}{{", tenant: String", true}, {"", false}} {
		cfg := mustParse(t, fmt.Sprintf("policies: [%q]\npolicy_schema: %q\nroutes: []\n", pol, schema(c.attrs)))
		_, err := New(cfg, Deps{AccessLog: io.Discard})
		if c.ok && err != nil {
			t.Errorf("a policy that type-checks: %v", err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "type-check")) {
			t.Errorf("a policy reading an undeclared attribute loaded: %v", err)
		}
	}
}
