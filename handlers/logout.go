package handlers

import (
	"errors"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Session values of a sign-out in progress, read by the signed-out page:
// the session that ended, the clients to tell by front-channel, and where
// to continue.
const (
	keyLogoutSID      = "logout_sid"
	keyLogoutClients  = "logout_clients"
	keyLogoutContinue = "logout_continue"
	keyLogoutApp      = "logout_app"
)

// maxFrontChannel bounds the iframes of the signed-out page.
const maxFrontChannel = 20

// EndSession is the end-session endpoint (GET and POST {P}/logout,
// OpenID Connect RP-Initiated Logout 1.0). A request whose id_token_hint
// names the browser's current session ends it at once; any other request
// of a signed-in browser asks first (the confirmation posts to /logout,
// with its CSRF token, so that no forged request signs anyone out). A
// request that cannot be honoured (an unknown client, an unregistered
// post_logout_redirect_uri, a hint that is not this server's ID token)
// gets an error page and redirects nowhere.
func (h *Handlers) EndSession(c *fiber.Ctx) error {
	params, err := requestValues(c)
	if err != nil {
		return h.RenderError(c, fiber.StatusBadRequest, "Invalid sign-out request", "The request's parameters could not be read.")
	}
	if c.Method() == fiber.MethodPost {
		// A relying party's cross-site POST carries no session cookie
		// (SameSite=Lax): the same request as a top-level GET does.
		if _, err := h.OAuth.ParseLogoutRequest(c.UserContext(), params); err != nil {
			return h.logoutError(c, err)
		}
		return seeOther(c, h.Config.Endpoint("logout")+"?"+params.Encode())
	}
	req, err := h.OAuth.ParseLogoutRequest(c.UserContext(), params)
	if err != nil {
		return h.logoutError(c, err)
	}
	sess := web.CurrentSession(c)
	u := web.CurrentUser(c)
	if u == nil {
		// Nobody to sign out here (already signed out, or the session
		// expired): straight on.
		return h.finishLogout(c, req, "", nil)
	}
	if req.ForSession(sess.SID(), u.Subject) {
		return h.signOut(c, u, req, "end_session_endpoint")
	}
	d := pages.LogoutConfirmData{Username: u.Username, PostLogoutRedirectURI: req.PostLogoutRedirectURI, State: req.State,
		OtherSession: req.Hint != nil}
	if req.Client != nil {
		d.ClientID, d.ClientName = req.Client.ID, truncateName(req.Client.Name)
	}
	if o := req.RedirectOrigin(); o != "" {
		web.AllowFormTarget(c, o)
	}
	return web.Render(c, fiber.StatusOK, pages.LogoutConfirm(h.base(c, "Sign out", ""), d))
}

// logoutError shows why an end-session request was refused.
func (h *Handlers) logoutError(c *fiber.Ctx, err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Code == oauth.ErrInvalidRequest.Code {
		msg := "The app's request to sign you out was not accepted: " + oe.Description + "."
		if web.CurrentUser(c) != nil {
			msg += " You are still signed in; use Sign out in Gatehouse's menu to sign out."
		} else {
			msg += " You are not signed in to Gatehouse."
		}
		return h.RenderError(c, fiber.StatusBadRequest, "Sign-out request not accepted", msg)
	}
	return err
}

// Logout ends the session (POST /logout: Gatehouse's own sign-out button,
// and the confirmation of an end-session request, which sends back the
// request's client_id, post_logout_redirect_uri and state, checked again).
func (h *Handlers) Logout(c *fiber.Ctx) error {
	var req *oauth.LogoutRequest
	if c.FormValue("client_id") != "" || c.FormValue("post_logout_redirect_uri") != "" {
		params := url.Values{}
		for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
			if v := c.FormValue(k); v != "" {
				params.Set(k, v)
			}
		}
		r, err := h.OAuth.ParseLogoutRequest(c.UserContext(), params)
		if err != nil {
			return h.logoutError(c, err)
		}
		req = r
	}
	u := web.CurrentUser(c)
	if u == nil {
		return h.finishLogout(c, req, "", nil)
	}
	via := "sign_out"
	if req != nil {
		via = "end_session_confirmed"
	}
	return h.signOut(c, u, req, via)
}

// signOut ends the browser's session (its clients are told by
// back-channel as the session middleware deletes it, and by front-channel
// on the signed-out page) and moves on.
func (h *Handlers) signOut(c *fiber.Ctx, u *models.User, req *oauth.LogoutRequest, via string) error {
	sess := web.CurrentSession(c)
	sid := sess.SID()
	details := map[string]string{"via": via}
	if req != nil && req.Client != nil {
		details["client_id"] = req.Client.ID
	}
	h.audit(c, u, "logout", u.Username, true, details)
	sess.SignOut()
	clients, err := h.Store.SessionClients(c.UserContext(), sid)
	if err != nil {
		return err
	}
	var front []string
	for _, cl := range clients {
		if cl.FrontchannelLogoutURI != "" && len(front) < maxFrontChannel {
			front = append(front, cl.ClientID)
		}
	}
	return h.finishLogout(c, req, sid, front)
}

// finishLogout sends the browser on: through the signed-out page when
// clients are to be told by front-channel (it goes on by itself), else
// straight to the post_logout_redirect_uri, or to the signed-out page.
func (h *Handlers) finishLogout(c *fiber.Ctx, req *oauth.LogoutRequest, sid string, front []string) error {
	loc := ""
	if req != nil {
		loc = req.Location()
	}
	if len(front) == 0 && loc != "" {
		return c.Redirect(loc, fiber.StatusSeeOther)
	}
	sess := web.CurrentSession(c)
	if len(front) > 0 {
		sess.Set(keyLogoutSID, sid)
		sess.Set(keyLogoutClients, front)
	}
	if loc != "" {
		sess.Set(keyLogoutContinue, loc)
		sess.Set(keyLogoutApp, truncateName(req.Client.Name))
	}
	return seeOther(c, "/logout/done")
}

// SignedOut is the signed-out page (GET /logout/done): the front-channel
// logout iframes of the session that just ended, and the way back to the
// app that asked for the sign-out.
func (h *Handlers) SignedOut(c *fiber.Ctx) error {
	sess := web.CurrentSession(c)
	sid, _ := sess.Get(keyLogoutSID).(string)
	ids, _ := sess.Get(keyLogoutClients).([]string)
	d := pages.SignedOutData{}
	d.Continue, _ = sess.Get(keyLogoutContinue).(string)
	d.ContinueName, _ = sess.Get(keyLogoutApp).(string)
	for _, k := range []string{keyLogoutSID, keyLogoutClients, keyLogoutContinue, keyLogoutApp} {
		sess.Delete(k)
	}
	if web.CurrentUser(c) != nil {
		// Signed in again since (another tab): nothing of this is news.
		return seeOther(c, "/dashboard")
	}
	if sid != "" && len(ids) > 0 {
		clients, err := h.Store.GetClientsByID(c.UserContext(), ids)
		if err != nil {
			return err
		}
		var origins []string
		for _, id := range ids {
			cl, ok := clients[id]
			if !ok || cl.FrontchannelLogoutURI == "" {
				continue
			}
			if src, origin := h.OAuth.FrontChannelLogoutURL(cl.FrontchannelLogoutURI, sid); src != "" {
				d.FrontChannel = append(d.FrontChannel, src)
				origins = append(origins, origin)
			}
		}
		web.AllowFrames(c, origins)
	}
	b := h.base(c, "Signed out", "")
	b.Scripts = []string{"js/logout.js"}
	return web.Render(c, fiber.StatusOK, pages.SignedOut(b, d))
}
