package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/trust"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Trusted issuer pages (JWT bearer grant, RFC 7523): admins list,
// register and delete the issuers whose assertions the token endpoint
// exchanges for tokens. Issuers are not edited: deleting and registering
// again is the one way to change one, so that no change slips in
// unnoticed between an assertion's signing and its use.

// readTrustForm reads the trusted issuer form as entered (trust.Check
// trims it); text areas' line breaks arrive as CRLF.
func (h *Handlers) readTrustForm(c *fiber.Ctx) (trust.Input, string) {
	subjects := strings.ReplaceAll(c.FormValue("subjects"), "\r\n", "\n")
	return trust.Input{
		Issuer:       c.FormValue("issuer"),
		Name:         c.FormValue("name"),
		JWKS:         strings.ReplaceAll(c.FormValue("jwks"), "\r\n", "\n"),
		JWKSURI:      c.FormValue("jwks_uri"),
		Subjects:     strings.Split(subjects, "\n"),
		Scopes:       formValues(c, "scopes"),
		MaxLifetime:  c.FormValue("max_lifetime"),
		PrivateFetch: h.Config.AllowPrivateFetch,
	}, subjects
}

// trustRow is a stored issuer as the pages show it.
func trustRow(ti *models.TrustedIssuer) pages.TrustRow {
	return pages.TrustRow{ID: ti.ID, Issuer: ti.Issuer, Name: ti.Name, Keys: trust.KeysLabel(ti), JWKSURI: ti.JWKSURI,
		Subjects: trust.SubjectLines(ti), Scopes: ti.Scopes,
		MaxLifetime: settings.ShortDuration(time.Duration(ti.MaxLifetimeSeconds) * time.Second),
		CreatedAt:   ti.CreatedAt.Format("2 January 2006")}
}

// TrustList lists the trusted issuers (GET /dashboard/trust).
func (h *Handlers) TrustList(c *fiber.Ctx) error {
	list, err := h.Store.ListTrustedIssuers(c.UserContext())
	if err != nil {
		return err
	}
	d := pages.TrustListData{TokenURL: h.Config.EndpointURL("token"), Issuer: h.Config.Issuer}
	for i := range list {
		d.Issuers = append(d.Issuers, trustRow(&list[i]))
	}
	return web.Render(c, fiber.StatusOK, pages.TrustList(h.base(c, "Trusted issuers", "trust"), d))
}

// trustForm fills in the scopes the form offers.
func (h *Handlers) trustForm(c *fiber.Ctx, f pages.TrustForm) (pages.TrustForm, error) {
	f.PrivateFetch = h.Config.AllowPrivateFetch
	scs, err := h.Store.ListScopes(c.UserContext())
	if err != nil {
		return f, err
	}
	for _, sc := range scs {
		if sc.ScopeID != oauth.ScopeOfflineAccess {
			f.AvailableScopes = append(f.AvailableScopes, pages.TrustScope{ID: sc.ScopeID, Name: sc.Name, Machine: sc.Machine})
		}
	}
	return f, nil
}

// NewTrustPage shows the new trusted issuer form (GET /dashboard/trust/new).
func (h *Handlers) NewTrustPage(c *fiber.Ctx) error {
	f, err := h.trustForm(c, pages.TrustForm{})
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.TrustNew(h.base(c, "New trusted issuer", "trust"), f))
}

// CreateTrust registers a trusted issuer (POST /dashboard/trust); a
// refused form comes back with what was typed and a message per field.
func (h *Handlers) CreateTrust(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	in, subjects := h.readTrustForm(c)
	ti, errs, err := trust.Create(c.UserContext(), h.Store, in)
	switch {
	case errors.Is(err, trust.ErrInvalid):
		jwks := in.JWKS
		if oauth.HoldsPrivateKey([]byte(jwks)) {
			jwks = "" // a private key is not shown back (its error says so)
		}
		f, ferr := h.trustForm(c, pages.TrustForm{Issuer: in.Issuer, Name: in.Name, JWKS: jwks, JWKSURI: in.JWKSURI,
			Subjects: subjects, Scopes: in.Scopes, MaxLifetime: in.MaxLifetime, Errors: views.FieldErrors(errs)})
		if ferr != nil {
			return ferr
		}
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.TrustNew(h.base(c, "New trusted issuer", "trust"), f))
	case err != nil:
		return err
	}
	h.audit(c, u, "trust.created", ti.Issuer, true, trust.Details(ti))
	web.CurrentSession(c).AddFlash("success", "Trusted issuer "+ti.Issuer+" registered. Give the JWT bearer grant to the clients that will present its assertions.")
	return seeOther(c, pages.TrustURL(ti.ID))
}

// loadTrust finds the trusted issuer of the path (:id), or answers 404.
func (h *Handlers) loadTrust(c *fiber.Ctx) (*models.TrustedIssuer, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such trusted issuer.")
	}
	ti, err := h.Store.GetTrustedIssuerByID(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such trusted issuer. It may have been deleted.")
	}
	return ti, err
}

func (h *Handlers) renderTrust(c *fiber.Ctx, status int, ti *models.TrustedIssuer, deleteError string) error {
	d := pages.TrustPageData{Row: trustRow(ti), DeleteError: deleteError}
	if ti.JWKS != "" {
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(ti.JWKS), "", "  ") == nil {
			d.JWKS = buf.String()
		} else {
			d.JWKS = ti.JWKS
		}
	}
	return web.Render(c, status, pages.TrustPage(h.base(c, d.Row.Issuer, "trust"), d))
}

// TrustPage shows a trusted issuer (GET /dashboard/trust/:id).
func (h *Handlers) TrustPage(c *fiber.Ctx) error {
	ti, err := h.loadTrust(c)
	if err != nil {
		return err
	}
	msg := ""
	if web.CurrentSession(c).TakeOnce(sessionTrustDeleteError) == strconv.FormatInt(ti.ID, 10) {
		msg = "Tick this box to confirm the deletion."
	}
	return h.renderTrust(c, fiber.StatusOK, ti, msg)
}

// sessionTrustDeleteError keeps, once, the ID of the trusted issuer whose
// deletion was sent without the confirm box ticked.
const sessionTrustDeleteError = "trust_delete_unconfirmed"

// DeleteTrust deletes a trusted issuer (POST /dashboard/trust/:id/delete)
// once the confirm box is ticked.
func (h *Handlers) DeleteTrust(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	ti, err := h.loadTrust(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		// Back to the issuer's page (not left at .../delete), with the
		// message next to the box, once.
		web.CurrentSession(c).SealOnce(sessionTrustDeleteError, strconv.FormatInt(ti.ID, 10))
		return seeOther(c, pages.TrustURL(ti.ID))
	}
	switch err := trust.Delete(c.UserContext(), h.Store, ti.Issuer); {
	case errors.Is(err, store.ErrNotFound):
		web.CurrentSession(c).AddFlash("info", "Trusted issuer "+ti.Issuer+" was already deleted.")
		return seeOther(c, "/dashboard/trust")
	case err != nil:
		return err
	}
	h.audit(c, u, "trust.deleted", ti.Issuer, true, trust.Details(ti))
	web.CurrentSession(c).AddFlash("success", "Trusted issuer "+ti.Issuer+" deleted: its assertions are refused from now on.")
	return seeOther(c, "/dashboard/trust")
}
