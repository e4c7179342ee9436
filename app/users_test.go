package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

func TestUsersAdminOnly(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admin := h.createUser("root", pw, models.RoleAdmin)
	for _, role := range []string{models.RoleUser, models.RoleDeveloper} {
		me := admSignIn(t, h, "u-"+role, role)
		for _, p := range []string{"/dashboard/users", "/dashboard/users/new", pages.UserURL(admin.ID), pages.UserURL(me.ID)} {
			if r := h.get(p); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", role, p, r.StatusCode)
			}
		}
		posts := []struct {
			path string
			form url.Values
		}{
			{"/dashboard/users", url.Values{"username": {"mallory"}, "password": {pw}, "password_confirm": {pw}, "role": {"admin"}}},
			{pages.UserURL(me.ID) + "/role", url.Values{"role": {"admin"}}},
			{pages.UserURL(admin.ID) + "/role", url.Values{"role": {"user"}}},
			{pages.UserURL(admin.ID) + "/profile", url.Values{"name": {"Mallory"}, "email": {"root@example.com"}}},
			{pages.UserURL(me.ID) + "/profile", url.Values{"email": {me.Email}, "email_verified": {"on"}}},
			{pages.UserURL(admin.ID) + "/disable", url.Values{}},
			{pages.UserURL(admin.ID) + "/enable", url.Values{}},
			{pages.UserURL(admin.ID) + "/password", url.Values{"password": {"a new password 1"}, "password_confirm": {"a new password 1"}}},
		}
		for _, p := range posts {
			if r := h.post("/dashboard", p.path, p.form); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", role, p.path, r.StatusCode)
			}
		}
		got, _ := h.store.GetUser(context.Background(), me.ID)
		if got.Role != role {
			t.Errorf("%s promoted themselves to %s", role, got.Role)
		}
	}
	got, _ := h.store.GetUser(context.Background(), admin.ID)
	if got.Role != models.RoleAdmin || got.Disabled {
		t.Errorf("admin changed by non-admins: %+v", got)
	}
	if _, err := h.store.GetUserByUsername(context.Background(), "mallory"); err == nil {
		t.Error("a non-admin created a user")
	}
}

func TestUserListSearchAndPagination(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	for i := range 30 {
		h.createUser(fmt.Sprintf("user%02d", i), pw, models.RoleUser)
	}
	dev := h.createUser("grace", pw, models.RoleDeveloper)
	if err := h.store.UpdateUser(context.Background(), dev.ID, func(u *models.User) error { u.Disabled = true; u.Name = "Grace Hopper"; return nil }); err != nil {
		t.Fatal(err)
	}

	r := h.get("/dashboard/users")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("list: %d", r.StatusCode)
	}
	admContains(t, "page 1", r.body, "Showing", ">1<", ">25<", ">32<", `href="/dashboard/users?offset=25"`, "Grace Hopper", "Disabled", "Developer", "You")
	if strings.Contains(r.body, "user29") {
		t.Error("page 1 shows user29")
	}
	r = h.get("/dashboard/users?offset=25")
	admContains(t, "page 2", r.body, "user29", `href="/dashboard/users"`, ">26<", ">32<")
	if strings.Contains(r.body, "offset=50") {
		t.Error("page 2 links to a page 3")
	}
	r = h.get("/dashboard/users?q=HOPPER")
	admContains(t, "search", r.body, "Grace Hopper", `value="HOPPER"`, "Clear")
	if strings.Contains(r.body, "user01") {
		t.Error("search shows non-matching users")
	}
	r = h.get("/dashboard/users?role=developer")
	admContains(t, "role filter", r.body, "grace", `<option value="developer" selected>`)
	if strings.Contains(r.body, "user01") || strings.Contains(r.body, "root@example.com") {
		t.Error("role filter shows other roles")
	}
	r = h.get("/dashboard/users?q=nobody-like-this")
	admContains(t, "no match", r.body, "No users match", "Clear filters")
	// A stale offset goes back to the first page.
	if r := h.get("/dashboard/users?q=user0&offset=500"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/users?q=user0" {
		t.Errorf("stale offset: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestCreateUserForm(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	form := func(kv ...string) url.Values {
		v := url.Values{"username": {"Alice"}, "name": {"Alice Liddell"}, "email": {"alice@example.com"},
			"role": {"developer"}, "password": {"a long password 1"}, "password_confirm": {"a long password 1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name        string
		form        url.Values
		field, msg  string
		keptUser    string
		keptChecked string
	}{
		{"bad username", form("username", "a b"), "username", "Use lower-case letters", `value="a b"`, `value="developer" checked`},
		{"short password", form("password", "short", "password_confirm", "short"), "password", "at least 12", `value="alice"`, `value="developer" checked`},
		{"mismatch", form("password_confirm", "another password"), "password_confirm", "do not match", `value="alice"`, ""},
		{"bad email", form("email", "alice@"), "email", "Enter an email address", `value="alice@"`, ""},
		{"bad role", form("role", "root"), "role", "Role must be admin, developer or user.", "", ""},
		{"taken username", form("username", "root"), "username", "This username is taken.", `value="root"`, ""},
	}
	// The summary links to each problem; the first invalid field has the
	// focus (not the username, when it is fine).
	summaries := []struct {
		name    string
		form    url.Values
		anchors []string
	}{
		{"bad email", form("email", "alice@"), []string{"email"}},
		{"bad role", form("role", "root"), []string{"role-user"}},
		{"mismatch", form("password_confirm", "another password"), []string{"password_confirm"}},
		{"email and password", form("email", "alice@", "password", "short", "password_confirm", "short"), []string{"email", "password"}},
		{"bad username", form("username", "a b"), []string{"username"}},
	}
	for _, tc := range summaries {
		r := h.post("/dashboard/users/new", "/dashboard/users", tc.form)
		admErrorSummary(t, "summary: "+tc.name, r.body, tc.anchors...)
	}
	if got := admFirstAutofocus(h.get("/dashboard/users/new").body); got != "username" {
		t.Errorf("new-user form: autofocus on %q, want username", got)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("/dashboard/users/new", "/dashboard/users", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", r.StatusCode)
			}
			admContains(t, tc.name, r.body, tc.msg, `id="`+tc.field+`-error"`)
			for _, k := range []string{tc.keptUser, tc.keptChecked} {
				if k != "" {
					admContains(t, tc.name, r.body, k)
				}
			}
			if strings.Contains(r.body, "a long password 1") {
				t.Error("password echoed back")
			}
		})
	}
	r := h.post("/dashboard/users/new", "/dashboard/users", form())
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	u, err := h.store.GetUserByUsername(context.Background(), "alice")
	if err != nil || u.Role != models.RoleDeveloper || u.Name != "Alice Liddell" {
		t.Fatalf("created user: %+v %v", u, err)
	}
	if r.Header.Get("Location") != pages.UserURL(u.ID) {
		t.Errorf("Location %s", r.Header.Get("Location"))
	}
	if evs := admAudit(t, h, "user.created"); len(evs) != 1 || evs[0].Target != "alice" || evs[0].Details["role"] != "developer" {
		t.Errorf("audit: %+v", evs)
	}
	alice := h.browser(h.t)
	if r := alice.login("alice", "a long password 1"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("new user cannot sign in: %d", r.StatusCode)
	}
}

func TestChangeRole(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	root := admSignIn(t, h, "root", models.RoleAdmin)
	alice := h.createUser("alice", pw, models.RoleUser)
	ab := h.browser(h.t)
	ab.login("alice", pw)
	if r := ab.get("/dashboard/scopes"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("alice before: %d", r.StatusCode)
	}
	r := h.post(pages.UserURL(alice.ID), pages.UserURL(alice.ID)+"/role", url.Values{"role": {"developer"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("change role: %d", r.StatusCode)
	}
	if r := ab.get("/dashboard/scopes"); r.StatusCode != http.StatusOK {
		t.Errorf("alice as developer on next request: %d", r.StatusCode)
	}
	if evs := admAudit(t, h, "user.role_changed"); len(evs) != 1 || evs[0].Details["old"] != "user" || evs[0].Details["new"] != "developer" {
		t.Errorf("audit: %+v", evs)
	}
	r = h.post(pages.UserURL(alice.ID), pages.UserURL(alice.ID)+"/role", url.Values{"role": {"superuser"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad role: %d", r.StatusCode)
	}

	// Make alice admin, then root may step down.
	h.post(pages.UserURL(alice.ID), pages.UserURL(alice.ID)+"/role", url.Values{"role": {"admin"}})
	r = h.post(pages.UserURL(root.ID), pages.UserURL(root.ID)+"/role", url.Values{"role": {"developer"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("self demotion: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := h.get("/dashboard/users"); r.StatusCode != http.StatusForbidden {
		t.Errorf("demoted admin still sees users: %d", r.StatusCode)
	}
	if got, _ := h.store.GetUser(ctx, root.ID); got.Role != models.RoleDeveloper {
		t.Errorf("root role %s", got.Role)
	}
}

// TestLastAdminCannotBeDemotedOrDisabled: Gatehouse always keeps one
// enabled admin, also when two admins act at once.
func TestLastAdminCannotBeDemotedOrDisabled(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		root := admSignIn(t, h, "root", models.RoleAdmin)
		page := pages.UserURL(root.ID)
		r := h.get(page)
		admContains(t, "own page", r.body, "This is the only enabled administrator.", "You can't disable your own account.")
		if strings.Contains(r.body, "Save role") {
			t.Error("role form offered for the last admin")
		}
		for _, role := range []string{"developer", "user"} {
			r := h.post(page, page+"/role", url.Values{"role": {role}})
			if r.StatusCode != http.StatusConflict {
				t.Errorf("demote last admin to %s: %d, want 409", role, r.StatusCode)
			}
			admContains(t, "refusal", r.body, "This is the only enabled administrator. Make another user an admin first")
		}
		if r := h.post(page, page+"/disable", url.Values{}); r.StatusCode != http.StatusConflict {
			t.Errorf("disable self: %d, want 409", r.StatusCode)
		}
		got, _ := h.store.GetUser(ctx, root.ID)
		if got.Role != models.RoleAdmin || got.Disabled {
			t.Fatalf("last admin changed: %+v", got)
		}
		if evs := admAudit(t, h, "user.role_changed"); len(evs) != 0 {
			t.Errorf("audit after refusals: %+v", evs)
		}

		// A disabled admin does not count: with root and a disabled
		// admin, root is still the last.
		off := h.createUser("old-admin", pw, models.RoleAdmin)
		h.store.UpdateUser(ctx, off.ID, func(u *models.User) error { u.Disabled = true; return nil })
		if r := h.post(page, page+"/role", url.Values{"role": {"user"}}); r.StatusCode != http.StatusConflict {
			t.Errorf("demote with only a disabled second admin: %d", r.StatusCode)
		}

		// Two admins disabling and demoting each other at the same
		// time: one of them stays.
		for round := range 5 {
			a := h.createUser("admin-a"+strconv.Itoa(round), pw, models.RoleAdmin)
			b := h.createUser("admin-b"+strconv.Itoa(round), pw, models.RoleAdmin)
			// root steps aside so that a and b are the only admins.
			h.store.UpdateUser(ctx, root.ID, func(u *models.User) error { u.Role = models.RoleDeveloper; return nil })
			ha, hb := h.browser(h.t), h.browser(h.t)
			ha.login(a.Username, pw)
			hb.login(b.Username, pw)
			fa, fb := url.Values{"csrf_token": {ha.csrf("/dashboard/users")}}, url.Values{"csrf_token": {hb.csrf("/dashboard/users")}}
			fb.Set("role", "user")
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); ha.do(http.MethodPost, pages.UserURL(b.ID)+"/disable", fa) }()
			go func() { defer wg.Done(); hb.do(http.MethodPost, pages.UserURL(a.ID)+"/role", fb) }()
			wg.Wait()
			if n, _ := h.store.CountAdmins(ctx); n != 1 {
				t.Fatalf("round %d: %d enabled admins left, want 1", round, n)
			}
			// Reset: a and b become plain users, root admin again.
			h.store.UpdateUser(ctx, root.ID, func(u *models.User) error { u.Role = models.RoleAdmin; return nil })
			for _, id := range []int64{a.ID, b.ID} {
				h.store.UpdateUser(ctx, id, func(u *models.User) error { u.Role = models.RoleUser; return nil })
			}
		}
	})
}

func TestDisableAndEnableUser(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	alice := h.createUser("alice", pw, models.RoleUser)
	ab := h.browser(h.t)
	ab.login("alice", pw)
	if r := ab.get("/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("alice signed in: %d", r.StatusCode)
	}
	page := pages.UserURL(alice.ID)
	r := h.post(page, page+"/disable", url.Values{})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.StatusCode)
	}
	admContains(t, "flash", h.get(page).body, "alice is disabled and was signed out everywhere.", "Enable account")
	var sessions int64
	if err := h.store.DB().Model(&models.WebSession{}).Where("user_id = ?", alice.ID).Count(&sessions).Error; err != nil || sessions != 0 {
		t.Errorf("alice has %d sessions left (%v)", sessions, err)
	}
	if r := ab.get("/account"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("disabled alice still signed in: %d", r.StatusCode)
	}
	if r := h.browser(h.t).login("alice", pw); r.StatusCode != http.StatusForbidden {
		t.Errorf("disabled alice signs in: %d", r.StatusCode)
	}
	if evs := admAudit(t, h, "user.disabled"); len(evs) != 1 || evs[0].Target != "alice" {
		t.Errorf("audit: %+v", evs)
	}
	admContains(t, "list", h.get("/dashboard/users").body, "Disabled")

	r = h.post(page, page+"/enable", url.Values{})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.StatusCode)
	}
	if r := h.browser(h.t).login("alice", pw); r.StatusCode != http.StatusSeeOther {
		t.Errorf("enabled alice cannot sign in: %d", r.StatusCode)
	}
	if evs := admAudit(t, h, "user.enabled"); len(evs) != 1 {
		t.Errorf("audit: %+v", evs)
	}
	if r := h.get(pages.UserURL(99999)); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown user: %d", r.StatusCode)
	}
	if r := h.get("/dashboard/users/abc"); r.StatusCode != http.StatusNotFound {
		t.Errorf("bad id: %d", r.StatusCode)
	}
}

func TestResetUserPassword(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	root := admSignIn(t, h, "root", models.RoleAdmin)
	alice := h.createUser("alice", pw, models.RoleUser)
	ab := h.browser(h.t)
	ab.login("alice", pw)
	page := pages.UserURL(alice.ID)

	r := h.post(page, page+"/password", url.Values{"password": {"short"}, "password_confirm": {"short"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("short: %d", r.StatusCode)
	}
	admContains(t, "short", r.body, "at least 12", `id="password-error"`)
	admErrorSummary(t, "short", r.body, "password")
	r = h.post(page, page+"/password", url.Values{"password": {"brand new password"}, "password_confirm": {"brand new passw0rd"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("mismatch: %d", r.StatusCode)
	}
	admContains(t, "mismatch", r.body, "do not match", `id="password_confirm-error"`)
	admErrorSummary(t, "mismatch", r.body, "password_confirm")
	if r := ab.get("/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("refused resets signed alice out: %d", r.StatusCode)
	}

	r = h.post(page, page+"/password", url.Values{"password": {"brand new password"}, "password_confirm": {"brand new password"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", r.StatusCode)
	}
	if r := ab.get("/account"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("alice still signed in after reset: %d", r.StatusCode)
	}
	if r := h.browser(h.t).login("alice", pw); r.StatusCode == http.StatusSeeOther {
		t.Error("old password still works")
	}
	if r := h.browser(h.t).login("alice", "brand new password"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("new password refused: %d", r.StatusCode)
	}
	if evs := admAudit(t, h, "user.password_reset"); len(evs) != 1 || evs[0].Target != "alice" || evs[0].Details["families_revoked"] != "0" {
		t.Errorf("audit: %+v", evs)
	}
	// Admins change their own password on the account page.
	self := pages.UserURL(root.ID)
	if r := h.post(self, self+"/password", url.Values{"password": {"brand new password"}, "password_confirm": {"brand new password"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("self reset: %d", r.StatusCode)
	}
	if r := h.get("/dashboard"); r.StatusCode != http.StatusOK {
		t.Errorf("admin signed out: %d", r.StatusCode)
	}
}

// TestDisableAndRoleNeedConfirmation: disabling an account (which signs
// its user out everywhere) and changing a role take a second step that
// works without JavaScript: the real submit button sits in a <details>
// disclosure, beside a sentence saying what will happen.
func TestDisableAndRoleNeedConfirmation(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	alice := h.createUser("alice", pw, models.RoleUser)
	page := pages.UserURL(alice.ID)
	body := h.get(page).body

	// The disclosure around the disable form: from the last <details>
	// before the form, with no </details> between.
	action := strings.Index(body, `action="`+page+`/disable"`)
	start := strings.LastIndex(body[:max(action, 0)], "<details")
	if action < 0 || start < 0 || strings.Contains(body[start:action], "</details>") {
		t.Error("the disable form is not inside a <details> disclosure")
	} else if !regexp.MustCompile(`(?s)<summary.*Disable account….*</summary>.*signed out of every browser at once`).MatchString(body[start:action]) {
		t.Error("the disable disclosure lacks its summary or the sentence saying the user is signed out")
	}
	if n := strings.Count(body, `action="`+page+`/disable"`); n != 1 {
		t.Errorf("%d disable forms, want 1 (inside the disclosure)", n)
	}

	roleForm := body[strings.Index(body, `action="`+page+`/role"`):]
	roleForm = roleForm[:strings.Index(roleForm, "</form>")]
	details := strings.Index(roleForm, "<details")
	submit := strings.Index(roleForm, `type="submit"`)
	if details < 0 || submit < details || !strings.Contains(roleForm, "Change role…") ||
		!strings.Contains(roleForm, "new role applies from their next request") {
		t.Error("the role's submit button is not inside a <details> disclosure with a sentence saying what happens")
	}

	// The confirmed forms work as before.
	if r := h.post(page, page+"/role", url.Values{"role": {"developer"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("role: %d", r.StatusCode)
	}
	if r := h.post(page, page+"/disable", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("disable: %d", r.StatusCode)
	}
}

// TestRoleHelpMentionsOnlyBuiltPages: the admin role's description names
// the audit log only once its page exists.
func TestRoleHelpMentionsOnlyBuiltPages(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	body := h.get("/dashboard/users/new").body
	admContains(t, "new user", body, "Everything: all clients, scopes, settings")
	if got, want := strings.Contains(body, "audit log"), views.Built("/dashboard/audit"); got != want {
		t.Errorf("the page mentions the audit log: %v, but its page built: %v", got, want)
	}
}
