package app

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
)

const pw = "correct horse battery"

func TestLoginSuccessRegeneratesSession(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("alice", pw, models.RoleDeveloper)
		h.csrf("/login")
		before := h.jar[web.CookieName(false)].Value
		r := h.login("Alice", pw) // usernames are case-insensitive
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
			t.Fatalf("login: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		after := h.jar[web.CookieName(false)]
		if after == nil || after.Value == before {
			t.Fatal("session cookie not regenerated at login")
		}
		d := h.get("/dashboard")
		if d.StatusCode != http.StatusOK || !strings.Contains(d.body, "alice") {
			t.Fatalf("dashboard after login: %d", d.StatusCode)
		}
		// The pre-login session ID no longer exists.
		h2 := h.browser(t, &http.Cookie{Name: web.CookieName(false), Value: before})
		if r := h2.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("old session cookie still signed in: %d", r.StatusCode)
		}
		var events int64
		h.store.DB().Model(&models.AuditEvent{}).Where("action = ? AND success", "login.success").Count(&events)
		if events != 1 {
			t.Fatalf("login.success audit events = %d", events)
		}
	})
}

// TestLoginFailuresLookTheSame: an unknown user and a wrong password get the
// same status and the same page.
func TestLoginFailuresLookTheSame(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	wrong := h.login("alice", "wrong password!")
	unknown := h.login("nobody", "wrong password!")
	if wrong.StatusCode != http.StatusUnauthorized || unknown.StatusCode != wrong.StatusCode {
		t.Fatalf("statuses differ: wrong=%d unknown=%d", wrong.StatusCode, unknown.StatusCode)
	}
	a := strings.ReplaceAll(wrong.body, `value="alice"`, `value="X"`)
	b := strings.ReplaceAll(unknown.body, `value="nobody"`, `value="X"`)
	if a != b {
		t.Fatal("pages for unknown user and wrong password differ")
	}
	if !strings.Contains(a, "Incorrect username or password.") {
		t.Fatal("generic error message missing")
	}
	if h.jar[web.CookieName(false)] == nil {
		t.Fatal("no session cookie")
	}
	if r := h.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatal("failed login signed in")
	}
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("alice", pw, models.RoleUser)
		for i := 0; i < 10; i++ {
			if r := h.login("alice", "wrong password!"); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i+1, r.StatusCode)
			}
		}
		r := h.login("alice", pw) // even the right password is refused now
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("11th attempt: %d, want 429", r.StatusCode)
		}
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 600 {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
		if !strings.Contains(r.body, "Too many failed sign-in attempts") {
			t.Fatal("throttle message missing")
		}
		// Another account from the same address is not blocked yet (30).
		h.createUser("bob", pw, models.RoleUser)
		if r := h.login("bob", pw); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("other account blocked: %d", r.StatusCode)
		}
	})
}

func TestLoginThrottlingPerAddress(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	for i := 0; i < 30; i++ {
		h.login("user"+strconv.Itoa(i), "wrong password!")
	}
	if r := h.login("alice", pw); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("address not throttled after 30 failures: %d", r.StatusCode)
	}
}

func TestCSRFRejectsFormsWithoutToken(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	h.get("/login")
	for name, form := range map[string]url.Values{
		"missing": {"username": {"alice"}, "password": {pw}},
		"wrong":   {"username": {"alice"}, "password": {pw}, "csrf_token": {"forged"}},
	} {
		r := h.do(http.MethodPost, "/login", form)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s token: status %d, want 403", name, r.StatusCode)
		}
		if !strings.Contains(r.body, "The sign-in form had expired") || !csrfRE.MatchString(r.body) {
			t.Errorf("%s token: the sign-in form is not shown again with a fresh token", name)
		}
		if h.get("/dashboard").StatusCode != http.StatusSeeOther {
			t.Fatalf("%s token: signed in without a valid CSRF token", name)
		}
	}
	// A token from another session does not work either.
	other := h.browser(t)
	tok := other.csrf("/login")
	if r := h.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {pw}, "csrf_token": {tok}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("token of another session accepted: %d", r.StatusCode)
	}
	// Signed-in forms: logout and password change.
	h.login("alice", pw)
	if r := h.do(http.MethodPost, "/logout", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("logout without token: %d", r.StatusCode)
	}
	r := h.do(http.MethodPost, "/account/password", url.Values{"current_password": {pw}, "new_password": {"another password 1"}, "new_password_confirm": {"another password 1"}})
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
		t.Errorf("password change without token: %d", r.StatusCode)
	}
	if r := h.get("/dashboard"); r.StatusCode != http.StatusOK {
		t.Error("a refused logout signed out")
	}
	h.clearCookies()
	if r := h.login("alice", pw); r.StatusCode != http.StatusSeeOther {
		t.Error("password changed by a form without CSRF token")
	}
}

// TestStaleFormsInOtherTabs: forms left open in another tab fail their CSRF
// check after sign-in or sign-out; they should land somewhere sensible.
func TestStaleFormsInOtherTabs(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	staleLogin := h.csrf("/login")
	h.login("alice", pw)
	// The sign-in form from before: already signed in, so go home.
	r := h.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {pw}, "csrf_token": {staleLogin}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("stale sign-in form while signed in: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	staleLogout := h.csrf("/dashboard")
	h.post("/dashboard", "/logout", url.Values{})
	// Signing out again from the other tab just confirms the sign-out.
	r = h.do(http.MethodPost, "/logout", url.Values{"csrf_token": {staleLogout}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("second sign-out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		issuer string
		name   string
		secure bool
	}{
		{"http://localhost:8080", "gatehouse_session", false},
		{"https://auth.example.com", "__Host-gatehouse", true},
	} {
		h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_ISSUER": tc.issuer})
		r := h.get("/login")
		var c *http.Cookie
		for _, x := range r.Cookies() {
			if x.Name == tc.name {
				c = x
			}
		}
		if c == nil {
			t.Fatalf("%s: no %s cookie; got %v", tc.issuer, tc.name, r.Header.Values("Set-Cookie"))
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" || c.Domain != "" {
			t.Errorf("%s: cookie flags %+v", tc.issuer, c)
		}
		if tc.secure && r.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s: no HSTS", tc.issuer)
		}
	}
}

func TestLogoutEndsSession(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	h.login("alice", pw)
	stolen := *h.jar[web.CookieName(false)]
	r := h.post("/dashboard", "/logout", url.Values{})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/logout/done" {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	replay := h.browser(t, &stolen)
	if r := replay.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("session cookie works after logout: %d", r.StatusCode)
	}
	if r := h.get("/logout/done"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "You are signed out") {
		t.Fatalf("no signed-out page: %d", r.StatusCode)
	}
}

func TestSafeRedirectAfterLogin(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	cases := map[string]string{
		"/account":              "/account",
		"//evil.example":        "/dashboard",
		"https://evil.example/": "/dashboard",
		"/\\evil.example":       "/dashboard",
		"javascript:alert(1)":   "/dashboard",
	}
	for next, want := range cases {
		h.clearCookies()
		r := h.post("/login?next="+url.QueryEscape(next), "/login", url.Values{"username": {"alice"}, "password": {pw}, "next": {next}})
		if got := r.Header.Get("Location"); got != want {
			t.Errorf("next=%q redirected to %q, want %q", next, got, want)
		}
	}
	// A signed-out visitor to a page is sent to sign in and back.
	h.clearCookies()
	r := h.get("/account")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?next=%2Faccount" {
		t.Fatalf("signed-out /account: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestSetupTokenSingleUse(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		link, err := h.srv.Handlers.EnsureSetupToken(ctx)
		if err != nil || !strings.HasPrefix(link, "http://localhost:8080/setup?token=") {
			t.Fatalf("setup link %q: %v", link, err)
		}
		u, _ := url.Parse(link)
		token := u.Query().Get("token")
		page := "/setup?token=" + url.QueryEscape(token)

		if r := h.get("/setup?token=not-the-token"); r.StatusCode != http.StatusNotFound {
			t.Fatalf("wrong token: %d", r.StatusCode)
		}
		form := url.Values{"token": {token}, "username": {"root"}, "name": {"Ada"}, "password": {pw}, "password_confirm": {"mismatch"}}
		if r := h.post(page, "/setup", form); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "do not match") {
			t.Fatalf("mismatched passwords: %d", r.StatusCode)
		}
		form.Set("password_confirm", pw)
		r := h.post(page, "/setup", form)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
			t.Fatalf("setup: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		admin, err := h.store.GetUserByUsername(ctx, "root")
		if err != nil || admin.Role != models.RoleAdmin {
			t.Fatalf("admin not created: %v", err)
		}
		if d := h.get("/dashboard"); d.StatusCode != http.StatusOK {
			t.Fatalf("not signed in after setup: %d", d.StatusCode)
		}
		// The new admin reopening the link just goes home.
		if r := h.get(page); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
			t.Fatalf("used link while signed in: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		// Second use: refused, page and form alike.
		other := h.browser(t)
		if r := other.get(page); r.StatusCode != http.StatusNotFound {
			t.Fatalf("used setup link still shows the form: %d", r.StatusCode)
		}
		form.Set("username", "root2")
		form.Set("csrf_token", other.csrf("/login"))
		if r := other.do(http.MethodPost, "/setup", form); r.StatusCode != http.StatusNotFound {
			t.Fatalf("used setup token accepted: %d", r.StatusCode)
		}
		if _, err := h.store.GetUserByUsername(ctx, "root2"); err == nil {
			t.Fatal("second admin created with a used token")
		}
		// Once an admin exists no new link is made.
		if link, err := h.srv.Handlers.EnsureSetupToken(ctx); err != nil || link != "" {
			t.Fatalf("setup link after admin exists: %q %v", link, err)
		}
	})
}

// TestSetupTokenRefusedOnceAdminExists: a valid, unused token stops working
// as soon as any admin exists (e.g. made with `users create`).
func TestSetupTokenRefusedOnceAdminExists(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	link, _ := h.srv.Handlers.EnsureSetupToken(context.Background())
	h.createUser("boss", pw, models.RoleAdmin)
	u, _ := url.Parse(link)
	if r := h.get(u.RequestURI()); r.StatusCode != http.StatusNotFound {
		t.Fatalf("setup page with an admin present: %d", r.StatusCode)
	}
}

func TestSignupFollowsSetting(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	if r := h.get("/signup"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("signup while disabled: %d", r.StatusCode)
	}
	if strings.Contains(h.get("/login").body, `href="/signup"`) {
		t.Fatal("login page links to disabled signup")
	}
	if err := h.store.SetSetting(context.Background(), "allow_signup", "true"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.get("/login").body, `href="/signup"`) {
		t.Fatal("login page does not link to signup")
	}
	form := url.Values{"username": {"newbie"}, "email": {"bad"}, "password": {pw}, "password_confirm": {pw}}
	r := h.post("/signup", "/signup", form)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, `value="newbie"`) {
		t.Fatalf("invalid signup: %d (input must be kept)", r.StatusCode)
	}
	form.Set("email", "newbie@example.com")
	if r := h.post("/signup", "/signup", form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup: %d", r.StatusCode)
	}
	u, err := h.store.GetUserByUsername(context.Background(), "newbie")
	if err != nil || u.Role != models.RoleUser {
		t.Fatalf("signed-up user: %+v %v", u, err)
	}
	// Taken username
	h.clearCookies()
	if r := h.post("/signup", "/signup", form); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "taken") {
		t.Fatalf("duplicate signup: %d", r.StatusCode)
	}
}

func TestDisabledUserCannotSignInAndIsSignedOut(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	u := h.createUser("alice", pw, models.RoleUser)
	h.login("alice", pw)
	if err := h.store.UpdateUser(context.Background(), u.ID, func(x *models.User) error { x.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if r := h.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled user still signed in: %d", r.StatusCode)
	}
	if r := h.login("alice", pw); r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "disabled") {
		t.Fatalf("disabled login: %d", r.StatusCode)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	h.login("alice", pw)
	other := h.browser(t)
	other.login("alice", pw)

	r := h.post("/account", "/account/password", url.Values{"current_password": {"nope nope nope"}, "new_password": {"new password 123"}, "new_password_confirm": {"new password 123"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "not your current password") {
		t.Fatalf("wrong current password: %d", r.StatusCode)
	}
	r = h.post("/account", "/account/password", url.Values{"current_password": {pw}, "new_password": {"short"}, "new_password_confirm": {"short"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("short new password: %d", r.StatusCode)
	}
	r = h.post("/account", "/account/password", url.Values{"current_password": {pw}, "new_password": {pw}, "new_password_confirm": {pw}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "different from your current one") {
		t.Fatalf("unchanged password accepted: %d", r.StatusCode)
	}
	r = h.post("/account", "/account/password", url.Values{"current_password": {pw}, "new_password": {"new password 123"}, "new_password_confirm": {"new password 123"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d", r.StatusCode)
	}
	if r := h.get("/account"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "password was changed") {
		t.Fatalf("this session signed out or no notice: %d", r.StatusCode)
	}
	if r := other.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatal("other session still signed in after password change")
	}
	h.clearCookies()
	if r := h.login("alice", "new password 123"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password refused: %d", r.StatusCode)
	}
}

// TestChangePasswordErrorSummary: a refused change opens with an error
// summary announced at once, linking to the field, which has the focus.
func TestChangePasswordErrorSummary(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("alice", pw, models.RoleUser)
	h.login("alice", pw)
	cases := []struct {
		name   string
		form   url.Values
		anchor string
	}{
		{"wrong current", url.Values{"current_password": {"nope nope nope"}, "new_password": {"new password 123"}, "new_password_confirm": {"new password 123"}}, "current_password"},
		{"short", url.Values{"current_password": {pw}, "new_password": {"short"}, "new_password_confirm": {"short"}}, "new_password"},
		{"mismatch", url.Values{"current_password": {pw}, "new_password": {"new password 123"}, "new_password_confirm": {"new password 124"}}, "new_password_confirm"},
	}
	for _, tc := range cases {
		r := h.post("/account", "/account/password", tc.form)
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s: %d", tc.name, r.StatusCode)
		}
		admErrorSummary(t, tc.name, r.body, tc.anchor)
	}
	if got := admFirstAutofocus(h.get("/account").body); got != "" {
		t.Errorf("account page: autofocus on %q before any error", got)
	}
}

func TestRoleMiddleware(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, func(s *Server) {
		s.App.Get("/test/admin", s.role(adminOnly, func(c *fiber.Ctx) error { return c.SendString("admin area") })...)
		s.App.Get("/test/dev", s.role(developerPlus, func(c *fiber.Ctx) error { return c.SendString("developer area") })...)
	})
	h.createUser("user1", pw, models.RoleUser)
	h.createUser("dev1", pw, models.RoleDeveloper)
	h.createUser("admin1", pw, models.RoleAdmin)
	if r := h.get("/test/admin"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: %d", r.StatusCode)
	}
	cases := []struct {
		user       string
		admin, dev int
	}{
		{"user1", http.StatusForbidden, http.StatusForbidden},
		{"dev1", http.StatusForbidden, http.StatusOK},
		{"admin1", http.StatusOK, http.StatusOK},
	}
	for _, c := range cases {
		h.clearCookies()
		h.login(c.user, pw)
		if r := h.get("/test/admin"); r.StatusCode != c.admin {
			t.Errorf("%s on admin page: %d, want %d", c.user, r.StatusCode, c.admin)
		} else if c.admin == http.StatusForbidden && (strings.Contains(r.body, "admin area") || !strings.Contains(r.body, "does not have access")) {
			t.Errorf("%s: 403 page wrong", c.user)
		}
		if r := h.get("/test/dev"); r.StatusCode != c.dev {
			t.Errorf("%s on developer page: %d, want %d", c.user, r.StatusCode, c.dev)
		}
	}
}

// TestParallelLoginGuessesAreThrottled: guesses sent at once cannot all
// slip under the limit while the password check runs.
func TestParallelLoginGuessesAreThrottled(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("alice", pw, models.RoleUser)
		const n = 25
		clients := make([]*harness, n)
		tokens := make([]string, n)
		for i := range clients {
			clients[i] = h.browser(t)
			tokens[i] = clients[i].csrf("/login")
		}
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func(c *harness, tok string) {
				defer wg.Done()
				r := c.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"wrong password!"}, "csrf_token": {tok}})
				statuses <- r.StatusCode
			}(clients[i], tokens[i])
		}
		wg.Wait()
		close(statuses)
		tried := 0
		for s := range statuses {
			switch s {
			case http.StatusUnauthorized:
				tried++
			case http.StatusTooManyRequests:
			default:
				t.Errorf("unexpected status %d", s)
			}
		}
		if tried > 10 {
			t.Fatalf("%d of %d parallel guesses were checked; the limit is 10", tried, n)
		}
	})
}
