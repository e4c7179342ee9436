package handlers

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/static"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Scope pages: admins create, edit and delete scopes; developers read them.

// scopeScripts are the scope form's progressive enhancements (the live
// consent preview).
var scopeScripts = []string{"js/scopes.js"}

// oidcScopes are the OpenID Connect scopes clients rely on.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeInput is the scope form as submitted.
type scopeInput struct {
	ScopeID, Name, Description, Icon, ResourcePath, Method string
	IsDefault                                              bool
	// Machine: can be granted without a user (SPEC.md §7.1).
	Machine bool
}

func readScopeForm(c *fiber.Ctx) scopeInput {
	return scopeInput{
		ScopeID:      strings.TrimSpace(c.FormValue("scope_id")),
		Name:         strings.TrimSpace(c.FormValue("name")),
		Description:  strings.TrimSpace(strings.ReplaceAll(c.FormValue("description"), "\r\n", "\n")),
		Icon:         strings.TrimSpace(c.FormValue("icon")),
		ResourcePath: strings.TrimSpace(c.FormValue("resource_path")),
		Method:       strings.ToUpper(strings.TrimSpace(c.FormValue("method"))),
		IsDefault:    c.FormValue("is_default") != "",
		Machine:      c.FormValue("machine") != "",
	}
}

// validate checks the input (the scope ID too when isNew) and puts the
// icon in its canonical form. It returns the problems by field.
func (in *scopeInput) validate(isNew bool) views.FieldErrors {
	errs := views.FieldErrors{}
	if isNew {
		if err := oauth.ValidateScopeID(in.ScopeID); err != nil {
			errs["scope_id"] = "The scope ID " + err.Error() + "."
		} else if in.ScopeID == "new" {
			errs["scope_id"] = `"new" is reserved by the dashboard; choose another scope ID.`
		}
	}
	switch {
	case in.Name == "":
		errs["name"] = "Give the scope a display name."
	case utf8.RuneCountInString(in.Name) > 100 || strings.ContainsAny(in.Name, "\r\n\t\x00"):
		errs["name"] = "Use at most 100 characters on one line."
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > 500 || strings.ContainsRune(in.Description, 0) {
		errs["description"] = "Use at most 500 characters."
	}
	if icon, msg := normalizeScopeIcon(in.Icon); msg != "" {
		errs["icon"] = msg
	} else {
		in.Icon = icon
	}
	if msg := checkResourcePath(in.ResourcePath); msg != "" {
		errs["resource_path"] = msg
	}
	switch {
	case in.Method != "" && !slices.Contains(pages.ScopeMethods, in.Method):
		errs["method"] = "Choose GET, POST, PUT, PATCH, DELETE or any method (*)."
	case in.ResourcePath != "" && in.Method == "":
		errs["method"] = "Choose the method this path is guarded for."
	case in.ResourcePath == "" && in.Method != "" && errs["resource_path"] == "":
		errs["resource_path"] = "Enter the path the method applies to, or set the method to None."
	}
	return errs
}

// checkResourcePath returns why p cannot be a guarded path, or "". Paths
// are compared with cleaned request paths (oauth.CleanResourcePath), so a
// path must be clean itself to ever match: absolute, no "." or ".."
// segments, no "//", no query, fragment or percent-encoding; "*" only as
// the last character.
func checkResourcePath(p string) string {
	if p == "" {
		return ""
	}
	if len(p) > 500 {
		return "Use at most 500 characters."
	}
	if !strings.HasPrefix(p, "/") {
		return "Start the path with /, for example /api/orders."
	}
	base := strings.TrimSuffix(p, "*")
	if strings.Contains(base, "*") {
		return "A * may only end the path, as in /api/orders/*."
	}
	for _, r := range base {
		if !pathChar(r) {
			if r == '?' || r == '#' {
				return "Leave out the query string and fragment: a scope guards a path."
			}
			if r == '%' {
				return "Write the path as it reads, without percent-encoding."
			}
			return "Use letters, digits and - . _ ~ ! $ & ' ( ) + , ; = : @ / only."
		}
	}
	clean := path.Clean(base)
	if strings.HasSuffix(base, "/") && clean != "/" {
		clean += "/"
	}
	if clean != base {
		return `Write the path without "//", "." or ".." segments.`
	}
	return ""
}

// pathChar reports whether r may appear in a guarded path: RFC 3986
// pchar and "/", without percent-encoding.
func pathChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-._~!$&'()+,;=:@/", r)
}

var (
	faTokenRE = regexp.MustCompile(`^fa-[a-z0-9]+(?:-[a-z0-9]+)*$`)
	faStyles  = map[string]bool{"fa-solid": true, "fa-regular": true, "fa-brands": true}
	faOnce    sync.Once
	faNames   map[string]bool
)

// faIconNames are the icon names (without "fa-") of the vendored Font
// Awesome, read once from its stylesheet.
func faIconNames() map[string]bool {
	faOnce.Do(func() {
		faNames = map[string]bool{}
		css, err := fs.ReadFile(static.FS, "vendor/fontawesome/css/all.min.css")
		if err != nil {
			return
		}
		// Icons are rules such as .fa-user,.fa-user-alt{--fa:"\f007"}.
		re := regexp.MustCompile(`((?:\.fa-[a-z0-9-]+,?)+)\{--fa:`)
		for _, m := range re.FindAllStringSubmatch(string(css), -1) {
			for _, sel := range strings.Split(m[1], ",") {
				if name, ok := strings.CutPrefix(sel, ".fa-"); ok {
					faNames[name] = true
				}
			}
		}
	})
	return faNames
}

// normalizeScopeIcon checks a scope icon: a Font Awesome class (a style
// and an icon of the vendored set, e.g. "fa-solid fa-user"; the style
// defaults to fa-solid) or an https:// image URL. It returns the icon in
// its canonical form, or a message.
func normalizeScopeIcon(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	if strings.HasPrefix(strings.ToLower(s), "https://") || strings.Contains(s, "://") {
		return checkIconURL(s)
	}
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) > 2 {
		return "", "Use one style and one icon, such as fa-solid fa-user."
	}
	style, icon := "fa-solid", ""
	for _, f := range fields {
		switch {
		case !faTokenRE.MatchString(f):
			return "", "Use a Font Awesome class such as fa-solid fa-user, or an https:// image address."
		case faStyles[f]:
			style = f
		case icon == "":
			icon = f
		default:
			return "", "Use one style and one icon, such as fa-solid fa-user."
		}
	}
	if icon == "" {
		return "", "Add the icon's name, such as fa-user."
	}
	if names := faIconNames(); len(names) > 0 && !names[strings.TrimPrefix(icon, "fa-")] {
		return "", "Font Awesome has no icon called " + icon + ". Find names at fontawesome.com/icons (free icons only)."
	}
	return style + " " + icon, ""
}

// checkIconURL accepts the address of an icon image as clients do
// (clients.CheckImageURL: https, no SVG), and without quotes, angle
// brackets or backslashes. It returns the URL in its canonical form, or a
// message.
func checkIconURL(s string) (string, string) {
	const msg = "Use an https:// address of an image, such as https://example.com/icon.png."
	if strings.ContainsAny(s, "\"'<>\\") {
		return "", msg
	}
	switch err := clients.CheckImageURL(s); {
	case errors.Is(err, clients.ErrSVGImage):
		return "", "SVG images are not accepted as icons (they can carry scripts). Use the address of a PNG, JPEG or WebP image."
	case err != nil:
		return "", msg
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", msg
	}
	return u.String(), ""
}

func scopeFormOf(sc *models.Scope) pages.ScopeForm {
	return pages.ScopeForm{
		ScopeID: sc.ScopeID, Name: sc.Name, Description: sc.Description, Icon: sc.Icon,
		ResourcePath: sc.ResourcePath, Method: sc.Method, IsDefault: sc.IsDefault, Machine: sc.Machine,
		Heading: sc.Name, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt,
	}
}

func (in scopeInput) form(f pages.ScopeForm) pages.ScopeForm {
	f.ScopeID, f.Name, f.Description, f.Icon = in.ScopeID, in.Name, in.Description, in.Icon
	f.ResourcePath, f.Method, f.IsDefault, f.Machine = in.ResourcePath, in.Method, in.IsDefault, in.Machine
	return f
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
	d := pages.ScopeListData{CanEdit: isAdmin(c)}
	for _, sc := range list {
		d.Scopes = append(d.Scopes, pages.ScopeRow{
			ScopeID: sc.ScopeID, Name: sc.Name, Description: sc.Description, Icon: sc.Icon,
			Method: sc.Method, ResourcePath: sc.ResourcePath, IsDefault: sc.IsDefault, Machine: sc.Machine,
		})
	}
	return web.Render(c, fiber.StatusOK, pages.ScopeList(h.base(c, "Scopes", "scopes"), d))
}

// NewScopePage shows the new-scope form (GET /dashboard/scopes/new).
func (h *Handlers) NewScopePage(c *fiber.Ctx) error {
	f := pages.ScopeForm{New: true, CanEdit: true, PreviewUser: web.CurrentUser(c).Username}
	return web.Render(c, fiber.StatusOK, pages.ScopeNew(h.scopesBase(c, "New scope"), f))
}

// CreateScope creates a scope (POST /dashboard/scopes).
func (h *Handlers) CreateScope(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	in := readScopeForm(c)
	errs := in.validate(true)
	render := func(errs views.FieldErrors) error {
		f := in.form(pages.ScopeForm{New: true, CanEdit: true, PreviewUser: u.Username, Errors: errs})
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.ScopeNew(h.scopesBase(c, "New scope"), f))
	}
	if len(errs) > 0 {
		return render(errs)
	}
	sc := &models.Scope{ScopeID: in.ScopeID, Name: in.Name, Description: in.Description, Icon: in.Icon,
		ResourcePath: in.ResourcePath, Method: in.Method, IsDefault: in.IsDefault, Machine: in.Machine}
	if err := h.Store.CreateScope(ctx, sc); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return render(views.FieldErrors{"scope_id": "A scope with this ID exists already."})
		}
		return err
	}
	h.audit(c, u, "scope.created", sc.ScopeID, true, scopeDetails(sc))
	web.CurrentSession(c).AddFlash("success", "Scope "+sc.ScopeID+" created. Allow it to the clients that need it.")
	return seeOther(c, pages.ScopeURL(sc.ScopeID))
}

// scopeDetails are a scope's fields for the audit log.
func scopeDetails(sc *models.Scope) map[string]string {
	return map[string]string{"name": sc.Name, "icon": sc.Icon, "method": sc.Method, "resource_path": sc.ResourcePath,
		"default": strconv.FormatBool(sc.IsDefault), "machine": strconv.FormatBool(sc.Machine)}
}

// ValidateNewScope checks a scope to be created exactly as the new-scope
// form does (`gatehouse scopes create` uses it), puts its fields in their
// canonical form, and returns the problems by form field name. Details
// are the scope's fields for the audit log.
func ValidateNewScope(sc *models.Scope) (errs map[string]string, details map[string]string) {
	in := scopeInput{ScopeID: strings.TrimSpace(sc.ScopeID), Name: strings.TrimSpace(sc.Name),
		Description: strings.TrimSpace(sc.Description), Icon: strings.TrimSpace(sc.Icon),
		ResourcePath: strings.TrimSpace(sc.ResourcePath), Method: strings.ToUpper(strings.TrimSpace(sc.Method)), IsDefault: sc.IsDefault,
		Machine: sc.Machine}
	errs = in.validate(true)
	sc.ScopeID, sc.Name, sc.Description, sc.Icon = in.ScopeID, in.Name, in.Description, in.Icon
	sc.ResourcePath, sc.Method = in.ResourcePath, in.Method
	return errs, scopeDetails(sc)
}

// ScopePage shows a scope (GET /dashboard/scopes/:scope_id): the edit form
// for admins, a read-only view for developers.
func (h *Handlers) ScopePage(c *fiber.Ctx) error {
	sc, err := h.loadScope(c)
	if err != nil {
		return err
	}
	f := scopeFormOf(sc)
	f.PreviewUser = web.CurrentUser(c).Username
	return h.renderScope(c, fiber.StatusOK, sc, f, nil)
}

// renderScope renders the scope page with f; admins get the danger zone
// with the scope's current usage: use, or counted here when nil.
func (h *Handlers) renderScope(c *fiber.Ctx, status int, sc *models.Scope, f pages.ScopeForm, use *scopeUse) error {
	f.CanEdit = isAdmin(c)
	f.Heading = sc.Name
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
	in.ScopeID = sc.ScopeID
	if errs := in.validate(false); len(errs) > 0 {
		f := in.form(pages.ScopeForm{PreviewUser: u.Username, Errors: errs})
		return h.renderScope(c, fiber.StatusUnprocessableEntity, sc, f, nil)
	}
	var before, after models.Scope
	err = h.Store.UpdateScope(ctx, sc.ScopeID, func(x *models.Scope) error {
		before = *x
		x.Name, x.Description, x.Icon = in.Name, in.Description, in.Icon
		x.ResourcePath, x.Method, x.IsDefault, x.Machine = in.ResourcePath, in.Method, in.IsDefault, in.Machine
		after = *x
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "This scope was deleted meanwhile.")
	}
	if err != nil {
		return err
	}
	changes := scopeChanges(&before, &after)
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

// scopeChanges lists the changed fields as "field" -> "old → new".
func scopeChanges(a, b *models.Scope) map[string]string {
	da, db := scopeDetails(a), scopeDetails(b)
	da["description"], db["description"] = a.Description, b.Description
	out := map[string]string{}
	for k, v := range da {
		if db[k] != v {
			out[k] = v + " → " + db[k]
		}
	}
	return out
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
		f := scopeFormOf(sc)
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
