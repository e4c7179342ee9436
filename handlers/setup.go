package handlers

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// SetupPurpose marks one-time tokens that allow creating the first admin.
const SetupPurpose = "setup"

// SetupTokenTTL is how long a printed setup link works.
const SetupTokenTTL = 24 * time.Hour

// errSetupLink is the answer for an unknown, used or expired setup link,
// and for any setup link once an admin exists.
var errSetupLink = fiber.NewError(fiber.StatusNotFound, "This setup link is not valid any more. If an administrator exists, sign in instead; otherwise restart Gatehouse to get a new link.")

// EnsureSetupToken returns a new one-time setup URL while no admin exists,
// and "" once one does.
func (h *Handlers) EnsureSetupToken(ctx context.Context) (string, error) {
	has, err := h.Store.HasAdmin(ctx)
	if err != nil || has {
		return "", err
	}
	token := secret.New("")
	now := h.Now().UTC()
	if err := h.Store.CreateOneTimeToken(ctx, &models.OneTimeToken{
		TokenHash: secret.Digest(token), Purpose: SetupPurpose, ExpiresAt: now.Add(SetupTokenTTL), CreatedAt: now,
	}); err != nil {
		return "", err
	}
	return h.Config.Issuer + "/setup?token=" + url.QueryEscape(token), nil
}

func (h *Handlers) checkSetupToken(c *fiber.Ctx, token string) error {
	ctx := c.UserContext()
	if token == "" {
		return errSetupLink
	}
	has, err := h.Store.HasAdmin(ctx)
	if err != nil {
		return err
	}
	if has {
		return errSetupLink
	}
	err = h.Store.CheckOneTimeToken(ctx, secret.Digest(token), SetupPurpose, h.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return errSetupLink
	}
	return err
}

// SetupPage shows the first-admin form (GET /setup?token=...).
func (h *Handlers) SetupPage(c *fiber.Ctx) error {
	token := c.Query("token")
	if err := h.checkSetupToken(c, token); err != nil {
		if web.CurrentUser(c) != nil && errors.Is(err, errSetupLink) {
			// e.g. the admin who just finished setup reopens the link
			return seeOther(c, "/dashboard")
		}
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.Setup(h.base(c, "Set up Gatehouse", ""), pages.SetupForm{Token: token}))
}

// Setup creates the first admin (POST /setup). The token is consumed in the
// same transaction that creates the account, so it works exactly once.
func (h *Handlers) Setup(c *fiber.Ctx) error {
	token := c.FormValue("token")
	if err := h.checkSetupToken(c, token); err != nil {
		return err
	}
	in := accounts.Input{
		Username: c.FormValue("username"), Email: c.FormValue("email"), Name: c.FormValue("name"),
		Password: c.FormValue("password"), PasswordConfirm: c.FormValue("password_confirm"), ConfirmPassword: true,
		Role: models.RoleAdmin,
	}
	var (
		user *models.User
		errs accounts.Errors
	)
	err := h.Store.Tx(c.UserContext(), func(tx *models.Store) error {
		ctx := c.UserContext()
		if err := tx.UseOneTimeToken(ctx, secret.Digest(token), SetupPurpose, h.Now().UTC()); err != nil {
			return err
		}
		if has, err := tx.HasAdmin(ctx); err != nil || has {
			return errors.Join(err, store.ErrNotFound)
		}
		var err error
		user, errs, err = accounts.Create(ctx, tx, in)
		return err
	})
	switch {
	case errors.Is(err, accounts.ErrInvalid):
		in.Normalize()
		f := pages.SetupForm{Token: token, Username: in.Username, Email: in.Email, Name: in.Name, Errors: views.FieldErrors(errs)}
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.Setup(h.base(c, "Set up Gatehouse", ""), f))
	case errors.Is(err, store.ErrNotFound):
		return errSetupLink
	case err != nil:
		return err
	}
	h.audit(c, user, "setup.admin_created", user.Username, true, nil)
	sess := web.CurrentSession(c)
	sess.SignIn(user.ID, h.Now(), device(c))
	sess.AddFlash("success", "Gatehouse is ready. You are signed in as the first administrator.")
	return seeOther(c, "/dashboard")
}
