package secaudit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"golang.org/x/vuln/scan"
)

// DefaultVulnDB is the Go vulnerability database Deps reads when
// DepsOptions.DB is empty.
const DefaultVulnDB = "https://vuln.go.dev"

// DepsOptions configure Deps. The zero value checks the running binary
// against DefaultVulnDB.
type DepsOptions struct {
	// Binary is the Go executable to check; empty is the running one
	// (os.Executable).
	Binary string
	// DB is the vulnerability database: an https:// URL or file://DIR for
	// an offline copy in the v1 layout (index/db.json, index/modules.json,
	// ID/<id>.json); empty is DefaultVulnDB.
	DB string
}

// The rules of the dependency check. Binary mode sees the modules and the
// functions linked into an executable, not its call graph: a vulnerable
// function that is present may still be unreachable (source mode,
// govulncheck ./..., can tell that).
var (
	ruleDepSymbol = finding.Rule{
		ID: "GH-DEP-1", Severity: finding.High,
		Title: "Vulnerable function of a module compiled in",
		Why:   "The binary contains a function that a known vulnerability of one of its modules is in; an attacker who can reach it can exploit it.",
		Fix:   "Upgrade the module to the fixed version (go get MODULE@VERSION, go mod tidy) and rebuild.",
		Refs:  []string{"OWASP API8:2023", "CWE-1395"},
	}
	ruleDepPackage = finding.Rule{
		ID: "GH-DEP-2", Severity: finding.Low,
		Title: "Vulnerable package compiled in, vulnerable functions absent",
		Why:   "A package with a known vulnerability is linked into the binary, but none of the functions the advisory names are; a later change that uses them would be exposed.",
		Fix:   "Upgrade the module (or, for the standard library, the Go toolchain) to the fixed version and rebuild.",
		Refs:  []string{"CWE-1395"},
	}
	ruleDepStdlib = finding.Rule{
		ID: "GH-DEP-3", Severity: finding.High,
		Title: "Vulnerable function of the Go standard library compiled in",
		Why:   "The binary was built with a Go release whose standard library has a known vulnerability in a function the binary contains.",
		Fix:   "Rebuild with the fixed Go release (the go directive or toolchain line of go.mod, and the Go on the build machine).",
		Refs:  []string{"OWASP API8:2023", "CWE-1395"},
	}
	ruleDepModule = finding.Rule{
		ID: "GH-DEP-4", Severity: finding.Info,
		Title: "Vulnerable module version, vulnerable package not compiled in",
		Why:   "A module of the binary is at a version with a known vulnerability, in a package the binary does not contain.",
		Fix:   "Upgrade the module when convenient, so that a later import is not exposed.",
		Refs:  []string{"CWE-1395"},
	}
)

// DepsRules lists the rules Deps checks.
func DepsRules() []finding.Rule {
	return []finding.Rule{ruleDepSymbol, ruleDepPackage, ruleDepStdlib, ruleDepModule}
}

// Deps checks the modules and the Go release compiled into a Go binary (its
// build info and symbol table) against the Go vulnerability database, with
// golang.org/x/vuln in binary mode, and reports one finding per
// vulnerability and module. An audit that cannot run (no such binary, no
// build info, a database that cannot be read) is an error, never an empty
// result. Deps is safe for concurrent use; it reads the network only for an
// https:// database.
func Deps(ctx context.Context, o DepsOptions) ([]finding.Finding, error) {
	bin := o.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("deps: the running binary: %w", err)
		}
		bin = exe
	}
	if fi, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("deps: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("deps: %s is a directory, not a binary", bin)
	}
	db := o.DB
	if db == "" {
		db = DefaultVulnDB
	}
	if err := checkVulnDB(db); err != nil {
		return nil, err
	}

	var stdout, stderr bytes.Buffer
	cmd := scan.Command(ctx, "-mode=binary", "-format=json", "-db="+db, bin)
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("deps: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("deps: govulncheck: %w: %s", err, msg)
		}
		return nil, fmt.Errorf("deps: govulncheck: %w", err)
	}
	return depsFindings(&stdout)
}

// checkVulnDB refuses a database govulncheck would read as empty: a
// file:// directory without the v1 index (x/vuln then falls back to
// reading it as a flat directory of OSV files, and an empty or mistyped
// directory would report nothing).
func checkVulnDB(db string) error {
	u, err := url.Parse(db)
	if err != nil {
		return fmt.Errorf("deps: --db %q: %w", db, err)
	}
	switch u.Scheme {
	case "https", "http":
		return nil
	case "file":
		dir := filepath.FromSlash(u.Path)
		for _, f := range []string{"index/db.json", "index/modules.json"} {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
				return fmt.Errorf("deps: --db %s is not a vulnerability database (v1 layout): %w", db, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("deps: --db %q: want https://HOST or file://DIR", db)
	}
}

// The parts of govulncheck's JSON stream (protocol v1) that Deps reads:
// a config message first, then progress, SBOM, osv and finding messages
// in any order.
type vulnMessage struct {
	Config *struct {
		ProtocolVersion string `json:"protocol_version"`
	} `json:"config"`
	OSV     *vulnEntry   `json:"osv"`
	Finding *vulnFinding `json:"finding"`
}

type vulnEntry struct {
	ID      string   `json:"id"`
	Summary string   `json:"summary"`
	Details string   `json:"details"`
	Aliases []string `json:"aliases"`
}

type vulnFinding struct {
	OSV          string `json:"osv"`
	FixedVersion string `json:"fixed_version"`
	Trace        []struct {
		Module   string `json:"module"`
		Version  string `json:"version"`
		Package  string `json:"package"`
		Function string `json:"function"`
		Receiver string `json:"receiver"`
	} `json:"trace"`
}

// The module path x/vuln gives the standard library and the go command.
const (
	stdlibModule    = "stdlib"
	toolchainModule = "toolchain"
)

// hit is what the stream says of one vulnerability in one module: the
// deepest level it reached (module, package, function) and the functions.
type hit struct {
	osv, module, version, fixed string
	level                       int // 0 module, 1 package, 2 function
	symbols                     []string
}

func depsFindings(r io.Reader) ([]finding.Finding, error) {
	dec := json.NewDecoder(r)
	entries := map[string]*vulnEntry{}
	hits := map[[2]string]*hit{}
	sawConfig := false
	for {
		var m vulnMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("deps: reading govulncheck's output: %w", err)
		}
		switch {
		case m.Config != nil:
			if !strings.HasPrefix(m.Config.ProtocolVersion, "v1.") {
				return nil, fmt.Errorf("deps: govulncheck protocol %q, want v1", m.Config.ProtocolVersion)
			}
			sawConfig = true
		case m.OSV != nil:
			entries[m.OSV.ID] = m.OSV
		case m.Finding != nil:
			f := m.Finding
			if len(f.Trace) == 0 {
				continue
			}
			fr := f.Trace[0] // the vulnerable end of the trace
			key := [2]string{f.OSV, fr.Module}
			h := hits[key]
			if h == nil {
				h = &hit{osv: f.OSV, module: fr.Module}
				hits[key] = h
			}
			if fr.Version != "" {
				h.version = fr.Version
			}
			if f.FixedVersion != "" {
				h.fixed = f.FixedVersion
			}
			switch {
			case fr.Function != "":
				h.level = 2
				sym := fr.Function
				if fr.Receiver != "" {
					sym = strings.TrimPrefix(fr.Receiver, "*") + "." + sym
				}
				if fr.Package != "" {
					sym = fr.Package + "." + sym
				}
				if !slices.Contains(h.symbols, sym) {
					h.symbols = append(h.symbols, sym)
				}
			case fr.Package != "":
				h.level = max(h.level, 1)
			}
		}
	}
	if !sawConfig {
		return nil, errors.New("deps: govulncheck wrote no config message")
	}
	var fs []finding.Finding
	for _, h := range hits {
		fs = append(fs, h.finding(entries[h.osv]))
	}
	finding.Sort(fs)
	return fs, nil
}

func (h *hit) finding(e *vulnEntry) finding.Finding {
	rule := ruleDepModule
	switch {
	case h.level == 2 && (h.module == stdlibModule || h.module == toolchainModule):
		rule = ruleDepStdlib
	case h.level == 2:
		rule = ruleDepSymbol
	case h.level == 1:
		rule = ruleDepPackage
	}
	var b strings.Builder
	b.WriteString(h.osv)
	if e != nil && len(e.Aliases) > 0 {
		aliases := slices.Clone(e.Aliases)
		slices.Sort(aliases)
		fmt.Fprintf(&b, " (%s)", strings.Join(aliases, ", "))
	}
	if e != nil {
		if s := strings.TrimSpace(e.Summary); s != "" {
			fmt.Fprintf(&b, ": %s", s)
		} else if d := strings.TrimSpace(e.Details); d != "" {
			fmt.Fprintf(&b, ": %s", firstLine(d))
		}
	}
	fmt.Fprintf(&b, ". In %s", moduleName(h.module, h.version))
	if h.fixed != "" {
		fmt.Fprintf(&b, ", fixed in %s", goVersion(h.module, h.fixed))
	} else {
		b.WriteString(", no fixed version yet")
	}
	if len(h.symbols) > 0 {
		syms := slices.Clone(h.symbols)
		slices.Sort(syms)
		const show = 5
		more := ""
		if len(syms) > show {
			more = fmt.Sprintf(" and %d more", len(syms)-show)
			syms = syms[:show]
		}
		fmt.Fprintf(&b, "; in the binary: %s%s", strings.Join(syms, ", "), more)
	}
	b.WriteString(".")
	path := h.module
	if h.version != "" {
		path += "@" + h.version
	}
	return finding.Finding{
		Rule:     rule,
		Message:  b.String(),
		Location: finding.Location{Path: path, URL: "https://pkg.go.dev/vuln/" + url.PathEscape(h.osv)},
	}
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// moduleName reads "golang.org/x/net@v0.1.0", or "the Go standard library
// go1.26.8" for x/vuln's stdlib module.
func moduleName(module, version string) string {
	switch module {
	case stdlibModule:
		return "the Go standard library " + goVersion(module, version)
	case toolchainModule:
		return "the Go toolchain " + goVersion(module, version)
	}
	if version == "" {
		return module
	}
	return module + "@" + version
}

// goVersion writes a Go release as Go does (go1.26.8) where x/vuln gives
// the semver form (v1.26.8).
func goVersion(module, v string) string {
	if (module == stdlibModule || module == toolchainModule) && strings.HasPrefix(v, "v") {
		return "go" + strings.TrimPrefix(v, "v")
	}
	return v
}
