package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// SARIF 2.1.0, the subset GitHub code scanning reads (and every SARIF viewer
// accepts): one run, the rules in tool.driver, one result per finding.
const (
	sarifVersion   = "2.1.0"
	sarifSchemaURI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	sarifInfoURI   = "https://github.com/gatehouse-dev/gatehouse"
	// srcRoot is the base of relative config file paths. GitHub reads
	// relative artifact URIs as relative to the repository root.
	srcRoot = "%SRCROOT%"
	// fingerprintKey names our own identity of a result; GitHub reads only
	// primaryLocationLineHash, so both are written with the same value.
	fingerprintKey = "gatehouse/v1"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	AutomationDetails  *sarifAutomation            `json:"automationDetails,omitempty"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult               `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifHelp      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           sarifRuleProps `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	SecuritySeverity string   `json:"security-severity"`
	Severity         string   `json:"gatehouse-severity"`
	Tags             []string `json:"tags"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	Message          *sarifText     `json:"message,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           *sarifRegion     `json:"region,omitempty"`
}

type sarifArtifactLoc struct {
	URI         string     `json:"uri,omitempty"`
	URIBaseID   string     `json:"uriBaseId,omitempty"`
	Description *sarifText `json:"description,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
}

// sarifLevel maps a severity to SARIF's result level.
func sarifLevel(s Severity) string {
	switch {
	case s >= High:
		return "error"
	case s == Medium:
		return "warning"
	default:
		return "note"
	}
}

// securitySeverity is the score GitHub code scanning reads from a rule's
// properties: above 9.0 is critical, 7.0-8.9 high, 4.0-6.9 medium and
// 0.1-3.9 low. 0.0 means no security severity, which fits info.
func securitySeverity(s Severity) string {
	switch s {
	case Critical:
		return "9.5"
	case High:
		return "8.0"
	case Medium:
		return "5.5"
	case Low:
		return "3.0"
	default:
		return "0.0"
	}
}

// WriteSARIF writes the report as a SARIF 2.1.0 log of one run: every rule
// of r.Rules (and any rule of a finding missing from it) in tool.driver,
// one result per finding. The output is deterministic: rules by id,
// results in Sort order.
//
// Each result has exactly one location, as GitHub requires:
//   - a finding in a config file: a physicalLocation on the file (relative
//     to %SRCROOT% when the path is relative), with the line when known;
//   - a finding located by URL (a live probe's request, a vulnerability's
//     advisory page): a physicalLocation whose URI is relative to a base id
//     declared in originalUriBaseIds as the URL's origin. Viewers resolve it
//     to the full URL; GitHub, which rejects a whole upload when an
//     absolute URI's scheme differs from the checkout's file:// root, sees
//     a relative path that matches no file and shows the alert without a
//     code annotation;
//   - otherwise the audited target (r.Target) by the same two rules.
//
// A field path (Location.Path) is added as a logicalLocation.
func WriteSARIF(w io.Writer, r Report) error {
	fs := append([]Finding(nil), r.Findings...)
	Sort(fs)

	rules := map[string]Rule{}
	for _, f := range fs {
		rules[f.ID] = f.Rule
	}
	for _, rule := range r.Rules { // the declared rule wins over a finding's copy
		rules[rule.ID] = rule
	}
	ordered := make([]Rule, 0, len(rules))
	for _, rule := range rules {
		ordered = append(ordered, rule)
	}
	SortRules(ordered)
	index := map[string]int{}
	sr := make([]sarifRule, len(ordered))
	for i, rule := range ordered {
		index[rule.ID] = i
		sr[i] = sarifRuleOf(rule)
	}

	bases := newBaseIDs(fs, r.Target)
	seen := map[string]int{}
	results := make([]sarifResult, 0, len(fs))
	for _, f := range fs {
		id := fingerprint(f)
		seen[id]++
		results = append(results, sarifResult{
			RuleID:    f.ID,
			RuleIndex: index[f.ID],
			Level:     sarifLevel(f.Severity),
			Message:   sarifText{nonEmpty(f.Message, f.Title, f.ID)},
			Locations: []sarifLocation{locationOf(f.Location, r.Target, bases)},
			PartialFingerprints: map[string]string{
				fingerprintKey:            id,
				"primaryLocationLineHash": fmt.Sprintf("%s:%d", id, seen[id]),
			},
		})
	}

	run := sarifRun{
		Tool:               sarifTool{sarifDriver{Name: "gatehouse", InformationURI: sarifInfoURI, Version: r.Version, Rules: sr}},
		OriginalURIBaseIDs: bases.declared(),
		Results:            results,
	}
	if cat := category(r.Tool); cat != "" {
		// GitHub keeps one analysis per tool and category: without it the
		// config audit's upload would replace the deps audit's.
		run.AutomationDetails = &sarifAutomation{ID: cat + "/"}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: sarifSchemaURI, Version: sarifVersion, Runs: []sarifRun{run}})
}

func sarifRuleOf(r Rule) sarifRule {
	title := nonEmpty(r.Title, r.ID)
	why := nonEmpty(r.Why, title)
	fix := nonEmpty(r.Fix, why)
	md := "**Fix:** " + fix
	if len(r.Refs) > 0 {
		md += "\n\n**References:** " + strings.Join(r.Refs, ", ")
	}
	tags := []string{"security"}
	for _, ref := range r.Refs {
		if !slices.Contains(tags, ref) {
			tags = append(tags, ref)
		}
	}
	return sarifRule{
		ID:                   r.ID,
		Name:                 ruleName(r),
		ShortDescription:     sarifText{title},
		FullDescription:      sarifText{why},
		Help:                 sarifHelp{Text: fix, Markdown: md},
		DefaultConfiguration: sarifConfig{sarifLevel(r.Severity)},
		Properties:           sarifRuleProps{SecuritySeverity: securitySeverity(r.Severity), Severity: r.Severity.String(), Tags: tags},
	}
}

// ruleName is the title in PascalCase ("Admin listener not on loopback" ->
// "AdminListenerNotOnLoopback"), the form SARIF suggests for a rule name.
func ruleName(r Rule) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(r.Title, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
		rs := []rune(word)
		rs[0] = unicode.ToUpper(rs[0])
		b.WriteString(string(rs))
	}
	name := b.String()
	if name == "" {
		name = strings.ReplaceAll(r.ID, "-", "")
	}
	if len(name) > 255 { // GitHub's limit
		name = name[:255]
	}
	return name
}

// category is the tool name as a code-scanning category:
// "gatehouse audit deps" -> "gatehouse-audit-deps".
func category(tool string) string {
	return strings.Join(strings.Fields(tool), "-")
}

func nonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return "-"
}

// fingerprint is a finding's identity across runs: its rule, where it is
// (without the line, so edits above it do not make a new alert) and what
// was found.
func fingerprint(f Finding) string {
	h := sha256.New()
	for _, part := range []string{f.ID, cleanFile(f.Location.File), f.Location.Path, f.Location.URL, f.Message} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func cleanFile(p string) string {
	if p == "" {
		return ""
	}
	return path.Clean(filepath.ToSlash(p))
}

func locationOf(l Location, target string, bases *baseIDs) sarifLocation {
	var loc sarifLocation
	switch {
	case l.File != "":
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: fileArtifact(l.File)}
		if l.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: l.Line}
		}
	case l.URL != "" && bases.ok(l.URL):
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: bases.artifact(l.URL)}
	case isWebURL(target):
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: bases.artifact(target)}
	case target != "":
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: fileArtifact(target)}
	}
	if l.URL != "" {
		loc.Message = &sarifText{l.URL}
	}
	if l.Path != "" {
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: l.Path}}
	}
	if loc.PhysicalLocation == nil && loc.LogicalLocations == nil && loc.Message == nil {
		loc.Message = &sarifText{"no location"}
	}
	return loc
}

// fileArtifact is a local file as an artifact location: a relative path
// stays relative (to %SRCROOT%), an absolute one becomes a file:// URI.
func fileArtifact(p string) sarifArtifactLoc {
	slash := filepath.ToSlash(p)
	if filepath.IsAbs(p) || strings.HasPrefix(slash, "/") {
		return sarifArtifactLoc{URI: (&url.URL{Scheme: "file", Path: path.Clean(slash)}).String()}
	}
	return sarifArtifactLoc{URI: (&url.URL{Path: path.Clean(slash)}).String(), URIBaseID: srcRoot}
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// baseIDs names the origins of the URLs in a report: WEB1, WEB2, ... in
// sorted order, so the output is deterministic.
type baseIDs struct {
	ids     map[string]string // origin -> id
	srcRoot bool
}

func newBaseIDs(fs []Finding, target string) *baseIDs {
	var origins []string
	add := func(s string) {
		if u, err := url.Parse(s); err == nil && isWebURL(s) {
			o := u.Scheme + "://" + u.Host + "/"
			if !slices.Contains(origins, o) {
				origins = append(origins, o)
			}
		}
	}
	b := &baseIDs{ids: map[string]string{}}
	for _, f := range fs {
		switch {
		case f.Location.File != "":
			b.srcRoot = b.srcRoot || !filepath.IsAbs(f.Location.File)
		case isWebURL(f.Location.URL):
			add(f.Location.URL)
		case isWebURL(target):
			add(target)
		case target != "":
			b.srcRoot = b.srcRoot || !filepath.IsAbs(target)
		}
	}
	slices.Sort(origins)
	for i, o := range origins {
		b.ids[o] = fmt.Sprintf("WEB%d", i+1)
	}
	return b
}

func (b *baseIDs) ok(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !isWebURL(raw) {
		return false
	}
	_, ok := b.ids[u.Scheme+"://"+u.Host+"/"]
	return ok
}

// artifact is raw (a URL of a known origin) as a URI relative to its
// origin's base id.
func (b *baseIDs) artifact(raw string) sarifArtifactLoc {
	u, _ := url.Parse(raw)
	rel := strings.TrimPrefix(u.EscapedPath(), "/")
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	if rel == "" {
		rel = "./"
	}
	return sarifArtifactLoc{URI: rel, URIBaseID: b.ids[u.Scheme+"://"+u.Host+"/"]}
}

func (b *baseIDs) declared() map[string]sarifArtifactLoc {
	if len(b.ids) == 0 && !b.srcRoot {
		return nil
	}
	m := map[string]sarifArtifactLoc{}
	for origin, id := range b.ids {
		m[id] = sarifArtifactLoc{URI: origin}
	}
	if b.srcRoot {
		m[srcRoot] = sarifArtifactLoc{Description: &sarifText{"the directory the audit ran in (the repository root, for code scanning)"}}
	}
	return m
}
