// Command bench measures Gatehouse under load (`make bench`): it starts the
// real binary on loopback against SQLite and PostgreSQL, seeds clients,
// users, tokens and codes through the store, starts baseline servers (bare
// fiber returning a fixed token JSON, and bare fiber with one INSERT per
// request through GORM, tuned GORM, pgx and SQLite), drives each endpoint
// with keep-alive connections for a fixed time, and prints one table
// (requests per second, p50, p99, errors, ratio to its baseline, server
// RSS). It also writes docs/BENCHMARKS.md.
//
// Usage: go run ./bench [-duration 20s] [-conns 4] [-backends sqlite,postgres]
//
//	[-pg-url URL] [-big 1000000] [-bin bin/gatehouse] [-out docs/BENCHMARKS.md]
//	[-only client_credentials,...]
//
// -only measures some endpoints of Gatehouse, by name: introspect (the
// lookup, on /api/user in a build without introspection), api_user,
// client_credentials, client_credentials_dpop (the same with a DPoP
// proof, signed per request), client_credentials_private_key_jwt (the
// same authenticated with an ES256 client assertion, signed per request:
// its jti is single use), half_rate (client_credentials at half its rate;
// measures client_credentials too), refresh_token, authorization_code,
// big (the lookup after topping up to -big tokens).
// The baselines are always measured, so that ratios stay within one run;
// a ratio to an endpoint that was not measured is left out. Pair it with
// -out "" to keep the full report.
//
// The PostgreSQL URL defaults to GATEHOUSE_BENCH_POSTGRES_URL, then to the
// local server's gatehouse_bench database (created when missing); the
// bench works in its own schema there, dropped and recreated each run.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/valyala/fasthttp"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
)

type options struct {
	duration, warmup time.Duration
	conns            int
	backends         []string
	pgURL            string
	big              int64
	bin, out, work   string
	logLevel         string
	profile          string          // folder for CPU profiles of the server, "" none
	only             map[string]bool // endpoints to measure, nil: all
}

// endpointNames are the names -only accepts.
var endpointNames = []string{"introspect", "api_user", "client_credentials", "client_credentials_dpop", "client_credentials_private_key_jwt",
	"half_rate", "refresh_token", "authorization_code", "big"}

// measures reports whether the endpoint called name is to be measured.
func (o options) measures(name string) bool { return o.only == nil || o.only[name] }

// parseOnly reads the -only list ("" for all endpoints).
func parseOnly(list string) (map[string]bool, error) {
	if list == "" {
		return nil, nil
	}
	only := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(endpointNames, name) {
			return nil, fmt.Errorf("-only: unknown endpoint %q (known: %s)", name, strings.Join(endpointNames, ", "))
		}
		only[name] = true
	}
	if only["half_rate"] {
		only["client_credentials"] = true // its rate is half of that one
	}
	return only, nil
}

// row is one line of the result table.
type row struct {
	Endpoint, Backend string
	result
	Baseline string  // what the ratio compares with
	Ratio    float64 // 0: none
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		fs := flag.NewFlagSet("baseline", flag.ExitOnError)
		kind := fs.String("kind", "fixed", "fixed, gorm, gorm-tuned, pgx or sqlite")
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		dsn := fs.String("dsn", "", "database")
		_ = fs.Parse(os.Args[2:])
		if err := serveBaseline(*kind, *addr, *dsn); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var backends, only string
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time per endpoint")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measurement")
	flag.IntVar(&o.conns, "conns", 4, "concurrent keep-alive connections")
	flag.StringVar(&backends, "backends", "sqlite,postgres", "databases to measure")
	flag.StringVar(&o.pgURL, "pg-url", os.Getenv("GATEHOUSE_BENCH_POSTGRES_URL"), "PostgreSQL server URL")
	flag.Int64Var(&o.big, "big", 1_000_000, "stored tokens for the lookup-flatness run")
	flag.StringVar(&o.bin, "bin", "bin/gatehouse", "the gatehouse binary")
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "report file (empty: none)")
	flag.StringVar(&o.profile, "profile", "", "folder to write a CPU profile of the server for each measured endpoint")
	flag.StringVar(&o.logLevel, "log-level", "info", "GATEHOUSE_LOG_LEVEL of the measured server (its log goes to a file)")
	flag.StringVar(&only, "only", "", "comma-separated endpoints to measure, of "+strings.Join(endpointNames, ", ")+" (baselines always; default all)")
	flag.Parse()
	o.backends = strings.Split(backends, ",")
	var err error
	if o.only, err = parseOnly(only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.pgURL == "" {
		o.pgURL = "postgres://postgres@127.0.0.1:5432/gatehouse_bench?sslmode=disable"
	}
	if err := benchMain(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func benchMain(o options) error {
	ctx := context.Background()
	began := time.Now()
	work, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.work = work
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%s: build it first (make build): %v", o.bin, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		printRow(os.Stdout, r)
	}
	printHeader(os.Stdout)

	// The HTTP ceiling.
	fixed, err := runBaseline(o, self, "fixed", "", "HTTP ceiling: bare fiber, fixed token JSON", "—")
	if err != nil {
		return err
	}
	add(fixed)

	var pgSchemaURL string
	for _, b := range o.backends {
		switch b {
		case "sqlite":
			dbPath := filepath.Join(work, "gatehouse.db")
			base, err := runBaseline(o, self, "sqlite", "file:"+filepath.Join(work, "baseline.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)",
				"bare fiber + one database/sql INSERT (SQLite WAL)", "sqlite")
			if err != nil {
				return err
			}
			add(base)
			if err := benchBackend(ctx, o, "sqlite", "sqlite://"+dbPath, fixed, base, add); err != nil {
				return err
			}
		case "postgres":
			pgSchemaURL, err = preparePostgres(o.pgURL)
			if err != nil {
				return fmt.Errorf("PostgreSQL: %v", err)
			}
			var pgx row
			for _, k := range []struct{ kind, name string }{
				{"gorm", "bare fiber + one GORM INSERT (default settings)"},
				{"gorm-tuned", "bare fiber + one GORM INSERT (SkipDefaultTransaction, PrepareStmt)"},
				{"pgx", "bare fiber + one pgx INSERT (the database ceiling)"},
			} {
				r, err := runBaseline(o, self, k.kind, pgSchemaURL, k.name, "postgres")
				if err != nil {
					return err
				}
				add(r)
				pgx = r
			}
			if err := benchBackend(ctx, o, "postgres", pgSchemaURL, fixed, pgx, add); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown backend %q", b)
		}
	}
	took := time.Since(began).Round(time.Second)
	fmt.Printf("\nfull run: %s\n", took)
	targets := checkTargets(rows)
	for _, t := range targets {
		fmt.Println(t)
	}
	if o.out != "" {
		if err := writeReport(o, rows, targets, took); err != nil {
			return err
		}
		fmt.Println("wrote", o.out)
	}
	return nil
}

// benchBackend seeds a fresh database, starts Gatehouse on it and
// measures every endpoint.
func benchBackend(ctx context.Context, o options, backend, dbURL string, fixed, insertCeiling row, add func(row)) error {
	if out, err := exec.Command(o.bin, "migrate", "up", "--database-url", dbURL).CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v: %s", err, out)
	}
	codes := int(15000 * (o.duration + o.warmup).Seconds())
	if codes < 20000 {
		codes = 20000
	}
	f, err := seed(ctx, dbURL, 10000, o.conns, codes)
	if err != nil {
		return fmt.Errorf("seed: %v", err)
	}
	defer f.close()
	srv, err := startGatehouse(o, dbURL)
	if err != nil {
		return err
	}
	defer srv.stop()

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.clientID)+":"+url.QueryEscape(f.secret)))
	form := func(req *fasthttp.Request, body string) {
		req.Header.SetContentType("application/x-www-form-urlencoded")
		req.SetBodyString(body)
	}
	var cursor atomic.Int64
	nextAccess := func() string { return f.access[int(cursor.Add(1))%len(f.access)] }

	introspect := &scenario{name: "introspect", method: "POST", path: "/oauth/introspect", auth: basic,
		next:  func(_ int, req *fasthttp.Request) bool { form(req, "token="+nextAccess()); return true },
		check: ok200With(`"active":true`)}
	apiUser := &scenario{name: "api_user", method: "GET", path: "/api/user",
		next: func(_ int, req *fasthttp.Request) bool {
			req.Header.Set("Authorization", "Bearer "+nextAccess())
			return true
		},
		check: ok200With(`"username":"bench"`)}
	cc := &scenario{name: "client_credentials", method: "POST", path: "/oauth/token", auth: basic,
		next:  func(_ int, req *fasthttp.Request) bool { form(req, "grant_type=client_credentials"); return true },
		check: ok200With(`"access_token"`)}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.pkjKey}, (&jose.SignerOptions{}).WithHeader("kid", "bench"))
	if err != nil {
		return err
	}
	issuer := "http://" + srv.addr
	pkj := &scenario{name: "client_credentials_private_key_jwt", method: "POST", path: "/oauth/token",
		next: func(_ int, req *fasthttp.Request) bool {
			now := time.Now()
			assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: f.pkjID, Subject: f.pkjID, Audience: jwt.Audience{issuer},
				ID: base64.RawURLEncoding.EncodeToString(secret.Random(16)), IssuedAt: jwt.NewNumericDate(now),
				Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			if err != nil {
				return false
			}
			form(req, "grant_type=client_credentials&client_assertion_type="+url.QueryEscape(oauth.ClientAssertionTypeJWT)+"&client_assertion="+assertion)
			return true
		},
		check: ok200With(`"access_token"`)}
	chain := make([]string, o.conns)
	refresh := &scenario{name: "refresh_token", method: "POST", path: "/oauth/token", auth: basic,
		next: func(w int, req *fasthttp.Request) bool {
			if chain[w] == "" {
				if len(f.refresh[w]) == 0 {
					return false
				}
				chain[w], f.refresh[w] = f.refresh[w][0], f.refresh[w][1:]
			}
			form(req, "grant_type=refresh_token&refresh_token="+chain[w])
			chain[w] = "" // used; the answer brings the next one
			return true
		},
		check: ok200With(`"refresh_token"`),
		after: func(w int, body []byte) { chain[w] = jsonString(body, "refresh_token") }}
	var codeCursor atomic.Int64
	code := &scenario{name: "authorization_code", method: "POST", path: "/oauth/token", auth: basic,
		next: func(_ int, req *fasthttp.Request) bool {
			i := int(codeCursor.Add(1)) - 1
			if i >= len(f.codes) {
				return false
			}
			form(req, "grant_type=authorization_code&code="+f.codes[i])
			return true
		},
		check: ok200With(`"access_token"`)}

	measure := func(sc *scenario, label string, rate float64) row {
		if o.warmup > 0 {
			run(srv.addr, o.conns, o.warmup, rate, sc)
		}
		rss := sampleRSS(srv.pid())
		prof := srv.profile(o, backend+"-"+sc.name)
		res := run(srv.addr, o.conns, o.duration, rate, sc)
		res.MaxRSS = rss.Stop()
		prof()
		return row{Endpoint: label, Backend: backend, result: res}
	}

	// Introspection needs the lead's endpoint; without it the lookup runs
	// use /api/user.
	lookup := introspect
	if !srv.has("POST", "/oauth/introspect", basic, "token=x") {
		lookup = apiUser
		fmt.Println("(no introspection endpoint in this build: lookups measured on /api/user)")
	}
	// ratio sets r's ratio to base, unless base was not measured (-only).
	ratio := func(r *row, name string, base row) {
		if base.Rate > 0 {
			r.Baseline, r.Ratio = name, r.Rate/base.Rate
		}
	}
	var r10k, rcc row
	if o.measures("introspect") || o.measures(lookup.name) {
		r10k = measure(lookup, lookup.name+" (10k tokens stored)", 0)
		ratio(&r10k, "HTTP ceiling", fixed)
		add(r10k)
	}
	if lookup != apiUser && o.measures(apiUser.name) {
		r := measure(apiUser, "GET /api/user", 0)
		ratio(&r, "HTTP ceiling", fixed)
		add(r)
	}
	if o.measures(cc.name) {
		rcc = measure(cc, "client_credentials", 0)
		ratio(&rcc, insertCeiling.Endpoint, insertCeiling)
		add(rcc)
	}
	if o.measures("client_credentials_dpop") {
		prover, err := newDPoPProver()
		if err != nil {
			return err
		}
		htu := "http://" + srv.addr + "/oauth/token"
		ccd := &scenario{name: "client_credentials_dpop", method: "POST", path: "/oauth/token", auth: basic,
			next: func(_ int, req *fasthttp.Request) bool {
				p, err := prover.proof("POST", htu)
				if err != nil {
					return false
				}
				form(req, "grant_type=client_credentials")
				req.Header.Set("DPoP", p)
				return true
			},
			check: ok200With(`"token_type":"DPoP"`)}
		r := measure(ccd, "client_credentials + DPoP proof", 0)
		ratio(&r, "client_credentials", rcc)
		add(r)
	}
	if o.measures(pkj.name) {
		r := measure(pkj, "client_credentials, private_key_jwt (ES256)", 0)
		ratio(&r, "client_credentials", rcc)
		add(r)
	}
	if o.measures("half_rate") {
		half := measure(cc, "client_credentials at half that rate", rcc.Rate/2)
		half.Baseline = "p99 target < 10 ms"
		add(half)
	}
	if o.measures(refresh.name) {
		rr := measure(refresh, "refresh_token", 0)
		ratio(&rr, "client_credentials", rcc)
		add(rr)
	}
	if o.measures(code.name) {
		rc := measure(code, "authorization_code", 0)
		ratio(&rc, "client_credentials", rcc)
		if rc.Requests > 0 && int(codeCursor.Load()) > len(f.codes) {
			rc.Note = strings.TrimSpace(rc.Note + " (ran out of seeded codes)")
		}
		add(rc)
	}

	if !o.measures("big") {
		return nil
	}
	t0 := time.Now()
	total, err := f.topUp(ctx, o.big)
	if err != nil {
		return fmt.Errorf("top up to %d tokens: %v", o.big, err)
	}
	fmt.Printf("(stored tokens topped up to %d in %s)\n", total, time.Since(t0).Round(time.Second))
	rbig := measure(lookup, fmt.Sprintf("%s (%s tokens stored)", lookup.name, humanCount(total)), 0)
	ratio(&rbig, "the same with 10k tokens", r10k)
	add(rbig)
	return nil
}

func humanCount(n int64) string {
	if n >= 1_000_000 && n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	if n >= 1000 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// process is a started server.
type process struct {
	cmd       *exec.Cmd
	addr      string
	pprofAddr string
}

// profile starts taking a CPU profile of the server for the measured
// duration (with -profile) and returns a function that waits for it.
func (p *process) profile(o options, name string) func() {
	if o.profile == "" || p.pprofAddr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := int(o.duration.Seconds())
		if secs < 1 {
			secs = 1
		}
		res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprofAddr, secs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer res.Body.Close()
		_ = os.MkdirAll(o.profile, 0o755)
		f, err := os.Create(filepath.Join(o.profile, strings.ReplaceAll(name, " ", "_")+".pprof"))
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, res.Body)
	}()
	return func() { <-done }
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// has reports whether the server routes method path (anything but 404).
func (p *process) has(method, path, auth, body string) bool {
	req, _ := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode != http.StatusNotFound
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func start(cmd *exec.Cmd, addr, logPath string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, addr: addr}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	log, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("%s did not start: %s", cmd.Path, tail(string(log), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func startGatehouse(o options, dbURL string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.bin, "serve")
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADDR="+addr, "GATEHOUSE_ISSUER=http://"+addr, "GATEHOUSE_DATABASE_URL="+dbURL,
		"GATEHOUSE_LOG_LEVEL="+o.logLevel)
	pprofAddr := ""
	if o.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "GATEHOUSE_PPROF_ADDR="+pprofAddr)
	}
	p, err := start(cmd, addr, filepath.Join(o.work, "gatehouse-"+strings.SplitN(dbURL, ":", 2)[0]+".log"))
	if p != nil {
		p.pprofAddr = pprofAddr
	}
	return p, err
}

// runBaseline starts a baseline server and measures POST /token on it.
func runBaseline(o options, self, kind, dsn, name, backend string) (row, error) {
	addr, err := freeAddr()
	if err != nil {
		return row{}, err
	}
	p, err := start(exec.Command(self, "baseline", "-kind", kind, "-addr", addr, "-dsn", dsn), addr, filepath.Join(o.work, "baseline-"+kind+".log"))
	if err != nil {
		return row{}, err
	}
	defer p.stop()
	sc := &scenario{name: kind, method: "POST", path: "/token",
		next: func(_ int, req *fasthttp.Request) bool {
			req.Header.SetContentType("application/x-www-form-urlencoded")
			req.SetBodyString("grant_type=client_credentials")
			return true
		},
		check: ok200}
	if o.warmup > 0 {
		run(addr, o.conns, o.warmup, 0, sc)
	}
	rss := sampleRSS(p.pid())
	res := run(addr, o.conns, o.duration, 0, sc)
	res.MaxRSS = rss.Stop()
	return row{Endpoint: name, Backend: backend, result: res, Baseline: "baseline"}, nil
}

// preparePostgres makes sure the bench database exists and returns a URL
// of a fresh schema in it.
func preparePostgres(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	open := func(dsn string) (*gorm.DB, error) {
		return gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	}
	db, err := open(raw)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		admin := *u
		admin.Path = "/postgres"
		adb, aerr := open(admin.String())
		if aerr != nil {
			return "", aerr
		}
		name := strings.TrimPrefix(u.Path, "/")
		if cerr := adb.Exec(`CREATE DATABASE "` + strings.ReplaceAll(name, `"`, "") + `"`).Error; cerr != nil {
			return "", cerr
		}
		closeDB(adb)
		db, err = open(raw)
	}
	if err != nil {
		return "", err
	}
	defer closeDB(db)
	const schema = "gatehouse_bench"
	if err := db.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE").Error; err != nil {
		return "", err
	}
	if err := db.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func closeDB(db *gorm.DB) {
	if s, err := db.DB(); err == nil {
		_ = s.Close()
	}
}

func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb); err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

func printHeader(w io.Writer) {
	fmt.Fprintf(w, "%-62s %-9s %9s %8s %8s %7s %6s  %s\n", "endpoint", "backend", "req/s", "p50", "p99", "errors", "RSS", "ratio")
}

func printRow(w io.Writer, r row) {
	ratio := ""
	if r.Ratio > 0 {
		ratio = fmt.Sprintf("%.2f× %s", r.Ratio, r.Baseline)
	} else if r.Baseline != "baseline" {
		ratio = r.Baseline
	}
	fmt.Fprintf(w, "%-62s %-9s %9.0f %8s %8s %7d %5dM  %s %s\n", r.Endpoint, r.Backend, r.Rate, dur(r.P50), dur(r.P99), r.Errors,
		r.MaxRSS>>20, ratio, r.Note)
}

func dur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
