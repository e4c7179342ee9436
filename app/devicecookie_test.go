package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
)

// Account lockout as a weapon (issue 14, item 5): ten wrong passwords
// from anywhere block an account, and used to lock its owner out too.
// With OWASP's device cookies, the owner's browser, which signed in
// before, is still let in while the account is blocked for everyone else.

// deviceCookie is the device cookie a browser holds (nil: none).
func deviceCookie(b *from) *http.Cookie { return b.jar[handlers.DeviceCookieName(false)] }

// withCookie is a browser on h at ip holding only a device cookie with
// that value.
func withCookie(h *harness, ip, value string) *from {
	b := browserAt(h, ip)
	b.jar[handlers.DeviceCookieName(false)] = &http.Cookie{Name: handlers.DeviceCookieName(false), Value: value}
	return b
}

func signInAt(b *from, user, password string) *response {
	b.t.Helper()
	return b.post("/login", "/login", url.Values{"username": {user}, "password": {password}})
}

// TestDeviceCookiesKeepOwnerIn performs the attack on two instances of
// one database (SQLite, PostgreSQL) and on Redis: (a) an attacker blocks
// the account, and the owner's browser, holding its device cookie, still
// signs in (on the other instance too); (b) without the cookie the owner
// is blocked like the attacker (429, Retry-After); (c) another account's
// cookie, a forged one or a tampered one does not get through; (d) a
// cookie gets 5 failures of its own, then is blocked while other cookies
// still work; and the address limit holds for cookie holders too.
func TestDeviceCookiesKeepOwnerIn(t *testing.T) {
	t.Parallel()
	eachThrottleStore(t, func(t *testing.T, a *oauthFixture, b *harness) {
		A := a.harness
		A.createUser("bob", alicePW, models.RoleUser)
		want := func(what string, r *response, status int) {
			t.Helper()
			wantStatus(t, what, r, status)
			if status == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 600 {
					t.Fatalf("%s: Retry-After %q", what, r.Header.Get("Retry-After"))
				}
			}
		}

		// The owner signs in on two browsers (one per instance), then
		// signs out; bob signs in on his.
		owner := browserAt(A, "192.0.2.10")
		want("owner signs in", signInAt(owner, "alice", alicePW), http.StatusSeeOther)
		c := deviceCookie(owner)
		if c == nil {
			t.Fatal("no device cookie after signing in")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure || c.MaxAge < 300*24*3600 {
			t.Errorf("device cookie flags: %+v", c)
		}
		want("owner signs out", owner.post("/dashboard", "/logout", url.Values{}), http.StatusSeeOther)
		if deviceCookie(owner) == nil {
			t.Fatal("signing out dropped the device cookie")
		}
		owner2 := browserAt(b, "192.0.2.11")
		want("owner's second browser", signInAt(owner2, "alice", alicePW), http.StatusSeeOther)
		want("owner signs out there", owner2.post("/dashboard", "/logout", url.Values{}), http.StatusSeeOther)
		bobs := browserAt(A, "192.0.2.12")
		want("bob signs in", signInAt(bobs, "bob", alicePW), http.StatusSeeOther)
		aliceCookie, bobCookie := deviceCookie(owner).Value, deviceCookie(bobs).Value

		// The attacker: 10 wrong passwords from 10 addresses over both
		// instances block the account.
		for i := range 10 {
			want("attacker", signInAt(browserAt(pick(i, A, b), fmt.Sprintf("203.0.113.%d", i+1)), "alice", "wrong password!"), http.StatusUnauthorized)
		}
		want("attacker after 10 failures", signInAt(browserAt(A, "203.0.113.50"), "alice", alicePW), http.StatusTooManyRequests)

		// (b) Without its cookie the owner's browser is blocked too, even
		// from its usual address.
		want("owner without the cookie", signInAt(browserAt(b, "192.0.2.10"), "alice", alicePW), http.StatusTooManyRequests)

		// (a) With it, the owner signs in, on either instance; the
		// account stays blocked for everyone else.
		want("owner with the cookie", signInAt(owner, "alice", alicePW), http.StatusSeeOther)
		if r := owner.get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("owner not signed in: %d", r.StatusCode)
		}
		if deviceCookie(owner).Value == aliceCookie {
			t.Error("the device cookie was not renewed")
		}
		want("owner signs out", owner.post("/dashboard", "/logout", url.Values{}), http.StatusSeeOther)
		want("owner's cookie on the other instance", signInAt(withCookie(b, "192.0.2.13", deviceCookie(owner).Value), "alice", alicePW), http.StatusSeeOther)
		want("still blocked for others", signInAt(browserAt(A, "192.0.2.14"), "alice", alicePW), http.StatusTooManyRequests)

		// (c) Bob's cookie, a forged one, tampered ones.
		want("bob's cookie", signInAt(withCookie(A, "192.0.2.12", bobCookie), "alice", alicePW), http.StatusTooManyRequests)
		parts := strings.Split(aliceCookie, ".")
		forged := fmt.Sprintf("d1.%d.%s.%d.%s", a.user.ID, "AAAAAAAAAAAAAAAAAAAAAA", time.Now().Unix(), parts[4])
		want("forged cookie", signInAt(withCookie(A, "192.0.2.10", forged), "alice", alicePW), http.StatusTooManyRequests)
		bp := strings.Split(bobCookie, ".")
		bp[1] = strconv.FormatInt(a.user.ID, 10)
		want("bob's cookie naming alice", signInAt(withCookie(A, "192.0.2.12", strings.Join(bp, ".")), "alice", alicePW), http.StatusTooManyRequests)
		flipped := aliceCookie[:len(aliceCookie)-2] + map[bool]string{true: "A", false: "B"}[aliceCookie[len(aliceCookie)-2] != 'A'] + aliceCookie[len(aliceCookie)-1:]
		want("tampered MAC", signInAt(withCookie(b, "192.0.2.10", flipped), "alice", alicePW), http.StatusTooManyRequests)

		// (d) Someone with the second browser's cookie: 5 failures of
		// its own, then that cookie is blocked, even with the right
		// password; the owner's other cookie still works.
		stolen := deviceCookie(owner2).Value
		for i := range 5 {
			want(fmt.Sprintf("failure %d with a valid cookie", i+1), signInAt(withCookie(pick(i, A, b), "198.51.100.20", stolen), "alice", "wrong password!"), http.StatusUnauthorized)
		}
		want("cookie after 5 failures", signInAt(withCookie(A, "198.51.100.20", stolen), "alice", alicePW), http.StatusTooManyRequests)
		want("owner2 with its blocked cookie", signInAt(owner2, "alice", alicePW), http.StatusTooManyRequests)
		want("owner's other cookie", signInAt(owner, "alice", alicePW), http.StatusSeeOther)

		// The address limit holds for cookie holders: 30 failures from
		// an address block the owner's browser there too.
		for i := range 30 {
			want("address failures", signInAt(browserAt(pick(i, A, b), "198.51.100.30"), fmt.Sprintf("nobody%d", i), "wrong password!"), http.StatusUnauthorized)
		}
		want("cookie from the blocked address", signInAt(withCookie(A, "198.51.100.30", deviceCookie(owner).Value), "alice", alicePW), http.StatusTooManyRequests)

		// The audit log tells the trusted sign-ins apart.
		trusted := 0
		for _, e := range admAudit(t, A, "login.success") {
			if e.Details["device"] == "trusted" {
				trusted++
			}
		}
		if trusted != 3 {
			t.Errorf("%d sign-ins with a device cookie in the audit log, want 3", trusted)
		}
	})
}

// TestDeviceCookieOnHTTPS: on https the device cookie is
// __Host-gatehouse_device, Secure, like the session cookie.
func TestDeviceCookieOnHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_ISSUER": "https://auth.example.com"})
	h.createUser("alice", pw, models.RoleUser)
	r := h.login("alice", pw)
	wantStatus(t, "sign in", r, http.StatusSeeOther)
	var c *http.Cookie
	for _, x := range r.Cookies() {
		if x.Name == "__Host-gatehouse_device" {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("no __Host-gatehouse_device cookie: %v", r.Header.Values("Set-Cookie"))
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("device cookie flags: %+v", c)
	}
}

// While an attacker keeps the account blocked, its owner, signed in on
// the browser that holds the account's device cookie, can still change
// the password; a browser without it (a stolen session elsewhere) cannot
// guess the current password past the account's block.
func TestDeviceCookieLetsOwnerChangePassword(t *testing.T) {
	t.Parallel()
	eachThrottleStore(t, func(t *testing.T, a *oauthFixture, b *harness) {
		A := a.harness
		owner := browserAt(A, "192.0.2.10")
		wantStatus(t, "owner signs in", signInAt(owner, "alice", alicePW), http.StatusSeeOther)
		for i := range 10 {
			wantStatus(t, "attacker", signInAt(browserAt(pick(i, A, b), fmt.Sprintf("203.0.113.%d", i+1)), "alice", "wrong password!"), http.StatusUnauthorized)
		}
		// A session without the device cookie (the cookie dropped) is
		// held to the account's block.
		noCookie := &from{harness: A.browser(A.t), ip: owner.ip}
		for k, v := range owner.jar {
			if k != handlers.DeviceCookieName(false) {
				noCookie.jar[k] = v
			}
		}
		change := func(b *from, next string) *response {
			return b.post("/account", "/account/password", url.Values{"current_password": {alicePW}, "new_password": {next},
				"new_password_confirm": {next}, "sign_out_apps": {"on"}})
		}
		wantStatus(t, "password change without the device cookie", change(noCookie, "a brand new password 1"), http.StatusTooManyRequests)
		wantStatus(t, "password change by the owner", change(owner, "a brand new password 2"), http.StatusSeeOther)
	})
}
