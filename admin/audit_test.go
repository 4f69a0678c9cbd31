package admin

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/prometheus/client_golang/prometheus"
)

func TestAuditFindingsAPI(t *testing.T) {
	_, m, adm, user := keysServer(t)
	fs := []finding.Finding{
		{Rule: finding.Rule{ID: "GH-SEC-7", Severity: finding.Low}, Message: "debug"},
		{Rule: finding.Rule{ID: "GH-AZ-1", Severity: finding.Critical}, Message: "bola", Location: finding.Location{File: "g.yaml", Line: 9}},
	}
	h := Handler(Options{Registry: prometheus.NewRegistry(), Keys: m, AuditFindings: func() []finding.Finding { return fs }})
	rec, got := call(t, h, "GET", "/v1/audit/findings", adm, "")
	list, _ := got["findings"].([]any)
	if rec.Code != 200 || len(list) != 2 || list[0].(map[string]any)["id"] != "GH-AZ-1" {
		t.Fatalf("findings: %d %v", rec.Code, got)
	}
	if s := got["summary"].(map[string]any); s["critical"] != 1.0 || s["low"] != 1.0 || s["high"] != 0.0 {
		t.Errorf("summary %v", s)
	}
	if _, got := call(t, h, "GET", "/v1/audit/findings?min_severity=high", adm, ""); len(got["findings"].([]any)) != 1 {
		t.Errorf("min_severity=high: %v", got)
	}
	if rec, _ := call(t, h, "GET", "/v1/audit/findings?min_severity=severe", adm, ""); rec.Code != 400 {
		t.Errorf("bad severity: %d", rec.Code)
	}
	if rec, _ := call(t, h, "GET", "/v1/audit/findings", user, ""); rec.Code != 403 {
		t.Errorf("non-admin key: %d", rec.Code)
	}
	if rec, _ := call(t, h, "GET", "/v1/audit/findings", "", ""); rec.Code != 401 {
		t.Errorf("no key: %d", rec.Code)
	}
}
