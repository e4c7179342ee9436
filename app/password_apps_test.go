package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// A password change ends what the old password gave (SPEC §7.1): an
// admin's reset always revokes the user's token families, the user's own
// change does when "Also sign out of all apps" is ticked (the default).

// appGrant is an access token and the refresh token of its grant.
type appGrant struct{ access, refresh string }

// wantGrantDead checks that the grant no longer works: its refresh token
// is invalid_grant, and its access token is inactive at introspection and
// refused by the resource.
func wantGrantDead(t *testing.T, f *oauthFixture, g appGrant, why string) {
	t.Helper()
	r, m := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}, true)
	if r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("%s: refresh gave %d %v, want 400 invalid_grant", why, r.StatusCode, m)
	}
	if m := f.introspect(g.access); m["active"] != false {
		t.Errorf("%s: access token still active: %v", why, m)
	}
	if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+g.access); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s: /api/user with the access token: %d, want 401", why, r.StatusCode)
	}
}

// wantGrantAlive checks that the grant still works (its access token
// first: the refresh rotates the grant, which leaves it valid).
func wantGrantAlive(t *testing.T, f *oauthFixture, g appGrant, why string) {
	t.Helper()
	if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+g.access); r.StatusCode != http.StatusOK {
		t.Errorf("%s: /api/user with the access token: %d, want 200", why, r.StatusCode)
	}
	if r, m := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}, true); r.StatusCode != http.StatusOK {
		t.Errorf("%s: refresh gave %d %v, want 200", why, r.StatusCode, m)
	}
}

func newGrant(f *oauthFixture) appGrant {
	at, rt := f.refreshPair("user.read")
	return appGrant{at, rt}
}

// TestAdminResetRevokesApps: after an admin resets alice's password, the
// refresh tokens her apps hold (opaque and JWT access tokens alike) stop
// working at once, and so do their access tokens; the audit event counts
// the grants revoked. Another user's grant is untouched.
func TestAdminResetRevokesApps(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		opaque := newGrant(f)
		f.set("access_token_format", "jwt")
		jwt := newGrant(f)
		if strings.Count(jwt.access, ".") != 2 {
			t.Fatalf("not a JWT access token: %q", jwt.access)
		}
		// Bob's grant must survive alice's reset.
		bob := &oauthFixture{harness: h.browser(h.t), confID: f.confID, confSec: f.confSec, redirect: f.redirect}
		bob.createUser("bob", pw, models.RoleUser)
		if r := bob.login("bob", pw); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("bob signs in: %d", r.StatusCode)
		}
		bobs := newGrant(bob)

		admin := h.browser(h.t)
		admSignIn(t, admin, "root", models.RoleAdmin)
		page := pages.UserURL(f.user.ID)
		r := admin.post(page, page+"/password", url.Values{"password": {"brand new password"}, "password_confirm": {"brand new password"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset: %d %.300s", r.StatusCode, r.body)
		}
		admContains(t, "flash", admin.get(page).body, "apps they authorized lost their access")

		wantGrantDead(t, f, opaque, "opaque grant after the reset")
		wantGrantDead(t, f, jwt, "JWT grant after the reset")
		wantGrantAlive(t, f, bobs, "bob's grant after alice's reset")
		if evs := admAudit(t, h, "user.password_reset"); len(evs) != 1 || evs[0].Target != "alice" || evs[0].Details["families_revoked"] != "2" {
			t.Errorf("audit: %+v", evs)
		}
		// Alice signs in with the new password and authorizes again.
		f.clearCookies()
		if r := f.login("alice", "brand new password"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("new password: %d", r.StatusCode)
		}
		wantGrantAlive(t, f, newGrant(f), "a grant after the reset")
	})
}

// TestChangePasswordSignsOutApps: the account page's password change
// revokes the user's grants when "Also sign out of all apps" is ticked
// (it is by default), and keeps them when it is not; either way this
// browser stays signed in and the other sessions end.
func TestChangePasswordSignsOutApps(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		admContains(t, "account page", f.get("/account").body,
			`name="sign_out_apps" type="checkbox" value="on" class="checkbox" checked`, "Also sign out of all apps")

		g := newGrant(f)
		other := h.browser(h.t)
		other.login("alice", pw)
		r := f.post("/account", "/account/password", url.Values{"current_password": {pw}, "new_password": {"second password 2"},
			"new_password_confirm": {"second password 2"}, "sign_out_apps": {"on"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("change with the box ticked: %d %.300s", r.StatusCode, r.body)
		}
		r = f.get("/account")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("this browser was signed out: %d", r.StatusCode)
		}
		admContains(t, "flash", r.body, "your apps were signed out")
		if r := other.get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("other session still signed in: %d", r.StatusCode)
		}
		wantGrantDead(t, f, g, "grant after a change with the box ticked")
		evs := admAudit(t, h, "user.password_changed")
		if len(evs) != 1 || evs[0].Details["sign_out_apps"] != "true" || evs[0].Details["families_revoked"] != "1" {
			t.Errorf("audit: %+v", evs)
		}

		// A refused change keeps the box as it was.
		r = f.post("/account", "/account/password", url.Values{"current_password": {"second password 2"}, "new_password": {"short"}, "new_password_confirm": {"short"}})
		if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.body, `class="checkbox" checked`) {
			t.Errorf("refused change with the box unticked: %d, box shown ticked", r.StatusCode)
		}

		// Unticked: the apps keep their grants.
		g = newGrant(f)
		r = f.post("/account", "/account/password", url.Values{"current_password": {"second password 2"}, "new_password": {"third password 33"},
			"new_password_confirm": {"third password 33"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("change with the box unticked: %d %.300s", r.StatusCode, r.body)
		}
		admContains(t, "flash", f.get("/account").body, "your apps stay signed in")
		wantGrantAlive(t, f, g, "grant after a change with the box unticked")
		if evs := admAudit(t, h, "user.password_changed"); len(evs) != 2 || evs[0].Details["sign_out_apps"] != "false" || evs[0].Details["families_revoked"] != "0" {
			t.Errorf("audit: %+v", evs)
		}
	})
}
