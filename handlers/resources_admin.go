package handlers

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/resources"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Resource pages (RFC 8707): admins register, edit and delete resources;
// developers read them. The built-in {issuer}/api is listed, never
// edited.

// readResourceForm reads the resource form as entered (resources.Check
// trims it); the description's line breaks arrive as CRLF.
func readResourceForm(c *fiber.Ctx) resources.Input {
	return resources.Input{
		URI:         c.FormValue("uri"),
		Name:        c.FormValue("name"),
		Description: strings.ReplaceAll(c.FormValue("description"), "\r\n", "\n"),
		Icon:        c.FormValue("icon"),
	}
}

// resourceFormWith fills f with the input's fields.
func resourceFormWith(in resources.Input, f pages.ResourceForm) pages.ResourceForm {
	f.URI, f.Name, f.Description, f.Icon = in.URI, in.Name, in.Description, in.Icon
	return f
}

// ResourceList lists the resources (GET /dashboard/resources).
func (h *Handlers) ResourceList(c *fiber.Ctx) error {
	list, err := resources.List(c.UserContext(), h.Store, h.Config.Issuer)
	if err != nil {
		return err
	}
	d := pages.ResourceListData{CanEdit: isAdmin(c)}
	for _, r := range list {
		d.Resources = append(d.Resources, pages.ResourceRow{ID: r.ID, URI: r.URI, Name: r.Name, Description: r.Description,
			Icon: r.Icon, Builtin: r.Builtin, Scopes: r.Scopes})
	}
	return web.Render(c, fiber.StatusOK, pages.ResourceList(h.base(c, "Resources", "resources"), d))
}

// NewResourcePage shows the new-resource form (GET /dashboard/resources/new).
func (h *Handlers) NewResourcePage(c *fiber.Ctx) error {
	f := pages.ResourceForm{New: true, CanEdit: true}
	return web.Render(c, fiber.StatusOK, pages.ResourceNew(h.base(c, "New resource", "resources"), f))
}

// CreateResource registers a resource (POST /dashboard/resources).
func (h *Handlers) CreateResource(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	in := readResourceForm(c)
	r, errs, err := resources.Create(c.UserContext(), h.Store, h.Config.Issuer, in)
	switch {
	case errors.Is(err, resources.ErrInvalid):
		// The input as typed (trimmed), not canonicalised: the person
		// sees what they wrote next to the message.
		in.Normalize()
		f := resourceFormWith(in, pages.ResourceForm{New: true, CanEdit: true, Errors: views.FieldErrors(errs)})
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.ResourceNew(h.base(c, "New resource", "resources"), f))
	case err != nil:
		return err
	}
	h.audit(c, u, "resource.created", r.URI, true, resources.Details(r))
	web.CurrentSession(c).AddFlash("success", "Resource "+r.URI+" registered. Choose it on the scopes that belong to it.")
	return seeOther(c, pages.ResourceURL(r.ID))
}

// loadResource finds the resource of the path (:id), or answers 404.
func (h *Handlers) loadResource(c *fiber.Ctx) (*models.Resource, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such resource.")
	}
	r, err := h.Store.GetResourceByID(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such resource. It may have been deleted.")
	}
	return r, err
}

// renderResource renders a registered resource's page with f (the
// stored resource's fields when f is nil).
func (h *Handlers) renderResource(c *fiber.Ctx, status int, r *models.Resource, f *pages.ResourceForm) error {
	if f == nil {
		v := resourceFormWith(resources.FromResource(r), pages.ResourceForm{})
		f = &v
	}
	f.ID, f.URI, f.Heading, f.CanEdit = r.ID, r.URI, r.Name, isAdmin(c)
	list, err := resources.List(c.UserContext(), h.Store, h.Config.Issuer)
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.URI == r.URI && !e.Builtin {
			f.Scopes = e.Scopes
		}
	}
	return web.Render(c, status, pages.ResourcePage(h.base(c, r.Name, "resources"), *f))
}

// ResourcePage shows a registered resource (GET /dashboard/resources/:id):
// the edit form for admins, a read-only view for developers.
func (h *Handlers) ResourcePage(c *fiber.Ctx) error {
	r, err := h.loadResource(c)
	if err != nil {
		return err
	}
	return h.renderResource(c, fiber.StatusOK, r, nil)
}

// UpdateResource saves the resource form (POST /dashboard/resources/:id).
func (h *Handlers) UpdateResource(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	r, err := h.loadResource(c)
	if err != nil {
		return err
	}
	in := readResourceForm(c)
	before, after, errs, err := resources.Update(c.UserContext(), h.Store, h.Config.Issuer, r.URI, in)
	switch {
	case errors.Is(err, resources.ErrInvalid):
		in.Normalize()
		f := resourceFormWith(in, pages.ResourceForm{Errors: views.FieldErrors(errs)})
		return h.renderResource(c, fiber.StatusUnprocessableEntity, r, &f)
	case errors.Is(err, store.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "This resource was deleted meanwhile.")
	case err != nil:
		return err
	}
	sess := web.CurrentSession(c)
	if changes := resources.Changes(&before, &after); len(changes) == 0 {
		sess.AddFlash("info", "Nothing changed.")
	} else {
		h.audit(c, u, "resource.updated", r.URI, true, changes)
		sess.AddFlash("success", "Resource "+r.URI+" saved.")
	}
	return seeOther(c, pages.ResourceURL(r.ID))
}

// DeleteResource deletes a resource (POST /dashboard/resources/:id/delete)
// once the confirm box is ticked; it is refused while scopes belong to it.
func (h *Handlers) DeleteResource(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	r, err := h.loadResource(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return h.renderResource(c, fiber.StatusUnprocessableEntity, r,
			&pages.ResourceForm{Name: r.Name, Description: r.Description, Icon: r.Icon,
				DeleteError: "Tick this box to confirm the deletion.", ConfirmError: true})
	}
	_, err = resources.Delete(c.UserContext(), h.Store, h.Config.Issuer, r.URI)
	var inUse *models.ResourceInUseError
	switch {
	case errors.As(err, &inUse):
		// The page lists the scopes that belong to it.
		return h.renderResource(c, fiber.StatusUnprocessableEntity, r,
			&pages.ResourceForm{Name: r.Name, Description: r.Description, Icon: r.Icon, DeleteError: resources.InUseMessage(inUse)})
	case errors.Is(err, store.ErrNotFound):
		web.CurrentSession(c).AddFlash("info", "Resource "+r.URI+" was already deleted.")
		return seeOther(c, "/dashboard/resources")
	case err != nil:
		return err
	}
	h.audit(c, u, "resource.deleted", r.URI, true, resources.Details(r))
	web.CurrentSession(c).AddFlash("success", "Resource "+r.URI+" deleted.")
	return seeOther(c, "/dashboard/resources")
}
