package secaudit

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/gatehouse-dev/gatehouse/store"
)

const (
	keyRotateAfter = 90 * 24 * time.Hour
	keyUnusedAfter = 30 * 24 * time.Hour
	adminRole      = "gatehouse:admin"
)

var keyChecks = []check{
	{finding.Rule{
		ID: "GH-KEY-1", Severity: finding.Medium,
		Title: "API key without expiry",
		Why:   "A key that never expires works for as long as it leaks: in a repository, a log, a former employee's laptop.",
		Fix:   "Create keys with --expires (and rotate before it); give existing keys an expiry or rotate them into keys that have one.",
		Refs:  []string{"KEY-03"},
	}, func(a *auditor) {
		for _, k := range a.activeKeys() {
			if k.ExpiresAt.IsZero() {
				a.inStore("api_key", k.ID, "key %s (%s, owner %q) never expires", k.ID, k.Hint, k.Owner)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-KEY-2", Severity: finding.Medium,
		Title: "API key not rotated in 90 days",
		Why:   "The older a key, the more places it has been copied to; rotation with a grace period replaces it without downtime.",
		Fix:   "gatehouse keys rotate ID: the successor is shown once, the old key works for the grace period.",
		Refs:  []string{"KEY-04"},
	}, func(a *auditor) {
		for _, k := range a.activeKeys() {
			if age := a.in.Now.Sub(k.CreatedAt); age > keyRotateAfter {
				a.inStore("api_key", k.ID, "key %s (%s, owner %q) was created %d days ago", k.ID, k.Hint, k.Owner, int(age.Hours()/24))
			}
		}
	}},
	{finding.Rule{
		ID: "GH-KEY-3", Severity: finding.Low,
		Title: "API key unused for 30 days",
		Why:   "A key nobody uses is a credential nobody watches: only an attacker will use it next.",
		Fix:   "Revoke it: gatehouse keys revoke ID.",
		Refs:  []string{"KEY-05"},
	}, func(a *auditor) {
		for _, k := range a.activeKeys() {
			last := k.LastUsedAt
			if last.IsZero() {
				last = k.CreatedAt
			}
			if idle := a.in.Now.Sub(last); idle > keyUnusedAfter {
				a.inStore("api_key", k.ID, "key %s (%s, owner %q) has not been used for %d days", k.ID, k.Hint, k.Owner, int(idle.Hours()/24))
			}
		}
	}},
	{finding.Rule{
		ID: "GH-KEY-4", Severity: finding.High,
		Title: "Too many admin keys",
		Why:   "Every admin key can create keys, change clients and read the audit log; each one more is one more way in.",
		Fix:   "Revoke admin keys nobody needs; give automation keys with narrower roles.",
		Refs:  []string{"AZ-04", "CFG-01"},
	}, func(a *auditor) {
		var ids []string
		for _, k := range a.activeKeys() {
			if slices.Contains(k.Roles, adminRole) {
				ids = append(ids, k.ID)
			}
		}
		if len(ids) > a.in.MaxAdminKeys {
			a.inStore("api_key", ids[0], "%d active keys have the %s role (more than %d): %v", len(ids), adminRole, a.in.MaxAdminKeys, ids)
		}
	}},
	{finding.Rule{
		ID: "GH-KEY-5", Severity: finding.High,
		Title: "Public OAuth client allowed the client_credentials grant",
		Why:   "A public client has no secret: anyone who knows its id could mint tokens in its name.",
		Fix:   "Remove client_credentials from the client's grants, or make it a confidential client with a secret.",
		Refs:  []string{"OA-06"},
	}, func(a *auditor) {
		for _, c := range a.clients() {
			if c.Public && slices.Contains(c.Grants, "client_credentials") {
				a.inStore("oauth_client", c.ID, "public client %s (%q) may use client_credentials", c.ID, c.Name)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-KEY-6", Severity: finding.High,
		Title: "Redirect URI on plain HTTP off loopback",
		Why:   "Authorization codes sent to an http:// redirect URI cross the network in clear text: anyone on the path redeems them.",
		Fix:   "Register https:// redirect URIs (http is fine only for loopback, RFC 8252).",
		Refs:  []string{"OA-01"},
	}, func(a *auditor) {
		for _, c := range a.clients() {
			for _, raw := range c.RedirectURIs {
				if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
					a.inStore("oauth_client", c.ID, "client %s (%q) redirects codes to %s", c.ID, c.Name, u.Redacted())
				}
			}
		}
	}},
	{finding.Rule{
		ID: "GH-KEY-7", Severity: finding.Medium,
		Title: "OAuth client mints admin tokens",
		Why:   "Every token of the client carries the admin role: its secret is an admin credential, usually kept with less care.",
		Fix:   "Remove the gatehouse:admin role from the client; use an admin key for admin work.",
		Refs:  []string{"AZ-04"},
	}, func(a *auditor) {
		for _, c := range a.clients() {
			if slices.Contains(c.Roles, adminRole) {
				a.inStore("oauth_client", c.ID, "client %s (%q) puts %s into its tokens", c.ID, c.Name, adminRole)
			}
		}
	}},
}

// activeKeys are the keys that still authenticate.
func (a *auditor) activeKeys() []*store.APIKey {
	var out []*store.APIKey
	for _, k := range a.apiKeys() {
		if k.Status == store.StatusActive && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(a.in.Now)) {
			out = append(out, k)
		}
	}
	return out
}

// clients lists the enabled OAuth clients.
func (a *auditor) clients() []*store.OAuthClient {
	if a.in.Clients == nil {
		return nil
	}
	all, err := a.in.Clients.ListClients(a.ctx)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(all, func(c *store.OAuthClient) bool { return c.Disabled })
}

// inStore reports a finding of the current rule about a stored record.
func (a *auditor) inStore(kind, id, format string, args ...any) {
	a.out = append(a.out, finding.Finding{
		Rule:     a.rule,
		Message:  fmt.Sprintf(format, args...),
		Location: finding.Location{Path: fmt.Sprintf("store.%s[%s]", kind, id)},
	})
}
