package policy

import (
	"os"
	"testing"
)

// The shipped example policies compile.
func TestExamplePolicies(t *testing.T) {
	data, err := os.ReadFile("../examples/policies/orders.cedar")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile([]File{{Name: "orders.cedar", Data: data}})
	if err != nil || e.Len() != 4 {
		t.Fatalf("%v (%d policies)", err, e.Len())
	}
	if d := e.Decide(Input{Principal: alice, Action: "orders.read", Resource: order("acme", "bob")}); !d.Allowed || d.Policies[0] != "tenant-reads" {
		t.Errorf("tenant read: %+v", d)
	}
	if d := e.Decide(Input{Principal: carol, Action: "orders.read", Resource: order("acme", "bob")}); d.Allowed {
		t.Errorf("cross-tenant read allowed: %+v", d)
	}
}
