package handlers

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// An authorization request in flight lives in the user's session between
// the authorize endpoint, the sign-in page and the consent form, under a
// random ID. Only the ID travels through the browser; the parameters are
// validated again each time they are used, so nothing the browser could
// alter is trusted. A pushed request (RFC 9126) is kept the same way, by
// its parameters: its request_uri is used up when it arrives, and the
// later steps never look it up again.
type pendingAuthorization struct {
	Params  string    `json:"p"` // the request's parameters, form-encoded
	Started time.Time `json:"t"` // when the request arrived (prompt=login)
	Origin  string    `json:"o"` // the redirect URI's origin (CSP form-action)
	Client  string    `json:"c"` // the client's name (sign-in page)
	// Pushed: Params came from the PAR endpoint; RequestURI is the hex
	// digest of the request_uri that brought them, so that a reload of
	// the authorization URL resumes this request instead of failing.
	Pushed     bool   `json:"x,omitempty"`
	RequestURI string `json:"r,omitempty"`
}

// Bounds of the requests kept per session: a signed-out visitor's session
// lives in an encrypted cookie, which browsers cap at 4 KB.
const (
	maxPendingAuthorizations = 5
	maxPendingBytes          = 1400
)

func loadPending(sess *web.Session) map[string]pendingAuthorization {
	m := map[string]pendingAuthorization{}
	if raw, ok := sess.Get(web.KeyAuthorizeRequests).(string); ok {
		_ = json.Unmarshal([]byte(raw), &m)
	}
	return m
}

func storePending(sess *web.Session, m map[string]pendingAuthorization) {
	if len(m) == 0 {
		sess.Delete(web.KeyAuthorizeRequests)
		return
	}
	sess.Set(web.KeyAuthorizeRequests, string(pendingJSON(m)))
}

// pendingJSON encodes pending requests compactly: form-encoded parameters
// are full of &, which json.Marshal would write as \u0026.
func pendingJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// savePending keeps a new request and returns its ID, dropping the oldest
// beyond the limits. ok is false when the request alone is too large. A
// pushed request always fits (oauth.MaxPushedParams): if its client's
// name makes it too large, the name is left out.
func savePending(sess *web.Session, p pendingAuthorization) (id string, ok bool) {
	if p.Pushed && len(pendingJSON(p)) > maxPendingBytes-40 {
		p.Client = ""
	}
	if len(pendingJSON(p)) > maxPendingBytes-40 {
		return "", false
	}
	m := loadPending(sess)
	id = secret.New("")[:22]
	m[id] = p
	for {
		raw := pendingJSON(m)
		if len(m) <= maxPendingAuthorizations && len(raw) <= maxPendingBytes {
			break
		}
		oldest := ""
		for k, x := range m {
			if k != id && (oldest == "" || x.Started.Before(m[oldest].Started)) {
				oldest = k
			}
		}
		delete(m, oldest)
	}
	storePending(sess, m)
	return id, true
}

func dropPending(sess *web.Session, id string) {
	m := loadPending(sess)
	delete(m, id)
	storePending(sess, m)
}

// consentURL is where the browser resumes a request after signing in.
func consentURL(id string) string { return "/consent?id=" + url.QueryEscape(id) }

// pendingFor returns the request a sign-in will resume (next =
// /consent?id=...): its origin lets the sign-in page's form end at the
// client (CSP), and its client's name tells the user where they are going.
func pendingFor(sess *web.Session, next string) pendingAuthorization {
	rest, ok := strings.CutPrefix(next, "/consent?id=")
	if !ok {
		return pendingAuthorization{}
	}
	id, err := url.QueryUnescape(rest)
	if err != nil {
		return pendingAuthorization{}
	}
	return loadPending(sess)[id]
}

// truncateName keeps a client's name short enough for the session.
func truncateName(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}

// requestValues returns the parameters of an authorization request with
// repeated parameters kept (so that they can be refused).
func requestValues(c *fiber.Ctx) (url.Values, error) {
	if c.Method() == fiber.MethodPost {
		return url.ParseQuery(string(c.Body()))
	}
	return url.ParseQuery(string(c.Request().URI().QueryString()))
}

// Authorize is the authorization endpoint (GET and POST {P}/authorize,
// RFC 6749 §3.1). A POST with Accept: application/json and a username is
// the headless variant for first-party apps. A browser POST is turned
// into a GET of the same request, so that the session cookie (SameSite
// Lax) comes along.
func (h *Handlers) Authorize(c *fiber.Ctx) error {
	params, err := requestValues(c)
	if err != nil {
		return h.RenderError(c, fiber.StatusBadRequest, "Invalid authorization request", "The request's parameters could not be read.")
	}
	if c.Method() == fiber.MethodPost {
		// Credentials in the body mean the headless variant, whatever the
		// Accept header says: they must never be re-sent in a URL.
		if params.Has("username") || params.Has("password") {
			return h.authorizeHeadless(c, params)
		}
		// A request that would fail is answered now: re-sent in a URL it
		// may be too long to be read (10,000 scopes). A pushed request is
		// short, and looking at it would use it up.
		if !params.Has("request_uri") {
			if _, err := h.OAuth.ParseAuthorizeRequest(c.UserContext(), params); err != nil {
				return h.authorizeError(c, err)
			}
		}
		return c.Redirect(h.Config.Endpoint("authorize")+"?"+params.Encode(), fiber.StatusSeeOther)
	}
	ctx := c.UserContext()
	sess := web.CurrentSession(c)
	if id, ok := reloadedPush(sess, params); ok {
		// The same browser opened the same request_uri again (reload,
		// back) before the request was answered: go on with it.
		p, req, ok, err := h.pendingRequest(c, id)
		if ok && err == nil {
			return h.resumeAuthorization(c, id, p, req)
		}
		dropPending(sess, id)
		if ok {
			// Kept, but no longer valid (the client changed): that is
			// the reason to show, not the request_uri used up.
			return h.authorizeError(c, err)
		}
	}
	req, err := h.OAuth.ParseAuthorizeRequest(ctx, params)
	if err != nil {
		return h.authorizeError(c, err)
	}
	p := pendingAuthorization{Params: req.Params.Encode(), Started: h.Now().UTC(), Origin: req.RedirectOrigin(), Client: truncateName(req.Client.Name),
		Pushed: req.Pushed}
	if req.RequestURIHash != nil {
		p.RequestURI = hex.EncodeToString(req.RequestURIHash)
	}
	id, ok := savePending(sess, p)
	if !ok {
		return h.authorizeError(c, req.Fail(oauth.ErrInvalidRequest.WithDescription("the authorization request is too large")))
	}
	return h.resumeAuthorization(c, id, p, req)
}

// reloadedPush finds the request in flight in this session that the
// request_uri of params brought (and the same client_id), if any.
func reloadedPush(sess *web.Session, params url.Values) (string, bool) {
	if len(params["request_uri"]) != 1 {
		return "", false
	}
	digest := oauth.RequestURIDigest(params.Get("request_uri"))
	if digest == nil {
		return "", false
	}
	key := hex.EncodeToString(digest)
	for id, p := range loadPending(sess) {
		if p.RequestURI != key {
			continue
		}
		if q, err := url.ParseQuery(p.Params); err == nil && q.Get("client_id") == params.Get("client_id") {
			return id, true
		}
	}
	return "", false
}

// authorizeError shows the error page (untrusted client or redirect URI)
// or sends the error back to the client.
func (h *Handlers) authorizeError(c *fiber.Ctx, err error) error {
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) {
		return err
	}
	if ae.Err.Code == oauth.ErrServerError.Code && ae.Err.Unwrap() != nil {
		return ae.Err.Unwrap()
	}
	cl := h.requestClient(c)
	if !ae.Redirect {
		d := pages.ErrorData{Status: fiber.StatusBadRequest, Authorization: true, App: "the application"}
		if cl != nil {
			d.App, d.AppHomepage = cl.Name, safeHomepage(cl.Homepage)
		}
		if ae.Err.Code == oauth.ErrInvalidRequestURI.Code {
			// A pushed request's link (RFC 9126): unknown, expired, used.
			d.Title, d.Message = "Authorization link expired", "This sign-in link has expired or was already used. Go back to "+d.App+" and start again."
		} else {
			d.Title = "Invalid authorization request"
			d.Message = upperFirst(d.App) + " sent an authorization request that cannot be accepted: " + ae.Err.Description + ". Contact its developer."
		}
		return h.renderErrorData(c, d)
	}
	name := ""
	if cl != nil {
		name = cl.Name
	}
	return h.sendAuthorizeResponse(c, h.OAuth.ErrorResponse(ae), name)
}

// requestClient is the client the authorization request names (its
// client_id in the query or the form), for the pages shown to the person;
// nil when there is none or it is unknown.
func (h *Handlers) requestClient(c *fiber.Ctx) *models.Client {
	id := c.Query("client_id")
	if id == "" && c.Method() == fiber.MethodPost {
		id = c.FormValue("client_id")
	}
	if id == "" || len(id) > 2048 {
		return nil
	}
	cl, err := h.Store.GetClient(c.UserContext(), id)
	if err != nil {
		return nil
	}
	return cl
}

// safeHomepage is a client's homepage if it is an http(s) URL a page may
// link to, or "".
func safeHomepage(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return u
	}
	return ""
}

// upperFirst capitalises the first letter of s (an app's name or "the
// application" at the start of a sentence).
func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// sendAuthorizeResponse sends the answer to the client: a 303 to the
// redirect URI with the parameters in its query or fragment, or for
// form_post a page that posts them there (OAuth 2.0 Form Post Response
// Mode): nothing on it but the form and the script that submits it,
// never cached.
func (h *Handlers) sendAuthorizeResponse(c *fiber.Ctx, resp *oauth.AuthorizeResponse, app string) error {
	if resp.Mode != oauth.ModeFormPost {
		return c.Redirect(resp.Location(), fiber.StatusSeeOther)
	}
	d := pages.FormPostData{Action: resp.RedirectURI, Nonce: web.FormPostPolicy(c), App: app}
	if u, err := url.Parse(resp.RedirectURI); err == nil && u.Host != "" {
		d.Origin = u.Scheme + "://" + u.Host
	}
	names := make([]string, 0, len(resp.Params))
	for k := range resp.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Params[k] {
			d.Fields = append(d.Fields, pages.FormPostField{Name: k, Value: v})
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return web.Render(c, fiber.StatusOK, pages.FormPost(d))
}

// resumeAuthorization takes a validated request as far as it can go: to
// the sign-in page, to the client (remembered consent, or an error for
// prompt=none), or to the consent screen.
func (h *Handlers) resumeAuthorization(c *fiber.Ctx, id string, p pendingAuthorization, req *oauth.AuthorizeRequest) error {
	ctx := c.UserContext()
	sess := web.CurrentSession(c)
	u := web.CurrentUser(c)
	v := oauth.Visitor{AuthTime: sess.AuthTime(), Started: p.Started, SID: sess.SID()}
	if u != nil {
		v.User = models.OAuthUser(u)
	}
	next, resp, err := h.OAuth.Decide(ctx, req, v)
	if err != nil {
		dropPending(sess, id)
		return h.authorizeError(c, err)
	}
	switch next {
	case oauth.NextRedirect:
		dropPending(sess, id)
		return h.sendAuthorizeResponse(c, resp, req.Client.Name)
	case oauth.NextLogin:
		q := url.Values{"next": {consentURL(id)}}
		if u != nil {
			q.Set("reauth", "1")
		}
		return c.Redirect("/login?"+q.Encode(), fiber.StatusSeeOther)
	}
	web.AllowFormTarget(c, p.Origin)
	return web.Render(c, fiber.StatusOK, pages.Consent(h.base(c, "Authorize "+req.Client.Name, ""), h.consentData(c, id, req, u)))
}

// consentData is the consent screen's view model: the client and each
// scope with its icon and its description filled in ({user},
// {client_name}; templ escapes them).
func (h *Handlers) consentData(c *fiber.Ctx, id string, req *oauth.AuthorizeRequest, u *models.User) pages.ConsentData {
	name := u.Name
	if name == "" {
		name = u.Username
	}
	d := pages.ConsentData{
		RequestID: id, ClientName: req.Client.Name, ClientIcon: req.Client.Icon, ClientHomepage: req.Client.Homepage,
		RedirectHost: hostOf(req.RedirectURI), UserName: name, Username: u.Username, Unverified: req.Client.Unverified,
		SwitchURL: "/login?" + url.Values{"next": {consentURL(id)}, "reauth": {"1"}}.Encode(),
	}
	if req.Client.Unverified && strings.HasPrefix(req.Client.ID, "https://") {
		d.ClientHost = hostOf(req.Client.ID) // a Client ID Metadata Document's publisher
	}
	if len(req.Resources) > 0 {
		// The resources the tokens will be for (RFC 8707), by name.
		names := map[string]string{}
		if all, err := h.OAuth.Resources(c.UserContext()); err == nil {
			for _, r := range all {
				names[r.URI] = r.Name
			}
		}
		for _, uri := range req.Resources {
			d.Resources = append(d.Resources, pages.ConsentResource{Name: names[uri], Host: hostOf(uri)})
		}
	}
	scopes := append([]oauth.Scope(nil), req.ScopeDetails...)
	sort.SliceStable(scopes, func(i, j int) bool { return scopes[i].ID < scopes[j].ID })
	for _, sc := range scopes {
		desc := sc.Description
		if desc == "" {
			desc = sc.Name
		}
		d.Scopes = append(d.Scopes, pages.ConsentScope{
			ID: sc.ID, Name: sc.Name, Icon: sc.Icon,
			Description: oauth.ScopeDescription(desc, name, req.Client.Name),
		})
	}
	return d
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// pendingRequest loads and re-validates the request with that ID from the
// session. ok is false when there is none (expired, used, or another
// browser's), and the caller shows an error page.
func (h *Handlers) pendingRequest(c *fiber.Ctx, id string) (pendingAuthorization, *oauth.AuthorizeRequest, bool, error) {
	p, ok := loadPending(web.CurrentSession(c))[id]
	if !ok || h.Now().Sub(p.Started) > pendingLifetime {
		return p, nil, false, nil
	}
	params, err := url.ParseQuery(p.Params)
	if err != nil {
		return p, nil, false, nil
	}
	req, err := h.OAuth.ParseAuthorizeParams(c.UserContext(), params, p.Pushed)
	if err != nil {
		return p, nil, true, err
	}
	return p, req, true, nil
}

// pendingLifetime is how long a request may wait for sign-in and consent.
const pendingLifetime = 30 * time.Minute

func (h *Handlers) unknownPending(c *fiber.Ctx) error {
	return h.RenderError(c, fiber.StatusBadRequest, "Authorization expired",
		"This authorization request has expired or was already answered. Go back to the application and sign in again.")
}

// ConsentPage resumes an authorization request after sign-in (GET
// /consent?id=...).
func (h *Handlers) ConsentPage(c *fiber.Ctx) error {
	id := c.Query("id")
	p, req, ok, err := h.pendingRequest(c, id)
	if !ok {
		return h.unknownPending(c)
	}
	if err != nil {
		dropPending(web.CurrentSession(c), id)
		return h.authorizeError(c, err)
	}
	return h.resumeAuthorization(c, id, p, req)
}

// ConsentDecision records the user's answer on the consent screen (POST
// /consent): Allow issues the code (or token) and Deny answers
// access_denied, both with a 303 to the client.
func (h *Handlers) ConsentDecision(c *fiber.Ctx) error {
	id := c.FormValue("id")
	p, req, ok, err := h.pendingRequest(c, id)
	if !ok {
		return h.unknownPending(c)
	}
	sess := web.CurrentSession(c)
	if err != nil {
		dropPending(sess, id)
		return h.authorizeError(c, err)
	}
	u := web.CurrentUser(c)
	if req.NeedsLogin(u != nil, sess.AuthTime(), p.Started, h.Now()) {
		return h.resumeAuthorization(c, id, p, req)
	}
	dropPending(sess, id)
	if c.FormValue("decision") != "allow" {
		h.audit(c, u, "consent.denied", req.Client.ID, true, nil)
		return h.sendAuthorizeResponse(c, h.OAuth.Deny(req), req.Client.Name)
	}
	resp, err := h.OAuth.Approve(c.UserContext(), req, oauth.Visitor{User: models.OAuthUser(u), AuthTime: sess.AuthTime(), SID: sess.SID()}, true)
	if err != nil {
		return h.authorizeError(c, err)
	}
	h.audit(c, u, "consent.granted", req.Client.ID, true, map[string]string{"scope": oauth.JoinScope(req.Scopes)})
	return h.sendAuthorizeResponse(c, resp, req.Client.Name)
}

// authorizeHeadless answers the headless authorization of first-party
// apps with JSON (see oauth.Server.AuthorizeHeadless).
func (h *Handlers) authorizeHeadless(c *fiber.Ctx, params url.Values) error {
	res, err := h.OAuth.AuthorizeHeadless(c.UserContext(), params, web.IP(c))
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(res)
}

// writeOAuthError answers with an OAuth error as JSON (RFC 6749 §5.2):
// its status, no caching, WWW-Authenticate for invalid_client after HTTP
// Basic, Retry-After when throttled. The body is the error's, or the
// headless authorization's (with state and iss). Internal causes are
// logged only. It is the one writer of JSON OAuth errors.
func (h *Handlers) writeOAuthError(c *fiber.Ctx, err error, basic bool) error {
	e := oauth.AsError(err)
	var body any = e
	var he *oauth.HeadlessError
	if errors.As(err, &he) {
		body = he
	}
	if cause := e.Unwrap(); cause != nil {
		h.Log.ErrorContext(c.UserContext(), "oauth request failed", "path", c.Path(), "err", cause)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	if basic && e.Code == oauth.ErrInvalidClient.Code {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="gatehouse", charset="UTF-8"`)
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
	}
	return c.Status(e.Status).JSON(body)
}
