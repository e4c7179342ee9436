package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/config"
)

// securityHeaderNames are the headers securityHeaders puts on every
// response.
var securityHeaderNames = []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options",
	"Cross-Origin-Opener-Policy", "Permissions-Policy", "Cache-Control"}

// TestEarlyErrorsCarrySecurityHeaders: fasthttp answers some requests
// before any middleware runs: a request line or headers over 16 KB (431),
// a declared body over 1 MB (413), a malformed request (400). Sent raw over
// a real listener, each answer carries the same security headers as a
// page (so an error page cannot be framed or sniffed), with a message
// that says what was wrong, and never fasthttp's parser message, which
// quotes the raw request with its cookies.
func TestEarlyErrorsCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	page := h.get("/login")
	addr, cancel, done := h.serve()
	defer func() { cancel(); <-done }()
	long := strings.Repeat("a", ReadBufferSize+1)
	cookie := "COOKIE-VALUE-42"
	cases := []struct {
		name, request string
		status        int
		json          bool
		message       string
	}{
		{"body too large (page)", fmt.Sprintf("POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", BodyLimit+10),
			http.StatusRequestEntityTooLarge, false, "at most 1 MB"},
		{"body too large (API)", fmt.Sprintf("POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", BodyLimit+10),
			http.StatusRequestEntityTooLarge, true, "at most 1 MB"},
		{"long URL", "GET /oauth/authorize?scope=" + long + " HTTP/1.1\r\nHost: localhost\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge, false, "at most 16 KB"},
		{"long header", "GET /login HTTP/1.1\r\nHost: localhost\r\nX-Long: " + long + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge, false, "at most 16 KB"},
		{"malformed request", "GET /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\nCookie: s=" + cookie + "\r\n\r\n", http.StatusBadRequest, false, ""},
	}
	for _, c := range cases {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, c.request); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		conn.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.status)
		}
		// fasthttp's parser messages quote the raw request: never shown.
		if strings.Contains(string(b), cookie) || strings.Contains(string(b), "Buffer size") {
			t.Errorf("%s: the answer quotes the request: %.300s", c.name, b)
		}
		if c.json != strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(b), c.message) {
			t.Errorf("%s: %s %.300s", c.name, res.Header.Get("Content-Type"), b)
		}
		for _, k := range securityHeaderNames {
			if got, want := res.Header.Get(k), page.Header.Get(k); got != want || want == "" {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got, want)
			}
		}
	}
}

// Without a prefix, the OAuth endpoints and the registration management
// URLs under {P}/register/ answer errors in JSON; pages do not.
func TestAPIPathsWithoutPrefix(t *testing.T) {
	t.Parallel()
	paths := map[string]string{}
	for name, p := range config.DefaultPaths {
		paths[name] = p
	}
	paths["logout"] = config.EmptyPrefixLogoutPath
	s := &Server{Config: &config.Config{OAuthPrefix: "", OAuthPaths: paths}}
	for path, want := range map[string]bool{
		"/token": true, "/register": true, "/register/abc": true, "/authorize": false,
		"/dashboard": false, "/registered": false, "/api/user": true, "/.well-known/oauth-protected-resource": true,
	} {
		if got := s.isAPIPath(path); got != want {
			t.Errorf("isAPIPath(%q) = %v, want %v", path, got, want)
		}
	}
}
