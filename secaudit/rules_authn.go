package secaudit

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

// defaultLeeway is the JWT clock-skew allowance the gateway defaults to.
const defaultLeeway = 30 * time.Second

var authenticationChecks = []check{
	{finding.Rule{
		ID: "GH-AN-1", Severity: finding.High,
		Title: "Route without auth is not marked public",
		Why: "A route with no auth block lets anyone in. That is right for a login page or a health check and a " +
			"serious hole for an API; the config cannot tell which was meant.",
		Fix:  "Add auth (api_key or jwt) to the route, or say it is meant for everyone with public: true.",
		Refs: []string{"AZ-01", "OWASP API2:2023"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if !authenticated(r) && !r.Public {
				a.at(p, "route %s takes requests without credentials and is not marked public", describe(r))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-AN-2", Severity: finding.Medium,
		Title: "Issuer accepts tokens that are not typed as access tokens",
		Why: "With typ JWT (or any typ besides at+jwt) accepted, an ID token or another JWT the identity provider signs " +
			"for a different purpose passes as an access token (token confusion).",
		Fix:  "Keep types at its default [at+jwt] (RFC 9068) and configure the identity provider to issue at+jwt access tokens.",
		Refs: []string{"JWT-06"},
	}, func(a *auditor) {
		for i, is := range a.cfg.JWT.Issuers {
			if extra := slices.DeleteFunc(slices.Clone(is.Types), func(t string) bool { return strings.EqualFold(t, "at+jwt") }); len(extra) > 0 {
				a.at(fmt.Sprintf("jwt.issuers[%d].types", i), "issuer %q accepts typ %s beside at+jwt", is.Issuer, strings.Join(extra, ", "))
			}
		}
	}},
	{finding.Rule{
		ID: "GH-AN-3", Severity: finding.Low,
		Title: "JWT leeway above the default",
		Why:   "Every second of leeway is a second an expired token still works; clocks synchronised by NTP need far less.",
		Fix:   fmt.Sprintf("Remove leeway (default %s) or fix the clock of the issuer or the gateway.", defaultLeeway),
		Refs:  []string{"JWT-05"},
	}, func(a *auditor) {
		for i, is := range a.cfg.JWT.Issuers {
			if is.Leeway.D() > defaultLeeway {
				a.at(fmt.Sprintf("jwt.issuers[%d].leeway", i), "issuer %q allows %s of clock skew", is.Issuer, is.Leeway.D())
			}
		}
	}},
	{finding.Rule{
		ID: "GH-AN-4", Severity: finding.Low,
		Title: "Access tokens live longer than 30 minutes",
		Why:   "A stolen access token works until it expires; revocation reaches only tokens the gateway checks. Short lifetimes bound the damage.",
		Fix:   "Set oauth.access_token_ttl to 15m or less (default 10m); clients renew with refresh tokens or client credentials.",
		Refs:  []string{"JWT-09"},
	}, func(a *auditor) {
		if o := a.cfg.OAuth; o != nil && o.AccessTokenTTL.D() > 30*time.Minute {
			a.at("oauth.access_token_ttl", "access tokens live %s", o.AccessTokenTTL.D())
		}
	}},
	{finding.Rule{
		ID: "GH-AN-5", Severity: finding.Medium,
		Title: "Refresh tokens live longer than 30 days",
		Why:   "A refresh token is a long-lived credential: a leaked one keeps minting access tokens for its whole lifetime, rotation only shows the theft after the fact.",
		Fix:   "Set oauth.refresh_token_ttl to 30 days or less (default 24h).",
		Refs:  []string{"OA-08"},
	}, func(a *auditor) {
		if o := a.cfg.OAuth; o != nil && o.RefreshTokenTTL.D() > 30*24*time.Hour {
			a.at("oauth.refresh_token_ttl", "refresh tokens live %s", o.RefreshTokenTTL.D())
		}
	}},
	{finding.Rule{
		ID: "GH-AN-6", Severity: finding.Medium,
		Title: "Route forwards the caller's credential to the upstream",
		Why: "The upstream receives a key or token it can replay against every other route that accepts it; a " +
			"compromised or logging upstream leaks credentials.",
		Fix:  "Remove forward_credentials; the upstream reads who called from the identity headers the gateway sets.",
		Refs: []string{"KEY-07"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.Auth != nil && r.Auth.ForwardCredentials {
				a.at(p+".auth.forward_credentials", "route %s sends the caller's credential on to %s", describe(r), upstreamName(&r.Upstream))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-AN-7", Severity: finding.Medium,
		Title: "Route accepts tokens of every issuer",
		Why: "With several issuers trusted, a route without auth.jwt.issuers takes a token any of them minted: a " +
			"partner's identity provider can then reach internal routes.",
		Fix:  "List the issuers the route accepts in auth.jwt.issuers.",
		Refs: []string{"JWT-05", "AZ-06"},
	}, func(a *auditor) {
		n := len(a.cfg.JWT.Issuers)
		if a.cfg.OAuth != nil {
			n++
		}
		if n < 2 {
			return
		}
		a.routes(func(p string, r *gatehouse.Route) {
			if r.Auth != nil && r.Auth.JWT != nil && len(r.Auth.JWT.Issuers) == 0 {
				a.at(p+".auth.jwt", "route %s accepts tokens of all %d issuers", describe(r), n)
			}
		})
	}},
	{finding.Rule{
		ID: "GH-AN-8", Severity: finding.Low,
		Title: "Issuer keys are reused long after they were fetched",
		Why:   "When an identity provider removes a compromised key from its JWKS, the gateway keeps accepting tokens signed with it until max_age passes.",
		Fix:   "Keep max_age at an hour or less (default 15m).",
		Refs:  []string{"JWT-08"},
	}, func(a *auditor) {
		for i, is := range a.cfg.JWT.Issuers {
			if is.MaxAge.D() > time.Hour {
				a.at(fmt.Sprintf("jwt.issuers[%d].max_age", i), "keys of issuer %q are used for %s after each fetch", is.Issuer, is.MaxAge.D())
			}
		}
	}},
	{finding.Rule{
		ID: "GH-AN-9", Severity: finding.Low,
		Title: "Rotated API keys keep working for more than 7 days",
		Why:   "A key is rotated because it may have leaked; during the grace period the old key still works.",
		Fix:   "Set api_keys.grace to the time clients need to switch, a day or a few (default 24h).",
		Refs:  []string{"KEY-04"},
	}, func(a *auditor) {
		if g := a.cfg.APIKeys.Grace.D(); g > 7*24*time.Hour {
			a.at("api_keys.grace", "a rotated key keeps working for %s", g)
		}
	}},
	{finding.Rule{
		ID: "GH-AN-10", Severity: finding.Medium,
		Title: "A revoked API key keeps working for more than a second",
		Why:   "Checked keys are served from memory for cache_ttl: a revocation reaches every instance only after it (KEY-05 asks for 1 s).",
		Fix:   "Keep api_keys.cache_ttl at 1s (the default).",
		Refs:  []string{"KEY-05"},
	}, func(a *auditor) {
		if ttl := a.cfg.APIKeys.CacheTTL.D(); ttl > time.Second {
			a.at("api_keys.cache_ttl", "a revoked key may pass for %s", ttl)
		}
	}},
	{finding.Rule{
		ID: "GH-AN-11", Severity: finding.Low,
		Title: "Token signing keys rotate less often than every 90 days",
		Why:   "The longer a signing key signs, the more tokens a leak of it forges and the longer the window to notice.",
		Fix:   "Set oauth.rotate_every to 90 days or less (default 30 days); old keys keep verifying for the token lifetime.",
		Refs:  []string{"NIST SP 800-57"},
	}, func(a *auditor) {
		if o := a.cfg.OAuth; o != nil && o.RotateEvery.D() > 90*24*time.Hour {
			a.at("oauth.rotate_every", "the signing key rotates every %s", o.RotateEvery.D())
		}
	}},
}

// upstreamName names a route's backends in a message.
func upstreamName(u *gatehouse.Upstream) string {
	if u.URL != "" {
		return u.URL
	}
	return strings.Join(u.URLs, ", ")
}
