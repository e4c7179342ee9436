package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// The audit log: what is recorded (over HTTP, with the client's address),
// the page (access, filters, pages, escaping) and the JSON lines export.

// auditHarnesses runs fn on SQLite and PostgreSQL with a server that
// trusts app.Test's peer (0.0.0.0) as a proxy, so that each request can
// say which address it comes from (X-Forwarded-For).
func auditHarnesses(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			fn(t, newHarness(t, b.URL(t), map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "0.0.0.0/32"}))
		})
	}
}

// from is a browser at a client address: a cookie jar of its own on h's
// server, every request sent through the trusted proxy.
type from struct {
	*harness
	ip string
}

func browserAt(h *harness, ip string) *from {
	return &from{harness: h.browser(h.t), ip: ip}
}

func (b *from) get(path string) *response {
	return b.do(http.MethodGet, path, nil, "X-Forwarded-For", b.ip)
}

func (b *from) csrf(page string) string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(b.get(page).body)
	if m == nil {
		b.t.Fatalf("no csrf_token on %s", page)
	}
	return m[1]
}

func (b *from) post(page, path string, form url.Values) *response {
	b.t.Helper()
	form.Set("csrf_token", b.csrf(page))
	return b.do(http.MethodPost, path, form, "X-Forwarded-For", b.ip)
}

// postMultipart is the client form's POST (multipart/form-data).
func (b *from) postMultipart(page, path string, form url.Values) *response {
	b.t.Helper()
	form.Set("csrf_token", b.csrf(page))
	req := multipartRequest(b.t, path, form)
	req.Header.Set("X-Forwarded-For", b.ip)
	return b.send(req)
}

func (b *from) signIn(username string) {
	b.t.Helper()
	if r := b.post("/login", "/login", url.Values{"username": {username}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in %s: %d", username, r.StatusCode)
	}
}

// wantStatus fails unless r has status.
func wantStatus(t *testing.T, what string, r *response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s: %d, want %d: %.300s", what, r.StatusCode, status, r.body)
	}
}

// auditEvents are the whole log, oldest first.
func auditEvents(t *testing.T, h *harness) []models.AuditEvent {
	t.Helper()
	var out []models.AuditEvent
	if err := h.store.EachAuditEvent(context.Background(), models.AuditFilter{}, 0, func(es []models.AuditEvent) error {
		out = append(out, es...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantAudit finds the one event with action and target and checks who,
// from where and the outcome.
func wantAudit(t *testing.T, h *harness, action, target, actor, addr string, success bool) models.AuditEvent {
	t.Helper()
	var found []models.AuditEvent
	for _, e := range auditEvents(t, h) {
		if e.Action == action && e.Target == target {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s events for %q, want 1", len(found), action, target)
	}
	e := found[0]
	if e.Actor != actor || e.RemoteAddr != addr || e.Success != success {
		t.Errorf("%s %s: actor %q from %q success %v, want %q from %q success %v", action, target, e.Actor, e.RemoteAddr, e.Success, actor, addr, success)
	}
	if actor != "" && (e.ActorID == nil || *e.ActorID == 0) {
		t.Errorf("%s %s: no actor ID", action, target)
	}
	if time.Since(e.CreatedAt) > time.Minute || e.CreatedAt.Location() != time.UTC {
		t.Errorf("%s %s: time %v", action, target, e.CreatedAt)
	}
	return e
}

// TestAuditRecordsEveryCategory runs each audited flow of the issue over
// HTTP and checks who, what, target, address and outcome.
func TestAuditRecordsEveryCategory(t *testing.T) {
	t.Parallel()
	auditHarnesses(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.createUser("root", pw, models.RoleAdmin)
		bob := h.createUser("bob", pw, models.RoleUser)
		root := browserAt(h, "203.0.113.10")

		// Sign-in: failure, then success.
		wantStatus(t, "wrong password", root.post("/login", "/login", url.Values{"username": {"root"}, "password": {"wrong password 1"}}), http.StatusUnauthorized)
		root.signIn("root")
		wantAudit(t, h, "login.failure", "root", "", "203.0.113.10", false)
		wantAudit(t, h, "login.success", "root", "root", "203.0.113.10", true)

		// Scopes.
		wantStatus(t, "create scope", root.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm()), http.StatusSeeOther)
		wantStatus(t, "update scope", root.post("/dashboard/scopes/orders.read", "/dashboard/scopes/orders.read", scopeForm("name", "Renamed")), http.StatusSeeOther)
		wantStatus(t, "delete scope", root.post("/dashboard/scopes/orders.read", "/dashboard/scopes/orders.read/delete", url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
		for _, a := range []string{"scope.created", "scope.updated", "scope.deleted"} {
			wantAudit(t, h, a, "orders.read", "root", "203.0.113.10", true)
		}

		// Clients: created, changed, secret rotated, deleted.
		r := root.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm())
		m := clientPathRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("create client: %d %s", r.StatusCode, errorsIn(r.body))
		}
		id, path := m[1], r.Header.Get("Location")
		secret := secretRE.FindStringSubmatch(root.get(path).body)
		wantStatus(t, "update client", root.postMultipart(path, path, clientForm(func(v url.Values) { v.Set("name", "Acme Notes 2") })), http.StatusSeeOther)
		wantStatus(t, "rotate secret", root.post(path, path+"/rotate-secret", url.Values{}), http.StatusSeeOther)
		wantStatus(t, "delete client", root.post(path+"/delete", path+"/delete", url.Values{}), http.StatusSeeOther)
		for _, a := range []string{"client.created", "client.updated", "client.secret_rotated", "client.deleted"} {
			wantAudit(t, h, a, id, "root", "203.0.113.10", true)
		}

		// Settings, user roles, signing keys.
		wantStatus(t, "settings", root.post("/dashboard/settings", "/dashboard/settings", settingsForm(defaults(), "allow_signup", "true")), http.StatusSeeOther)
		e := wantAudit(t, h, "setting.changed", "allow_signup", "root", "203.0.113.10", true)
		if e.Details["old"] != "false" || e.Details["new"] != "true" {
			t.Errorf("setting details: %v", e.Details)
		}
		wantStatus(t, "role", root.post(pages.UserURL(bob.ID), pages.UserURL(bob.ID)+"/role", url.Values{"role": {"developer"}}), http.StatusSeeOther)
		e = wantAudit(t, h, "user.role_changed", "bob", "root", "203.0.113.10", true)
		if e.Details["old"] != "user" || e.Details["new"] != "developer" {
			t.Errorf("role details: %v", e.Details)
		}
		wantStatus(t, "rotate keys", root.post("/dashboard/settings", "/dashboard/settings/keys/rotate", url.Values{}), http.StatusSeeOther)
		if evs := admAudit(t, h, "keys.rotate"); len(evs) != 1 || evs[0].Actor != "root" || evs[0].RemoteAddr != "203.0.113.10" {
			t.Errorf("keys.rotate: %+v", evs)
		}

		// Consent granted (consent screen) and revoked (authorized apps).
		c, _, errs, err := clients.Create(ctx, h.store, clients.Input{Name: "Photo Box", RedirectURIs: []string{"https://photos.example/cb"}}, nil)
		if err != nil {
			t.Fatal(err, errs)
		}
		bb := browserAt(h, "2001:db8::7")
		bb.signIn("bob")
		q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"https://photos.example/cb"}, "state": {"s"}, "scope": {"user.read"}}
		consent := bb.get("/oauth/authorize?" + q.Encode())
		cid := consentIDRE.FindStringSubmatch(consent.body)
		if cid == nil {
			t.Fatalf("no consent screen: %d", consent.StatusCode)
		}
		wantStatus(t, "allow", bb.post("/oauth/authorize?"+q.Encode(), "/consent", url.Values{"id": {cid[1]}, "decision": {"allow"}}), http.StatusSeeOther)
		e = wantAudit(t, h, "consent.granted", c.ClientID, "bob", "2001:db8::7", true)
		if e.Details["scope"] != "user.read" {
			t.Errorf("consent details: %v", e.Details)
		}
		wantStatus(t, "revoke app", bb.post("/account/apps", "/account/apps/"+c.ClientID+"/revoke", url.Values{}), http.StatusSeeOther)
		wantAudit(t, h, "consent.revoked", c.ClientID, "bob", "2001:db8::7", true)

		// Nothing secret in any event.
		for _, e := range auditEvents(t, h) {
			raw, _ := json.Marshal(e)
			for _, s := range []string{pw, "wrong password 1", secret[1]} {
				if strings.Contains(string(raw), s) {
					t.Errorf("%s event holds a secret: %s", e.Action, raw)
				}
			}
		}
	})
}

// TestAuditTokenSecurityEvents: refresh token reuse and authorization code
// replay are recorded with the user, the client, the address and what was
// revoked, and never the token or code.
func TestAuditTokenSecurityEvents(t *testing.T) {
	t.Parallel()
	auditHarnesses(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))
		token := func(form url.Values) map[string]any {
			r := f.do(http.MethodPost, "/oauth/token", form, "Authorization", basic, "X-Forwarded-For", "198.51.100.66")
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			return m
		}

		// Code replay: both tokens of the first exchange are revoked.
		code := f.code(f.authzParams())
		ex := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}}
		if m := token(ex); m["access_token"] == nil {
			t.Fatalf("exchange: %v", m)
		}
		if m := token(ex); m["error"] != "invalid_grant" {
			t.Fatalf("replay: %v", m)
		}
		e := wantAudit(t, h, oauth.SecurityCodeReplay, f.confID, "alice", "198.51.100.66", false)
		if *e.ActorID != f.user.ID || e.Details["grant"] != "authorization_code" || e.Details["revoked"] != "2" {
			t.Errorf("code replay event: %+v", e)
		}

		// Refresh reuse: the rotated token comes back; the family goes
		// (both access tokens and both refresh tokens).
		code = f.code(f.authzParams())
		ex.Set("code", code)
		m := token(ex)
		rt1, _ := m["refresh_token"].(string)
		m = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
		if m["refresh_token"] == nil {
			t.Fatalf("refresh: %v", m)
		}
		if m := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}); m["error"] != "invalid_grant" {
			t.Fatalf("reuse: %v", m)
		}
		e = wantAudit(t, h, oauth.SecurityRefreshReuse, f.confID, "alice", "198.51.100.66", false)
		if *e.ActorID != f.user.ID || e.Details["grant"] != "refresh_token" || e.Details["revoked"] != "4" {
			t.Errorf("refresh reuse event: %+v", e)
		}
		for _, e := range auditEvents(t, h) {
			raw, _ := json.Marshal(e)
			for _, s := range []string{code, rt1, f.confSec} {
				if strings.Contains(string(raw), s) {
					t.Errorf("%s event holds a secret: %s", e.Action, raw)
				}
			}
		}
	})
}

// TestAuditAdminOnly: developers and users get 403 on the page and the
// export, signed-out visitors are sent to sign in, admins see it in the
// navigation.
func TestAuditAdminOnly(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	if err := h.store.AddAuditEvent(context.Background(), &models.AuditEvent{Action: "login.success", Actor: "root", Target: "root-target", Success: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dashboard/audit", "/dashboard/audit/export", "/dashboard/audit?action=login.success"} {
		r := h.get(p)
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
			t.Errorf("signed out GET %s: %d %s", p, r.StatusCode, r.Header.Get("Location"))
		}
	}
	for _, role := range []string{models.RoleUser, models.RoleDeveloper} {
		admSignIn(t, h, "u-"+role, role)
		for _, p := range []string{"/dashboard/audit", "/dashboard/audit/export"} {
			r := h.get(p)
			if r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "root-target") {
				t.Errorf("%s GET %s: %d, want 403", role, p, r.StatusCode)
			}
		}
		if strings.Contains(h.get("/dashboard").body, `href="/dashboard/audit"`) {
			t.Errorf("%s sees a link to the audit log", role)
		}
	}
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.get("/dashboard/audit")
	wantStatus(t, "admin", r, http.StatusOK)
	if !regexp.MustCompile(`href="/dashboard/audit"[^>]*aria-current="page"`).MatchString(r.body) {
		t.Error("the navigation does not show Audit as the current page")
	}
	if !strings.Contains(h.get("/dashboard").body, `href="/dashboard/audit"`) {
		t.Error("no link to the audit log on the admin's dashboard")
	}
}

var auditRowRE = regexp.MustCompile(`<code class="text-xs text-slate-500">([^<]+)</code>`)

// auditPageActions lists the raw actions of the rows on a page, in order.
func auditPageActions(body string) []string {
	out := []string{}
	for _, m := range auditRowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAuditPageFilters(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	admSignIn(t, h, "root", models.RoleAdmin)
	// The sign-in above is the first event; these follow, a day apart.
	base := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for i, e := range []models.AuditEvent{
		{Action: "login.failure", Target: "mallory", RemoteAddr: "198.51.100.9"},
		{Action: "client.created", Actor: "dev", Target: "app-1", RemoteAddr: "192.0.2.5", Success: true},
		{Action: "client.deleted", Actor: "dev", Target: "app-1", RemoteAddr: "2001:db8::5", Success: true},
		{Action: "weird.action", Actor: "cli", Target: "x", Success: true},
		{Action: "setting.changed", Actor: "dev", Target: "allow_signup", RemoteAddr: "192.0.2.5", Success: false},
	} {
		e.CreatedAt = base.AddDate(0, 0, i)
		if err := h.store.AddAuditEvent(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"action=client.created", []string{"client.created"}},
		{"action=client.%2A", []string{"client.deleted", "client.created"}},
		{"action=weird.action", []string{"weird.action"}},
		{"actor=dev", []string{"setting.changed", "client.deleted", "client.created"}},
		{"actor=dev&outcome=failure", []string{"setting.changed"}},
		{"outcome=failure&until=2026-12-31", []string{"setting.changed", "login.failure"}},
		{"target=app-1&addr=2001:DB8::5", []string{"client.deleted"}},
		{"addr=192.0.2.5", []string{"setting.changed", "client.created"}},
		{"since=2026-03-11&until=2026-03-12", []string{"client.deleted", "client.created"}},
		{"since=2026-03-14", []string{"login.success", "setting.changed"}},
	}
	for _, c := range cases {
		r := h.get("/dashboard/audit?" + c.query)
		wantStatus(t, c.query, r, http.StatusOK)
		if got := auditPageActions(r.body); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	// An action the select does not offer stays selected.
	if r := h.get("/dashboard/audit?action=weird.action"); !strings.Contains(r.body, `<option value="weird.action" selected>`) {
		t.Error("an unknown action filter is not kept in the form")
	}
	// A row's who, target and address narrow the log to it, keeping the
	// other filters.
	r := h.get("/dashboard/audit?actor=dev&outcome=success")
	for _, want := range []string{`href="/dashboard/audit?actor=dev&amp;outcome=success&amp;target=app-1"`,
		`href="/dashboard/audit?actor=dev&amp;addr=2001%3Adb8%3A%3A5&amp;outcome=success"`, `href="/dashboard/audit?actor=dev&amp;outcome=success"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("no link %s", want)
		}
	}
	r = h.get("/dashboard/audit?actor=nobody")
	if !strings.Contains(r.body, "No events match these filters") || len(auditPageActions(r.body)) != 0 {
		t.Error("an empty result does not say so")
	}

	// Bad input: a clear message, 400, no events.
	for q, msg := range map[string]string{
		"since=yesterday":                         "Enter a valid date, such as 2026-03-14.",
		"until=2026-02-30":                        "Enter a valid date, such as 2026-03-14.",
		"since=2026-03-12&until=2026-03-11":       "The to date is before the from date.",
		"actor=" + strings.Repeat("a", 201):       "Use at most 200 characters.",
		"target=" + strings.Repeat("%C3%A9", 201): "Use at most 200 characters.",
		"addr=not-an-ip":                          "Enter an IP address",
		"outcome=maybe":                           "Choose any outcome, success or failure.",
		// Not text: refused before the page, like on every page (web.ValidText).
		"action=" + url.QueryEscape("\xff\xfe.x"): "The address contains characters that are not valid text.",
	} {
		r := h.get("/dashboard/audit?" + q)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), msg) || len(auditPageActions(r.body)) != 0 {
			t.Errorf("%.40s: %d, want 400 with %q", q, r.StatusCode, msg)
		}
		if strings.Contains(r.body, "/dashboard/audit/export") {
			t.Errorf("%.40s: export offered for filters that cannot be used", q)
		}
		if r := h.get("/dashboard/audit/export?" + q); r.StatusCode != http.StatusBadRequest {
			t.Errorf("export %.40s: %d, want 400", q, r.StatusCode)
		}
	}
}

var nextRE = regexp.MustCompile(`href="([^"]+)" class="btn btn-secondary btn-sm" rel="next"`)

func TestAuditPaginationKeepsFilters(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	admSignIn(t, h, "root", models.RoleAdmin)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 130 {
		e := &models.AuditEvent{Action: "login.failure", Target: fmt.Sprintf("t%03d", i), RemoteAddr: "192.0.2.1", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if i%2 == 1 {
			e.Action, e.Success = "login.success", true
		}
		if err := h.store.AddAuditEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// 65 failures: pages of 50 and 15, newest first.
	r := h.get("/dashboard/audit?outcome=failure&since=2026-01-01")
	if !strings.Contains(r.body, "of <span class=\"font-medium\">65 events</span>") {
		t.Error("the total is not shown")
	}
	m := nextRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no link to the next page")
	}
	next := html.UnescapeString(m[1])
	u, _ := url.Parse(next)
	if q := u.Query(); q.Get("outcome") != "failure" || q.Get("since") != "2026-01-01" || q.Get("offset") != "50" {
		t.Fatalf("next page link %q drops the filters", next)
	}
	r = h.get(next)
	rows := regexp.MustCompile(`>(t\d{3})</a>`).FindAllStringSubmatch(r.body, -1)
	if len(rows) != 15 || rows[0][1] != "t028" || rows[14][1] != "t000" {
		t.Fatalf("second page: %d rows %v", len(rows), rows)
	}
	if got := auditPageActions(r.body); len(got) != 15 || slices.Contains(got, "login.success") {
		t.Errorf("the second page lost the outcome filter: %v", got)
	}
	if !strings.Contains(r.body, `rel="prev"`) || nextRE.MatchString(r.body) {
		t.Error("the last page's links are wrong")
	}
	if !strings.Contains(r.body, `href="/dashboard/audit/export?outcome=failure&amp;since=2026-01-01"`) {
		t.Error("the export link does not carry the filters")
	}
	// Past the end: back to the first page, filters kept.
	r = h.get("/dashboard/audit?outcome=failure&offset=5000")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/audit?outcome=failure" {
		t.Errorf("past the end: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestAuditPageEscapes(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	evil := `<script>alert(1)</script>`
	if err := h.store.AddAuditEvent(context.Background(), &models.AuditEvent{Action: "client.updated" + evil, Actor: "a" + evil, Target: "t" + evil,
		RemoteAddr: "192.0.2.1", Details: map[string]string{"k" + evil: "v" + evil + `" onmouseover="x`}}); err != nil {
		t.Fatal(err)
	}
	r := h.get("/dashboard/audit")
	wantStatus(t, "page", r, http.StatusOK)
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, `" onmouseover="x`) {
		t.Fatal("audit data rendered unescaped")
	}
	if n := strings.Count(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 5 {
		t.Errorf("escaped text shown %d times, want actor, action, target, detail key and value", n)
	}
	r = h.get("/dashboard/audit?target=" + url.QueryEscape("t"+evil))
	if strings.Contains(r.body, "<script>alert") || !strings.Contains(r.body, `value="t&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Error("the target filter is not escaped in the form")
	}
}

// exportLine is a line of the export as a client reads it.
type exportLine struct {
	ID         int64             `json:"id"`
	Time       string            `json:"time"`
	Actor      string            `json:"actor"`
	ActorID    *int64            `json:"actor_id"`
	Action     string            `json:"action"`
	Target     string            `json:"target"`
	RemoteAddr string            `json:"remote_addr"`
	Success    bool              `json:"success"`
	Details    map[string]string `json:"details"`
	Count      int64             `json:"count"`
}

func readExport(t *testing.T, body string) []exportLine {
	t.Helper()
	var out []exportLine
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l exportLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d is not an event: %v: %s", len(out)+1, err, sc.Text())
		}
		out = append(out, l)
	}
	return out
}

// TestAuditExport: JSON lines of the filtered events, oldest first, over
// several batches, with the headers of a download that is not cached; the
// export itself is audited.
func TestAuditExport(t *testing.T) {
	t.Parallel()
	auditHarnesses(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		root := browserAt(h, "203.0.113.10")
		rootUser := h.createUser("root", pw, models.RoleAdmin)
		// 2,500 matching events (more than two batches) interleaved with
		// 500 that do not match; several share a time.
		base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
		var batch []models.AuditEvent
		for i := range 3000 {
			e := models.AuditEvent{Action: "client.updated", Actor: "dev", ActorID: &rootUser.ID, Target: fmt.Sprintf("app-%d", i), RemoteAddr: "192.0.2.5",
				Success: true, Details: map[string]string{"n": fmt.Sprint(i), "html": "<b>&</b>"}, CreatedAt: base.Add(time.Duration(i/4) * time.Second)}
			if i%6 == 5 {
				e.Action, e.Success = "login.failure", false
			}
			batch = append(batch, e)
		}
		if err := h.store.DB().WithContext(ctx).CreateInBatches(batch, 500).Error; err != nil {
			t.Fatal(err)
		}
		root.signIn("root")

		since := base.Format("2006-01-02")
		r := root.get("/dashboard/audit/export?action=client.updated&outcome=success&since=" + since)
		wantStatus(t, "export", r, http.StatusOK)
		for k, want := range map[string]string{"Content-Type": "application/x-ndjson", "Cache-Control": "no-store",
			"Content-Disposition": `attachment; filename="gatehouse-audit-` + time.Now().UTC().Format("2006-01-02")} {
			if got := r.Header.Get(k); !strings.HasPrefix(got, want) {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if !strings.HasSuffix(r.Header.Get("Content-Disposition"), `.jsonl"`) {
			t.Errorf("file name: %s", r.Header.Get("Content-Disposition"))
		}
		if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
			t.Errorf("the export is not streamed: transfer encoding %v, length %d", r.TransferEncoding, r.ContentLength)
		}
		lines := readExport(t, r.body)
		if len(lines) != 2500 {
			t.Fatalf("%d lines, want 2500", len(lines))
		}
		for i, l := range lines {
			n := i + i/5 // the index among the 3,000 (every 6th skipped)
			if l.Target != fmt.Sprintf("app-%d", n) || l.Details["n"] != fmt.Sprint(n) || l.Action != "client.updated" || !l.Success ||
				l.Actor != "dev" || l.ActorID == nil || *l.ActorID != rootUser.ID || l.RemoteAddr != "192.0.2.5" || l.Details["html"] != "<b>&</b>" ||
				l.Count != 1 {
				t.Fatalf("line %d: %+v", i, l)
			}
			tm, err := time.Parse(time.RFC3339Nano, l.Time)
			if err != nil || !strings.HasSuffix(l.Time, "Z") || !tm.Equal(base.Add(time.Duration(n/4)*time.Second)) {
				t.Fatalf("line %d time %q", i, l.Time)
			}
			if i > 0 && l.ID <= lines[i-1].ID {
				t.Fatalf("line %d out of order", i)
			}
		}

		// Exporting is audited, with the filters.
		e := wantAudit(t, h, "audit.exported", "", "root", "203.0.113.10", true)
		if e.Details["action"] != "client.updated" || e.Details["outcome"] != "success" || e.Details["since"] != since {
			t.Errorf("audit.exported details: %v", e.Details)
		}

		// Without filters: everything, the sign-in and both exports
		// included (an export is recorded before it starts).
		lines = readExport(t, root.get("/dashboard/audit/export").body)
		if n := len(lines); n != 3000+3 || lines[n-1].Action != "audit.exported" || lines[n-2].Action != "audit.exported" || lines[n-3].Action != "login.success" {
			t.Fatalf("full export: %d lines", len(lines))
		}
		// An empty export is an empty file.
		if r := root.get("/dashboard/audit/export?actor=nobody"); r.StatusCode != http.StatusOK || r.body != "" {
			t.Errorf("empty export: %d %q", r.StatusCode, r.body)
		}
	})
}

// TestAuditActionsHaveLabels: every action the code records is offered by
// the page's action filter with a human label (a new h.audit call needs a
// line in pages.AuditActionGroups).
func TestAuditActionsHaveLabels(t *testing.T) {
	t.Parallel()
	callRE := regexp.MustCompile(`(?:h\.audit(?:ThrottledAttempt)?\(c, [^,]+, |Action: )"([a-z_.]+)"`)
	files, _ := filepath.Glob("../handlers/*.go")
	cli, _ := filepath.Glob("cli*.go")
	for _, f := range cli {
		if !strings.HasSuffix(f, "_test.go") {
			files = append(files, f)
		}
	}
	seen := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range callRE.FindAllStringSubmatch(string(src), -1) {
			seen++
			if pages.AuditActionLabel(m[1]) == "" {
				t.Errorf("%s records %q, which the audit page has no label for", f, m[1])
			}
		}
	}
	for _, a := range []string{oauth.SecurityCodeReplay, oauth.SecurityRefreshReuse} {
		if pages.AuditActionLabel(a) == "" {
			t.Errorf("no label for %q", a)
		}
	}
	if seen < 25 {
		t.Fatalf("found only %d audit calls: the pattern is stale", seen)
	}
}

// TestAuditPasswordGrantSignIns: the password grant and the headless
// authorization are sign-ins: their successes, failures and throttled
// attempts are recorded like the form's, with the client, and never the
// password.
func TestAuditPasswordGrantSignIns(t *testing.T) {
	t.Parallel()
	auditHarnesses(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.set("allow_password_grant", "true")
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))
		token := func(user, password, ip string) int {
			return f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}},
				"Authorization", basic, "X-Forwarded-For", ip).StatusCode
		}
		if s := token("Alice", alicePW, "192.0.2.31"); s != 200 {
			t.Fatalf("password grant: %d", s)
		}
		if s := token("nobody", "not the password 1", "192.0.2.32"); s != 400 {
			t.Fatalf("unknown user: %d", s)
		}
		if s := token("", "", "192.0.2.33"); s != 400 {
			t.Fatalf("missing fields: %d", s)
		}
		e := wantAudit(t, h, "login.success", "alice", "alice", "192.0.2.31", true)
		if *e.ActorID != f.user.ID || e.Details["client_id"] != f.confID || e.Details["grant"] != "password" {
			t.Errorf("success event: %+v", e)
		}
		e = wantAudit(t, h, "login.failure", "nobody", "", "192.0.2.32", false)
		if e.Details["client_id"] != f.confID {
			t.Errorf("failure event: %+v", e)
		}
		// Requests without a password to check are not sign-ins.
		if n := len(auditEvents(t, h)); n != 2 {
			t.Errorf("%d events, want 2", n)
		}

		// The headless authorization endpoint signs in too.
		headless := func(password, ip string) int {
			v := f.authzParams("username", "alice", "password", password, "code_challenge", f.challenge, "code_challenge_method", "S256")
			return f.do(http.MethodPost, "/oauth/authorize", v, "Accept", "application/json", "X-Forwarded-For", ip).StatusCode
		}
		if s := headless(alicePW, "192.0.2.41"); s != 200 {
			t.Fatalf("headless: %d", s)
		}
		headless("not the password 2", "192.0.2.42")
		var hs []models.AuditEvent
		for _, e := range auditEvents(t, h) {
			if e.Details["grant"] == oauth.SignInHeadless {
				hs = append(hs, e)
			}
		}
		if len(hs) != 2 || hs[0].Action != "login.success" || hs[0].Actor != "alice" || hs[0].RemoteAddr != "192.0.2.41" || hs[0].Details["client_id"] != f.confID ||
			hs[1].Action != "login.failure" || hs[1].Target != "alice" || hs[1].RemoteAddr != "192.0.2.42" || hs[1].Success {
			t.Errorf("headless sign-ins: %+v", hs)
		}
		// Throttled: enough failures for alice from one address.
		for i := 0; i < 30; i++ {
			if token("alice", "not the password 1", "192.0.2.34") == http.StatusTooManyRequests {
				break
			}
		}
		if evs := admAudit(t, h, "login.throttled"); len(evs) == 0 || evs[0].Target != "alice" || evs[0].RemoteAddr != "192.0.2.34" || evs[0].Success {
			t.Errorf("throttled: %+v", evs)
		}
		for _, e := range auditEvents(t, h) {
			raw, _ := json.Marshal(e)
			if strings.Contains(string(raw), alicePW) || strings.Contains(string(raw), "not the password") || strings.Contains(string(raw), f.confSec) {
				t.Errorf("%s event holds a secret: %s", e.Action, raw)
			}
		}
	})
}
