package handlers

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

func accountData(u *models.User, errs views.FieldErrors) pages.AccountData {
	return pages.AccountData{Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Role: u.Role, Errors: errs}
}

// Account shows the signed-in user's profile and password form (GET /account).
func (h *Handlers) Account(c *fiber.Ctx) error {
	return web.Render(c, fiber.StatusOK, pages.Account(h.base(c, "Your account", "account"), accountData(web.CurrentUser(c), nil)))
}

// UpdateProfile saves the signed-in user's name and email address
// (POST /account/profile). A new address is unverified: Gatehouse sends no
// mail to confirm it. Changes of address are throttled per account and
// address, whatever their outcome, and an address another account uses
// gets a message that does not say so (accounts.MsgEmailUnavailable).
func (h *Handlers) UpdateProfile(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	p := accounts.Profile{Name: c.FormValue("name"), Email: c.FormValue("email")}
	refused := func(status int, formErr string, errs accounts.Errors) error {
		p.Normalize()
		d := accountData(u, views.FieldErrors(errs))
		d.Profile = &pages.ProfileValues{Name: p.Name, Email: p.Email}
		d.ProfileError = formErr
		return web.Render(c, status, pages.Account(h.base(c, "Your account", "account"), d))
	}
	if strings.TrimSpace(p.Email) != u.Email {
		// Every attempt counts: each answer may tell whether an
		// address is registered.
		_, wait, err := h.EmailThrottle.Begin(ctx, u.Username, web.IP(c))
		if err != nil {
			return err
		}
		if wait > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(throttle.RetryAfterSeconds(wait)))
			h.auditThrottledAttempt(c, u, "user.email_change_throttled", u.Username)
			return refused(fiber.StatusTooManyRequests, "Too many changes of email address. Nothing was saved. Try again in "+humanWait(wait)+".", nil)
		}
	}
	ch, errs, err := accounts.UpdateProfile(ctx, h.Store, u.ID, p)
	if errors.Is(err, accounts.ErrInvalid) {
		return refused(fiber.StatusUnprocessableEntity, "", errs)
	}
	if err != nil {
		return err
	}
	sess := web.CurrentSession(c)
	changed := ch.Changed()
	if len(changed) == 0 {
		sess.AddFlash("info", "Your profile is unchanged.")
		return seeOther(c, "/account")
	}
	h.audit(c, u, "user.profile", u.Username, true, profileDetails(ch))
	msg := "Your profile was saved."
	if slices.Contains(changed, accounts.FieldEmail) && ch.After.Email != "" {
		msg += " Apps see your new email address as not verified."
	}
	sess.AddFlash("success", msg)
	return seeOther(c, "/account")
}

// profileDetails are the audit details of a profile change: the fields
// changed and, since apps may trust it, the email address and its
// verification before and after.
func profileDetails(ch accounts.ProfileChange) map[string]string {
	changed := ch.Changed()
	d := map[string]string{"changed": strings.Join(changed, ",")}
	if slices.Contains(changed, accounts.FieldEmail) {
		d["email"] = ch.Before.Email + " -> " + ch.After.Email
	}
	if slices.Contains(changed, accounts.FieldEmailVerified) {
		d["email_verified"] = strconv.FormatBool(ch.Before.EmailVerified) + " -> " + strconv.FormatBool(ch.After.EmailVerified)
	}
	return d
}

// ChangePassword changes the user's password (POST /account/password). The
// current password is required (and guesses are throttled like sign-ins);
// every other session of the user is signed out and, when the "Also sign
// out of all apps" box is ticked (it is by default), every app the user
// authorized loses its tokens.
func (h *Handlers) ChangePassword(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	current, next, confirm := c.FormValue("current_password"), c.FormValue("new_password"), c.FormValue("new_password_confirm")
	signOutApps := checked(c, "sign_out_apps")
	render := func(status int, errs views.FieldErrors) error {
		d := accountData(u, errs)
		d.KeepApps = !signOutApps
		return web.Render(c, status, pages.Account(h.base(c, "Your account", "account"), d))
	}
	// Guesses count like sign-ins: against the account, or, from a
	// browser holding the account's device cookie, against that cookie
	// (so that an attacker who keeps the account blocked does not stop
	// its owner from changing the password).
	dev, valid, err := h.trustedDevice(c)
	if err != nil {
		return err
	}
	attempt, wait, _, err := h.beginGuess(c, dev, valid, u.ID, u.Username)
	if err != nil {
		return err
	}
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(throttle.RetryAfterSeconds(wait)))
		return render(fiber.StatusTooManyRequests, views.FieldErrors{views.FormError: "Too many wrong passwords. Try again in " + humanWait(wait) + "."})
	}
	if ok, _ := password.Verify(current, u.PasswordHash); !ok {
		return render(fiber.StatusUnprocessableEntity, views.FieldErrors{"current_password": "This is not your current password."})
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return err
	}
	if msg := password.Problem(next); msg != "" {
		return render(fiber.StatusUnprocessableEntity, views.FieldErrors{"new_password": msg})
	}
	if next == current {
		return render(fiber.StatusUnprocessableEntity, views.FieldErrors{"new_password": "Choose a password different from your current one."})
	}
	if next != confirm {
		return render(fiber.StatusUnprocessableEntity, views.FieldErrors{"new_password_confirm": "The two passwords do not match."})
	}
	now := h.Now().UTC()
	revoked, err := accounts.ChangePassword(ctx, h.Store, u.ID, next, now, signOutApps, web.CurrentSession(c).IDHash())
	if err != nil {
		return err
	}
	h.audit(c, u, "user.password_changed", u.Username, true, map[string]string{
		"sign_out_apps": strconv.FormatBool(signOutApps), "families_revoked": strconv.FormatInt(revoked, 10)})
	sess := web.CurrentSession(c)
	sess.SignIn(u.ID, now, device(c)) // a fresh session ID for this browser
	if signOutApps {
		sess.AddFlash("success", "Your password was changed. Your other sessions and your apps were signed out: apps ask you to sign in again.")
	} else {
		sess.AddFlash("success", "Your password was changed. Your other sessions were signed out; your apps stay signed in.")
	}
	return seeOther(c, "/account")
}
