package app

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// Bad input at every endpoint that takes it (token, authorize, revoke,
// introspect, device code, the sign-in form and the dashboard's client
// and scope forms): oversized bodies, invalid UTF-8, repeated parameters,
// SQL-looking text and 10,000 scopes each get a clear 4xx (never a 500 or
// an SQL error), and no row is written: every table that such a request
// could touch is counted before and after.

// rowCounts counts the rows of the tables a bad request could write.
func rowCounts(t *testing.T, h *harness) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for name, m := range map[string]any{"users": &models.User{}, "clients": &models.Client{}, "scopes": &models.Scope{},
		"authorization_codes": &models.AuthorizationCode{}, "tokens": &models.Token{}, "consents": &models.Consent{},
		"device_codes": &models.DeviceCode{}, "images": &models.Image{}} {
		var n int64
		if err := h.store.DB().Model(m).Count(&n).Error; err != nil {
			t.Fatalf("count %s: %v", name, err)
		}
		out[name] = n
	}
	return out
}

// unchanged runs fn and fails when it changed a row count.
func unchanged(t *testing.T, h *harness, what string, fn func()) {
	t.Helper()
	before := rowCounts(t, h)
	fn()
	after := rowCounts(t, h)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s rows %d -> %d", what, k, v, after[k])
		}
	}
}

// raw posts a raw body (already encoded) with the session's cookies.
func (h *harness) raw(method, path, contentType, body string, headers ...string) *response {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	for _, c := range h.jar {
		req.AddCookie(c)
	}
	res, err := h.srv.App.Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return &response{Response: res, body: b.String()}
}

const formType = "application/x-www-form-urlencoded"

// noLeak fails when an answer shows an internal error.
func noLeak(t *testing.T, what string, r *response) {
	t.Helper()
	if r.StatusCode >= 500 {
		t.Errorf("%s: status %d: %.300s", what, r.StatusCode, r.body)
	}
	low := strings.ToLower(r.body)
	for _, s := range []string{"sql", "syntax error", "sqlite", "postgres", "panic", "goroutine"} {
		if strings.Contains(low, s) {
			t.Errorf("%s: answer mentions %q: %.300s", what, s, r.body)
		}
	}
}

// badInputFixture is an OAuth fixture with an admin signed in on a second
// harness (same database) for the dashboard forms.
func badInputFixture(t *testing.T, dbURL string) (*oauthFixture, *harness) {
	f := newOAuthFixture(t, newHarness(t, dbURL, nil))
	admin := newHarness(t, dbURL, nil)
	admin.createUser("root", alicePW, models.RoleAdmin)
	if r := admin.login("root", alicePW); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: %d", r.StatusCode)
	}
	f.set("allow_password_grant", "true")
	return f, admin
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func badBasic(id, sec string) string {
	return "Basic " + b64(url.QueryEscape(id)+":"+url.QueryEscape(sec))
}

func TestBadInputOversizedBodies(t *testing.T) {
	t.Parallel()
	f, admin := badInputFixture(t, dbtest.SQLiteURL(t))
	addr, cancel, _ := f.serve()
	defer cancel()
	big := "scope=" + strings.Repeat("a", BodyLimit+1)
	post := func(path string, api bool) {
		t.Helper()
		unchanged(t, f.harness, path, func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(big+"&csrf_token="+admin.csrf("/dashboard/clients/new")))
			req.Header.Set("Content-Type", formType)
			for _, c := range admin.jar {
				req.AddCookie(c)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server may close the connection while the client
				// still sends: the client saw no answer, nothing stored.
				t.Logf("%s: %v", path, err)
				return
			}
			defer res.Body.Close()
			b := new(strings.Builder)
			_, _ = io.Copy(b, res.Body)
			body := strings.ToLower(b.String())
			if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "the request is too large: gatehouse accepts at most 1 mb.") {
				t.Errorf("%s: %d %.300s", path, res.StatusCode, body)
			}
			if api != strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: Content-Type %q", path, res.Header.Get("Content-Type"))
			}
		})
	}
	for _, p := range []string{"/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/device/code"} {
		post(p, true)
	}
	for _, p := range []string{"/oauth/authorize", "/login", "/dashboard/clients", "/dashboard/scopes"} {
		post(p, false)
	}
}

func TestBadInputInvalidUTF8(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f, admin := badInputFixture(t, dbURL)
		basic := []string{"Authorization", badBasic(f.confID, f.confSec)}
		api := []struct {
			path, body string
			headers    []string
		}{
			{"/oauth/token", "grant_type=client_credentials&scope=%ff", basic},
			{"/oauth/token", "grant_type=password&username=%ff%fe&password=x", basic},
			{"/oauth/token", "grant_type=client_credentials&client_id=%ff&client_secret=x", nil},
			{"/oauth/token", "grant_type=client_credentials&client_id=a%00b&client_secret=x", nil},
			{"/oauth/token", "grant_type=client_credentials", []string{"Authorization", "Basic " + b64("%ff:x")}},
			{"/oauth/revoke", "token=%ff", basic},
			{"/oauth/introspect", "token=%c3%28", basic},
			{"/oauth/device/code", "client_id=%ff", nil},
			{"/oauth/device/code", "scope=%ff%ff", basic},
		}
		for _, c := range api {
			unchanged(t, f.harness, c.path, func() {
				r := f.raw(http.MethodPost, c.path, formType, c.body, c.headers...)
				noLeak(t, c.path+" "+c.body, r)
				if r.StatusCode != 400 && r.StatusCode != 401 {
					t.Errorf("%s %s: %d %.200s", c.path, c.body, r.StatusCode, r.body)
				}
				if !strings.Contains(r.body, `"invalid_request"`) && !strings.Contains(r.body, `"invalid_client"`) {
					t.Errorf("%s %s: %.200s", c.path, c.body, r.body)
				}
			})
		}
		// The authorization endpoint: an error page (the client is not
		// known for sure) or an error redirect, never a 500.
		for _, q := range []string{"client_id=%ff&response_type=code", "client_id=" + f.confID + "&response_type=code&redirect_uri=" + url.QueryEscape(f.redirect) + "&state=%ff",
			"client_id=" + f.confID + "&response_type=code&redirect_uri=%ff"} {
			unchanged(t, f.harness, "authorize "+q, func() {
				r := f.get("/oauth/authorize?" + q)
				noLeak(t, q, r)
				if r.StatusCode < 300 || r.StatusCode >= 500 {
					t.Errorf("authorize %s: %d", q, r.StatusCode)
				}
			})
		}
		// Pages: the form again with an error, nothing stored.
		pages := []struct{ page, path, body string }{
			{"/login", "/login", "username=%ff&password=x"},
			{"/dashboard/clients/new", "/dashboard/clients", "name=%ff%fe&client_type=confidential&grant_types=authorization_code&redirect_uris=https%3A%2F%2Fa.example%2Fcb"},
			{"/dashboard/clients/new", "/dashboard/clients", "name=ok&description=a%00b&client_type=confidential&grant_types=authorization_code&redirect_uris=https%3A%2F%2Fa.example%2Fcb"},
			{"/dashboard/scopes/new", "/dashboard/scopes", "scope_id=ok.scope&name=%ff&description=d"},
			{"/dashboard/scopes/new", "/dashboard/scopes", "scope_id=ok.scope2&name=n&description=%c3%28"},
		}
		for _, p := range pages {
			h := admin
			if p.path == "/login" {
				h = f.harness
			}
			unchanged(t, f.harness, p.path+" "+p.body, func() {
				r := h.raw(http.MethodPost, p.path, formType, p.body+"&csrf_token="+h.csrf(p.page))
				noLeak(t, p.body, r)
				if r.StatusCode < 400 || !strings.Contains(r.body, "<html") {
					t.Errorf("%s %s: %d", p.path, p.body, r.StatusCode)
				}
			})
		}
	})
}

func TestBadInputDuplicateParameters(t *testing.T) {
	t.Parallel()
	f, _ := badInputFixture(t, dbtest.SQLiteURL(t))
	basic := []string{"Authorization", badBasic(f.confID, f.confSec)}
	for _, c := range []struct{ path, body, param string }{
		{"/oauth/token", "grant_type=client_credentials&grant_type=client_credentials", "grant_type"},
		{"/oauth/token", "grant_type=client_credentials&scope=a&scope=b", "scope"},
		{"/oauth/revoke", "token=a&token=b", "token"},
		{"/oauth/introspect", "token=a&token=a", "token"},
		{"/oauth/device/code", "scope=a&scope=b", "scope"},
	} {
		unchanged(t, f.harness, c.path, func() {
			r := f.raw(http.MethodPost, c.path, formType, c.body, basic...)
			if r.StatusCode != 400 || !strings.Contains(r.body, `"invalid_request"`) || !strings.Contains(r.body, c.param) {
				t.Errorf("%s %s: %d %.200s", c.path, c.body, r.StatusCode, r.body)
			}
		})
	}
	// The authorization endpoint: a repeated client_id or redirect_uri is
	// an error page (nowhere safe to redirect to); another repeated
	// parameter is an invalid_request redirect naming it.
	for _, c := range []struct{ extra, param string }{{"&client_id=" + f.confID, "client_id"}, {"&redirect_uri=" + url.QueryEscape(f.redirect), "redirect_uri"}} {
		r := f.get("/oauth/authorize?" + f.authzParams().Encode() + c.extra)
		if r.StatusCode != 400 || r.Header.Get("Location") != "" || !strings.Contains(r.body, c.param) {
			t.Errorf("repeated %s: %d %q", c.param, r.StatusCode, r.Header.Get("Location"))
		}
	}
	r := f.get("/oauth/authorize?" + f.authzParams().Encode() + "&scope=openid")
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusFound && r.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "scope") {
		t.Errorf("repeated scope: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestBadInputSQLLookingText(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f, admin := badInputFixture(t, dbURL)
		for _, s := range []string{`' OR 1=1 --`, `"; DROP TABLE users; --`, `admin'--`, `%' OR '%'='`} {
			unchanged(t, f.harness, "login "+s, func() {
				r := f.login(s, s)
				noLeak(t, "login", r)
				if r.StatusCode != http.StatusUnauthorized {
					t.Errorf("login as %q: %d", s, r.StatusCode)
				}
			})
			for _, p := range []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke"} {
				unchanged(t, f.harness, p+" "+s, func() {
					r := f.raw(http.MethodPost, p, formType, url.Values{"grant_type": {"client_credentials"}, "token": {s}}.Encode(), "Authorization", badBasic(s, s))
					noLeak(t, p, r)
					if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "invalid_client") {
						t.Errorf("%s as client %q: %d %.200s", p, s, r.StatusCode, r.body)
					}
				})
			}
			r := f.get("/oauth/authorize?" + f.authzParams("state", s, "scope", s).Encode())
			noLeak(t, "authorize", r)
			if loc, _ := url.Parse(r.Header.Get("Location")); loc == nil || loc.Query().Get("state") != s || loc.Query().Get("error") != "invalid_scope" {
				t.Errorf("authorize with %q: %d %q", s, r.StatusCode, r.Header.Get("Location"))
			}
		}
		// Stored as typed and shown escaped.
		name := `"; DROP TABLE users; -- <b>x</b>`
		_ = name
		before := rowCounts(t, f.harness)
		r := admin.post("/dashboard/clients/new", "/dashboard/clients", url.Values{"name": {name}, "client_type": {"confidential"},
			"redirect_uris": {"https://a.example/cb"}, "grant_types": {"authorization_code"}, "description": {`' OR 1=1 --`}})
		noLeak(t, "client create", r)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("client create: %d %s", r.StatusCode, regexp.MustCompile(`(?s)role="alert".{0,300}|-error"[^>]*>[^<]*`).FindAllString(r.body, -1))
		}
		var c models.Client
		if err := f.store.DB().Where("name = ?", name).First(&c).Error; err != nil || c.Description != `' OR 1=1 --` {
			t.Fatalf("client not stored as typed: %v %q", err, c.Description)
		}
		page := admin.get(r.Header.Get("Location"))
		if strings.Contains(page.body, "<b>x</b>") || !strings.Contains(page.body, "&lt;b&gt;x&lt;/b&gt;") {
			t.Error("client name not escaped on its page")
		}
		r = admin.post("/dashboard/scopes/new", "/dashboard/scopes", url.Values{"scope_id": {"sql.test"}, "name": {`' OR 1=1 --`},
			"description": {`Lets {client_name} "; DROP TABLE scopes; --`}})
		noLeak(t, "scope create", r)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("scope create: %d %.300s", r.StatusCode, r.body)
		}
		after := rowCounts(t, f.harness)
		if after["users"] != before["users"] || after["clients"] != before["clients"]+1 || after["scopes"] != before["scopes"]+1 {
			t.Errorf("rows %v -> %v", before, after)
		}
	})
}

func TestBadInputTenThousandScopes(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f, _ := badInputFixture(t, dbURL)
		scopes := make([]string, 10000)
		for i := range scopes {
			scopes[i] = fmt.Sprintf("s%d", i)
		}
		many := strings.Join(scopes, " ")
		basic := []string{"Authorization", badBasic(f.confID, f.confSec)}
		check := func(what string, r *response, start time.Time) {
			t.Helper()
			noLeak(t, what, r)
			if r.StatusCode != 400 || !strings.Contains(r.body, `"error"`) {
				t.Errorf("%s: %d %.200s", what, r.StatusCode, r.body)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s took %v", what, d)
			}
		}
		for _, c := range []struct{ path, body string }{
			{"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {many}}.Encode()},
			{"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "scope": {many}}.Encode()},
			{"/oauth/device/code", url.Values{"scope": {many}}.Encode()},
		} {
			unchanged(t, f.harness, c.path, func() {
				start := time.Now()
				check(c.path, f.raw(http.MethodPost, c.path, formType, c.body, basic...), start)
			})
		}
		// The authorization endpoint: a browser POST gets the
		// invalid_scope redirect at once (not a redirect to a 60 KB URL);
		// a 60 KB URL is refused (431) before any handler runs.
		f.signIn()
		unchanged(t, f.harness, "authorize POST", func() {
			start := time.Now()
			r := f.raw(http.MethodPost, "/oauth/authorize", formType, f.authzParams("scope", many).Encode())
			noLeak(t, "authorize", r)
			loc, _ := url.Parse(r.Header.Get("Location"))
			if loc == nil || loc.Query().Get("error") != "invalid_scope" || len(r.Header.Get("Location")) > 2000 || time.Since(start) > 10*time.Second {
				t.Errorf("authorize POST with 10,000 scopes: %d %.200q", r.StatusCode, r.Header.Get("Location"))
			}
		})
		addr, cancel, _ := f.serve()
		defer cancel()
		unchanged(t, f.harness, "authorize", func() {
			// The server answers 431 after reading 16 KB and closes the
			// connection with the rest unread, which resets it: a client
			// still writing can lose the answer. Try again then.
			var res *http.Response
			var err error
			for try := 0; try < 5; try++ {
				if res, err = http.Get("http://" + addr + "/oauth/authorize?" + f.authzParams("scope", many).Encode()); err == nil || !errors.Is(err, syscall.ECONNRESET) {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("authorize with 10,000 scopes: %d", res.StatusCode)
			}
		})
	})
}

// TestBadInputPagePathsAndQueries: every dashboard, account and device
// route of the route table (so routes added later are covered too), with a
// NUL byte or invalid UTF-8 in a path parameter or in the query string,
// answers 400 with the error page. PostgreSQL refuses such text in a
// query ("invalid byte sequence for encoding UTF8"), which was a 500.
func TestBadInputPagePathsAndQueries(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		_, admin := badInputFixture(t, dbURL)
		csrf := admin.csrf("/dashboard/clients/new")
		bad := []string{"%00", "a%00b", "%ff", "%c3%28", "%ed%a0%80"}
		// Every query parameter a page reads.
		names := []string{"q", "role", "offset", "action", "actor", "target", "addr", "outcome", "since", "until",
			"next", "user_code", "done", "id", "token", "x"}
		paramRE := regexp.MustCompile(`:[a-z_]+`)
		type req struct{ method, target string }
		var reqs []req
		seen := map[string]bool{}
		for _, rt := range admin.srv.App.GetRoutes(true) {
			if rt.Method != http.MethodGet && rt.Method != http.MethodPost {
				continue
			}
			if !(strings.HasPrefix(rt.Path, "/dashboard") || strings.HasPrefix(rt.Path, "/account") || strings.HasPrefix(rt.Path, "/device")) {
				continue
			}
			if seen[rt.Method+rt.Path] {
				continue
			}
			seen[rt.Method+rt.Path] = true
			for _, b := range bad {
				if paramRE.MatchString(rt.Path) {
					reqs = append(reqs, req{rt.Method, paramRE.ReplaceAllString(rt.Path, b)})
					reqs = append(reqs, req{rt.Method, paramRE.ReplaceAllString(rt.Path, "x"+b+"y")})
				}
				q := url.Values{}
				for _, n := range names {
					q.Set(n, "placeholder")
				}
				reqs = append(reqs, req{rt.Method, paramRE.ReplaceAllString(rt.Path, "1") + "?" + strings.ReplaceAll(q.Encode(), "placeholder", b)})
				reqs = append(reqs, req{rt.Method, paramRE.ReplaceAllString(rt.Path, "1") + "?" + b + "=1"})
			}
		}
		if len(seen) < 20 {
			t.Fatalf("only %d dashboard and account routes found", len(seen))
		}
		for _, r := range reqs {
			unchanged(t, admin, r.method+" "+r.target, func() {
				body := ""
				if r.method == http.MethodPost {
					body = "csrf_token=" + url.QueryEscape(csrf)
				}
				res := admin.raw(r.method, r.target, formType, body)
				noLeak(t, r.method+" "+r.target, res)
				if res.StatusCode != http.StatusBadRequest || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
					!strings.Contains(res.body, "<html") || res.Header.Get("Content-Security-Policy") == "" {
					t.Errorf("%s %s: %d %s", r.method, r.target, res.StatusCode, res.Header.Get("Content-Type"))
				}
			})
		}
	})
}
