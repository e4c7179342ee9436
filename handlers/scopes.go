package handlers

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/resources"
	"github.com/gatehouse/gatehouse/app/scopes"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Scope pages: admins create, edit and delete scopes; developers read them.

// scopeScripts are the scope form's progressive enhancements (the live
// consent preview).
var scopeScripts = []string{"js/scopes.js"}

// oidcScopes are the OpenID Connect scopes clients rely on.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// readScopeForm reads the scope form as entered (scopes.Check trims it);
// the description's line breaks arrive as CRLF.
func readScopeForm(c *fiber.Ctx) scopes.Input {
	return scopes.Input{
		ScopeID:      c.FormValue("scope_id"),
		Name:         c.FormValue("name"),
		Description:  strings.ReplaceAll(c.FormValue("description"), "\r\n", "\n"),
		Icon:         c.FormValue("icon"),
		ResourcePath: c.FormValue("resource_path"),
		Method:       c.FormValue("method"),
		Resource:     c.FormValue("resource"),
		IsDefault:    c.FormValue("is_default") != "",
		Machine:      c.FormValue("machine") != "",
	}
}

func (h *Handlers) scopeFormOf(sc *models.Scope) pages.ScopeForm {
	f := scopeFormWith(scopes.FromScope(h.Config.Issuer, sc), pages.ScopeForm{})
	f.Heading, f.CreatedAt, f.UpdatedAt = sc.Name, sc.CreatedAt, sc.UpdatedAt
	return f
}

// scopeFormWith fills f with the input's fields.
func scopeFormWith(in scopes.Input, f pages.ScopeForm) pages.ScopeForm {
	f.ScopeID, f.Name, f.Description, f.Icon = in.ScopeID, in.Name, in.Description, in.Icon
	f.ResourcePath, f.Method, f.IsDefault, f.Machine = in.ResourcePath, in.Method, in.IsDefault, in.Machine
	f.Resource = in.Resource
	return f
}

// withResourceChoices adds the resources a scope can belong to to f: none,
// the built-in one, the registered ones; a scope's resource that is none
// of them (typed in a refused form) is kept as a choice.
func (h *Handlers) withResourceChoices(c *fiber.Ctx, f pages.ScopeForm) (pages.ScopeForm, error) {
	list, err := resources.List(c.UserContext(), h.Store, h.Config.Issuer)
	if err != nil {
		return f, err
	}
	found := f.Resource == ""
	for _, r := range list {
		f.Resources = append(f.Resources, pages.ResourceChoice{URI: r.URI, Name: r.Name, Builtin: r.Builtin})
		found = found || r.URI == f.Resource
	}
	if !found {
		f.Resources = append(f.Resources, pages.ResourceChoice{URI: f.Resource, Name: "Not registered"})
	}
	return f, nil
}

func (h *Handlers) scopesBase(c *fiber.Ctx, title string) views.Base {
	b := h.base(c, title, "scopes")
	b.Scripts = scopeScripts
	return b
}

func isAdmin(c *fiber.Ctx) bool {
	u := web.CurrentUser(c)
	return u != nil && u.Role == models.RoleAdmin
}

// paramScopeID is the :scope_id of the path, unescaped (scope IDs may hold
// "/" and other characters links escape).
func paramScopeID(c *fiber.Ctx) (string, error) {
	id, err := url.PathUnescape(c.Params("scope_id"))
	if err != nil {
		return "", fiber.NewError(fiber.StatusNotFound, "There is no such scope.")
	}
	return id, nil
}

// loadScope finds the scope of the path, or answers 404.
func (h *Handlers) loadScope(c *fiber.Ctx) (*models.Scope, error) {
	id, err := paramScopeID(c)
	if err != nil {
		return nil, err
	}
	sc, err := h.Store.GetScope(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no scope with the ID "+strconv.Quote(id)+". It may have been deleted.")
	}
	return sc, err
}

// ScopeList lists the scopes (GET /dashboard/scopes).
func (h *Handlers) ScopeList(c *fiber.Ctx) error {
	list, err := h.Store.ListScopes(c.UserContext())
	if err != nil {
		return err
	}
	registered, err := h.Store.ListResources(c.UserContext())
	if err != nil {
		return err
	}
	builtin := oauth.BuiltinResource(h.Config.Issuer)
	type named struct {
		name string
		id   int64 // 0: the built-in resource, which has no page
	}
	byURI := map[string]named{builtin.URI: {name: builtin.Name}}
	for _, r := range registered {
		byURI[r.URI] = named{r.Name, r.ID}
	}
	d := pages.ScopeListData{CanEdit: isAdmin(c)}
	for _, sc := range list {
		uri := oauth.ResolveResource(h.Config.Issuer, sc.Resource)
		res := byURI[uri] // zero for none or an unregistered URI
		d.Scopes = append(d.Scopes, pages.ScopeRow{
			ScopeID: sc.ScopeID, Name: sc.Name, Description: sc.Description, Icon: sc.Icon,
			Method: sc.Method, ResourcePath: sc.ResourcePath, IsDefault: sc.IsDefault, Machine: sc.Machine,
			Resource: uri, ResourceName: res.name, ResourceID: res.id,
		})
	}
	return web.Render(c, fiber.StatusOK, pages.ScopeList(h.base(c, "Scopes", "scopes"), d))
}

// NewScopePage shows the new-scope form (GET /dashboard/scopes/new).
func (h *Handlers) NewScopePage(c *fiber.Ctx) error {
	f, err := h.withResourceChoices(c, pages.ScopeForm{New: true, CanEdit: true, PreviewUser: web.CurrentUser(c).Username})
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.ScopeNew(h.scopesBase(c, "New scope"), f))
}

// CreateScope creates a scope (POST /dashboard/scopes).
func (h *Handlers) CreateScope(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	in := readScopeForm(c)
	render := func(errs views.FieldErrors) error {
		shown, _ := scopes.Check(in, true)
		f, err := h.withResourceChoices(c, scopeFormWith(shown, pages.ScopeForm{New: true, CanEdit: true, PreviewUser: u.Username, Errors: errs}))
		if err != nil {
			return err
		}
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.ScopeNew(h.scopesBase(c, "New scope"), f))
	}
	sc, errs, err := scopes.Create(ctx, h.Store, h.Config.Issuer, in)
	switch {
	case errors.Is(err, scopes.ErrInvalid):
		return render(views.FieldErrors(errs))
	case errors.Is(err, store.ErrAlreadyExists):
		return render(views.FieldErrors{scopes.FieldScopeID: "A scope with this ID exists already."})
	case err != nil:
		return err
	}
	h.audit(c, u, "scope.created", sc.ScopeID, true, scopes.Details(sc))
	web.CurrentSession(c).AddFlash("success", "Scope "+sc.ScopeID+" created. Allow it to the clients that need it.")
	return seeOther(c, pages.ScopeURL(sc.ScopeID))
}

// ScopePage shows a scope (GET /dashboard/scopes/:scope_id): the edit form
// for admins, a read-only view for developers.
func (h *Handlers) ScopePage(c *fiber.Ctx) error {
	sc, err := h.loadScope(c)
	if err != nil {
		return err
	}
	f := h.scopeFormOf(sc)
	f.PreviewUser = web.CurrentUser(c).Username
	return h.renderScope(c, fiber.StatusOK, sc, f, nil)
}

// renderScope renders the scope page with f; admins get the danger zone
// with the scope's current usage: use, or counted here when nil.
func (h *Handlers) renderScope(c *fiber.Ctx, status int, sc *models.Scope, f pages.ScopeForm, use *scopeUse) error {
	f.CanEdit = isAdmin(c)
	f.Heading = sc.Name
	f, err := h.withResourceChoices(c, f)
	if err != nil {
		return err
	}
	if f.CanEdit {
		if use == nil {
			u, err := h.scopeUsage(c, sc.ScopeID)
			if err != nil {
				return err
			}
			use = &u
		}
		dz, err := h.scopeDeleteData(c, sc, *use)
		if err != nil {
			return err
		}
		if f.Delete != nil {
			dz.Error = f.Delete.Error
		}
		f.Delete = dz
	}
	return web.Render(c, status, pages.ScopePage(h.scopesBase(c, sc.Name), f))
}

// scopeDeleteData is the danger zone of the scope with usage u.
func (h *Handlers) scopeDeleteData(c *fiber.Ctx, sc *models.Scope, u scopeUse) (*pages.ScopeDeleteData, error) {
	d := &pages.ScopeDeleteData{Listed: u.Clients.Listed, AnyScope: u.Clients.AnyScope, ActiveTokens: u.Tokens,
		Guards: pages.ScopeGuards(sc.Method, sc.ResourcePath), OIDC: oidcScopes[sc.ScopeID]}
	if u.Clients.Listed > 0 {
		limited, err := h.Store.ClientsLimitedToScope(c.UserContext(), sc.ScopeID)
		if err != nil {
			return nil, err
		}
		for _, cl := range limited {
			d.LimitedTo = append(d.LimitedTo, pages.ScopeClientRef{ClientID: cl.ClientID, Name: cl.Name})
		}
	}
	return d, nil
}

// scopeUse is what uses a scope: the clients that may ask for it (those
// listing it and those with an empty list, which may ask for any scope)
// and the active tokens granting it.
type scopeUse struct {
	Clients models.ScopeClientUse
	Tokens  int64
}

// scopeUsage counts what uses the scope.
func (h *Handlers) scopeUsage(c *fiber.Ctx, scopeID string) (scopeUse, error) {
	ctx := c.UserContext()
	var u scopeUse
	var err error
	if u.Clients, err = h.Store.ScopeClientUsage(ctx, scopeID); err != nil {
		return scopeUse{}, err
	}
	if u.Tokens, err = h.Store.ScopeActiveTokens(ctx, scopeID); err != nil {
		return scopeUse{}, err
	}
	return u, nil
}

// UpdateScope saves the scope form (POST /dashboard/scopes/:scope_id).
func (h *Handlers) UpdateScope(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	sc, err := h.loadScope(c)
	if err != nil {
		return err
	}
	in := readScopeForm(c)
	before, after, errs, err := scopes.Update(ctx, h.Store, h.Config.Issuer, sc.ScopeID, in)
	switch {
	case errors.Is(err, scopes.ErrInvalid):
		shown, _ := scopes.Check(in, false)
		shown.ScopeID = sc.ScopeID
		f := scopeFormWith(shown, pages.ScopeForm{PreviewUser: u.Username, Errors: views.FieldErrors(errs)})
		return h.renderScope(c, fiber.StatusUnprocessableEntity, sc, f, nil)
	case errors.Is(err, store.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "This scope was deleted meanwhile.")
	case err != nil:
		return err
	}
	changes := scopes.Changes(&before, &after)
	sess := web.CurrentSession(c)
	if len(changes) == 0 {
		sess.AddFlash("info", "Nothing changed.")
	} else {
		h.audit(c, u, "scope.updated", sc.ScopeID, true, changes)
		sess.AddFlash("success", "Scope "+sc.ScopeID+" saved.")
	}
	if after.Machine && !before.Machine {
		msg, err := h.newMachineScopeNote(c, sc.ScopeID)
		if err != nil {
			return err
		}
		if msg != "" {
			sess.AddFlash("warning", msg)
		}
	}
	return seeOther(c, pages.ScopeURL(sc.ScopeID))
}

// newMachineScopeNote names the clients that can get a scope just made a
// machine scope without any user (clients with client credentials that
// list it), so that the admin knows whom they trusted; "" when none.
func (h *Handlers) newMachineScopeNote(c *fiber.Ctx, scopeID string) (string, error) {
	listing, err := h.Store.ClientsListingScope(c.UserContext(), scopeID)
	if err != nil {
		return "", err
	}
	var names []string
	for _, cl := range listing {
		if !cl.Public && slices.Contains(oauth.EffectiveGrantTypes(cl.GrantTypes), oauth.GrantClientCredentials) {
			names = append(names, "“"+cl.Name+"”")
		}
	}
	n := len(names)
	if n == 0 {
		return "", nil
	}
	if n > 5 {
		names = append(names[:5], fmt.Sprintf("%d more", n-5))
	}
	list := strings.Join(names, ", ")
	if i := strings.LastIndex(list, ", "); i >= 0 {
		list = list[:i] + " and " + list[i+2:]
	}
	return fmt.Sprintf("%s is now a machine scope: %s (%s) can get it without any user, through client credentials. "+
		"Take it off a client's list, or take client credentials away, where that is not wanted.", scopeID, pages.Plural(int64(n), "client", "clients"), list), nil
}

// DeleteScope deletes a scope (POST /dashboard/scopes/:scope_id/delete).
// A scope that clients may ask for (clients with an empty list may ask for
// any) or that active tokens grant needs the confirm box ticked;
// it is taken off every client's list, unless it is some client's only
// scope (then it is refused: an empty list means "any scope").
func (h *Handlers) DeleteScope(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	sc, err := h.loadScope(c)
	if err != nil {
		return err
	}
	use, err := h.scopeUsage(c, sc.ScopeID)
	if err != nil {
		return err
	}
	refuse := func(confirmMsg, formMsg string) error {
		f := h.scopeFormOf(sc)
		f.PreviewUser = u.Username
		f.Delete = &pages.ScopeDeleteData{Error: confirmMsg}
		if formMsg != "" {
			f.Errors = views.FieldErrors{"delete": formMsg}
		}
		return h.renderScope(c, fiber.StatusUnprocessableEntity, sc, f, &use)
	}
	if (use.Clients.Total() > 0 || use.Tokens > 0) && c.FormValue("confirm") != "yes" {
		return refuse("Tick this box to confirm: the scope is in use.", "")
	}
	detached, err := h.Store.DeleteScopeDetached(ctx, sc.ScopeID)
	var inUse *models.ScopeInUseError
	switch {
	case errors.As(err, &inUse):
		return refuse("", "The scope was not deleted: it is the only scope some clients may ask for.")
	case errors.Is(err, store.ErrNotFound):
		web.CurrentSession(c).AddFlash("info", "Scope "+sc.ScopeID+" was already deleted.")
		return seeOther(c, "/dashboard/scopes")
	case err != nil:
		return err
	}
	h.audit(c, u, "scope.deleted", sc.ScopeID, true, map[string]string{
		"clients_changed": strconv.FormatInt(detached, 10), "active_tokens": strconv.FormatInt(use.Tokens, 10), "name": sc.Name,
	})
	msg := "Scope " + sc.ScopeID + " deleted."
	if detached > 0 {
		msg += " It was removed from " + pages.Plural(detached, "client", "clients") + "."
	}
	web.CurrentSession(c).AddFlash("success", msg)
	return seeOther(c, "/dashboard/scopes")
}
