package app

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/models"
)

func TestMain(m *testing.M) {
	// Cheap argon2 parameters keep the suite fast; hashes record their
	// own parameters, so the code paths are the same.
	password.DefaultParams = password.Params{Memory: 1024, Time: 1, Threads: 1}
	os.Exit(m.Run())
}

// testConfig returns a validated configuration for dbURL.
func testConfig(t testing.TB, dbURL string, env map[string]string) *config.Config {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := config.RegisterFlags(fs)
	_ = fs.Parse(nil)
	if env == nil {
		env = map[string]string{}
	}
	env["GATEHOUSE_DATABASE_URL"] = dbURL
	cfg, err := f.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// harness drives the real fiber app in memory, keeping cookies like a
// browser.
type harness struct {
	t     *testing.T
	srv   *Server
	store *models.Store
	jar   map[string]*http.Cookie
	logs  *bytes.Buffer
}

func newHarness(t *testing.T, dbURL string, env map[string]string, extra ...func(*Server)) *harness {
	t.Helper()
	cfg := testConfig(t, dbURL, env)
	db := dbtest.Open(t, dbURL)
	st := models.New(db)
	logs := &bytes.Buffer{}
	log := NewLogger(logs, "debug", "text")
	srv, err := NewServer(context.Background(), cfg, st, log, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, store: st, jar: map[string]*http.Cookie{}, logs: logs}
}

// sqliteHarness is a harness on a fresh SQLite database.
func sqliteHarness(t *testing.T) *harness {
	return newHarness(t, dbtest.SQLiteURL(t), nil)
}

// newHarnessWith is a SQLite harness with extra routes (before the catch-all).
func newHarnessWith(t *testing.T, extra ...func(*Server)) *harness {
	return newHarness(t, dbtest.SQLiteURL(t), nil, extra...)
}

// forEachBackend runs fn with a harness on SQLite and on PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) { fn(t, newHarness(t, b.URL(t), nil)) })
	}
}

type response struct {
	*http.Response
	body string
}

func (h *harness) do(method, path string, form url.Values, headers ...string) *response {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return h.send(req)
}

// send runs req on the server as this browser: its cookies go along, and
// the answer's cookies are kept (or dropped when the answer deletes
// them). It is the one cookie jar of the tests.
func (h *harness) send(req *http.Request) *response {
	h.t.Helper()
	for _, c := range h.jar {
		req.AddCookie(c)
	}
	res, err := h.srv.App.Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(h.jar, c.Name)
		} else {
			h.jar[c.Name] = c
		}
	}
	b, _ := io.ReadAll(res.Body)
	return &response{Response: res, body: string(b)}
}

// browser is another browser on the same server, for test t: a cookie
// jar of its own, holding only cookies.
func (h *harness) browser(t *testing.T, cookies ...*http.Cookie) *harness {
	b := &harness{t: t, srv: h.srv, store: h.store, jar: map[string]*http.Cookie{}, logs: h.logs}
	for _, c := range cookies {
		b.jar[c.Name] = c
	}
	return b
}

// clearCookies forgets every cookie, as a new browser would.
func (h *harness) clearCookies() { h.jar = map[string]*http.Cookie{} }

func (h *harness) get(path string) *response { return h.do(http.MethodGet, path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf loads page and returns the CSRF token of its forms.
func (h *harness) csrf(page string) string {
	h.t.Helper()
	r := h.get(page)
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		h.t.Fatalf("no csrf_token on %s (status %d)", page, r.StatusCode)
	}
	return m[1]
}

// post submits a form from page (taking its CSRF token) to path.
func (h *harness) post(page, path string, form url.Values) *response {
	h.t.Helper()
	form.Set("csrf_token", h.csrf(page))
	return h.do(http.MethodPost, path, form)
}

func (h *harness) createUser(username, pw, role string) *models.User {
	h.t.Helper()
	u, errs, err := accounts.Create(context.Background(), h.store, accounts.Input{Username: username, Password: pw, Role: role, Email: username + "@example.com"})
	if err != nil {
		h.t.Fatalf("create user: %v %v", err, errs)
	}
	return u
}

func (h *harness) login(username, pw string) *response {
	h.t.Helper()
	return h.post("/login", "/login", url.Values{"username": {username}, "password": {pw}})
}

// serve runs the server on a loopback port; cancel stops it and done
// receives Serve's result.
func (h *harness) serve() (addr string, cancel func(), done <-chan error) {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancelFn := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- h.srv.Serve(ctx, ln) }()
	return ln.Addr().String(), cancelFn, ch
}
