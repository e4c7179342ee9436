package app

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// User agents of the browsers of these tests.
const (
	uaFirefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaSafariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaChromeAndroid  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)

// sessSignIn signs browser b in as username with the User-Agent ua.
func sessSignIn(t *testing.T, b *harness, username, ua string) {
	t.Helper()
	form := url.Values{"username": {username}, "password": {pw}, "csrf_token": {b.csrf("/login")}}
	if r := b.do(http.MethodPost, "/login", form, "User-Agent", ua); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("sign in %s (%.20s): %d %s", username, ua, r.StatusCode, r.Header.Get("Location"))
	}
}

// sessSignedIn reports whether browser b is signed in (the account page
// opens rather than sending it to the sign-in page).
func sessSignedIn(t *testing.T, b *harness) bool {
	t.Helper()
	r := b.get("/account")
	switch {
	case r.StatusCode == http.StatusOK:
		return true
	case r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/login"):
		return false
	}
	t.Fatalf("GET /account: %d %s", r.StatusCode, r.Header.Get("Location"))
	return false
}

var sessEndRE = regexp.MustCompile(`action="/account/sessions/([^"/]+)/end"`)

// sessEndSIDs are the session IDs the page offers to sign out.
func sessEndSIDs(body string) []string {
	var out []string
	for _, m := range sessEndRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// sessSIDs are the user's session IDs, from the store.
func sessSIDs(t *testing.T, h *harness, userID int64) []string {
	t.Helper()
	rows, err := h.store.ListUserWebSessions(context.Background(), userID, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.SID)
	}
	return out
}

// sessToken stores an access token issued in the browser session sid.
func sessToken(t *testing.T, h *harness, name string, userID int64, sid string) {
	t.Helper()
	ctx := context.Background()
	if _, err := h.store.GetClient(ctx, "notes"); err != nil {
		if err := h.store.CreateClient(ctx, &models.Client{ClientID: "notes", Name: "Acme Notes"}); err != nil {
			t.Fatal(err)
		}
	}
	tok := &models.Token{TokenHash: []byte(name), Kind: models.TokenAccess, ClientID: "notes", UserID: &userID, Scope: "openid",
		FamilyID: name, SID: sid, ExpiresAt: time.Now().Add(time.Hour)}
	if err := h.store.CreateTokens(ctx, tok); err != nil {
		t.Fatal(err)
	}
}

// TestSessionsPageLists: the page lists the user's browsers with their
// device, address and times, the current one first and marked, a
// sign-out button for each other one, and the apps the user authorized.
func TestSessionsPageLists(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		alice, _ := appsFixture(t, h) // alice and bob, with apps
		phone := h.browser(t)
		sessSignIn(t, phone, "alice", uaSafariIPhone)
		sessSignIn(t, h, "alice", uaFirefoxWindows)
		bobs := h.browser(t)
		sessSignIn(t, bobs, "bob", uaChromeAndroid)

		r := h.get("/account/sessions")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d", r.StatusCode)
		}
		body := r.body
		admContains(t, "list", body, "Firefox on Windows", "Safari on iPhone", "This device", "Active now", "Signed in just now",
			"Active in the last 15 minutes", `title="`+uaSafariIPhone+`"`, "fa-mobile-screen", "fa-desktop",
			`action="/account/sessions/end-others"`, "Sign out all other sessions",
			// the apps
			"Apps with access", "Acme Notes", "Plain App", `href="/account/apps"`, "3 permissions")
		if strings.Contains(body, "Chrome on Android") || strings.Contains(body, "Photo Box") {
			t.Error("bob's session or an unauthorized app is listed")
		}
		if n := strings.Count(body, "This device"); n != 1 {
			t.Errorf("%d sessions marked This device, want 1", n)
		}
		// The current one comes first, and is the one marked.
		ff, mark, safari := strings.Index(body, "Firefox on Windows"), strings.Index(body, "This device"), strings.Index(body, "Safari on iPhone")
		if !(ff < mark && mark < safari) {
			t.Errorf("order: Firefox %d, This device %d, Safari %d", ff, mark, safari)
		}
		// One sign-out button: the other browser's.
		sids := sessSIDs(t, h, alice.ID)
		if len(sids) != 2 {
			t.Fatalf("alice's sessions: %v", sids)
		}
		offered := sessEndSIDs(body)
		if len(offered) != 1 || !strings.Contains(body[safari:], `action="/account/sessions/`+offered[0]+`/end"`) {
			t.Errorf("sign-out buttons for %v", offered)
		}
		// The address it signed in from.
		rows, _ := h.store.ListUserWebSessions(context.Background(), alice.ID, time.Now(), 0)
		if rows[0].RemoteAddr == "" || !strings.Contains(body, rows[0].RemoteAddr) {
			t.Errorf("address %q not shown", rows[0].RemoteAddr)
		}

		// Linked from the account page and the dashboard; Account is the
		// current section.
		admContains(t, "account page", h.get("/account").body, `href="/account/sessions"`)
		admContains(t, "dashboard", h.get("/dashboard").body, `href="/account/sessions"`)
		if !regexp.MustCompile(`href="/account"\s+class="topbar-link"\s+aria-current="page"`).MatchString(body) {
			t.Error("Account is not marked as the current section")
		}

		// Signing out here leaves the phone alone: no sign-out buttons,
		// and the page says so.
		if r := h.post("/account", "/logout", url.Values{}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign out: %d", r.StatusCode)
		}
		if r := h.get("/account/sessions"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		r = phone.get("/account/sessions")
		admContains(t, "alone", r.body, "Safari on iPhone", "This device", "You are not signed in anywhere else.")
		if len(sessEndSIDs(r.body)) != 0 || strings.Contains(r.body, "end-others") {
			t.Error("sign-out buttons with no other session")
		}
	})
}

// TestSessionsEndOne: signing out another browser ends its session (its
// next request is signed out, the tokens issued in it are revoked) and
// keeps this one; it is audited and confirmed.
func TestSessionsEndOne(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		alice := h.createUser("alice", pw, models.RoleUser)
		phone := h.browser(t)
		sessSignIn(t, phone, "alice", uaSafariIPhone)
		sessSignIn(t, h, "alice", uaFirefoxWindows)
		offered := sessEndSIDs(h.get("/account/sessions").body)
		if len(offered) != 1 {
			t.Fatalf("offered %v", offered)
		}
		sid := offered[0]
		sessToken(t, h, "phone-token", alice.ID, sid)

		r := h.post("/account/sessions", "/account/sessions/"+sid+"/end", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/sessions" {
			t.Fatalf("end: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		body := h.get("/account/sessions").body
		admContains(t, "flash", body, "Signed out Safari on iPhone. Whoever uses that browser has to sign in again.", "You are not signed in anywhere else.")
		if sessSignedIn(t, phone) {
			t.Error("the phone is still signed in")
		}
		if !sessSignedIn(t, h) {
			t.Error("this browser was signed out")
		}
		if revokedAt(t, h, "phone-token") == nil {
			t.Error("the token issued in the ended session is not revoked")
		}
		if strings.Contains(body, "Safari on iPhone</span>") {
			t.Error("the ended session is still listed")
		}
		evs := admAudit(t, h, "session.ended")
		if len(evs) != 1 || evs[0].Target != "Safari on iPhone" || evs[0].Details["sid"] != sid || evs[0].Actor != "alice" || !evs[0].Success {
			t.Errorf("audit: %+v", evs)
		}

		// Again (a second click): it is gone, nothing more happens.
		r = h.post("/account/sessions", "/account/sessions/"+sid+"/end", url.Values{})
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("ending it again: %d", r.StatusCode)
		}
		if n := len(admAudit(t, h, "session.ended")); n != 1 {
			t.Errorf("%d session.ended events", n)
		}

		// The current browser is not ended this way.
		cur := sessSIDs(t, h, alice.ID)
		if len(cur) != 1 {
			t.Fatalf("sessions left: %v", cur)
		}
		r = h.post("/account/sessions", "/account/sessions/"+cur[0]+"/end", url.Values{})
		if r.StatusCode != http.StatusSeeOther {
			t.Errorf("ending the current session by its sid: %d", r.StatusCode)
		}
		admContains(t, "current", h.get("/account/sessions").body, "That is the browser you are using: to sign out here, use Sign out.")
		if !sessSignedIn(t, h) {
			t.Error("ending the current session by its sid signed it out")
		}
	})
}

// TestSessionsEndOthers: "Sign out all other sessions" ends every other
// browser of the user and no one else's.
func TestSessionsEndOthers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		alice := h.createUser("alice", pw, models.RoleUser)
		h.createUser("bob", pw, models.RoleUser)
		phone, tablet, bobs := h.browser(t), h.browser(t), h.browser(t)
		sessSignIn(t, phone, "alice", uaSafariIPhone)
		sessSignIn(t, tablet, "alice", uaChromeAndroid)
		sessSignIn(t, bobs, "bob", uaFirefoxWindows)
		sessSignIn(t, h, "alice", uaFirefoxWindows)

		r := h.post("/account/sessions", "/account/sessions/end-others", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/sessions" {
			t.Fatalf("end others: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		admContains(t, "flash", h.get("/account/sessions").body, "Signed out 2 other sessions. You are still signed in here.")
		if sessSignedIn(t, phone) || sessSignedIn(t, tablet) {
			t.Error("another browser of alice is still signed in")
		}
		if !sessSignedIn(t, h) || !sessSignedIn(t, bobs) {
			t.Error("this browser, or bob's, was signed out")
		}
		if n := len(sessSIDs(t, h, alice.ID)); n != 1 {
			t.Errorf("alice has %d sessions, want 1", n)
		}
		evs := admAudit(t, h, "session.ended_others")
		if len(evs) != 1 || evs[0].Details["count"] != "2" || evs[0].Actor != "alice" || evs[0].Target != "alice" {
			t.Errorf("audit: %+v", evs)
		}

		// Nothing left to end: said so, not audited.
		h.post("/account/sessions", "/account/sessions/end-others", url.Values{})
		admContains(t, "none left", h.get("/account/sessions").body, "You were not signed in anywhere else.")
		if n := len(admAudit(t, h, "session.ended_others")); n != 1 {
			t.Errorf("%d session.ended_others events", n)
		}
	})
}

// TestSessionsEndRefused: another user's session ID, or an unknown one,
// is a 404 that ends nothing; a form without its CSRF token ends nothing;
// signed-out visitors are sent to sign in.
func TestSessionsEndRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("alice", pw, models.RoleUser)
		bob := h.createUser("bob", pw, models.RoleUser)
		bobs := h.browser(t)
		sessSignIn(t, bobs, "bob", uaSafariIPhone)
		phone := h.browser(t)
		sessSignIn(t, phone, "alice", uaSafariIPhone)
		sessSignIn(t, h, "alice", uaFirefoxWindows)
		bobSID := sessSIDs(t, h, bob.ID)[0]

		for _, sid := range []string{bobSID, "no-such-session", "%20"} {
			r := h.post("/account/sessions", "/account/sessions/"+sid+"/end", url.Values{})
			if r.StatusCode != http.StatusNotFound {
				t.Errorf("ending %q: %d, want 404", sid, r.StatusCode)
			}
			if sid == bobSID {
				admContains(t, "404 page", r.body, "You have no such session: it may have ended already.")
			}
		}
		if !sessSignedIn(t, bobs) {
			t.Fatal("alice signed bob out")
		}

		// Without the CSRF token: refused, nothing ended.
		phoneSID := sessEndSIDs(h.get("/account/sessions").body)[0]
		for _, path := range []string{"/account/sessions/" + phoneSID + "/end", "/account/sessions/end-others"} {
			r := h.do(http.MethodPost, path, url.Values{})
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s without CSRF: %d, want 403", path, r.StatusCode)
			}
			r = h.do(http.MethodPost, path, url.Values{"csrf_token": {"forged"}})
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s with a wrong token: %d, want 403", path, r.StatusCode)
			}
		}
		if !sessSignedIn(t, phone) || !sessSignedIn(t, h) || !sessSignedIn(t, bobs) {
			t.Error("a refused request ended a session")
		}
		if n := len(admAudit(t, h, "session.ended")) + len(admAudit(t, h, "session.ended_others")); n != 0 {
			t.Errorf("refused requests audited: %d events", n)
		}

		// Signed out: "sign in again", nothing ended.
		anon := h.browser(t)
		r := anon.do(http.MethodPost, "/account/sessions/end-others", url.Values{"csrf_token": {anon.csrf("/login")}})
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("signed out: %d, want 401", r.StatusCode)
		}
		if !sessSignedIn(t, phone) {
			t.Error("a signed-out request ended a session")
		}
	})
}

// TestAdminEndsUserSessions: the user page lists the user's sessions,
// and "Sign out everywhere" ends them all (admins only, with CSRF); done
// on one's own page it signs the admin out here too.
func TestAdminEndsUserSessions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		root := h.createUser("root", pw, models.RoleAdmin)
		alice := h.createUser("alice", pw, models.RoleUser)
		laptop, phone := h.browser(t), h.browser(t)
		sessSignIn(t, laptop, "alice", uaFirefoxWindows)
		sessSignIn(t, phone, "alice", uaSafariIPhone)
		sessSignIn(t, h, "root", uaChromeAndroid)
		page := pages.UserURL(alice.ID)
		sid := sessSIDs(t, h, alice.ID)[0]
		sessToken(t, h, "alice-token", alice.ID, sid)

		body := h.get(page).body
		admContains(t, "user page", body, "Sessions", "Firefox on Windows", "Safari on iPhone", "Sign out everywhere…",
			`action="`+page+`/sessions/end"`, "alice will be signed out of every browser at once")
		if strings.Contains(body, "This device") || len(sessEndSIDs(body)) != 0 {
			t.Error("the admin's view of alice marks a device as theirs or offers per-session buttons")
		}

		// Not for others, and not without CSRF.
		r := laptop.post("/account", page+"/sessions/end", url.Values{})
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("a user ending sessions: %d, want 403", r.StatusCode)
		}
		if r := h.do(http.MethodPost, page+"/sessions/end", url.Values{}); r.StatusCode != http.StatusForbidden {
			t.Errorf("without CSRF: %d, want 403", r.StatusCode)
		}
		if !sessSignedIn(t, laptop) || !sessSignedIn(t, phone) {
			t.Fatal("a refused request ended a session")
		}

		r = h.post(page, page+"/sessions/end", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != page {
			t.Fatalf("end: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		body = h.get(page).body
		admContains(t, "after", body, "alice was signed out everywhere (2 sessions ended).", "alice is not signed in anywhere.")
		if sessSignedIn(t, laptop) || sessSignedIn(t, phone) {
			t.Error("alice is still signed in somewhere")
		}
		if !sessSignedIn(t, h) {
			t.Error("the admin was signed out")
		}
		if revokedAt(t, h, "alice-token") == nil {
			t.Error("the token of alice's session is not revoked")
		}
		evs := admAudit(t, h, "user.sessions_ended")
		if len(evs) != 1 || evs[0].Target != "alice" || evs[0].Details["count"] != "2" || evs[0].Actor != "root" {
			t.Errorf("audit: %+v", evs)
		}
		if r := h.post(page, page+"/sessions/end", url.Values{}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("again: %d", r.StatusCode)
		}
		admContains(t, "again", h.get(page).body, "alice was not signed in anywhere.")
		if n := len(admAudit(t, h, "user.sessions_ended")); n != 1 {
			t.Errorf("%d user.sessions_ended events", n)
		}
		if r := h.post(page, pages.UserURL(alice.ID+root.ID+100)+"/sessions/end", url.Values{}); r.StatusCode != http.StatusNotFound {
			t.Errorf("unknown user: %d", r.StatusCode)
		}

		// The admin's own page: this browser is marked, and signing out
		// everywhere signs it out too.
		other := h.browser(t)
		sessSignIn(t, other, "root", uaFirefoxWindows)
		mine := pages.UserURL(root.ID)
		body = h.get(mine).body
		admContains(t, "own page", body, "This device", "You will be signed out of every browser, this one included,", `href="/account/sessions"`)
		r = h.post(mine, mine+"/sessions/end", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
			t.Fatalf("own sessions: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		admContains(t, "sign-in page", h.get("/login").body, "You were signed out everywhere, here too (2 sessions ended). Sign in again to continue.")
		if sessSignedIn(t, h) || sessSignedIn(t, other) {
			t.Error("the admin is still signed in somewhere")
		}
		if n := len(sessSIDs(t, h, root.ID)); n != 0 {
			t.Errorf("root has %d sessions left", n)
		}
	})
}
