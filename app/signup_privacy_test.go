package app

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// Sign-up and the account page's profile form must not tell anyone which
// email addresses are registered, and both are throttled per address
// (the profile form per account too), counting every attempt.

// forEachThrottledBackend is forEachBackend with X-Forwarded-For trusted,
// so that a test can choose each request's address.
func forEachThrottledBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) { fn(t, newHarness(t, b.URL(t), throttleEnv(""))) })
	}
}

func allowSignup(t *testing.T, h *harness) {
	t.Helper()
	if err := h.store.SetSetting(context.Background(), "allow_signup", "true"); err != nil {
		t.Fatal(err)
	}
}

// postFrom submits a form of page to path from the address ip.
func postFrom(h *harness, page, path, ip string, form url.Values) *response {
	h.t.Helper()
	form.Set("csrf_token", h.csrf(page))
	return h.do(http.MethodPost, path, form, xff(ip)...)
}

func signupForm(username, email string) url.Values {
	return url.Values{"username": {username}, "email": {email}, "password": {pw}, "password_confirm": {pw}}
}

// leaks are words that would say an address is registered.
var leaks = []string{"Another account", "another account", "already", "registered", "in use", "taken by"}

// sameAnswer fails unless the two answers, one about a registered address
// and one about an unregistered one, are the same once each address is
// blanked out.
func sameAnswer(t *testing.T, what string, reg *response, regEmail string, unreg *response, unregEmail string) {
	t.Helper()
	if reg.StatusCode != unreg.StatusCode {
		t.Errorf("%s: status %d for a registered address, %d for an unregistered one", what, reg.StatusCode, unreg.StatusCode)
	}
	a, b := strings.ReplaceAll(reg.body, regEmail, "ADDRESS"), strings.ReplaceAll(unreg.body, unregEmail, "ADDRESS")
	if a != b {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Errorf("%s: the answers differ from byte %d:\nregistered:   %.200q\nunregistered: %.200q", what, i, a[i:], b[i:])
	}
}

// TestSignupDoesNotRevealRegisteredEmails: the sign-up page answers the
// same whether or not an address is registered when anything else is
// wrong (a taken username included: usernames are public), and a
// registered address alone gets a message that does not say why.
func TestSignupDoesNotRevealRegisteredEmails(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		allowSignup(t, h)
		h.createUser("grace", pw, models.RoleUser) // grace@example.com
		const reg, unreg = "GRACE@example.com", "nobody@example.com"

		// A taken username: said, whatever the address.
		a := h.post("/signup", "/signup", signupForm("grace", reg))
		b := h.post("/signup", "/signup", signupForm("grace", unreg))
		sameAnswer(t, "taken username", a, reg, b, unreg)
		admContains(t, "taken username", a.body, "This username is taken.")

		// Passwords that do not match.
		form := func(email string) url.Values {
			f := signupForm("newbie", email)
			f.Set("password_confirm", "another password")
			return f
		}
		a, b = h.post("/signup", "/signup", form(reg)), h.post("/signup", "/signup", form(unreg))
		sameAnswer(t, "passwords differ", a, reg, b, unreg)

		// Only the address is wrong: refused without saying why, the
		// input kept.
		r := h.post("/signup", "/signup", signupForm("newbie", reg))
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("registered address: %d", r.StatusCode)
		}
		admContains(t, "registered address", r.body, accounts.MsgEmailUnavailable, `id="email-error"`, `value="newbie"`, `value="`+reg+`"`)
		for _, w := range leaks {
			if strings.Contains(r.body, w) {
				t.Errorf("the sign-up page says %q about a registered address", w)
			}
		}
		if _, err := h.store.GetUserByUsername(context.Background(), "newbie"); err == nil {
			t.Error("account created with a registered address")
		}
	})
}

// TestEmailChangeDoesNotRevealRegisteredEmails: the same on the account
// page's profile form.
func TestEmailChangeDoesNotRevealRegisteredEmails(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("grace", pw, models.RoleUser)
		admSignIn(t, h, "alice", models.RoleUser)
		const reg, unreg = "Grace@Example.com", "nobody@example.com"

		form := func(email string) url.Values { return url.Values{"name": {"Alice <3"}, "email": {email}} }
		a, b := h.post("/account", "/account/profile", form(reg)), h.post("/account", "/account/profile", form(unreg))
		sameAnswer(t, "bad name", a, reg, b, unreg)

		r := h.post("/account", "/account/profile", url.Values{"name": {"Alice"}, "email": {reg}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("registered address: %d", r.StatusCode)
		}
		admContains(t, "registered address", r.body, accounts.MsgEmailUnavailable, `id="email-error"`, `value="`+reg+`"`)
		for _, w := range leaks {
			if strings.Contains(r.body, w) {
				t.Errorf("the account page says %q about a registered address", w)
			}
		}
	})
}

// TestSignupThrottled: ten sign-ups from one address within an hour,
// whatever their outcome, and the next one gets 429 with Retry-After and
// a message, its input kept and nothing created; other addresses go on.
func TestSignupThrottled(t *testing.T) {
	t.Parallel()
	forEachThrottledBackend(t, func(t *testing.T, h *harness) {
		allowSignup(t, h)
		const ip = "192.0.2.10"
		for i := range 10 {
			h.clearCookies()
			form, want := signupForm("user"+strconv.Itoa(i), ""), http.StatusSeeOther
			if i%2 == 1 {
				form.Set("password_confirm", "not the same password")
				want = http.StatusUnprocessableEntity
			}
			if r := postFrom(h, "/signup", "/signup", ip, form); r.StatusCode != want {
				t.Fatalf("sign-up %d: %d, want %d", i+1, r.StatusCode, want)
			}
		}
		h.clearCookies()
		r := postFrom(h, "/signup", "/signup", ip, signupForm("eleventh", "eleventh@example.com"))
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("11th sign-up: %d, want 429", r.StatusCode)
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 3000 || ra > 3600 {
			t.Errorf("Retry-After = %q, want about an hour", r.Header.Get("Retry-After"))
		}
		admContains(t, "throttled", r.body, "Too many sign-up attempts from your network", "Nothing was saved",
			`value="eleventh"`, `value="eleventh@example.com"`)
		if _, err := h.store.GetUserByUsername(context.Background(), "eleventh"); err == nil {
			t.Error("the throttled sign-up created an account")
		}
		if r := h.get("/signup"); r.StatusCode != http.StatusOK {
			t.Errorf("the sign-up page itself: %d", r.StatusCode)
		}
		if r := postFrom(h, "/signup", "/signup", "192.0.2.11", signupForm("eleventh", "")); r.StatusCode != http.StatusSeeOther {
			t.Errorf("another address: %d", r.StatusCode)
		}
		evs := admAudit(t, h, "user.signup_throttled")
		if len(evs) != 1 || evs[0].Target != "eleventh" || evs[0].RemoteAddr != ip || evs[0].Success || evs[0].ActorID != nil {
			t.Errorf("audit: %+v", evs)
		}
	})
}

// TestEmailChangeThrottled: ten changes of email address per account and
// per address within an hour, whatever their outcome; the next gets 429
// and saves nothing. Saving the name alone is not counted.
func TestEmailChangeThrottled(t *testing.T) {
	t.Parallel()
	forEachThrottledBackend(t, func(t *testing.T, h *harness) {
		h.createUser("grace", pw, models.RoleUser)
		alice := admSignIn(t, h, "alice", models.RoleUser)
		bob := h.browser(h.t)
		admSignIn(t, bob, "bob", models.RoleUser)
		const ip = "192.0.2.20"
		change := func(b *harness, ip, name, email string) *response {
			return postFrom(b, "/account", "/account/profile", ip, url.Values{"name": {name}, "email": {email}})
		}
		for i := range 10 {
			email, want := "alice"+strconv.Itoa(i)+"@example.com", http.StatusSeeOther
			if i%2 == 1 {
				email, want = "grace@example.com", http.StatusUnprocessableEntity
			}
			if r := change(h, ip, "", email); r.StatusCode != want {
				t.Fatalf("change %d: %d, want %d", i+1, r.StatusCode, want)
			}
		}
		r := change(h, ip, "Alice", "alice@wonderland.example")
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("11th change: %d, want 429", r.StatusCode)
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 3000 || ra > 3600 {
			t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
		admContains(t, "throttled", r.body, "Too many changes of email address", "Nothing was saved",
			`value="Alice"`, `value="alice@wonderland.example"`)
		admErrorSummary(t, "throttled", r.body)
		if u := profileUser(t, h, alice.ID); u.Email != "alice8@example.com" || u.Name != "" {
			t.Errorf("the throttled change was saved: %+v", u)
		}
		// The name alone: no change of address, not counted.
		if r := change(h, ip, "Alice", "alice8@example.com"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("name only: %d", r.StatusCode)
		}
		// The address is blocked for bob too; bob elsewhere is not, alice
		// elsewhere is (her account is blocked).
		if r := change(bob, ip, "", "bob@example.net"); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("another account from the address: %d, want 429", r.StatusCode)
		}
		if r := change(bob, "192.0.2.21", "", "bob@example.net"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("another account from another address: %d", r.StatusCode)
		}
		if r := change(h, "192.0.2.21", "Alice", "alice@wonderland.example"); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the account from another address: %d, want 429", r.StatusCode)
		}
		evs := admAudit(t, h, "user.email_change_throttled")
		if len(evs) != 3 || evs[len(evs)-1].Target != "alice" || evs[len(evs)-1].RemoteAddr != ip || evs[len(evs)-1].Success {
			t.Errorf("audit: %+v", evs)
		}
	})
}
