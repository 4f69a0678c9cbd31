// Command loadbench measures Gatehouse side by side with the fastest plain
// Go reverse proxy (the floor): a bare httputil.ReverseProxy with a buffer
// pool and a tuned Transport. It starts an upstream, the floor and the
// gateway as separate processes, pins each proxy to one core and the
// upstream and load generator (wrk) to the other, drives each with the same
// keep-alive load in interleaved rounds, and prints requests/s, p50/p99
// latency and peak RSS of each, with the ratio Gatehouse / floor.
//
//	go run ./bench/loadbench            # all scenarios
//	go run ./bench/loadbench -rounds 5 -duration 15s -scenarios plain
//	go build -o /tmp/lb-old ./bench/loadbench  # at an earlier commit, then:
//	go run ./bench/loadbench -baseline /tmp/lb-old -scenarios plain,auth
//
// The same binary is re-executed as each role (upstream, floor, gatehouse).
// Everything listens on 127.0.0.1 only and stops by itself.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "role" {
		if err := role(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := orchestrate(); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// ---- roles (each runs in its own pinned process) ----

// authKey is the API key the gatehouse role created with -auth.
var authKey string

func role(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	upstream := fs.String("upstream", "", "")
	tlsDir := fs.String("tls-dir", "", "serve TLS with the certificate generated in this dir")
	accessLog := fs.Bool("access-log", true, "")
	rateLimit := fs.Bool("ratelimit", false, "put a per-IP GCRA policy (never exhausted) on the route")
	auth := fs.Bool("auth", false, "require an API key (SQLite store) and a Cedar decision on the route; the key is printed on the second line")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this role to the file")
	jwtKey := fs.String("jwt-key", "", "upstream: serve the JWKS of this Ed25519 seed file at /jwks")
	jwtIssuer := fs.String("jwt-issuer", "", "gatehouse: require JWTs of this issuer (its JWKS at <issuer>jwks)")
	validate := fs.String("validate", "", "gatehouse: add POST /orders validated against this OpenAPI document")
	_ = fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var h http.Handler
	switch name {
	case "upstream":
		body := []byte(`{"id":"1","tenant":"acme","owner":"alice","item":"anvil","quantity":1,"status":"open"}`)
		var jwks []byte
		if *jwtKey != "" {
			seed, err := os.ReadFile(*jwtKey)
			if err != nil {
				return err
			}
			pub := ed25519.NewKeyFromSeed(seed).Public()
			if jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "bench", Algorithm: "EdDSA", Use: "sig"}}}); err != nil {
				return err
			}
		}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/jwks" && jwks != nil {
				_, _ = w.Write(jwks)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		})
	case "floor":
		u, err := url.Parse(*upstream)
		if err != nil {
			return err
		}
		h = &httputil.ReverseProxy{
			Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
			Transport:  tunedTransport(),
			BufferPool: pool{},
		}
	case "gatehouse":
		rl := ""
		if *rateLimit {
			rl = "    rate_limit: {policies: [{name: per-ip, limit: 100000, window: 1s}]}\n"
		}
		extra, policies, apiKeys := rl, "", ""
		if *jwtIssuer != "" {
			policies = fmt.Sprintf("jwt: {issuers: [{issuer: %q, jwks_url: %q, algorithms: [EdDSA]}]}\n", *jwtIssuer, *jwtIssuer+"jwks")
			extra += "    auth: {jwt: {audience: orders-api, scopes: [orders:read]}}\n"
		}
		var keyLine string
		var manager *apikey.Manager
		if *auth {
			dir, err := os.MkdirTemp("", "loadbench-auth-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			pol := filepath.Join(dir, "p.cedar")
			if err := os.WriteFile(pol, []byte(`permit (principal, action == Gatehouse::Action::"orders.read", resource) when { principal has tenant && principal.tenant == "acme" };`), 0o600); err != nil {
				return err
			}
			secret := filepath.Join(dir, "secret")
			if err := os.WriteFile(secret, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
				return err
			}
			policies = fmt.Sprintf("policies: [%q]\n", pol)
			apiKeys = fmt.Sprintf("api_keys: {secret: \"${file:%s}\"}\n", secret)
			extra += "    auth: {api_key: {}}\n    authorize: {action: orders.read}\n"
			st, err := sqlite.Open(context.Background(), filepath.Join(dir, "gh.db"), true)
			if err != nil {
				return err
			}
			defer st.Close()
			if manager, err = apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(strings.Repeat("s", 32))}); err != nil {
				return err
			}
			if keyLine, _, err = manager.Create(context.Background(), apikey.CreateOptions{Owner: "bench", Tenant: "acme"}); err != nil {
				return err
			}
			go manager.Run(ctx, 5*time.Second)
		}
		if *validate != "" {
			extra += fmt.Sprintf("  - name: orders-create\n    match: {methods: [POST], path: /orders}\n    upstream: {url: %q}\n    validate: {openapi: %q, strict: true, reject_unknown_fields: true}\n", *upstream, *validate)
		}
		src := fmt.Sprintf(`
log: {access: %t}
%s%sroutes:
  - name: orders
    match: {methods: [GET], path: "/orders/{id}"}
    upstream: {url: %q}
%s`, *accessLog, apiKeys, policies, *upstream, extra)
		cfg, err := gatehouse.Parse("bench.yaml", []byte(src))
		if err != nil {
			return err
		}
		authKey = keyLine
		// The access log goes where a real deployment's would: a pipe read by
		// another process is the common case; here, /dev/null through the
		// same JSON handler (the encoding cost is paid, the disk is not).
		devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		access := edge.NewBufferedLog(devnull, 100*time.Millisecond)
		defer access.Close()
		gw, err := gatehouse.New(cfg, gatehouse.Deps{Log: slog.New(slog.NewJSONHandler(devnull, nil)), AccessLog: access, APIKeys: manager})
		if err != nil {
			return err
		}
		h = gw
	default:
		return fmt.Errorf("unknown role %s", name)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	if *tlsDir != "" {
		ss, err := certs.EnsureSelfSigned(*tlsDir, nil, time.Now())
		if err != nil {
			return err
		}
		src, err := certs.NewFileSource(ss.CertFile, ss.KeyFile, nil)
		if err != nil {
			return err
		}
		tc, _ := certs.ServerConfig(certs.Intermediate)
		tc.GetCertificate = src.GetCertificate
		tc.NextProtos = []string{"http/1.1"} // wrk speaks HTTP/1.1
		ln = tls.NewListener(ln, tc)
	}
	fmt.Println(ln.Addr().String()) // the orchestrator reads the address
	fmt.Println(authKey)            // and the API key to send ("" without -auth)
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tunedTransport is the floor's transport: large idle pool, keep-alive, no compression.
func tunedTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

type pool struct{}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (pool) Get() []byte  { return *(bufs.Get().(*[]byte)) }
func (pool) Put(b []byte) { bufs.Put(&b) }

// ---- orchestration ----

type proc struct {
	cmd  *exec.Cmd
	addr string
	key  string // API key to send, for the auth scenario
}

func startRole(core string, name string, args ...string) (*proc, error) {
	return startRoleOf("", core, name, args...)
}

// startRoleOf starts a role of the loadbench binary exe ("" for this one).
func startRoleOf(exe, core string, name string, args ...string) (*proc, error) {
	self := exe
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("taskset", append([]string{"-c", core, self, "role", name}, args...)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if core != "0" {
		cmd.Env = append(cmd.Env[:len(cmd.Env)-1], "GOMAXPROCS=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start: %w", name, err)
	}
	p := &proc{cmd: cmd, addr: strings.TrimSpace(line)}
	if name != "upstream" {
		key, _ := br.ReadString('\n')
		p.key = strings.TrimSpace(key)
	}
	go func() { _, _ = io.Copy(io.Discard, br) }()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// rssKiB reads the resident set of a process (VmRSS) and its peak (VmHWM).
func rssKiB(pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			hwm = n
		}
	}
	return rss, hwm
}

// childPID finds the proxy process under taskset (taskset execs, so it is the same pid).
func childPID(p *proc) int { return p.cmd.Process.Pid }

type result struct {
	rps       float64
	p50, p99  time.Duration
	rssKiB    int
	errors    int
	cpuPerReq time.Duration // proxy CPU time (user+system) per request
}

// cpuTime reads a process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}

var totalRe = regexp.MustCompile(`(\d+) requests in`)

var (
	reqsRe    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latencyRe = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)`)
	errorsRe  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func parseDur(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	}
	return time.Duration(f * float64(time.Second))
}

func runWrk(url string, conns int, d time.Duration, pid int, key string) (result, error) {
	var r result
	args := []string{"-c", "1", "wrk", "-t1", fmt.Sprintf("-c%d", conns), "-d" + d.String(), "--latency"}
	switch {
	case strings.HasPrefix(key, "lua:"):
		args = append(args, "-s", strings.TrimPrefix(key, "lua:"))
	case key != "":
		args = append(args, "-H", "X-API-Key: "+key)
	}
	cmd := exec.Command("taskset", append(args, url)...)
	peak := 0
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				if rss, _ := rssKiB(pid); rss > peak {
					peak = rss
				}
			}
		}
	}()
	cpu0 := cpuTime(pid)
	out, err := cmd.CombinedOutput()
	cpu1 := cpuTime(pid)
	close(stopSample)
	<-sampled
	if err != nil {
		return r, fmt.Errorf("wrk: %v: %s", err, out)
	}
	s := string(out)
	m := reqsRe.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("wrk output not understood:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, lm := range latencyRe.FindAllStringSubmatch(s, -1) {
		if lm[1] == "50" {
			r.p50 = parseDur(lm[2], lm[3])
		} else {
			r.p99 = parseDur(lm[2], lm[3])
		}
	}
	for _, em := range errorsRe.FindAllStringSubmatch(s, -1) {
		for _, v := range em[1:] {
			n, _ := strconv.Atoi(v)
			r.errors += n
		}
	}
	r.rssKiB = peak
	if m := totalRe.FindStringSubmatch(s); m != nil {
		if n, _ := strconv.ParseFloat(m[1], 64); n > 0 {
			r.cpuPerReq = time.Duration(float64(cpu1-cpu0) / n)
		}
	}
	return r, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func orchestrate() error {
	rounds := flag.Int("rounds", 3, "interleaved rounds per scenario")
	duration := flag.Duration("duration", 10*time.Second, "wrk duration per round")
	conns := flag.Int("connections", 64, "keep-alive connections")
	baseline := flag.String("baseline", "", "another loadbench binary (e.g. built from an earlier commit): its gatehouse role runs as \"baseline\" in the same rounds, for a before/after comparison")
	scenarios := flag.String("scenarios", "plain,tls,ratelimit,auth,jwt1,jwt10k", "comma-separated: plain, tls, nolog, ratelimit, auth, jwt1 (one JWT), jwt10k (10 000 distinct JWTs), validate (1 KiB JSON POST checked against the demo's OpenAPI document)")
	flag.Parse()
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install -y wrk")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("taskset not found (util-linux)")
	}
	tmp, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	seedFile := filepath.Join(tmp, "jwt.seed")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		return err
	}
	up, err := startRole("1", "upstream", "-jwt-key", seedFile)
	if err != nil {
		return err
	}
	defer up.stop()
	upURL := "http://" + up.addr

	fmt.Printf("loadbench: %d rounds x %s, %d connections, wrk and upstream on core 1, proxy on core 0 (GOMAXPROCS=1)\n", *rounds, *duration, *conns)
	fmt.Printf("%-9s %-10s %12s %10s %10s %9s %12s\n", "scenario", "proxy", "req/s", "p50", "p99", "RSS MiB", "CPU/req")
	for _, sc := range strings.Split(*scenarios, ",") {
		var extra []string
		luaKey := "" // a wrk script sending the scenario's tokens, to floor and gateway alike
		scheme := "http"
		gwExtra := []string{}
		switch sc {
		case "plain":
		case "tls":
			extra = []string{"-tls-dir", filepath.Join(tmp, "tls")}
			scheme = "https"
		case "nolog":
			gwExtra = []string{"-access-log=false"}
		case "ratelimit":
			gwExtra = []string{"-ratelimit"}
		case "auth":
			gwExtra = []string{"-auth"}
		case "validate":
			spec, err := filepath.Abs(filepath.Join("internal", "demo", "openapi.yaml"))
			if err != nil {
				return err
			}
			if _, err := os.Stat(spec); err != nil {
				return fmt.Errorf("validate scenario: run from the repository root: %w", err)
			}
			script, err := postScript(tmp)
			if err != nil {
				return err
			}
			gwExtra = []string{"-validate", spec}
			luaKey = "lua:" + script
		case "jwt1", "jwt10k":
			n := 1
			if sc == "jwt10k" {
				n = 10000
			}
			script, err := jwtScript(tmp, seed, upURL+"/", n)
			if err != nil {
				return err
			}
			gwExtra = []string{"-jwt-issuer", upURL + "/"}
			luaKey = "lua:" + script
		default:
			return fmt.Errorf("unknown scenario %s", sc)
		}
		floorArgs := append([]string{"-upstream", upURL}, extra...)
		gwArgs := append(append([]string{"-upstream", upURL}, extra...), gwExtra...)
		res := map[string][]result{}
		names := []string{"floor", "gatehouse"}
		if *baseline != "" {
			names = append(names, "baseline")
		}
		for round := range *rounds {
			order := append(slices.Clone(names[round%len(names):]), names[:round%len(names)]...)
			for _, name := range order {
				args, role, exe := floorArgs, name, ""
				if name != "floor" {
					args, role = gwArgs, "gatehouse"
				}
				if name == "baseline" {
					exe = *baseline
				}
				p, err := startRoleOf(exe, "0", role, args...)
				if err != nil {
					return err
				}
				target := scheme + "://" + p.addr + "/orders/1"
				key := p.key
				if luaKey != "" {
					key = luaKey
				}
				if _, err := runWrk(target, *conns, 2*time.Second, childPID(p), key); err != nil { // warm-up
					p.stop()
					return err
				}
				r, err := runWrk(target, *conns, *duration, childPID(p), key)
				p.stop()
				if err != nil {
					return err
				}
				if r.errors > 0 {
					return fmt.Errorf("%s %s: %d errors", sc, name, r.errors)
				}
				res[name] = append(res[name], r)
			}
		}
		summary := map[string]result{}
		for _, name := range names {
			var rps, p50, p99, rss, cpu []float64
			for _, r := range res[name] {
				rps = append(rps, r.rps)
				p50 = append(p50, float64(r.p50))
				p99 = append(p99, float64(r.p99))
				rss = append(rss, float64(r.rssKiB))
				cpu = append(cpu, float64(r.cpuPerReq))
			}
			s := result{rps: median(rps), p50: time.Duration(median(p50)), p99: time.Duration(median(p99)), rssKiB: int(median(rss)), cpuPerReq: time.Duration(median(cpu))}
			summary[name] = s
			fmt.Printf("%-9s %-10s %12.0f %10s %10s %9.1f %10.1fus\n", sc, name, s.rps, s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond), float64(s.rssKiB)/1024, float64(s.cpuPerReq)/1e3)
		}
		f := summary["floor"]
		for _, name := range names[1:] {
			g, label := summary[name], "ratio"
			if name == "baseline" {
				label = "base/floor"
			}
			fmt.Printf("%-9s %-10s %11.3fx %9.2fx %9.2fx %9s %10.2fx\n", sc, label, g.rps/f.rps, float64(g.p50)/float64(f.p50), float64(g.p99)/float64(f.p99), "", float64(g.cpuPerReq)/float64(f.cpuPerReq))
		}
	}
	return nil
}

// jwtScript writes n Ed25519 access tokens of issuer and a wrk script that
// sends them in turn, one per request.
func jwtScript(dir string, seed []byte, issuer string, n int) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: ed25519.NewKeyFromSeed(seed)}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "bench"))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := range n {
		tok, err := josejwt.Signed(signer).Claims(map[string]any{
			"iss": issuer, "sub": fmt.Sprintf("user-%d", i), "aud": "orders-api", "exp": time.Now().Add(2 * time.Hour).Unix(),
			"jti": fmt.Sprintf("bench-%d", i), "scope": "orders:read", "tenant": "acme",
		}).Serialize()
		if err != nil {
			return "", err
		}
		b.WriteString(tok)
		b.WriteByte('\n')
	}
	tokens := filepath.Join(dir, fmt.Sprintf("tokens-%d.txt", n))
	if err := os.WriteFile(tokens, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	script := filepath.Join(dir, fmt.Sprintf("tokens-%d.lua", n))
	lua := fmt.Sprintf(`local tokens = {}
for line in io.lines(%q) do tokens[#tokens + 1] = "Bearer " .. line end
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, {["Authorization"] = tokens[(i %% #tokens) + 1]})
end
`, tokens)
	return script, os.WriteFile(script, []byte(lua), 0o600)
}

// postScript writes a wrk script posting a 1 KiB order that the demo's
// OpenAPI document accepts.
func postScript(dir string) (string, error) {
	var b strings.Builder
	b.WriteString(`{"tenant":"acme","owner":"alice","item":"workshop restock","quantity":8,"lines":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"ANV%d00-XL","quantity":%d,"unit_price":129.95,"currency":"CHF"}`, i, i+1)
	}
	b.WriteString(`],"shipping_address":{"name":"Alice Example","street":"Bahnhofstrasse 1","city":"Zurich","postal_code":"8001","country":"CH"},"note":"`)
	for b.Len() < 1022 {
		b.WriteByte('n')
	}
	b.WriteString(`"}`)
	script := filepath.Join(dir, "post-order.lua")
	lua := fmt.Sprintf(`wrk.method = "POST"
wrk.path = "/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %q
`, b.String())
	return script, os.WriteFile(script, []byte(lua), 0o600)
}
