// Package e2e runs the real gatehouse binary on a loopback port and drives
// it over HTTP, the way a newcomer and their scripts would.
package e2e

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running gatehouse process.
type server struct {
	cmd *exec.Cmd
	// base is where this process listens; issuer is its public URL (the
	// same unless several instances share one issuer).
	base, issuer string
	setupURL     string
	// done is closed when the process has exited, with its Wait result
	// in exitErr.
	done    chan struct{}
	exitErr error
	log     *logTail
	// setupFound receives the setup link when it is printed; noSetup
	// says not to wait for it.
	setupFound chan string
	noSetup    bool
}

// serverOptions adjust startWith.
type serverOptions struct {
	// addr to listen on; default a free loopback port.
	addr string
	// issuer is the public URL; default http://addr.
	issuer string
	// noSetup: the database has an administrator already, so no setup
	// link is printed; wait for readiness alone.
	noSetup bool
	// env adds KEY=value variables to the process's environment.
	env []string
}

var setupRE = regexp.MustCompile(`(http://\S+/setup\?token=[A-Za-z0-9_-]+)`)

// start runs gatehouse serve on a fresh database and waits for the setup
// link and readiness.
func start(t *testing.T, dbURL string) *server {
	t.Helper()
	return startWith(t, dbURL, serverOptions{})
}

// startWith runs gatehouse serve on dbURL and waits until it is ready.
// The process is killed when the test ends if it still runs.
func startWith(t *testing.T, dbURL string, o serverOptions) *server {
	t.Helper()
	s := launch(t, dbURL, o)
	s.ready(t)
	return s
}

// launch runs gatehouse serve on dbURL without waiting for it (see
// ready), so that several instances can start at once.
func launch(t *testing.T, dbURL string, o serverOptions) *server {
	t.Helper()
	addr := o.addr
	if addr == "" {
		addr = freePort(t)
	}
	base := "http://" + addr
	issuer := cmp.Or(o.issuer, base)
	cmd := exec.Command(binary, "serve", "--addr", addr, "--issuer", issuer, "--database-url", dbURL)
	cmd.Dir = t.TempDir()
	cmd.Env = append(append(os.Environ(), "GATEHOUSE_LOG_LEVEL=info"), o.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, base: base, issuer: issuer, done: make(chan struct{}), log: &logTail{},
		setupFound: make(chan string, 1), noSetup: o.noSetup}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			s.log.add(sc.Text())
			if m := setupRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				s.setupFound <- m[1]
				sent = true
			}
		}
	}()
	// Wait reads the pipe's end only after the scanner has seen it all.
	go func() { <-scanned; s.exitErr = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
			}
		}
	})
	return s
}

// ready waits for the setup link (unless noSetup) and until the server
// answers /readyz.
func (s *server) ready(t *testing.T) {
	t.Helper()
	if !s.noSetup {
		select {
		case s.setupURL = <-s.setupFound:
		case <-s.done:
			t.Fatalf("gatehouse exited at start: %v\n%s", s.exitErr, s.log)
		case <-time.After(30 * time.Second):
			t.Fatalf("no setup link printed within 30 s\n%s", s.log)
		}
	}
	// Wait until it answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.done:
			t.Fatalf("gatehouse exited at start: %v\n%s", s.exitErr, s.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops the process with SIGKILL, as a crash or the OOM killer
// would, and waits until it is gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGKILL")
	}
}

// stop sends SIGTERM and waits for a clean exit (status 0) within 10 s,
// returning how long it took.
func (s *server) stop(t *testing.T) time.Duration {
	t.Helper()
	begin := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return s.waitExit(t, begin)
}

// waitExit waits for a clean exit (status 0) at most 10 s after a SIGTERM
// sent at sent, and returns how long after it the process was gone.
func (s *server) waitExit(t *testing.T, sent time.Time) time.Duration {
	t.Helper()
	select {
	case <-s.done:
		if s.exitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", s.exitErr, s.log)
		}
	case <-time.After(time.Until(sent.Add(10 * time.Second))):
		t.Fatalf("still running 10 s after SIGTERM\n%s", s.log)
	}
	return time.Since(sent)
}

// logTail keeps the last lines a server wrote to stderr, for failure
// messages.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 40 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "server log (last lines):\n" + strings.Join(l.lines, "\n")
}

// browser is an HTTP client with cookies that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// submit loads page, takes its CSRF token and posts form to action.
func submit(t *testing.T, c *http.Client, page, action string, form url.Values) *http.Response {
	t.Helper()
	_, body := get(t, c, page)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on %s", page)
	}
	form.Set("csrf_token", m[1])
	res, err := c.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestFirstRun is the newcomer's path: start the server, open the printed
// setup link, create the first admin, see the dashboard, sign out, sign in;
// then SIGTERM stops it cleanly. On SQLite and PostgreSQL.
func TestFirstRun(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			s := start(t, b.URL(t))
			if !strings.HasPrefix(s.setupURL, s.base+"/setup?token=") {
				t.Fatalf("setup link %q does not use the issuer %s", s.setupURL, s.base)
			}
			c := browser(t)
			form := url.Values{"username": {"ada"}, "name": {"Ada Lovelace"}, "email": {"ada@example.com"},
				"password": {"analytical engine"}, "password_confirm": {"analytical engine"}}
			u, _ := url.Parse(s.setupURL)
			form.Set("token", u.Query().Get("token"))
			res := submit(t, c, s.setupURL, s.base+"/setup", form)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard" {
				t.Fatalf("setup: %d %s", res.StatusCode, res.Header.Get("Location"))
			}
			res, body := get(t, c, s.base+"/dashboard")
			if res.StatusCode != 200 || !strings.Contains(body, "Ada Lovelace") {
				t.Fatalf("dashboard after setup: %d", res.StatusCode)
			}
			if res := submit(t, c, s.base+"/dashboard", s.base+"/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: %d", res.StatusCode)
			}
			if res, _ := get(t, c, s.base+"/dashboard"); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("dashboard after logout: %d", res.StatusCode)
			}
			// The setup link is spent.
			if res, _ := get(t, browser(t), s.setupURL); res.StatusCode != http.StatusNotFound {
				t.Fatalf("setup link reused: %d", res.StatusCode)
			}
			res = submit(t, c, s.base+"/login", s.base+"/login", url.Values{"username": {"ada"}, "password": {"analytical engine"}})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard" {
				t.Fatalf("sign in: %d %s", res.StatusCode, res.Header.Get("Location"))
			}

			t.Logf("stopped %v after SIGTERM", s.stop(t).Round(time.Millisecond))
		})
	}
}

// TestCLI runs the binary's commands as scripts would.
func TestCLI(t *testing.T) {
	db := dbtest.SQLiteURL(t)
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = append(os.Environ(), "GATEHOUSE_DATABASE_URL="+db)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, _ := run("", "version"); code != 0 || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, out, errs := run("a long passphrase\n", "users", "create", "--username", "root", "--password-stdin", "--role", "admin"); code != 0 {
		t.Fatalf("users create: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("a long passphrase\n", "users", "create", "--username", "root", "--password-stdin"); code != 1 || !strings.HasPrefix(errs, "error: ") {
		t.Fatalf("duplicate user: %d %q", code, errs)
	}
	if code, _, errs := run("", "settings", "set", "authorization_code_lifetime", "11m"); code != 1 || !strings.HasPrefix(errs, "error: ") {
		t.Fatalf("bad setting: %d %q", code, errs)
	}
	if code, out, _ := run("", "settings", "get", "authorization_code_lifetime"); code != 0 || out != "5m\n" {
		t.Fatalf("settings get: %d %q", code, out)
	}
	code, _, errs := run("", "serve", "--issuer", "not-a-url")
	if code != 1 || !strings.HasPrefix(errs, "error: GATEHOUSE_ISSUER") || strings.Contains(errs, "goroutine") {
		t.Fatalf("bad issuer: %d %q", code, errs)
	}
}
