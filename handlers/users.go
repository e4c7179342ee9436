package handlers

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// User pages (admins): list, create, and per user: profile, role,
// password reset, disable and enable.

// usersPageSize is the length of a page of the users list.
const usersPageSize = 25

// UserList lists the users with a search and a role filter
// (GET /dashboard/users?q=&role=&offset=).
func (h *Handlers) UserList(c *fiber.Ctx) error {
	me := web.CurrentUser(c)
	q := strings.TrimSpace(c.Query("q"))
	if r := []rune(q); len(r) > 100 {
		q = string(r[:100])
	}
	role := c.Query("role")
	if !models.ValidRole(role) {
		role = ""
	}
	offset, _ := strconv.Atoi(c.Query("offset"))
	if offset < 0 {
		offset = 0
	}
	users, total, err := h.Store.ListUsers(c.UserContext(), models.UserFilter{Query: q, Role: role, Offset: offset, Limit: usersPageSize})
	if err != nil {
		return err
	}
	if len(users) == 0 && offset > 0 && total > 0 {
		// Past the last page (say, after a bookmark went stale).
		return c.Redirect(pages.UserListData{Query: q, Role: role}.PageURL(0), fiber.StatusSeeOther)
	}
	d := pages.UserListData{Query: q, Role: role, Total: total, Offset: offset, PageSize: usersPageSize, AnyFilter: q != "" || role != ""}
	for _, u := range users {
		d.Users = append(d.Users, pages.UserRow{
			ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Role: u.Role,
			Disabled: u.Disabled, Self: u.ID == me.ID, CreatedAt: u.CreatedAt,
		})
	}
	return web.Render(c, fiber.StatusOK, pages.UserList(h.base(c, "Users", "users"), d))
}

// NewUserPage shows the create-user form (GET /dashboard/users/new).
func (h *Handlers) NewUserPage(c *fiber.Ctx) error {
	return web.Render(c, fiber.StatusOK, pages.UserNew(h.base(c, "New user", "users"), pages.NewUserForm{Role: models.RoleUser}))
}

// CreateUser creates a user through app/accounts (POST /dashboard/users).
func (h *Handlers) CreateUser(c *fiber.Ctx) error {
	in := accounts.Input{
		Username: c.FormValue("username"), Email: c.FormValue("email"), Name: c.FormValue("name"),
		Password: c.FormValue("password"), PasswordConfirm: c.FormValue("password_confirm"), ConfirmPassword: true,
		Role: c.FormValue("role"), EmailVerified: checked(c, "email_verified"), Admin: true,
	}
	u, errs, err := accounts.Create(c.UserContext(), h.Store, in)
	if errors.Is(err, accounts.ErrInvalid) {
		in.Normalize()
		f := pages.NewUserForm{Username: in.Username, Email: in.Email, Name: in.Name, Role: in.Role, EmailVerified: in.EmailVerified, Errors: views.FieldErrors(errs)}
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.UserNew(h.base(c, "New user", "users"), f))
	}
	if err != nil {
		return err
	}
	details := map[string]string{"role": u.Role}
	if u.EmailVerified {
		details["email_verified"] = "true"
	}
	h.audit(c, web.CurrentUser(c), "user.created", u.Username, true, details)
	web.CurrentSession(c).AddFlash("success", "User "+u.Username+" created. Give them their password through a safe channel.")
	return seeOther(c, pages.UserURL(u.ID))
}

// loadUser finds the user of the path (:id), or answers 404.
func (h *Handlers) loadUser(c *fiber.Ctx) (*models.User, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such user.")
	}
	u, err := h.Store.GetUser(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such user. The account may have been deleted.")
	}
	return u, err
}

// UserPage shows a user (GET /dashboard/users/:id).
func (h *Handlers) UserPage(c *fiber.Ctx) error {
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	return h.renderUser(c, fiber.StatusOK, u, "", nil)
}

// checked reports whether the form's checkbox name was ticked.
func checked(c *fiber.Ctx, name string) bool { return c.FormValue(name) != "" }

func (h *Handlers) renderUser(c *fiber.Ctx, status int, u *models.User, roleValue string, errs views.FieldErrors) error {
	return h.renderUserPage(c, status, u, func(d *pages.UserDetailData) { d.RoleValue, d.Errors = roleValue, errs })
}

// renderUserPage renders the user's page; form (optional) fills in what a
// refused form keeps.
func (h *Handlers) renderUserPage(c *fiber.Ctx, status int, u *models.User, form func(*pages.UserDetailData)) error {
	ctx := c.UserContext()
	me := web.CurrentUser(c)
	d := pages.UserDetailData{
		ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Role: u.Role, Disabled: u.Disabled,
		Self: u.ID == me.ID, CreatedAt: u.CreatedAt, PasswordChangedAt: u.PasswordChangedAt,
	}
	if form != nil {
		form(&d)
	}
	if u.Role == models.RoleAdmin && !u.Disabled {
		n, err := h.Store.CountAdmins(ctx)
		if err != nil {
			return err
		}
		d.LastAdmin = n <= 1
	}
	owner := u.ID
	clients, err := h.Store.CountClients(ctx, &owner)
	if err != nil {
		return err
	}
	consents, err := h.Store.ListConsents(ctx, u.ID)
	if err != nil {
		return err
	}
	d.Clients, d.Apps = clients, int64(len(consents))
	if d.Sessions, err = h.sessionList(c, u.ID, false); err != nil {
		return err
	}
	title := u.Name
	if title == "" {
		title = u.Username
	}
	return web.Render(c, status, pages.UserDetail(h.base(c, title, "users"), d))
}

// UpdateUserProfile sets a user's name, email address and whether that
// address is verified (POST /dashboard/users/:id/profile). The box shown
// ticked for a verified address does not vouch for a new one (see
// accounts.Profile).
func (h *Handlers) UpdateUserProfile(c *fiber.Ctx) error {
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	p := accounts.Profile{Name: c.FormValue("name"), Email: c.FormValue("email"), SetVerified: true, EmailVerified: checked(c, "email_verified")}
	ch, errs, err := accounts.UpdateProfile(c.UserContext(), h.Store, u.ID, p)
	if errors.Is(err, accounts.ErrInvalid) {
		p.Normalize()
		return h.renderUserPage(c, fiber.StatusUnprocessableEntity, u, func(d *pages.UserDetailData) {
			d.Profile = &pages.ProfileValues{Name: p.Name, Email: p.Email, EmailVerified: p.EmailVerified}
			d.Errors = views.FieldErrors(errs)
		})
	}
	if errors.Is(err, store.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "There is no such user. The account may have been deleted.")
	}
	if err != nil {
		return err
	}
	sess := web.CurrentSession(c)
	changed := ch.Changed()
	if len(changed) == 0 {
		sess.AddFlash("info", "Nothing changed in "+u.Username+"'s profile.")
		return seeOther(c, pages.UserURL(u.ID))
	}
	h.audit(c, web.CurrentUser(c), "user.profile", u.Username, true, profileDetails(ch))
	msg := u.Username + "'s profile was saved."
	switch {
	case ch.After.Email == "":
	case p.EmailVerified && !ch.After.EmailVerified:
		msg += " The new email address is not verified: if you know it is theirs, tick Email address verified and save again."
	case slices.Contains(changed, accounts.FieldEmailVerified) && ch.After.EmailVerified:
		msg += " Apps see the email address as verified."
	case slices.Contains(changed, accounts.FieldEmailVerified):
		msg += " Apps see the email address as not verified."
	}
	sess.AddFlash("success", msg)
	return seeOther(c, pages.UserURL(u.ID))
}

// ChangeUserRole sets a user's role (POST /dashboard/users/:id/role). The
// last enabled admin keeps the role.
func (h *Handlers) ChangeUserRole(c *fiber.Ctx) error {
	me := web.CurrentUser(c)
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	role := c.FormValue("role")
	if !models.ValidRole(role) {
		return h.renderUser(c, fiber.StatusUnprocessableEntity, u, "", views.FieldErrors{"role": "Choose admin, developer or user."})
	}
	var old string
	err = h.Store.UpdateUserKeepingAdmin(c.UserContext(), u.ID, func(x *models.User) error {
		old = x.Role
		x.Role = role
		return nil
	})
	if errors.Is(err, models.ErrLastAdmin) {
		return h.renderUser(c, fiber.StatusConflict, u, role, views.FieldErrors{"role": lastAdminMessage})
	}
	if err != nil {
		return err
	}
	sess := web.CurrentSession(c)
	if old == role {
		sess.AddFlash("info", u.Username+" is already "+article(views.RoleLabel(role))+".")
		return seeOther(c, pages.UserURL(u.ID))
	}
	h.audit(c, me, "user.role_changed", u.Username, true, map[string]string{"old": old, "new": role})
	if u.ID == me.ID && role != models.RoleAdmin {
		sess.AddFlash("success", "You are now "+article(views.RoleLabel(role))+". The admin pages are no longer available to you.")
		return seeOther(c, "/dashboard")
	}
	sess.AddFlash("success", u.Username+" is now "+article(views.RoleLabel(role))+".")
	return seeOther(c, pages.UserURL(u.ID))
}

const lastAdminMessage = "This is the only enabled administrator. Make another user an admin first, so that someone can still manage Gatehouse."

// article puts "a" or "an" before a role's name.
func article(label string) string {
	if label != "" && strings.ContainsRune("AEIOUaeiou", rune(label[0])) {
		return "an " + label
	}
	return "a " + label
}

// DisableUser disables an account and ends its sessions
// (POST /dashboard/users/:id/disable). Admins cannot disable themselves,
// nor the last enabled admin.
func (h *Handlers) DisableUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	me := web.CurrentUser(c)
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	if u.ID == me.ID {
		return h.renderUser(c, fiber.StatusConflict, u, "", views.FieldErrors{"disabled": "You can't disable your own account."})
	}
	changed := false
	err = h.Store.UpdateUserKeepingAdmin(ctx, u.ID, func(x *models.User) error {
		changed = !x.Disabled
		x.Disabled = true
		return nil
	})
	if errors.Is(err, models.ErrLastAdmin) {
		return h.renderUser(c, fiber.StatusConflict, u, "", views.FieldErrors{"disabled": lastAdminMessage})
	}
	if err != nil {
		return err
	}
	// Signed out everywhere (LoadUser would also sign out a disabled
	// user's sessions, but only when they next come back).
	if _, err := h.Store.EndUserWebSessions(ctx, u.ID, nil); err != nil {
		return err
	}
	if changed {
		h.audit(c, me, "user.disabled", u.Username, true, nil)
	}
	web.CurrentSession(c).AddFlash("success", u.Username+" is disabled and was signed out everywhere.")
	return seeOther(c, pages.UserURL(u.ID))
}

// EnableUser enables a disabled account (POST /dashboard/users/:id/enable).
func (h *Handlers) EnableUser(c *fiber.Ctx) error {
	me := web.CurrentUser(c)
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	changed := false
	if err := h.Store.UpdateUser(c.UserContext(), u.ID, func(x *models.User) error {
		changed = x.Disabled
		x.Disabled = false
		return nil
	}); err != nil {
		return err
	}
	if changed {
		h.audit(c, me, "user.enabled", u.Username, true, nil)
	}
	web.CurrentSession(c).AddFlash("success", u.Username+" is enabled and can sign in again.")
	return seeOther(c, pages.UserURL(u.ID))
}

// ResetUserPassword sets a new password for a user, signs them out
// everywhere and revokes their apps' tokens (accounts.ResetPassword;
// POST /dashboard/users/:id/password). Admins change their own password
// on the account page, which asks for the current one.
func (h *Handlers) ResetUserPassword(c *fiber.Ctx) error {
	ctx := c.UserContext()
	me := web.CurrentUser(c)
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	if u.ID == me.ID {
		return h.renderUser(c, fiber.StatusConflict, u, "", views.FieldErrors{"password": "Change your own password on your account page."})
	}
	next, confirm := c.FormValue("password"), c.FormValue("password_confirm")
	if msg := password.Problem(next); msg != "" {
		return h.renderUser(c, fiber.StatusUnprocessableEntity, u, "", views.FieldErrors{"password": msg})
	}
	if next != confirm {
		return h.renderUser(c, fiber.StatusUnprocessableEntity, u, "", views.FieldErrors{"password_confirm": "The two passwords do not match."})
	}
	revoked, err := accounts.ResetPassword(ctx, h.Store, u.ID, next, h.Now().UTC())
	if err != nil {
		return err
	}
	h.audit(c, me, "user.password_reset", u.Username, true, map[string]string{"families_revoked": strconv.FormatInt(revoked, 10)})
	web.CurrentSession(c).AddFlash("success", "New password set for "+u.Username+". They were signed out everywhere, and apps they authorized lost their access.")
	return seeOther(c, pages.UserURL(u.ID))
}

// EndUserSessions signs a user out of every browser
// (POST /dashboard/users/:id/sessions/end): their sessions end as a
// sign-out does (apps notified, the tokens of those sessions revoked).
// An admin who does it on their own page is signed out here too, as the
// button says, and sent to the sign-in page; "Sign out all other
// sessions" on their sessions page spares this browser.
func (h *Handlers) EndUserSessions(c *fiber.Ctx) error {
	me := web.CurrentUser(c)
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	ended, err := h.Store.EndUserWebSessions(c.UserContext(), u.ID, nil)
	if err != nil {
		return err
	}
	sess := web.CurrentSession(c)
	if len(ended) > 0 {
		h.audit(c, me, "user.sessions_ended", u.Username, true, map[string]string{"count": strconv.Itoa(len(ended))})
	}
	if u.ID == me.ID {
		// The row is gone already; SignOut keeps the flash for the
		// sign-in page.
		sess.SignOut()
		sess.AddFlash("success", "You were signed out everywhere, here too ("+pages.Plural(int64(len(ended)), "session", "sessions")+" ended). Sign in again to continue.")
		return seeOther(c, "/login")
	}
	if len(ended) == 0 {
		sess.AddFlash("info", u.Username+" was not signed in anywhere.")
	} else {
		sess.AddFlash("success", u.Username+" was signed out everywhere ("+pages.Plural(int64(len(ended)), "session", "sessions")+" ended).")
	}
	return seeOther(c, pages.UserURL(u.ID))
}
