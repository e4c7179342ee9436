package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// profileSetVerified marks a user's stored email address verified (as an
// admin or the CLI would).
func profileSetVerified(t *testing.T, h *harness, id int64, verified bool) {
	t.Helper()
	if err := h.store.UpdateUser(context.Background(), id, func(u *models.User) error { u.EmailVerified = verified; return nil }); err != nil {
		t.Fatal(err)
	}
}

func profileUser(t *testing.T, h *harness, id int64) *models.User {
	t.Helper()
	u, err := h.store.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// profileClaims fetches UserInfo with a token for scopes openid, profile
// and email.
func profileClaims(t *testing.T, f *oauthFixture, at string) map[string]any {
	t.Helper()
	r := f.do(http.MethodGet, "/oauth/userinfo", nil, "Authorization", "Bearer "+at)
	var c map[string]any
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &c) != nil {
		t.Fatalf("userinfo: %d %s", r.StatusCode, r.body)
	}
	return c
}

// TestAccountProfile: users change their own name and email address; a
// new address is unverified, and apps see the change in UserInfo.
func TestAccountProfile(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		profileSetVerified(t, h, f.user.ID, true)
		at := f.oidcTokens("openid profile email", "n")["access_token"].(string)

		r := h.get("/account")
		admContains(t, "account page", r.body, `action="/account/profile"`, `name="name"`, `value="alice@example.com"`, "Verified", `autocomplete="email"`)

		// The name alone: the address stays verified.
		r = h.post("/account", "/account/profile", url.Values{"name": {"  Alice Liddell "}, "email": {"alice@example.com"}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("save name: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if u := profileUser(t, h, f.user.ID); u.Name != "Alice Liddell" || !u.EmailVerified {
			t.Errorf("after the name change: %+v", u)
		}
		admContains(t, "flash", h.get("/account").body, "Your profile was saved.", `value="Alice Liddell"`)
		if evs := admAudit(t, h, "user.profile"); len(evs) != 1 || evs[0].Target != "alice" || evs[0].Details["changed"] != "name" ||
			evs[0].ActorID == nil || *evs[0].ActorID != f.user.ID {
			t.Errorf("audit: %+v", evs)
		}
		c := profileClaims(t, f, at)
		if c["name"] != "Alice Liddell" || c["email"] != "alice@example.com" || c["email_verified"] != true {
			t.Errorf("claims after the name change: %v", c)
		}

		// A new address is not verified.
		r = h.post("/account", "/account/profile", url.Values{"name": {"Alice Liddell"}, "email": {"alice@wonderland.example"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("save email: %d", r.StatusCode)
		}
		if u := profileUser(t, h, f.user.ID); u.Email != "alice@wonderland.example" || u.EmailVerified {
			t.Errorf("after the email change: %+v", u)
		}
		body := h.get("/account").body
		admContains(t, "flash", body, "Apps see your new email address as not verified.", "Not verified")
		evs := admAudit(t, h, "user.profile")
		if len(evs) != 2 || evs[0].Details["changed"] != "email,email_verified" ||
			evs[0].Details["email"] != "alice@example.com -> alice@wonderland.example" || evs[0].Details["email_verified"] != "true -> false" {
			t.Errorf("audit of the email change: %+v", evs)
		}
		c = profileClaims(t, f, at)
		if c["email"] != "alice@wonderland.example" || c["email_verified"] != false {
			t.Errorf("claims after the email change: %v", c)
		}

		// A user cannot verify their own address.
		profileSetVerified(t, h, f.user.ID, false)
		h.post("/account", "/account/profile", url.Values{"name": {"Alice Liddell"}, "email": {"alice@wonderland.example"}, "email_verified": {"on"}})
		if u := profileUser(t, h, f.user.ID); u.EmailVerified {
			t.Error("a user verified their own address")
		}

		// Saving it as it is changes nothing and records nothing.
		r = h.post("/account", "/account/profile", url.Values{"name": {"Alice Liddell"}, "email": {"alice@wonderland.example"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("unchanged: %d", r.StatusCode)
		}
		admContains(t, "unchanged", h.get("/account").body, "Your profile is unchanged.")
		if evs := admAudit(t, h, "user.profile"); len(evs) != 2 {
			t.Errorf("%d profile events after an unchanged save, want 2", len(evs))
		}

		// Both fields may be emptied.
		h.post("/account", "/account/profile", url.Values{"name": {""}, "email": {""}})
		if u := profileUser(t, h, f.user.ID); u.Name != "" || u.Email != "" || u.EmailVerified {
			t.Errorf("after clearing: %+v", u)
		}
		c = profileClaims(t, f, at)
		if _, ok := c["email"]; ok {
			t.Errorf("claims after clearing the address: %v", c)
		}
	})
}

// TestAccountProfileRefused: bad input is shown again with the error next
// to its field and in the summary; nothing is stored. A taken address
// (compared without case, as the unique index does) is a field error,
// never a database error.
func TestAccountProfileRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("grace", pw, models.RoleUser)
		alice := admSignIn(t, h, "alice", models.RoleUser)
		profileSetVerified(t, h, alice.ID, true)
		cases := []struct {
			name       string
			form       url.Values
			field, msg string
			kept       string
		}{
			{"bad email", url.Values{"name": {"Alice"}, "email": {"alice@"}}, "email", "Enter an email address such as ada@example.com.", `value="alice@"`},
			{"bad name", url.Values{"name": {"<Alice>"}, "email": {"alice@example.com"}}, "name", "without line breaks or < >", `value="&lt;Alice&gt;"`},
			{"long name", url.Values{"name": {strings.Repeat("é", 101)}, "email": {"alice@example.com"}}, "name", "at most 100 characters", ""},
			{"taken email", url.Values{"name": {"Alice"}, "email": {"GRACE@example.com"}}, "email", accounts.MsgEmailUnavailable, `value="GRACE@example.com"`},
		}
		for _, tc := range cases {
			r := h.post("/account", "/account/profile", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", tc.name, r.StatusCode)
				continue
			}
			admContains(t, tc.name, r.body, tc.msg, `id="`+tc.field+`-error"`, `aria-invalid="true"`)
			admErrorSummary(t, tc.name, r.body, tc.field)
			if tc.kept != "" {
				admContains(t, tc.name, r.body, tc.kept)
			}
			for _, leak := range []string{"UNIQUE", "unique", "constraint", "SQL", "duplicate key"} {
				if strings.Contains(r.body, leak) {
					t.Errorf("%s: the page shows %q", tc.name, leak)
				}
			}
		}
		if u := profileUser(t, h, alice.ID); u.Name != "" || u.Email != "alice@example.com" || !u.EmailVerified {
			t.Errorf("refused forms changed the profile: %+v", u)
		}
		if evs := admAudit(t, h, "user.profile"); len(evs) != 0 {
			t.Errorf("refused forms audited: %+v", evs)
		}
	})
}

// TestAccountProfileNeedsSignInAndCSRF: the form needs a session and its
// CSRF token.
func TestAccountProfileNeedsSignInAndCSRF(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	alice := h.createUser("alice", pw, models.RoleUser)
	r := h.do(http.MethodPost, "/account/profile", url.Values{"name": {"Mallory"}, "email": {"m@example.com"}, "csrf_token": {h.csrf("/login")}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out: %d, want 401", r.StatusCode)
	}
	h.login("alice", pw)
	for name, tok := range map[string]string{"no token": "", "wrong token": "not-the-token"} {
		form := url.Values{"name": {"Mallory"}, "email": {"m@example.com"}}
		if tok != "" {
			form.Set("csrf_token", tok)
		}
		if r := h.do(http.MethodPost, "/account/profile", form); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.StatusCode)
		}
	}
	if u := profileUser(t, h, alice.ID); u.Name != "" || u.Email != "alice@example.com" {
		t.Errorf("profile changed without a valid session and token: %+v", u)
	}
}

// TestAdminUserProfile: admins edit a user's name, email address and its
// verification; a box shown ticked for a verified address does not vouch
// for a new one.
func TestAdminUserProfile(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		ab := h.browser(h.t)
		f.signIn()
		at := f.oidcTokens("openid profile email", "n")["access_token"].(string)
		root := h.createUser("root", pw, models.RoleAdmin)
		if r := ab.login("root", pw); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("admin login: %d", r.StatusCode)
		}
		page := pages.UserURL(f.user.ID)
		save := func(name, email string, verified bool) *response {
			t.Helper()
			form := url.Values{"name": {name}, "email": {email}}
			if verified {
				form.Set("email_verified", "on")
			}
			return ab.post(page, page+"/profile", form)
		}
		body := ab.get(page).body
		admContains(t, "user page", body, `action="`+page+`/profile"`, `name="email_verified"`, "Email address verified",
			"Sent to apps as email_verified", "Gatehouse sends no verification mail")
		if strings.Contains(body, `name="email_verified" type="checkbox" value="on" class="checkbox" checked`) {
			t.Error("the box is ticked for an unverified address")
		}

		// Name and verification of the current address.
		r := save("Alice Liddell", "alice@example.com", true)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != page {
			t.Fatalf("save: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if u := profileUser(t, h, f.user.ID); u.Name != "Alice Liddell" || !u.EmailVerified {
			t.Errorf("after saving: %+v", u)
		}
		body = ab.get(page).body
		admContains(t, "saved", body, "alice's profile was saved. Apps see the email address as verified.", "Verified")
		evs := admAudit(t, h, "user.profile")
		if len(evs) != 1 || evs[0].Actor != "root" || *evs[0].ActorID != root.ID || evs[0].Target != "alice" ||
			evs[0].Details["changed"] != "name,email_verified" || evs[0].Details["email_verified"] != "false -> true" {
			t.Errorf("audit: %+v", evs)
		}
		c := profileClaims(t, f, at)
		if c["name"] != "Alice Liddell" || c["email_verified"] != true || c["preferred_username"] != "alice" {
			t.Errorf("claims: %v", c)
		}
		// The list marks the verified address.
		admContains(t, "list", ab.get("/dashboard/users").body, "alice@example.com", `title="Email address verified"`, "(verified)")

		// A new address with the box left ticked (as shown): unverified,
		// and the flash says how to verify it.
		r = save("Alice Liddell", "alice@wonderland.example", true)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("change address: %d", r.StatusCode)
		}
		if u := profileUser(t, h, f.user.ID); u.Email != "alice@wonderland.example" || u.EmailVerified {
			t.Errorf("a tick for the old address verified the new one: %+v", u)
		}
		admContains(t, "stale tick", ab.get(page).body, "The new email address is not verified: if you know it is theirs, tick Email address verified and save again.")
		if c := profileClaims(t, f, at); c["email"] != "alice@wonderland.example" || c["email_verified"] != false {
			t.Errorf("claims after the change: %v", c)
		}
		// Ticked on the unverified address: verified.
		save("Alice Liddell", "alice@wonderland.example", true)
		if u := profileUser(t, h, f.user.ID); !u.EmailVerified {
			t.Error("ticking the box did not verify the address")
		}
		// Unticked: verification cleared.
		save("Alice Liddell", "alice@wonderland.example", false)
		if u := profileUser(t, h, f.user.ID); u.EmailVerified {
			t.Error("unticking the box kept the address verified")
		}
		// A new address typed with the box ticked while the old one was
		// unverified: the admin ticked it for the new one.
		save("Alice Liddell", "alice@example.org", true)
		if u := profileUser(t, h, f.user.ID); u.Email != "alice@example.org" || !u.EmailVerified {
			t.Errorf("new verified address: %+v", u)
		}
		// A new address without the box: unverified.
		save("Alice Liddell", "alice@example.net", false)
		if u := profileUser(t, h, f.user.ID); u.Email != "alice@example.net" || u.EmailVerified {
			t.Errorf("changed without the box: %+v", u)
		}

		// Unchanged: nothing recorded.
		n := len(admAudit(t, h, "user.profile"))
		save("Alice Liddell", "alice@example.net", false)
		admContains(t, "unchanged", ab.get(page).body, "Nothing changed in alice's profile.")
		if got := len(admAudit(t, h, "user.profile")); got != n {
			t.Errorf("unchanged save audited: %d events, want %d", got, n)
		}
	})
}

// TestAdminUserProfileRefused: the same rules as account creation, with
// errors next to the fields and in the summary; the form keeps what was
// typed, the checkbox included.
func TestAdminUserProfileRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		admSignIn(t, h, "root", models.RoleAdmin)
		alice := h.createUser("alice", pw, models.RoleUser)
		page := pages.UserURL(alice.ID)
		cases := []struct {
			name       string
			form       url.Values
			field, msg string
			kept       []string
		}{
			{"bad email", url.Values{"name": {"Alice"}, "email": {"not an address"}, "email_verified": {"on"}}, "email", "Enter an email address",
				[]string{`value="not an address"`, `value="Alice"`, `value="on" class="checkbox" checked`}},
			{"bad name", url.Values{"name": {"Alice\r\nBcc: x"}, "email": {"alice@example.com"}}, "name", "without line breaks", nil},
			{"verified without address", url.Values{"name": {"Alice"}, "email": {""}, "email_verified": {"on"}}, "email",
				"Enter the email address you mark as verified, or untick Email address verified.", nil},
			{"taken email", url.Values{"name": {"Alice"}, "email": {"Root@Example.com"}}, "email", "Another account uses this email address.",
				[]string{`value="Root@Example.com"`}},
		}
		for _, tc := range cases {
			r := h.post(page, page+"/profile", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", tc.name, r.StatusCode)
				continue
			}
			admContains(t, tc.name, r.body, tc.msg, `id="`+tc.field+`-error"`)
			admContains(t, tc.name, r.body, tc.kept...)
			admErrorSummary(t, tc.name, r.body, tc.field)
			// The rest of the page is the user's as stored.
			admContains(t, tc.name, r.body, `action="`+page+`/role"`, "alice@example.com")
		}
		if u := profileUser(t, h, alice.ID); u.Name != "" || u.Email != "alice@example.com" || u.EmailVerified {
			t.Errorf("refused forms changed the profile: %+v", u)
		}
		if r := h.post(page, pages.UserURL(99999)+"/profile", url.Values{"name": {"x"}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("unknown user: %d", r.StatusCode)
		}
		// Without the CSRF token: refused.
		if r := h.do(http.MethodPost, page+"/profile", url.Values{"name": {"Mallory"}, "email": {"alice@example.com"}}); r.StatusCode != http.StatusForbidden {
			t.Errorf("without CSRF token: %d", r.StatusCode)
		}
		if u := profileUser(t, h, alice.ID); u.Name != "" {
			t.Errorf("changed without CSRF token: %+v", u)
		}
	})
}

// TestAdminProfileForbiddenToOthers: developers and users cannot post to
// the admin's profile form, for others or for themselves.
func TestAdminProfileForbiddenToOthers(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	victim := h.createUser("victim", pw, models.RoleUser)
	for _, role := range []string{models.RoleUser, models.RoleDeveloper} {
		me := admSignIn(t, h, "u-"+role, role)
		for _, id := range []int64{victim.ID, me.ID} {
			form := url.Values{"name": {"Mallory"}, "email": {"mallory@example.com"}, "email_verified": {"on"}}
			if r := h.post("/account", pages.UserURL(id)+"/profile", form); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST profile of #%d: %d, want 403", role, id, r.StatusCode)
			}
			if u := profileUser(t, h, id); u.Name == "Mallory" || u.EmailVerified {
				t.Errorf("%s changed #%d: %+v", role, id, u)
			}
		}
	}
}

// TestCreateUserEmailVerified: the new-user form and `users create` can
// say the address is verified; the box is off by default.
func TestCreateUserEmailVerified(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	body := h.get("/dashboard/users/new").body
	admContains(t, "new user", body, `name="email_verified"`, "Email address verified", "Gatehouse sends no verification mail")
	if strings.Contains(body, `value="on" class="checkbox" checked`) {
		t.Error("the box is ticked by default")
	}
	form := func(username, email string, verified bool) url.Values {
		v := url.Values{"username": {username}, "email": {email}, "role": {"user"}, "password": {"a long password 1"}, "password_confirm": {"a long password 1"}}
		if verified {
			v.Set("email_verified", "on")
		}
		return v
	}
	ctx := context.Background()
	for _, tc := range []struct {
		username string
		verified bool
	}{{"ver", true}, {"unver", false}} {
		r := h.post("/dashboard/users/new", "/dashboard/users", form(tc.username, tc.username+"@example.com", tc.verified))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", tc.username, r.StatusCode)
		}
		u, err := h.store.GetUserByUsername(ctx, tc.username)
		if err != nil || u.EmailVerified != tc.verified {
			t.Errorf("%s: %+v %v", tc.username, u, err)
		}
	}
	evs := admAudit(t, h, "user.created")
	if len(evs) != 2 || evs[0].Details["email_verified"] != "" || evs[1].Details["email_verified"] != "true" {
		t.Errorf("audit: %+v", evs)
	}
	// Verified without an address: refused, the box kept.
	r := h.post("/dashboard/users/new", "/dashboard/users", form("noaddr", "", true))
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("verified without address: %d", r.StatusCode)
	}
	admContains(t, "no address", r.body, "Enter the email address you mark as verified", `value="on" class="checkbox" checked`)
	admErrorSummary(t, "no address", r.body, "email")

	// The CLI.
	env := map[string]string{"GATEHOUSE_DATABASE_URL": h.srv.Config.DatabaseURL}
	if res := runCLI(env, "long enough pw\n", "users", "create", "--username", "cli-ver", "--email", "cli@example.com", "--email-verified", "--password-stdin"); res.code != 0 {
		t.Fatalf("cli: %+v", res)
	}
	if u, err := h.store.GetUserByUsername(ctx, "cli-ver"); err != nil || !u.EmailVerified {
		t.Errorf("cli --email-verified: %+v %v", u, err)
	}
	if res := runCLI(env, "long enough pw\n", "users", "create", "--username", "cli-bad", "--email-verified", "--password-stdin"); res.code != 1 ||
		!strings.Contains(res.stderr, "email: Enter the email address you mark as verified") {
		t.Errorf("cli --email-verified without --email: %+v", res)
	}
	if res := runCLI(nil, "", "users", "create", "-h"); !strings.Contains(res.stdout+res.stderr, "--email-verified") && !strings.Contains(res.stdout+res.stderr, "-email-verified") {
		t.Errorf("cli help lacks --email-verified: %+v", res)
	}
}
