package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/static"
)

func TestSecurityHeadersOnPages(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	for _, path := range []string{"/login", "/no-such-page", "/healthz"} {
		r := h.get(path)
		want := map[string]string{
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
			"X-Content-Type-Options": "nosniff",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, part := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'self'"} {
			if !strings.Contains(csp, part) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, part)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", path)
		}
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS header on a page", path)
		}
		if id := r.Header.Get("X-Request-Id"); len(id) < 8 {
			t.Errorf("%s: no request id", path)
		}
	}
	// Pages have no inline scripts or styles (CSP would block them).
	body := h.get("/login").body
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") || strings.Contains(body, "onclick=") {
		t.Error("login page has inline script or style")
	}
}

func TestErrorHandlerJSONAndHTML(t *testing.T) {
	t.Parallel()
	boom := errors.New(`pq: relation "users" does not exist at SELECT * FROM users`)
	h := newHarnessWith(t, func(s *Server) {
		s.App.Get("/boom", s.page(func(c *fiber.Ctx) error { return boom })...)
		s.App.Get("/api/boom", func(c *fiber.Ctx) error { return boom })
		s.App.Get("/panic", func(c *fiber.Ctx) error { panic("secret internal state") })
	})
	r := h.get("/oauth/nothing-here")
	if r.StatusCode != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(r.body, `"error":"not_found"`) || !strings.Contains(r.body, `"error_description"`) {
		t.Fatalf("OAuth 404: %d %s %s", r.StatusCode, r.Header.Get("Content-Type"), r.body)
	}
	r = h.get("/nothing-here")
	if r.StatusCode != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || strings.Contains(r.body, "Cannot GET") {
		t.Fatalf("page 404: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	for _, path := range []string{"/boom", "/api/boom", "/panic"} {
		r := h.get(path)
		if r.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: status %d", path, r.StatusCode)
		}
		for _, leak := range []string{"relation", "SELECT", "secret internal state", "goroutine", ".go:"} {
			if strings.Contains(r.body, leak) {
				t.Errorf("%s: response leaks %q", path, leak)
			}
		}
	}
	if !strings.Contains(h.logs.String(), "relation") {
		t.Error("the real error was not logged")
	}
	if r := h.get("/api/boom"); !strings.Contains(r.body, `"error":"server_error"`) {
		t.Errorf("API 500 body: %s", r.body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	if r := h.get("/healthz"); r.StatusCode != 200 || !strings.Contains(r.body, "ok") {
		t.Fatalf("healthz: %d %s", r.StatusCode, r.body)
	}
	if r := h.get("/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz: %d %s", r.StatusCode, r.body)
	}
	sqlDB, _ := h.store.DB().DB()
	sqlDB.Close()
	if r := h.get("/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database closed: %d", r.StatusCode)
	}
	if r := h.get("/healthz"); r.StatusCode != 200 {
		t.Fatalf("healthz must not depend on the database: %d", r.StatusCode)
	}
}

func TestStaticFilesCachedAndVersioned(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	u := static.URL("css/app.css")
	if !strings.Contains(u, "?v=") {
		t.Fatalf("static URL not versioned: %s", u)
	}
	r := h.get(u)
	if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "max-age=31536000") ||
		!strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("static: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if !strings.Contains(h.get("/login").body, u) {
		t.Fatal("pages do not use the versioned stylesheet URL")
	}
	if r := h.get(static.URL("vendor/fontawesome/css/all.min.css")); r.StatusCode != 200 {
		t.Fatalf("Font Awesome not served: %d", r.StatusCode)
	}
	if r := h.get("/static/nope.css"); r.StatusCode != 404 {
		t.Fatalf("missing static file: %d", r.StatusCode)
	}
	if r := h.get("/login"); r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("pages must not be cached: %q", r.Header.Get("Cache-Control"))
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	addr, cancel, done := h.serve()
	defer func() { cancel(); <-done }()
	// Announce a body over the limit; the server answers before reading it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", BodyLimit+10)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", res.StatusCode)
	}
}

func TestQueryStringsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.get("/login?next=/account&code=SECRET-CODE-123")
	logs := h.logs.String()
	if strings.Contains(logs, "SECRET-CODE-123") {
		t.Fatal("query string logged")
	}
	if !strings.Contains(logs, "path=/login") || !strings.Contains(logs, "request_id=") {
		t.Fatalf("access log line missing: %s", logs)
	}
}

func TestClientIPFromTrustedProxy(t *testing.T) {
	t.Parallel()
	// app.Test connects from 0.0.0.0; trust it as a proxy.
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "0.0.0.0/32,10.0.0.0/8"})
	h.do(http.MethodGet, "/login", nil, "X-Forwarded-For", "203.0.113.7, 10.1.2.3")
	if !strings.Contains(h.logs.String(), "ip=203.0.113.7") {
		t.Fatalf("client address not taken from X-Forwarded-For: %s", h.logs.String())
	}
	h2 := sqliteHarness(t)
	h2.do(http.MethodGet, "/login", nil, "X-Forwarded-For", "203.0.113.7")
	if strings.Contains(h2.logs.String(), "203.0.113.7") {
		t.Fatal("X-Forwarded-For trusted without a trusted proxy")
	}
}

// TestGracefulShutdownDrainsRequests: cancelling the serve context (what
// SIGTERM does) lets a request in flight finish, then Serve returns.
func TestGracefulShutdownDrainsRequests(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	h := newHarnessWith(t, func(s *Server) {
		s.App.Get("/test/slow", func(c *fiber.Ctx) error {
			close(started)
			time.Sleep(300 * time.Millisecond)
			return c.SendString("finished")
		})
	})
	addr, cancel, done := h.serve()
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		r, err := http.Get("http://" + addr + "/test/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		res <- result{status: r.StatusCode, body: string(b)}
	}()
	<-started
	cancel()
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request during shutdown: %+v", r)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
}

// TestAnonymousVisitsWriteNothing: opening the sign-in page does not create
// database rows, so signed-out traffic cannot fill the sessions table.
func TestAnonymousVisitsWriteNothing(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	for i := 0; i < 5; i++ {
		h.clearCookies()
		if r := h.get("/login"); r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
	}
	var n int64
	h.store.DB().Table("web_sessions").Count(&n)
	if n != 0 {
		t.Fatalf("%d session rows after anonymous visits", n)
	}
}

// TestFlashShownOnce: a flash is consumed by the page that shows it, also
// when that page is an error page.
func TestFlashShownOnce(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, func(s *Server) {
		s.App.Get("/test/flash", s.page(func(c *fiber.Ctx) error {
			web.CurrentSession(c).AddFlash("info", "Flash for you")
			return c.SendString("set")
		})...)
	})
	h.get("/test/flash")
	if r := h.get("/no-such-page"); !strings.Contains(r.body, "Flash for you") {
		t.Fatal("flash not shown on the next page")
	}
	if r := h.get("/no-such-page"); strings.Contains(r.body, "Flash for you") {
		t.Fatal("flash shown twice")
	}
}

func TestClientIPJoinsForwardedForLines(t *testing.T) {
	t.Parallel()
	var seen string
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "0.0.0.0/32"}, func(s *Server) {
		s.App.Get("/test/ip", func(c *fiber.Ctx) error { seen = web.IP(c); return nil })
	})
	// The client forged the first line; the proxy added its own line.
	req := httptest.NewRequest(http.MethodGet, "/test/ip", nil)
	req.Header.Add("X-Forwarded-For", "6.6.6.6")
	req.Header.Add("X-Forwarded-For", "203.0.113.9")
	if _, err := h.srv.App.Test(req, -1); err != nil {
		t.Fatal(err)
	}
	if seen != "203.0.113.9" {
		t.Fatalf("client address = %q, want the proxy's last hop 203.0.113.9", seen)
	}
}

// TestEmptyOAuthPrefix: without a prefix, only the endpoints answer errors
// as JSON; pages keep their HTML error pages.
func TestEmptyOAuthPrefix(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "g.yaml")
	os.WriteFile(f, []byte("oauth:\n  prefix: \"\"\n  paths: {device_code: /device-authorization}\n"), 0o600)
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_CONFIG": f})
	if r := h.get("/no-such-page"); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page 404 is %s", r.Header.Get("Content-Type"))
	}
	if r := h.get("/token"); !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("endpoint 404 is %s", r.Header.Get("Content-Type"))
	}
}
