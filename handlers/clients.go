package handlers

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// clientsPageSize is how many clients the list shows at once.
const clientsPageSize = 20

// sessionNewSecret holds "<client_id> <secret>", sealed (web.SealOnce),
// between the POST that made a secret and the page that shows it, once.
const sessionNewSecret = "client_secret_once"

// errClientNotFound is the 404 for a client that does not exist or that the
// user may not manage: the two look the same, so client IDs do not leak.
var errClientNotFound = fiber.NewError(fiber.StatusNotFound, "There is no such client, or it is not yours to manage.")

// mayManage reports whether u may see and change the client: admins any,
// developers their own.
func mayManage(u *models.User, c *models.Client) bool {
	if u.Role == models.RoleAdmin {
		return true
	}
	return u.Role == models.RoleDeveloper && c.OwnerID != nil && *c.OwnerID == u.ID
}

// loadClient returns the client named by the :client_id parameter when the
// signed-in user may manage it, and errClientNotFound otherwise.
func (h *Handlers) loadClient(c *fiber.Ctx) (*models.Client, error) {
	id, err := url.PathUnescape(c.Params("client_id")) // a URL for metadata document clients
	if err != nil {
		return nil, errClientNotFound
	}
	cl, err := h.Store.GetClient(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errClientNotFound
	}
	if err != nil {
		return nil, err
	}
	if !mayManage(web.CurrentUser(c), cl) {
		return nil, errClientNotFound
	}
	return cl, nil
}

func clientURL(clientID string) string { return pages.ClientPath(clientID) }

// ClientList lists the clients the user manages: their own, or every
// client for admins (GET /dashboard/clients?q=&offset=).
func (h *Handlers) ClientList(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	q := strings.TrimSpace(c.Query("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	offset, _ := strconv.Atoi(c.Query("offset"))
	offset = max(offset, 0)
	f := models.ClientFilter{Query: q, Offset: offset, Limit: clientsPageSize}
	admin := u.Role == models.RoleAdmin
	if !admin {
		f.OwnerID = &u.ID
	}
	list, total, err := h.Store.ListClients(ctx, f)
	if err != nil {
		return err
	}
	d := pages.ClientListData{Query: q, Total: total, Offset: offset, PageSize: clientsPageSize, ShowOwner: admin}
	if len(list) == 0 && total > 0 {
		// Past the last page (clients were deleted meanwhile): go to it.
		last := int((total - 1) / clientsPageSize * clientsPageSize)
		return seeOther(c, d.PageURL(last))
	}
	d.AnyClients = total > 0
	if !d.AnyClients && q != "" {
		all, err := h.Store.CountClients(ctx, f.OwnerID)
		if err != nil {
			return err
		}
		d.AnyClients = all > 0
	}
	owners := map[int64]string{}
	if admin {
		if owners, err = h.Store.ClientOwnerNames(ctx, list); err != nil {
			return err
		}
	}
	for _, cl := range list {
		row := pages.ClientRow{ClientID: cl.ClientID, Name: cl.Name, Icon: cl.Icon, Public: cl.Public, Registration: cl.Registration,
			RedirectURIs: len(cl.RedirectURIs), CreatedAt: cl.CreatedAt}
		if cl.OwnerID != nil {
			row.Owner = owners[*cl.OwnerID]
		}
		d.Clients = append(d.Clients, row)
	}
	if admin {
		if d.Registration, err = h.registrationPanel(c); err != nil {
			return err
		}
	}
	return web.Render(c, fiber.StatusOK, pages.ClientList(h.clientsBase(c, "Clients"), d))
}

// clientsBase is the layout data of the client pages (they load
// js/clients.js for the copy buttons).
func (h *Handlers) clientsBase(c *fiber.Ctx, title string) views.Base {
	b := h.base(c, title, "clients")
	b.Scripts = []string{"js/clients.js"}
	return b
}

// scopeOptions lists the scopes that exist, for the form's checkboxes.
func scopeOptions(scopes []models.Scope) []pages.ScopeOption {
	opts := make([]pages.ScopeOption, len(scopes))
	for i, s := range scopes {
		opts[i] = pages.ScopeOption{ID: s.ScopeID, Name: s.Name, Description: s.Description, Default: s.IsDefault, Machine: s.Machine}
	}
	return opts
}

// actor is the signed-in user as the clients service sees them.
func actor(c *fiber.Ctx) clients.Actor {
	u := web.CurrentUser(c)
	return clients.Actor{Role: u.Role, UserID: u.ID}
}

// serviceOptions are what the clients service needs from the server: the
// key secret (client_secret_jwt secrets are kept sealed under it) and the
// clock.
func (h *Handlers) serviceOptions() []clients.Option {
	return []clients.Option{clients.WithKeySecret(h.Config.KeySecret.Reveal()), clients.WithPrivateFetch(h.Config.AllowPrivateFetch), clients.WithClock(h.Now)}
}

// clientServer is what of this server the client checks depend on.
func (h *Handlers) clientServer() clients.Server {
	return clients.Server{KeySecret: h.Config.KeySecret.Reveal() != "", PrivateFetch: h.Config.AllowPrivateFetch}
}

// formFromInput fills the form with what an input holds. A client stored
// before the authentication method could be chosen shows
// client_secret_basic (what it accepts besides client_secret_post), and
// so does a public one (none), for if it is made confidential.
func formFromInput(in clients.Input) pages.ClientForm {
	method := in.TokenEndpointAuthMethod
	if in.Public || method == clients.AuthNone {
		method = ""
	}
	f := pages.ClientForm{
		Name: in.Name, Description: in.Description, Homepage: in.Homepage, Icon: in.Icon,
		RedirectURIs: strings.Join(in.RedirectURIs, "\n"),
		GrantTypes:   in.GrantTypes, Scopes: in.Scopes, Public: in.Public,
		PostLogoutRedirectURIs:            strings.Join(in.PostLogoutRedirectURIs, "\n"),
		BackchannelLogoutURI:              in.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  in.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             in.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: in.FrontchannelLogoutSessionRequired,
		RefreshTokenReuseInterval:         in.RefreshTokenReuseInterval,
		TokenEndpointAuthMethod:           clients.AuthMethodOf(false, method),
		JWKS:                              in.JWKS, JWKSURI: in.JWKSURI,
		IDTokenSignedResponseAlg:           cmp.Or(in.IDTokenSignedResponseAlg, clients.AlgRS256),
		DPoPBoundAccessTokens:              in.DPoPBoundAccessTokens,
		RequirePushedAuthorizationRequests: in.RequirePushedAuthorizationRequests,
		MayAct:                             strings.Join(in.MayAct, "\n"),
	}
	if clients.IsUploadedIcon(in.Icon) {
		f.IconCurrent = in.Icon
	} else {
		f.IconURL = in.Icon
	}
	return f
}

// NewClientPage shows the registration form (GET /dashboard/clients/new).
func (h *Handlers) NewClientPage(c *fiber.Ctx) error {
	f := formFromInput(clients.Input{GrantTypes: slices.Clone(oauth.DefaultGrantTypes)})
	f.New, f.Action = true, "/dashboard/clients"
	if _, err := h.formOptions(c, &f, nil); err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.ClientNew(h.clientsBase(c, "Register a client"), f))
}

// formValues returns every value of a form field, from a multipart or an
// URL-encoded body.
func formValues(c *fiber.Ctx, name string) []string {
	if form, err := c.MultipartForm(); err == nil {
		return form.Value[name]
	}
	var out []string
	for _, v := range c.Request().PostArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	return out
}

// clientFormInput is what readClientForm read.
type clientFormInput struct {
	in clients.Input
	// upload is a checked icon upload, to be stored only once the whole
	// form is valid (so that refused forms leave no images behind).
	upload *models.Image
	// errs hold what could not be read (the client type, the icon upload);
	// Validate finds the rest.
	errs clients.Errors
	// redirectURIs and postLogoutRedirectURIs are the URI texts exactly
	// as typed, iconURL the image URL field and iconCurrent the uploaded
	// icon the form carried, to show a refused form as it was sent;
	// method, jwks, jwksURI and mayAct likewise (the keys are used only
	// with private_key_jwt, but kept in the form whatever the method).
	redirectURIs, postLogoutRedirectURIs, iconURL, iconCurrent string
	method, jwks, jwksURI, mayAct                              string
	// iconURLUnused is set when both a file and an image URL were sent:
	// the file is used.
	iconURLUnused bool
}

// readClientForm reads the client form.
func (h *Handlers) readClientForm(c *fiber.Ctx) (clientFormInput, error) {
	r := clientFormInput{
		in: clients.Input{
			Name:         c.FormValue("name"),
			Description:  c.FormValue("description"),
			Homepage:     c.FormValue("homepage"),
			RedirectURIs: oauth.ParseRedirectURIs(c.FormValue("redirect_uris")),
			GrantTypes:   formValues(c, "grant_types"),
			Scopes:       formValues(c, "scopes"),

			PostLogoutRedirectURIs:            oauth.ParseRedirectURIs(c.FormValue("post_logout_redirect_uris")),
			BackchannelLogoutURI:              c.FormValue("backchannel_logout_uri"),
			BackchannelLogoutSessionRequired:  c.FormValue("backchannel_logout_session_required") != "",
			FrontchannelLogoutURI:             c.FormValue("frontchannel_logout_uri"),
			FrontchannelLogoutSessionRequired: c.FormValue("frontchannel_logout_session_required") != "",
			RefreshTokenReuseInterval:         c.FormValue("refresh_token_reuse_interval"),

			IDTokenSignedResponseAlg:           c.FormValue("id_token_signed_response_alg"),
			DPoPBoundAccessTokens:              c.FormValue("dpop_bound_access_tokens") != "",
			RequirePushedAuthorizationRequests: c.FormValue("require_pushed_authorization_requests") != "",
			MayAct:                             splitClientIDs(c.FormValue("may_act")),
		},
		errs:                   clients.Errors{},
		redirectURIs:           c.FormValue("redirect_uris"),
		postLogoutRedirectURIs: c.FormValue("post_logout_redirect_uris"),
		iconURL:                strings.TrimSpace(c.FormValue("icon_url")),
		method:                 c.FormValue("token_endpoint_auth_method"),
		jwks:                   c.FormValue("jwks"),
		jwksURI:                c.FormValue("jwks_uri"),
		mayAct:                 c.FormValue("may_act"),
	}
	if cur := c.FormValue("icon_current"); clients.IsUploadedIcon(cur) {
		r.iconCurrent = cur
	}
	switch c.FormValue("client_type") {
	case "public":
		// Public clients authenticate with none: the method radios are
		// for confidential clients.
		r.in.Public, r.in.TokenEndpointAuthMethod = true, clients.AuthNone
	case "confidential":
		r.in.TokenEndpointAuthMethod = cmp.Or(strings.TrimSpace(r.method), clients.AuthSecretBasic)
	default:
		r.errs[clients.FieldPublic] = "Choose whether the client is confidential or public."
	}
	if r.in.TokenEndpointAuthMethod == clients.AuthPrivateKeyJWT {
		// The key fields show only with private_key_jwt; with another
		// method what they hold is not saved.
		r.in.JWKS, r.in.JWKSURI = r.jwks, r.jwksURI
	}

	file, err := c.FormFile("icon_file")
	hasFile := err == nil && file != nil && (file.Size > 0 || file.Filename != "")
	switch {
	case c.FormValue("icon_remove") != "":
		r.in.Icon = ""
	case hasFile:
		// A chosen file wins over an image URL (the form says so, and the
		// page after saving says the URL was not used).
		r.iconURLUnused = r.iconURL != ""
		img, msg, err := clients.ReadIcon(file.Size, func() (io.ReadCloser, error) { return file.Open() })
		if err != nil {
			return r, err
		}
		if msg != "" {
			r.errs[clients.FieldIcon] = msg
			break
		}
		r.upload = img
		r.in.Icon = clients.IconPath(img.ID)
	case r.iconURL != "":
		r.in.Icon = r.iconURL
	default:
		r.in.Icon = r.iconCurrent
	}
	r.in.Normalize()
	return r, nil
}

// splitClientIDs reads a list of client IDs, one per line or separated by
// commas: a space inside an entry is not a separator, so that the check
// of client IDs names the entry (client IDs may be URLs).
func splitClientIDs(s string) []string {
	var out []string
	for _, id := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// refusedForm is the form of a refused submission, shown as it was sent:
// the redirect URIs as typed, and the icon fields as they were (an upload
// is not kept, so it is not referred to). saved is the icon the client
// has ("" for a new one), for the preview.
func refusedForm(r clientFormInput, errs views.FieldErrors, saved string, isNew bool) pages.ClientForm {
	f := formFromInput(r.in)
	f.RedirectURIs = r.redirectURIs
	f.PostLogoutRedirectURIs = r.postLogoutRedirectURIs
	if r.method != "" {
		f.TokenEndpointAuthMethod = r.method
	}
	f.JWKS, f.JWKSURI, f.MayAct = r.jwks, r.jwksURI, r.mayAct
	if oauth.HoldsPrivateKey([]byte(r.jwks)) {
		f.JWKS = "" // a private key is not shown back (its error says so)
	}
	if v := r.in.IDTokenSignedResponseAlg; v != "" {
		f.IDTokenSignedResponseAlg = v
	}
	f.IconURL, f.IconCurrent = r.iconURL, r.iconCurrent
	switch {
	case !isNew:
		f.Icon = saved // the preview shows what is saved
	case r.upload != nil || errs[clients.FieldIcon] != "":
		f.Icon = r.iconCurrent
	}
	f.Errors = errs
	return f
}

// uploadLost is the icon message of a refused form that carried an
// upload: files are kept only when the form is saved.
const uploadLost = "Choose the image again: an upload is kept only when the form is saved."

// iconURLUnusedNote is said after saving a form that had both an image
// file and an image URL.
const iconURLUnusedNote = "You both chose an image file and entered an image URL: the uploaded file is the icon, and the URL was not used."

// offGrants returns the grant types the settings v turn off (clients may
// still be given them: an admin may turn them on later).
func offGrants(v settings.Values) []string {
	var off []string
	if !v.AllowPasswordGrant {
		off = append(off, oauth.GrantPassword)
	}
	if !v.AllowImplicitGrant {
		off = append(off, oauth.GrantImplicit)
	}
	return off
}

// offGrantWarning says which of a client's grant types the server turns
// off, or "" when none.
func offGrantWarning(grants, off []string) string {
	var names []string
	for _, g := range oauth.GrantTypes {
		if slices.Contains(off, g.ID) && slices.Contains(oauth.EffectiveGrantTypes(grants), g.ID) {
			names = append(names, g.Name)
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "This client uses the " + names[0] + " grant, which is turned off on this server by an administrator: requests using it are refused until it is turned on."
	}
	return "This client uses the " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] +
		" grants, which are turned off on this server by an administrator: requests using them are refused until they are turned on."
}

// formOptions fills in what the form offers: the scopes, the grant types
// turned off, (for admins) where to turn them on, and (for developers)
// what needs an admin, given the saved client (nil for a new one). It
// returns the scopes that exist.
func (h *Handlers) formOptions(c *fiber.Ctx, f *pages.ClientForm, saved *models.Client) (scopes []models.Scope, err error) {
	if scopes, err = h.Store.ListScopes(c.UserContext()); err != nil {
		return nil, err
	}
	f.AvailableScopes = scopeOptions(scopes)
	v, err := h.Settings.Load(c.UserContext())
	if err != nil {
		return nil, err
	}
	f.OffGrants = offGrants(v)
	f.KeySecretSet = h.Config.KeySecret.Reveal() != ""
	f.PrivateFetch = h.Config.AllowPrivateFetch
	if saved != nil {
		f.SavedAuthMethod = saved.TokenEndpointAuthMethod
		f.LegacyAuthMethod = saved.TokenEndpointAuthMethod == "" && !saved.Public
		f.SavedHasSecret = len(saved.SecretHash) > 0
	}
	f.ServerReuseInterval = settings.ShortDuration(v.RefreshTokenReuseInterval)
	if web.CurrentUser(c).Role == models.RoleAdmin {
		f.SettingsURL = "/dashboard/settings"
	}
	if f.NeedsAdmin = !actor(c).GivesTrust(); f.NeedsAdmin && saved != nil {
		in := clients.FromClient(saved)
		machine := clients.MachineScopes(scopes)
		trust := clients.TrustOf(in, machine)
		f.SavedPassword, f.SavedJWTBearer, f.SavedMachine = trust.Password, trust.JWTBearer, trust.Machine
		f.SavedCC = !saved.Public && slices.Contains(oauth.EffectiveGrantTypes(saved.GrantTypes), oauth.GrantClientCredentials)
		f.SavedListsMachine = nil
		for _, s := range saved.Scopes {
			if machine[s] {
				f.SavedListsMachine = append(f.SavedListsMachine, s)
			}
		}
	}
	return scopes, nil
}

// dropUnusedIcon deletes an uploaded icon no client uses any more.
func (h *Handlers) dropUnusedIcon(c *fiber.Ctx, icon string) {
	if !clients.IsUploadedIcon(icon) {
		return
	}
	if err := h.Store.DeleteImageIfUnused(c.UserContext(), strings.TrimPrefix(icon, "/icons/"), icon); err != nil {
		h.Log.WarnContext(c.UserContext(), "unused icon not deleted", "icon", icon, "err", err)
	}
}

// submittedClientForm reads and validates the client form of a create or
// update of saved (nil for a new client), with the form's options
// (scopes, switched-off grants, what needs an admin). errs is nil when the
// input may be saved; otherwise a refused upload is reported, as it is
// stored only with a saved form.
func (h *Handlers) submittedClientForm(c *fiber.Ctx, saved *models.Client) (r clientFormInput, opts pages.ClientForm, errs views.FieldErrors, err error) {
	scopes, err := h.formOptions(c, &opts, saved)
	if err != nil {
		return r, opts, nil, err
	}
	if r, err = h.readClientForm(c); err != nil {
		return r, opts, nil, err
	}
	var before *clients.Input
	if saved != nil {
		b := clients.FromClient(saved)
		before = &b
	}
	clientID := ""
	if saved != nil {
		clientID = saved.ClientID
	}
	refs, err := clients.CheckRefs(c.UserContext(), h.Store, clientID, r.in, h.clientServer())
	if err != nil {
		return r, opts, nil, err
	}
	act, err := actor(c).Owning(c.UserContext(), h.Store, r.in.MayAct)
	if err != nil {
		return r, opts, nil, err
	}
	errs = validateClientForm(&r.in, clients.ScopeIDs(scopes), r.errs, clients.CheckTrust(act, before, r.in, scopes), refs)
	if errs != nil && r.upload != nil && errs[clients.FieldIcon] == "" {
		errs[clients.FieldIcon] = uploadLost
	}
	return r, opts, errs, nil
}

// validateClientForm checks the input as the dashboard does: the shared
// rules, plus at least one grant type (an empty list would silently mean
// the defaults, which the form cannot show). errs are the problems found
// while reading the form; they win over the rules' messages. trust are
// the trust problems (clients.CheckTrust) and then what depends on the
// server (clients.CheckRefs), each reported on fields that have no other
// problem.
func validateClientForm(in *clients.Input, known []string, errs clients.Errors, later ...clients.Errors) views.FieldErrors {
	out := views.FieldErrors{}
	for k, v := range in.Validate(known) {
		out[k] = v
	}
	for k, v := range errs { // reading problems win: they are more specific
		out[k] = v
	}
	if len(in.GrantTypes) == 0 && out[clients.FieldGrantTypes] == "" {
		out[clients.FieldGrantTypes] = "Choose at least one grant type."
	}
	for _, more := range later {
		for k, v := range more {
			if out[k] == "" {
				out[k] = v
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// CreateClient registers a client owned by the signed-in user
// (POST /dashboard/clients, multipart). The secret is shown once, on the
// client's page.
func (h *Handlers) CreateClient(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	r, opts, errs, err := h.submittedClientForm(c, nil)
	if err != nil {
		return err
	}
	refused := func(errs views.FieldErrors) error {
		f := refusedForm(r, errs, "", true)
		f.New, f.Action = true, "/dashboard/clients"
		f.ClientFormOptions = opts.ClientFormOptions
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.ClientNew(h.clientsBase(c, "Register a client"), f))
	}
	if errs != nil {
		return refused(errs)
	}
	if r.upload != nil {
		if err := h.Store.PutImage(ctx, r.upload); err != nil {
			return err
		}
	}
	owner := u.ID
	cl, plain, cerrs, err := clients.CreateAs(ctx, h.Store, actor(c), r.in, &owner, h.serviceOptions()...)
	if errors.Is(err, clients.ErrInvalid) {
		// The scopes changed since the form was checked.
		return refused(h.lateErrors(c, r, cerrs))
	}
	if err != nil {
		return err
	}
	details := map[string]string{"name": cl.Name, "public": strconv.FormatBool(cl.Public),
		clients.FieldTokenEndpointAuthMethod: cl.TokenEndpointAuthMethod}
	if len(cl.MayAct) > 0 {
		// Whose tokens it may present as the actor: trust for another
		// owner's client (clients.CheckTrust), recorded as updates are.
		details[clients.FieldMayAct] = strings.Join(cl.MayAct, " ")
	}
	h.audit(c, u, "client.created", cl.ClientID, true, details)
	sess := web.CurrentSession(c)
	switch {
	case plain != "":
		sess.SealOnce(sessionNewSecret, cl.ClientID+" "+plain)
		sess.AddFlash("success", fmt.Sprintf("“%s” is registered. Copy its client secret below: it is shown only this once.", cl.Name))
	case cl.Public:
		sess.AddFlash("success", fmt.Sprintf("“%s” is registered. It is a public client: it has no secret and must use PKCE.", cl.Name))
	default:
		sess.AddFlash("success", fmt.Sprintf("“%s” is registered. It authenticates with private_key_jwt: it has no secret, and signs its assertions with the private key of the public keys you gave.", cl.Name))
	}
	savedNotes(sess, r, opts.OffGrants, "")
	return seeOther(c, clientURL(cl.ClientID))
}

// ClientPage shows a client with its edit form
// (GET /dashboard/clients/{client_id}).
func (h *Handlers) ClientPage(c *fiber.Ctx) error {
	cl, err := h.loadClient(c)
	if err != nil {
		return err
	}
	// A secret made by the previous request is shown now and never again.
	sess := web.CurrentSession(c)
	newSecret := ""
	if v := sess.TakeOnce(sessionNewSecret); v != "" {
		if id, s, ok := strings.Cut(v, " "); ok && id == cl.ClientID {
			newSecret = s
		}
	}
	f := formFromInput(clients.FromClient(cl))
	f.Action = clientURL(cl.ClientID)
	if _, err := h.formOptions(c, &f, cl); err != nil {
		return err
	}
	d, err := h.clientDetail(c, cl, f)
	if err != nil {
		return err
	}
	d.NewSecret = newSecret
	d.CanPromote = web.CurrentUser(c).Role == models.RoleAdmin
	b := h.clientsBase(c, cl.Name)
	// The warning said after saving is the page's own: shown once.
	b.Flashes = slices.DeleteFunc(b.Flashes, func(fl views.Flash) bool {
		return d.GrantWarning != "" && fl.Kind == "warning" && fl.Message == d.GrantWarning
	})
	return web.Render(c, fiber.StatusOK, pages.ClientDetail(b, d))
}

// clientDetail builds the client page's data around form f.
func (h *Handlers) clientDetail(c *fiber.Ctx, cl *models.Client, f pages.ClientForm) (pages.ClientDetailData, error) {
	d := pages.ClientDetailData{
		ClientID: cl.ClientID, Name: cl.Name, Icon: cl.Icon, Public: cl.Public,
		SecretHint: clients.SecretHint(cl), CreatedAt: cl.CreatedAt, SecretRotatedAt: cl.SecretRotatedAt,
		AuthorizeURL: h.Config.EndpointURL("authorize"), TokenURL: h.Config.EndpointURL("token"),
		PARURL: h.Config.EndpointURL("par"), EndSessionURL: h.Config.EndpointURL("logout"),
		DiscoveryURL: h.Config.Issuer + "/.well-known/openid-configuration",
		Form:         f,
		GrantWarning: offGrantWarning(cl.GrantTypes, f.OffGrants),
		Registration: cl.Registration, MetadataExpiresAt: cl.MetadataExpiresAt,
		AuthMethod: cl.TokenEndpointAuthMethod,
	}
	if cl.Public {
		d.AuthMethod = clients.AuthNone
	}
	if d.AuthMethod == clients.AuthPrivateKeyJWT {
		d.Keys = cmp.Or(clients.JWKSSummary(cl.JWKS), cl.JWKSURI)
	}
	if cl.OwnerID != nil {
		names, err := h.Store.ClientOwnerNames(c.UserContext(), []models.Client{*cl})
		if err != nil {
			return d, err
		}
		d.Owner = names[*cl.OwnerID]
	}
	// A client that must push its requests (its flag or the server's
	// setting) gets a push and the authorize URL that uses it instead of
	// a sign-in link that would be refused.
	d.RequirePAR = cl.RequirePushedAuthorizationRequests
	if !d.RequirePAR {
		v, err := h.Settings.Load(c.UserContext())
		if err != nil {
			return d, err
		}
		d.RequirePAR = v.RequirePAR
	}
	d.DPoP = cl.DPoPBoundAccessTokens
	grants := oauth.EffectiveGrantTypes(cl.GrantTypes)
	if slices.Contains(grants, oauth.GrantAuthorizationCode) && len(cl.RedirectURIs) > 0 {
		params, verifier := exampleAuthorizeParams(cl)
		d.CodeVerifier = verifier
		if d.RequirePAR {
			d.PushCurl = "curl " + d.AuthArgs() + " " + formArgs(params) + " " + d.PARURL
			d.PushedAuthorizeURL = d.AuthorizeURL + "?client_id=" + url.QueryEscape(cl.ClientID) + "&request_uri=REQUEST_URI"
		} else {
			d.ExampleURL = d.AuthorizeURL + "?" + queryOf(params)
		}
	}
	d.ClientCredentials = !cl.Public && slices.Contains(grants, oauth.GrantClientCredentials)
	return d, nil
}

// exampleAuthorizeParams are a ready-to-paste authorization request's
// parameters for the client (RFC 6749 §4.1.1 with PKCE, RFC 7636), with a
// fresh state and code verifier, and the verifier to redeem the code with.
func exampleAuthorizeParams(cl *models.Client) ([][2]string, string) {
	verifier := secret.New("")
	scope := "openid"
	if len(cl.Scopes) > 0 {
		scope = strings.Join(cl.Scopes, " ")
	}
	return [][2]string{
		{"response_type", "code"},
		{"client_id", cl.ClientID},
		{"redirect_uri", cl.RedirectURIs[0]},
		{"scope", scope},
		{"state", base64.RawURLEncoding.EncodeToString(secret.Random(16))},
		{"code_challenge", oauth.S256Challenge(verifier)},
		{"code_challenge_method", "S256"},
	}, verifier
}

// queryOf form-encodes params in their order (spaces as %20).
func queryOf(params [][2]string) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0] + "=" + strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return b.String()
}

// formArgs are params as curl -d arguments (encoded: curl sends them as
// they are). The client_id is left out: the push authenticates the
// client.
func formArgs(params [][2]string) string {
	var out []string
	for _, p := range params {
		if p[0] == "client_id" {
			continue
		}
		out = append(out, "-d "+p[0]+"="+strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return strings.Join(out, " ")
}

// UpdateClient saves the edit form (POST /dashboard/clients/{client_id},
// multipart). Turning a public client confidential makes a secret, shown
// once; turning it public deletes the secret.
func (h *Handlers) UpdateClient(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	cl, err := h.loadClient(c)
	if err != nil {
		return err
	}
	if cl.Registration == models.ClientRegisteredDynamic {
		return h.selfRegistered(c, cl)
	}
	r, opts, errs, err := h.submittedClientForm(c, cl)
	if err != nil {
		return err
	}
	in := r.in
	refused := func(errs views.FieldErrors) error {
		f := refusedForm(r, errs, cl.Icon, false)
		f.Action = clientURL(cl.ClientID)
		f.ClientFormOptions = opts.ClientFormOptions
		d, err := h.clientDetail(c, cl, f)
		if err != nil {
			return err
		}
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.ClientDetail(h.clientsBase(c, cl.Name), d))
	}
	if errs != nil {
		return refused(errs)
	}
	if r.upload != nil {
		if err := h.Store.PutImage(ctx, r.upload); err != nil {
			return err
		}
	}
	saved, cerrs, err := clients.Update(ctx, h.Store, actor(c), cl.ClientID, in, h.serviceOptions()...)
	if errors.Is(err, clients.ErrInvalid) {
		// The client or the scopes changed since the form was checked.
		return refused(h.lateErrors(c, r, cerrs))
	}
	if errors.Is(err, store.ErrNotFound) {
		return errClientNotFound // deleted meanwhile
	}
	if errors.Is(err, clients.ErrSelfRegistered) {
		return h.selfRegistered(c, cl)
	}
	if err != nil {
		return err
	}
	before := saved.Before
	changed := clients.Changes(before, saved.After)
	// What widens a client's reach is recorded with its values.
	details := clients.AuditDetails(before, saved.After)
	if saved.Secret != clients.SecretKept {
		details["secret"] = saved.Secret.String()
	}
	if before.Icon != in.Icon {
		h.dropUnusedIcon(c, before.Icon)
	}
	h.audit(c, u, "client.updated", cl.ClientID, true, details)
	sess := web.CurrentSession(c)
	if saved.NewSecret != "" {
		sess.SealOnce(sessionNewSecret, cl.ClientID+" "+saved.NewSecret)
	}
	switch {
	case saved.Secret == clients.SecretRotated:
		sess.AddFlash("success", "Saved. The client now uses client_secret_jwt, so it has a new secret, kept encrypted: copy it below, it is shown only this once. The old secret no longer works.")
	case saved.Secret == clients.SecretIssued && before.Public:
		sess.AddFlash("success", "Saved. The client is now confidential: copy its new secret below, it is shown only this once.")
	case saved.Secret == clients.SecretIssued:
		sess.AddFlash("success", "Saved. The client now authenticates with a client secret: copy it below, it is shown only this once.")
	case saved.Secret == clients.SecretDeleted && saved.After.Public:
		sess.AddFlash("success", "Saved. The client is now public: its secret was deleted, and it must use PKCE.")
	case saved.Secret == clients.SecretDeleted:
		sess.AddFlash("success", "Saved. The client now uses private_key_jwt: its secret was deleted, and it signs its assertions with its private key.")
	case len(changed) == 0:
		sess.AddFlash("info", "Nothing changed.")
	default:
		sess.AddFlash("success", "Your changes to “"+in.Name+"” are saved.")
	}
	savedNotes(sess, r, opts.OffGrants, before.Icon)
	return seeOther(c, clientURL(cl.ClientID))
}

// lateErrors are the form's errors when the service refused a form the
// handler had found valid (the client or the scopes changed meanwhile):
// an image uploaded with it is dropped, as with any refused form.
func (h *Handlers) lateErrors(c *fiber.Ctx, r clientFormInput, errs clients.Errors) views.FieldErrors {
	out := views.FieldErrors{}
	for k, v := range errs {
		out[k] = v
	}
	if r.upload != nil {
		h.dropUnusedIcon(c, r.in.Icon)
		if out[clients.FieldIcon] == "" {
			out[clients.FieldIcon] = uploadLost
		}
	}
	return out
}

// savedNotes adds the flashes that go with a saved form: grant types the
// server turns off, and an image URL not used because a file was chosen
// (unless the URL was the icon before, as the edit form shows it).
func savedNotes(sess *web.Session, r clientFormInput, off []string, savedIcon string) {
	if msg := offGrantWarning(r.in.GrantTypes, off); msg != "" {
		sess.AddFlash("warning", msg)
	}
	if r.iconURLUnused && r.upload != nil && r.iconURL != savedIcon {
		sess.AddFlash("info", iconURLUnusedNote)
	}
}

// RotateClientSecret replaces a confidential client's secret; the old one
// stops working at once and the new one is shown once
// (POST /dashboard/clients/{client_id}/rotate-secret).
func (h *Handlers) RotateClientSecret(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	cl, err := h.loadClient(c)
	if err != nil {
		return err
	}
	if cl.Registration == models.ClientRegisteredDynamic {
		return h.selfRegistered(c, cl)
	}
	sess := web.CurrentSession(c)
	plain, err := clients.RotateSecret(c.UserContext(), h.Store, cl.ClientID, h.serviceOptions()...)
	switch {
	case errors.Is(err, clients.ErrNoSecret):
		sess.AddFlash("error", noSecretToRotate(cl))
		return seeOther(c, clientURL(cl.ClientID))
	case errors.Is(err, clients.ErrNoKeySecret):
		sess.AddFlash("error", "This client uses client_secret_jwt, whose secret is kept encrypted under the server's key secret (GATEHOUSE_KEY_SECRET), and none is configured: ask the operator to set it, or choose another method.")
		return seeOther(c, clientURL(cl.ClientID))
	case errors.Is(err, store.ErrNotFound):
		return errClientNotFound
	case err != nil:
		return err
	}
	h.audit(c, u, "client.secret_rotated", cl.ClientID, true, nil)
	sess.SealOnce(sessionNewSecret, cl.ClientID+" "+plain)
	sess.AddFlash("success", "A new secret was generated and the old one no longer works. Copy the new one below: it is shown only this once.")
	return seeOther(c, clientURL(cl.ClientID))
}

// noSecretToRotate says why a client has no secret to rotate.
func noSecretToRotate(cl *models.Client) string {
	if !cl.Public && cl.TokenEndpointAuthMethod == clients.AuthPrivateKeyJWT {
		return "This client uses private_key_jwt: it has no secret to rotate. To change its keys, edit its public keys below."
	}
	return "Public clients have no secret to rotate."
}

// DeleteClientPage asks for confirmation before deleting a client, saying
// what goes with it (GET /dashboard/clients/{client_id}/delete).
func (h *Handlers) DeleteClientPage(c *fiber.Ctx) error {
	cl, err := h.loadClient(c)
	if err != nil {
		return err
	}
	usage, err := h.Store.GetClientUsage(c.UserContext(), cl.ClientID)
	if err != nil {
		return err
	}
	d := pages.ClientDeleteData{ClientID: cl.ClientID, Name: cl.Name, Icon: cl.Icon, ActiveTokens: usage.ActiveTokens, Consents: usage.Consents,
		Registration: cl.Registration}
	return web.Render(c, fiber.StatusOK, pages.ClientDelete(h.clientsBase(c, "Delete "+cl.Name), d))
}

// DeleteClient deletes a client with its tokens, codes and consents
// (POST /dashboard/clients/{client_id}/delete).
func (h *Handlers) DeleteClient(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	cl, err := h.loadClient(c)
	if err != nil {
		return err
	}
	usage, err := h.Store.GetClientUsage(ctx, cl.ClientID)
	if err != nil {
		return err
	}
	defer h.dropUnusedIcon(c, cl.Icon)
	if err := h.Store.DeleteClient(ctx, cl.ClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	h.audit(c, u, "client.deleted", cl.ClientID, true, map[string]string{
		"name": cl.Name, "revoked_tokens": strconv.FormatInt(usage.ActiveTokens, 10)})
	msg := fmt.Sprintf("“%s” was deleted.", cl.Name)
	if usage.ActiveTokens > 0 {
		msg = fmt.Sprintf("“%s” was deleted and its %d active tokens revoked.", cl.Name, usage.ActiveTokens)
		if usage.ActiveTokens == 1 {
			msg = fmt.Sprintf("“%s” was deleted and its active token revoked.", cl.Name)
		}
	}
	web.CurrentSession(c).AddFlash("success", msg)
	return seeOther(c, "/dashboard/clients")
}

// sessionInitialToken holds "<token> <expiry, RFC 3339>", sealed, between
// the POST that made an initial access token and the list that shows it,
// once.
const sessionInitialToken = "initial_access_token_once"

// selfRegistered answers a change the dashboard does not make to a client
// that registered itself: back to its page, which offers promotion.
func (h *Handlers) selfRegistered(c *fiber.Ctx, cl *models.Client) error {
	web.CurrentSession(c).AddFlash("error", "“"+cl.Name+"” registered itself and manages its own settings: promote it first to change it here.")
	return seeOther(c, clientURL(cl.ClientID))
}

// registrationPanel is the admins' dynamic registration panel of the
// clients list, with an initial access token made by the previous
// request (shown this once).
func (h *Handlers) registrationPanel(c *fiber.Ctx) (*pages.RegistrationPanel, error) {
	v, err := h.Settings.Load(c.UserContext())
	if err != nil {
		return nil, err
	}
	p := &pages.RegistrationPanel{Mode: v.DynamicRegistration, EndpointURL: h.Config.EndpointURL("register"),
		SettingsURL: "/dashboard/settings"}
	if once := web.CurrentSession(c).TakeOnce(sessionInitialToken); once != "" {
		if tok, exp, ok := strings.Cut(once, " "); ok {
			if at, err := time.Parse(time.RFC3339, exp); err == nil {
				p.NewToken, p.NewTokenExpires = tok, at
			}
		}
	}
	return p, nil
}

// CreateInitialAccessToken makes a single-use initial access token for
// dynamic client registration, shown once on the clients list (POST
// /dashboard/clients/registration-token, admins).
func (h *Handlers) CreateInitialAccessToken(c *fiber.Ctx) error {
	ttl, err := time.ParseDuration(c.FormValue("expires"))
	if err != nil {
		ttl = clients.DefaultInitialTokenTTL
	}
	sess := web.CurrentSession(c)
	token, exp, err := clients.NewInitialAccessToken(c.UserContext(), h.Store, ttl, h.Now())
	if errors.Is(err, clients.ErrInitialTokenTTL) {
		sess.AddFlash("error", "Choose how long the token is valid: at most 30 days.")
		return seeOther(c, "/dashboard/clients")
	}
	if err != nil {
		return err
	}
	h.audit(c, web.CurrentUser(c), "client.registration_token_created", "", true, map[string]string{"expires_at": exp.Format(time.RFC3339)})
	sess.SealOnce(sessionInitialToken, token+" "+exp.Format(time.RFC3339))
	sess.AddFlash("success", "An initial access token was created. Copy it below: it is shown only this once.")
	return seeOther(c, "/dashboard/clients#registration-title")
}

// PromoteClient makes a client that registered itself an ordinary,
// verified client: editable here, no longer marked unverified, and its
// registration access token stops working (POST
// /dashboard/clients/{client_id}/promote, admins).
func (h *Handlers) PromoteClient(c *fiber.Ctx) error {
	cl, err := h.loadClient(c)
	if err != nil {
		return err
	}
	sess := web.CurrentSession(c)
	err = clients.Promote(c.UserContext(), h.Store, cl.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errClientNotFound
	case errors.Is(err, clients.ErrNotRegistered):
		sess.AddFlash("info", "“"+cl.Name+"” is not a self-registered client: there is nothing to promote.")
		return seeOther(c, clientURL(cl.ClientID))
	case err != nil:
		return err
	}
	h.audit(c, web.CurrentUser(c), "client.promoted", cl.ClientID, true, map[string]string{"name": cl.Name})
	sess.AddFlash("success", "“"+cl.Name+"” is now a verified client: you can edit it here, and its registration access token no longer works.")
	return seeOther(c, clientURL(cl.ClientID))
}
