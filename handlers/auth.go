package handlers

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/metrics"
	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Messages of the sign-in form. An unknown user and a wrong password get
// the same one.
const (
	msgBadCredentials = "Incorrect username or password."
	msgMissingFields  = "Enter your username and password."
	msgDisabled       = "This account is disabled. Ask an administrator to enable it."
)

// msgUsernameTooLong is the username field's message for a name longer
// than any account's.
var msgUsernameTooLong = fmt.Sprintf("Usernames are at most %d characters long.", accounts.MaxUsernameBytes)

// maxKeptUsername is the longest username the sign-in form shows again
// after a refusal; a longer one (no typo) is left out of the page.
const maxKeptUsername = 1024

// keptUsername is what the sign-in form shows again of a refused username.
func keptUsername(input string) string {
	if len(input) > maxKeptUsername {
		return ""
	}
	return input
}

// LoginPage shows the sign-in form (GET /login).
func (h *Handlers) LoginPage(c *fiber.Ctx) error {
	next := web.SafeNext(c.Query("next"))
	// reauth: an authorization request asks a signed-in user to enter
	// the password again (prompt=login, max_age).
	if web.CurrentUser(c) != nil && !(c.Query("reauth") == "1" && next != "") {
		return c.Redirect(orDefault(next, "/dashboard"), fiber.StatusSeeOther)
	}
	b := h.base(c, "Sign in", "")
	if c.Query("signed_out") != "" {
		b.Flashes = append(b.Flashes, views.Flash{Kind: "info", Message: "You have signed out."})
	}
	return h.renderLogin(c, fiber.StatusOK, b, pages.LoginForm{Next: next})
}

func (h *Handlers) renderLogin(c *fiber.Ctx, status int, b views.Base, f pages.LoginForm) error {
	// Signing in to continue an authorization ends at the client.
	p := pendingFor(web.CurrentSession(c), f.Next)
	web.AllowFormTarget(c, p.Origin)
	f.ContinueTo = p.Client
	f.ForDevice = f.Next == "/device" || strings.HasPrefix(f.Next, "/device?")
	if vals, err := h.Settings.Load(c.UserContext()); err == nil {
		f.SignupAllowed = vals.AllowSignup
	}
	return web.Render(c, status, pages.Login(b, f))
}

// Login checks the credentials (POST /login). Failures are throttled per
// username and per client address; an unknown user costs the same time
// and gets the same answer as a wrong password. A username longer than
// any account's is refused first, before the throttle or the audit log
// see it.
//
// A browser that signed in to the account before carries a device cookie
// for it (handlers/devicecookie.go): its attempts are throttled per
// cookie and per address instead of per account, so that someone
// guessing the password elsewhere, who may block the account, does not
// lock the owner's browser out. Every successful sign-in renews the
// cookie.
func (h *Handlers) Login(c *fiber.Ctx) error {
	ctx := c.UserContext()
	input := strings.TrimSpace(c.FormValue("username"))
	username := accounts.NormalizeUsername(input)
	pw := c.FormValue("password")
	next := web.SafeNext(c.FormValue("next"))
	form := pages.LoginForm{Username: input, Next: next}
	fail := func(status int, msg string) error {
		form.Error = msg
		return h.renderLogin(c, status, h.base(c, "Sign in", ""), form)
	}
	if username == "" || pw == "" {
		return fail(fiber.StatusBadRequest, msgMissingFields)
	}
	if len(username) > accounts.MaxUsernameBytes {
		form.Username, form.UsernameError = keptUsername(input), msgUsernameTooLong
		return h.renderLogin(c, fiber.StatusBadRequest, h.base(c, "Sign in", ""), form)
	}
	// A valid device cookie counts only for the account it names.
	dev, trusted, err := h.trustedDevice(c)
	if err != nil {
		return err
	}
	var u *models.User
	lookedUp := false
	lookUp := func() error {
		lookedUp = true
		var err error
		u, err = h.Store.GetUserByUsername(ctx, username)
		if errors.Is(err, store.ErrNotFound) {
			u, err = nil, nil
		}
		return err
	}
	var userID int64
	if trusted {
		if err := lookUp(); err != nil {
			return err
		}
		if u != nil {
			userID = u.ID
		}
	}
	attempt, wait, trusted, err := h.beginGuess(c, dev, trusted, userID, username)
	if err != nil {
		return err
	}
	var details map[string]string
	if trusted {
		details = map[string]string{"device": "trusted"}
	}
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(throttle.RetryAfterSeconds(wait)))
		h.auditThrottled(c, username, details)
		return fail(fiber.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", humanWait(wait)))
	}
	if !lookedUp {
		if err := lookUp(); err != nil {
			return err
		}
	}
	ok := false
	if u != nil {
		ok, err = password.Verify(pw, u.PasswordHash)
		if err != nil {
			h.Log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID)
			ok = false
		}
	} else {
		password.VerifyDummy(pw)
	}
	if !ok {
		// The attempt stays counted as a failure.
		h.audit(c, nil, "login.failure", username, false, details)
		h.Metrics.LoginFailed(metrics.LoginForm)
		return fail(fiber.StatusUnauthorized, msgBadCredentials)
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return err
	}
	if u.Disabled {
		h.audit(c, u, "login.failure", username, false, withDetail(details, "reason", "disabled"))
		h.Metrics.LoginFailed(metrics.LoginForm)
		return fail(fiber.StatusForbidden, msgDisabled)
	}
	web.CurrentSession(c).SignIn(u.ID, h.Now(), device(c))
	if err := h.setDeviceCookie(c, u.ID); err != nil {
		// Signed in all the same; the next sign-in tries again.
		h.Log.ErrorContext(ctx, "device cookie not set", "err", err)
	}
	h.audit(c, u, "login.success", username, true, details)
	return seeOther(c, orDefault(next, "/dashboard"))
}

// withDetail is details (which may be nil) with key set to value.
func withDetail(details map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(details)+1)
	maps.Copy(out, details)
	out[key] = value
	return out
}

// CSRFFailed answers a form whose CSRF token is missing or stale, which
// mostly happens to forms left open in another tab: signing out twice
// just signs out, a stale sign-in form of a signed-in user leads home, and
// an expired sign-in form is shown again with a fresh token. Anything else
// gets a 403 page that says what happened.
func (h *Handlers) CSRFFailed(c *fiber.Ctx) error {
	signedIn := web.CurrentUser(c) != nil
	switch c.Path() {
	case "/logout":
		if !signedIn {
			return seeOther(c, "/login?signed_out=1")
		}
	case "/login":
		if signedIn {
			return seeOther(c, orDefault(web.SafeNext(c.FormValue("next")), "/dashboard"))
		}
		f := pages.LoginForm{Username: keptUsername(strings.TrimSpace(c.FormValue("username"))), Next: web.SafeNext(c.FormValue("next")),
			Error: "The sign-in form had expired. Please sign in again."}
		return h.renderLogin(c, fiber.StatusForbidden, h.base(c, "Sign in", ""), f)
	}
	return h.RenderError(c, fiber.StatusForbidden, "This form has expired", web.CSRFMessage)
}

// device is where the request comes from, as a session remembers it.
func device(c *fiber.Ctx) web.Device {
	return web.Device{UserAgent: c.Get(fiber.HeaderUserAgent), RemoteAddr: web.IP(c)}
}

// SignupPage shows the registration form while allow_signup is on.
func (h *Handlers) SignupPage(c *fiber.Ctx) error {
	if err := h.requireSignup(c); err != nil {
		return err
	}
	if web.CurrentUser(c) != nil {
		return seeOther(c, "/dashboard")
	}
	return web.Render(c, fiber.StatusOK, pages.Signup(h.base(c, "Create an account", ""), pages.SignupForm{}))
}

// Signup creates a user account and signs it in (POST /signup). Every
// attempt counts against the address's sign-up limit, whatever its
// outcome: the answer to an email address another account uses does not
// say so (accounts.MsgEmailUnavailable), and the limit bounds how many
// addresses anyone can try.
func (h *Handlers) Signup(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := h.requireSignup(c); err != nil {
		return err
	}
	in := accounts.Input{
		Username: c.FormValue("username"), Email: c.FormValue("email"), Name: c.FormValue("name"),
		Password: c.FormValue("password"), PasswordConfirm: c.FormValue("password_confirm"), ConfirmPassword: true,
		Role: models.RoleUser,
	}
	refused := func(status int, errs views.FieldErrors) error {
		in.Normalize()
		f := pages.SignupForm{Username: in.Username, Email: in.Email, Name: in.Name, Errors: errs}
		return web.Render(c, status, pages.Signup(h.base(c, "Create an account", ""), f))
	}
	if _, wait, err := h.SignupThrottle.Begin(ctx, "", web.IP(c)); err != nil {
		return err
	} else if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(throttle.RetryAfterSeconds(wait)))
		target := accounts.NormalizeUsername(in.Username)
		if accounts.CheckUsername(target) != "" {
			target = "" // only well-formed usernames reach the audit log
		}
		h.auditThrottledAttempt(c, nil, "user.signup_throttled", target)
		return refused(fiber.StatusTooManyRequests, views.FieldErrors{views.FormError: "Too many sign-up attempts from your network. " +
			"Nothing was saved. Try again in " + humanWait(wait) + ", or ask an administrator to create your account."})
	}
	u, errs, err := accounts.Create(ctx, h.Store, in)
	if errors.Is(err, accounts.ErrInvalid) {
		return refused(fiber.StatusUnprocessableEntity, views.FieldErrors(errs))
	}
	if err != nil {
		return err
	}
	h.audit(c, u, "user.signup", u.Username, true, nil)
	sess := web.CurrentSession(c)
	sess.SignIn(u.ID, h.Now(), device(c))
	sess.AddFlash("success", "Your account is ready.")
	return seeOther(c, "/dashboard")
}

func (h *Handlers) requireSignup(c *fiber.Ctx) error {
	vals, err := h.Settings.Load(c.UserContext())
	if err != nil {
		return err
	}
	if !vals.AllowSignup {
		return fiber.ErrNotFound
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// humanWait says a wait in minutes, or seconds when under a minute.
func humanWait(d time.Duration) string {
	if d < time.Minute {
		return strconv.Itoa(throttle.RetryAfterSeconds(d)) + " seconds"
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}
