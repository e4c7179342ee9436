package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// syncBuffer is a log sink that background goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loggingHarness is a SQLite harness whose server and database log at
// DEBUG in format (text or json) to the returned buffer.
func loggingHarness(t *testing.T, format string) (*harness, *syncBuffer) {
	t.Helper()
	dbURL := dbtest.SQLiteURL(t)
	cfg := testConfig(t, dbURL, nil)
	logs := &syncBuffer{}
	log := NewLogger(logs, "debug", format)
	target, err := database.ParseURL(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(target, database.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	m, err := database.NewMigrator(db, target, database.WithoutLock())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := models.New(db)
	srv, err := NewServer(context.Background(), cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, store: st, jar: map[string]*http.Cookie{}}, logs
}

// secrets collects the values that must never be logged.
type secrets map[string]string // value -> what it is

func (s secrets) add(what, v string) {
	if len(v) >= 6 {
		s[v] = what
	}
}

// addCookies adds the values of the browser's cookies (the session).
func (s secrets) addCookies(h *harness) {
	for name, c := range h.jar {
		s.add("cookie "+name, c.Value)
	}
}

func (s secrets) addTokens(what string, m map[string]any) {
	for _, k := range []string{"access_token", "refresh_token", "id_token", "device_code"} {
		if v, ok := m[k].(string); ok {
			s.add(what+" "+k, v)
		}
	}
}

// runSensitiveFlows runs the flows that carry passwords, secrets, codes
// and tokens through the server, and returns those values.
func runSensitiveFlows(t *testing.T, h *harness) secrets {
	t.Helper()
	sec := secrets{}
	f := newDeviceFixture(t, h)
	f.set("allow_password_grant", "true")
	f.set("allow_query_access_token", "true")
	sec.add("password", alicePW)
	sec.add("client secret", f.confSec)
	sec.add("client secret", f.tvSec)
	sec.add("basic credentials", base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec))))
	sec.add("code_verifier", f.verifier)

	// A failed sign-in, then a good one; the CSRF token of the forms.
	wrongPW := "Wr0ng-" + base64.RawURLEncoding.EncodeToString(secret.Random(12))
	sec.add("wrong password", wrongPW)
	if r := f.login("alice", wrongPW); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.StatusCode)
	}
	sec.add("csrf token", f.csrf("/login"))
	f.signIn()
	sec.addCookies(h)
	sec.add("csrf token", f.csrf("/account"))

	// Authorization code with PKCE (S256) and OpenID Connect.
	code := f.code(f.authzParams("scope", "openid profile email user.read", "nonce", "n-0S6_WzA2Mj",
		"code_challenge", f.challenge, "code_challenge_method", "S256"))
	sec.add("authorization code", code)
	r, m := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
		"code_verifier": {f.verifier}}, true)
	if r.StatusCode != http.StatusOK || m["id_token"] == nil {
		t.Fatalf("code exchange: %d %v", r.StatusCode, m)
	}
	sec.addTokens("code grant", m)
	rt := m["refresh_token"].(string)
	// A public client with PKCE (client_secret_post is not used: no secret).
	pubVerifier := base64.RawURLEncoding.EncodeToString(secret.Random(32))
	sec.add("code_verifier", pubVerifier)
	pubCode := f.code(url.Values{"response_type": {"code"}, "client_id": {f.pubID}, "redirect_uri": {f.pubRedir}, "state": {"s1"},
		"scope": {"user.read"}, "code_challenge": {oauth.S256Challenge(pubVerifier)}, "code_challenge_method": {"S256"}})
	sec.add("authorization code", pubCode)
	r, m = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {pubCode}, "redirect_uri": {f.pubRedir},
		"client_id": {f.pubID}, "code_verifier": {pubVerifier}}, false)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("public code exchange: %d %v", r.StatusCode, m)
	}
	sec.addTokens("public code grant", m)

	// Refresh, client credentials, password, token exchange.
	r, m = f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", r.StatusCode, m)
	}
	sec.addTokens("refresh grant", m)
	at, rt2 := m["access_token"].(string), m["refresh_token"].(string)
	r, m = f.token(url.Values{"grant_type": {"client_credentials"}}, true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", r.StatusCode, m)
	}
	sec.addTokens("client credentials", m)
	// client_secret_post.
	r, m = f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {f.confID}, "client_secret": {f.confSec}}, false)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials (post): %d %v", r.StatusCode, m)
	}
	sec.addTokens("client credentials (post)", m)
	r, m = f.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "scope": {"user.read"}}, true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("password grant: %d %v", r.StatusCode, m)
	}
	sec.addTokens("password grant", m)
	f.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {wrongPW}}, true)
	r, m = f.token(url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {at}, "subject_token_type": {oauth.TokenTypeAccessToken},
		"scope": {"openid"}}, true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("token exchange: %d %v", r.StatusCode, m)
	}
	sec.addTokens("token exchange", m)
	// A wrong client secret, Basic and in the body.
	wrongSecret := "wrong-" + base64.RawURLEncoding.EncodeToString(secret.Random(16))
	sec.add("wrong client secret", wrongSecret)
	f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basicAuth(f.confID, wrongSecret))
	f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {f.confID}, "client_secret": {wrongSecret}}, false)

	// Using the tokens: userinfo, the API (header and ?access_token=),
	// introspection, revocation.
	if r := f.do(http.MethodGet, "/oauth/userinfo", nil, "Authorization", "Bearer "+at); r.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %d %s", r.StatusCode, r.body)
	}
	if r := f.get("/api/user?access_token=" + url.QueryEscape(at)); r.StatusCode != http.StatusOK {
		t.Fatalf("query access token: %d %s", r.StatusCode, r.body)
	}
	f.get("/no/such/page?access_token=" + url.QueryEscape(at) + "&code=" + url.QueryEscape(code))
	f.get("/api/user?access_token=gat_" + url.QueryEscape(wrongSecret))
	if m := f.introspect(at); m["active"] != true {
		t.Fatalf("introspect: %v", m)
	}
	f.introspect(rt2)
	if r := f.clientPost("/oauth/revoke", url.Values{"token": {rt2}}); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
	}
	f.clientPost("/oauth/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}})
	f.get("/api/user?access_token=" + url.QueryEscape(at)) // revoked: 401

	// The device flow: code, user code typed wrong then right, polling.
	d := f.tvCode("")
	sec.add("device code", d.DeviceCode)
	f.poll(d.DeviceCode) // authorization_pending
	f.enterCode("BCDF-GHJK")
	f.approve(d.UserCode)
	r, m = f.poll(d.DeviceCode)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("device poll: %d %v", r.StatusCode, m)
	}
	sec.addTokens("device grant", m)
	f.poll(d.DeviceCode) // used: invalid_grant

	// The old refresh token again (rotation: refused, the family revoked).
	f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true)
	// A code used twice: refused, and the tokens it gave are revoked
	// (logged as a warning).
	code2 := f.code(f.authzParams())
	sec.add("authorization code", code2)
	for range 2 {
		r, m = f.exchange(code2)
		sec.addTokens("second code grant", m)
	}
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("code replay: %d", r.StatusCode)
	}

	// The password change form and signing out.
	f.post("/account", "/account/password", url.Values{"current_password": {wrongPW}, "new_password": {wrongPW + "x"}, "confirm_password": {wrongPW + "x"}})
	sec.addCookies(h)
	f.post("/dashboard", "/logout", url.Values{})
	return sec
}

var textRequestIDRE = regexp.MustCompile(`(?:^| )request_id=(\S+)`)

// requestLines returns the access log lines (msg "request") of logs with
// their request IDs.
func requestLines(t *testing.T, logs, format string) (lines []string, ids []string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %v: %s", err, line)
			}
			if rec["msg"] != "request" {
				continue
			}
			id, _ := rec["request_id"].(string)
			lines, ids = append(lines, line), append(ids, id)
		} else {
			if !strings.Contains(line, " msg=request ") {
				continue
			}
			id := ""
			if m := textRequestIDRE.FindStringSubmatch(line); m != nil {
				id = m[1]
			}
			lines, ids = append(lines, line), append(ids, id)
		}
	}
	return lines, ids
}

// TestLogsCarryNoSecrets runs every flow that handles a password, a client
// secret, a code or a token with the logger at DEBUG, in both formats, and
// looks for those values (raw, URL-encoded and base64url) in the logs.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			h, logs := loggingHarness(t, format)
			sec := runSensitiveFlows(t, h)
			out := logs.String()
			lines, ids := requestLines(t, out, format)
			if len(lines) < 40 {
				t.Fatalf("only %d request lines logged; the flows did not run through the logger?\n%s", len(lines), out)
			}
			if len(sec) < 25 {
				t.Fatalf("only %d secret values collected", len(sec))
			}
			for v, what := range sec {
				for _, form := range []string{v, url.QueryEscape(v), base64.RawURLEncoding.EncodeToString([]byte(v))} {
					if i := strings.Index(out, form); i >= 0 {
						lo, hi := max(0, i-200), min(len(out), i+len(form)+50)
						t.Errorf("the %s is in the logs: ...%s...", what, out[lo:hi])
					}
				}
			}
			// The query string is never logged, even on a 404.
			for _, leak := range []string{"access_token=", "code="} {
				if strings.Contains(out, leak) {
					t.Errorf("logs contain %q", leak)
				}
			}
			for i, id := range ids {
				if id == "" {
					t.Errorf("request line without request_id: %s", lines[i])
				}
			}
		})
	}
}

// TestRequestIDHeaderMatchesLogs: every response has X-Request-Id, the
// same ID is on the request's log lines, a well-formed incoming ID is kept
// and a malformed one is replaced (and never logged).
func TestRequestIDHeaderMatchesLogs(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			h, logs := loggingHarness(t, format)
			generated := regexp.MustCompile(`^[0-9a-f]{24}$`)
			check := func(path, sent, want string) {
				t.Helper()
				var hdr []string
				if sent != "" {
					hdr = []string{RequestIDHeader, sent}
				}
				r := h.do(http.MethodGet, path, nil, hdr...)
				got := r.Header.Get(RequestIDHeader)
				switch {
				case want != "" && got != want:
					t.Errorf("sent %q: X-Request-Id %q, want it kept", sent, got)
				case want == "" && !generated.MatchString(got):
					t.Errorf("sent %q: X-Request-Id %q, want a new random ID", sent, got)
				}
				_, ids := requestLines(t, logs.String(), format)
				if len(ids) == 0 || ids[len(ids)-1] != got {
					t.Errorf("%s: last request line has request_id %v, the response said %q", path, ids[len(ids)-1:], got)
				}
				if sent != "" && want == "" && strings.Contains(logs.String(), sent) {
					t.Errorf("malformed request ID %q was logged", sent)
				}
			}
			check("/login", "", "")
			check("/healthz", "", "")
			check("/no/such/page", "", "")
			check("/login", "proxy-req.0123_abcDEF", "proxy-req.0123_abcDEF")
			check("/oauth/jwks", strings.Repeat("a", 64), strings.Repeat("a", 64))
			for _, bad := range []string{
				strings.Repeat("b", 65),            // too long
				"short",                            // too short
				"has space 12345",                  // spaces
				"line\nbreak-123456",               // a newline (sent as a space)
				`x" msg=forged request_id=evil123`, // log forging
				"unicode-\u00e9\u00e9\u00e9\u00e9-id",
			} {
				check("/login", bad, "")
			}
			// Two requests never share an ID.
			a := h.get("/login").Header.Get(RequestIDHeader)
			b := h.get("/login").Header.Get(RequestIDHeader)
			if a == b {
				t.Errorf("two requests got the same ID %q", a)
			}
		})
	}
}

// TestRoutineRequestsLogAtDebug: static files, health checks and metrics
// scrapes, which arrive every few seconds, are not logged at INFO; pages
// are.
func TestRoutineRequestsLogAtDebug(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			h, _ := loggingHarness(t, "json")
			logs := &syncBuffer{}
			h.srv.Log = NewLogger(logs, level, "json")
			for _, p := range []string{"/healthz", "/readyz", "/metrics", "/static/nope.css", "/login"} {
				r := h.get(p)
				_, ids := requestLines(t, logs.String(), "json")
				logged := len(ids) > 0 && ids[len(ids)-1] == r.Header.Get(RequestIDHeader)
				if want := p == "/login" || level == "debug"; logged != want {
					t.Errorf("%s at %s: logged %v, want %v", p, level, logged, want)
				}
			}
		})
	}
}
