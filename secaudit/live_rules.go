package secaudit

import "github.com/gatehouse-dev/gatehouse/secaudit/finding"

// The live probe's rule ids. They are stable: a rule is never renumbered,
// a retired one is never reused.
const (
	ruleCertificate      = "GH-LIVE-1"
	ruleOldTLS           = "GH-LIVE-2"
	ruleNoForwardSecrecy = "GH-LIVE-3"
	ruleCBC              = "GH-LIVE-4"
	ruleHSTS             = "GH-LIVE-5"
	ruleSecurityHeaders  = "GH-LIVE-6"
	ruleBanner           = "GH-LIVE-7"
	ruleErrorCache       = "GH-LIVE-8"
	ruleProblemJSON      = "GH-LIVE-9"
	ruleAlgNone          = "GH-LIVE-10"
	ruleAlgConfusion     = "GH-LIVE-11"
	ruleJWKHeader        = "GH-LIVE-12"
	ruleJKUHeader        = "GH-LIVE-13"
	ruleModifiedClaims   = "GH-LIVE-14"
	ruleStrippedSig      = "GH-LIVE-15"
	rulePathBypass       = "GH-LIVE-16"
	rulePath5xx          = "GH-LIVE-17"
	ruleSmuggled         = "GH-LIVE-18"
	ruleFraming          = "GH-LIVE-19"
	ruleOversize         = "GH-LIVE-20"
	ruleQueryCredential  = "GH-LIVE-21"
	ruleBOLARead         = "GH-LIVE-22"
	ruleBOLAWrite        = "GH-LIVE-23"
	ruleBudget           = "GH-LIVE-24"
	ruleInconclusive     = "GH-LIVE-25"
)

// hstsMinAge is the bar for Strict-Transport-Security max-age: one year
// (31536000 s), the HSTS preload list's minimum; Gatehouse sends two years
// (TLS-05).
const hstsMinAge = 31536000

// LiveRules returns every rule Live can report, ordered by id.
func LiveRules() []finding.Rule {
	rs := []finding.Rule{
		{ID: ruleCertificate, Severity: finding.High, Title: "TLS certificate does not verify",
			Why:  "Clients that verify refuse the gateway, and clients told to skip verification can be intercepted by anyone on the path.",
			Fix:  "Serve a certificate for this host name from a CA the clients trust (listen.tls.cert_file or ACME); for a private CA, pass it with --ca-file.",
			Refs: []string{"TLS-04", "TLS-07"}},
		{ID: ruleOldTLS, Severity: finding.High, Title: "TLS 1.0 or 1.1 accepted",
			Why:  "TLS 1.0 and 1.1 are deprecated (RFC 8996): weak MACs and handshake, downgrade attacks.",
			Fix:  "Accept TLS 1.2 and 1.3 only (listen.tls.profile: intermediate, or modern for TLS 1.3 only).",
			Refs: []string{"TLS-01", "RFC 8996"}},
		{ID: ruleNoForwardSecrecy, Severity: finding.Medium, Title: "TLS 1.2 suite without forward secrecy (RSA key exchange) accepted",
			Why:  "With RSA key exchange, whoever gets the private key later decrypts every recorded session; it is also the Bleichenbacher/ROBOT attack surface.",
			Fix:  "Offer only the ECDHE AEAD suites of the Mozilla intermediate profile.",
			Refs: []string{"TLS-02"}},
		{ID: ruleCBC, Severity: finding.Medium, Title: "TLS 1.2 CBC suite accepted",
			Why:  "CBC suites with MAC-then-encrypt have a long history of padding-oracle and timing attacks (Lucky13).",
			Fix:  "Offer only AEAD suites (AES-GCM, CHACHA20-POLY1305) with ECDHE.",
			Refs: []string{"TLS-02"}},
		{ID: ruleHSTS, Severity: finding.Medium, Title: "HTTPS response without Strict-Transport-Security of at least one year",
			Why:  "Without HSTS a browser's first plain-HTTP request can be intercepted and downgraded (SSL stripping). The bar here is max-age >= 31536000 (one year).",
			Fix:  "Send Strict-Transport-Security: max-age=63072000; includeSubDomains on every HTTPS response, errors included.",
			Refs: []string{"TLS-05"}},
		{ID: ruleSecurityHeaders, Severity: finding.Low, Title: "Security header missing",
			Why:  "X-Content-Type-Options: nosniff stops content sniffing, Referrer-Policy: no-referrer keeps URLs out of other sites' logs, CSP frame-ancestors 'none' stops framing (clickjacking).",
			Fix:  "Send X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer and Content-Security-Policy: frame-ancestors 'none' on every response.",
			Refs: []string{"HDR-01", "OWASP Secure Headers"}},
		{ID: ruleBanner, Severity: finding.Low, Title: "Server or framework banner sent",
			Why:  "Server and X-Powered-By name the software (often its version), which tells an attacker which known vulnerabilities to try.",
			Fix:  "Remove Server, X-Powered-By and X-AspNet-Version from the gateway's and the upstreams' responses.",
			Refs: []string{"HDR-01"}},
		{ID: ruleErrorCache, Severity: finding.Low, Title: "Error response may be cached",
			Why:  "An error answered without Cache-Control: no-store can be kept by shared caches and served to other callers.",
			Fix:  "Send Cache-Control: no-store on the gateway's own error responses (and on every credential-bearing response).",
			Refs: []string{"HDR-02"}},
		{ID: ruleProblemJSON, Severity: finding.Low, Title: "Error is not application/problem+json",
			Why:  "Clients and monitoring rely on one machine-readable error format; ad-hoc error pages tend to leak internals.",
			Fix:  "Answer every error the gateway produces with RFC 9457 problem+json whose status equals the HTTP status.",
			Refs: []string{"PD-01", "RFC 9457"}},
		{ID: ruleAlgNone, Severity: finding.Critical, Title: "Unsigned JWT (alg none) accepted",
			Why:  "Anyone can write an unsigned token with any subject, scopes and tenant: authentication is gone.",
			Fix:  "Verify every token with an algorithm allowlist per issuer; refuse none in every spelling.",
			Refs: []string{"JWT-01", "RFC 8725 3.1"}},
		{ID: ruleAlgConfusion, Severity: finding.Critical, Title: "HS256 token keyed with the issuer's public key accepted (algorithm confusion)",
			Why:  "The public key is public: whoever has it can mint tokens the gateway believes.",
			Fix:  "Bind each key to its one algorithm; never use a public key as an HMAC secret.",
			Refs: []string{"JWT-02", "RFC 8725 3.1"}},
		{ID: ruleJWKHeader, Severity: finding.Critical, Title: "JWT verified with a key embedded in its own jwk header",
			Why:  "A token that carries its own key proves nothing: an attacker signs with a key of their own.",
			Fix:  "Verify only with the configured issuer's keys; ignore jwk, jku, x5u and x5c headers.",
			Refs: []string{"JWT-04"}},
		{ID: ruleJKUHeader, Severity: finding.Critical, Title: "JWT with a jku header accepted",
			Why:  "A jku header names a key set chosen by the sender; believing it lets anyone sign tokens, and fetching it is server-side request forgery.",
			Fix:  "Never fetch or use keys from jku or x5u; verify only with the configured issuer's keys.",
			Refs: []string{"JWT-04", "PRX-07"}},
		{ID: ruleModifiedClaims, Severity: finding.Critical, Title: "JWT with modified claims accepted (signature not checked)",
			Why:  "A token whose claims (exp, aud) were changed after signing still opened the route: expiry and audience, and the signature itself, are not enforced.",
			Fix:  "Verify the signature over the exact header and payload, then require exp and the route's aud.",
			Refs: []string{"JWT-03", "JWT-05"}},
		{ID: ruleStrippedSig, Severity: finding.Critical, Title: "JWT with its signature removed accepted",
			Why:  "A token without its signature can be forged by anyone.",
			Fix:  "Refuse tokens with an empty, truncated or missing signature part.",
			Refs: []string{"JWT-03"}},
		{ID: rulePathBypass, Severity: finding.High, Title: "Path trick reaches a protected route without credentials",
			Why:  "A dot segment, an encoded slash or a ';' parameter made the gateway and the back end see different paths: the route's authentication was skipped.",
			Fix:  "Normalise the path (dot segments, %2e, %2f, %5c, double encoding, ';' params) before matching, and refuse what cannot be normalised.",
			Refs: []string{"PRX-05", "PRX-11"}},
		{ID: rulePath5xx, Severity: finding.Medium, Title: "Path trick answered with a server error",
			Why:  "A 5xx on an odd path shows a parser that fails instead of refusing; such inputs often lead to bypasses or crashes.",
			Fix:  "Refuse paths that cannot be normalised with 400 or 404 before routing.",
			Refs: []string{"PRX-05", "PRX-11"}},
		{ID: ruleSmuggled, Severity: finding.High, Title: "Request smuggling: a second request read after conflicting framing",
			Why:  "After a request with both Content-Length and Transfer-Encoding the server kept the connection and answered bytes of the body as a new request: behind any proxy that frames differently, an attacker can smuggle requests.",
			Fix:  "Refuse requests with both Content-Length and Transfer-Encoding (or a Transfer-Encoding other than chunked) with 400 and close the connection.",
			Refs: []string{"PRX-03", "RFC 9112 6.1"}},
		{ID: ruleFraming, Severity: finding.Low, Title: "Conflicting Content-Length and Transfer-Encoding not refused",
			Why:  "RFC 9112 lets a server process such a request if it closes the connection afterwards, and this one did; still, a message with both is a smuggling attempt and PRX-03 asks for a refusal.",
			Fix:  "Answer requests with both Content-Length and Transfer-Encoding with 400 and close the connection.",
			Refs: []string{"PRX-03", "RFC 9112 6.1"}},
		{ID: ruleOversize, Severity: finding.Medium, Title: "Oversized request accepted, failed or left hanging",
			Why:  "A huge header block, URI or body that is accepted, crashes a handler (5xx) or holds the connection lets a few clients exhaust memory and connections.",
			Fix:  "Cap header bytes (431), URI length (414) and body bytes (413), globally and per route, before the request reaches a handler.",
			Refs: []string{"PRX-04", "PRX-12"}},
		{ID: ruleQueryCredential, Severity: finding.High, Title: "Credential in the URL query accepted",
			Why:  "URLs end up in access logs, browser history, Referer headers and proxies: a key or token accepted in the query is one that leaks.",
			Fix:  "Accept API keys and tokens in headers only; refuse a request carrying one in the query (also percent-encoded names) and tell the caller to revoke it.",
			Refs: []string{"KEY-06", "OA-10", "RFC 6750 5.3"}},
		{ID: ruleBOLARead, Severity: finding.Critical, Title: "Another principal reads the object (broken object level authorization)",
			Why:  "The second principal got the first one's object: any caller can read any object by changing an id in the path.",
			Fix:  "Authorize object routes: bind the path parameter (tenant, owner) to the principal in a policy (authorize on the route), default deny.",
			Refs: []string{"AZ-03", "AZ-01", "OWASP API1:2023"}},
		{ID: ruleBOLAWrite, Severity: finding.Critical, Title: "Another principal changes or deletes the object (broken object level authorization)",
			Why:  "The second principal's PATCH or DELETE on the first one's object was accepted: any caller can change or destroy any object.",
			Fix:  "Authorize every method of object routes, writes first; default deny.",
			Refs: []string{"AZ-03", "AZ-01", "OWASP API1:2023"}},
		{ID: ruleBudget, Severity: finding.Info, Title: "Request budget spent: probes skipped",
			Why: "The probe stops at its request budget, so some checks did not run.",
			Fix: "Run again with a larger --budget to cover the skipped probes.",
		},
		{ID: ruleInconclusive, Severity: finding.Info, Title: "Probe skipped or inconclusive",
			Why: "A probe could not decide (a missing credential, a rate limit, an unexpected answer); it says nothing either way.",
			Fix: "Give the probe what it names (credentials, --object, --auth-path) or look at the answer by hand.",
		},
	}
	finding.SortRules(rs)
	return rs
}
