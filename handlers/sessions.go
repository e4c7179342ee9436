package handlers

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/useragent"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// The sessions pages: every signed-in user sees where they are signed in
// (their browser sessions, the rows of web_sessions) and ends any other
// one, or all others; admins end all sessions of a user from the user's
// page. Sessions always end through the store's End* methods, so that the
// apps that got tokens in them are notified (back-channel logout) and
// those tokens revoked.

// sessionsShown bounds the sessions a page lists.
const sessionsShown = 50

// sessionList lists the user's unexpired sessions for a page: the current
// browser's first (when it is one of them), then the most recently
// active.
func (h *Handlers) sessionList(c *fiber.Ctx, userID int64, canEnd bool) (pages.SessionList, error) {
	now := h.Now().UTC()
	rows, err := h.Store.ListUserWebSessions(c.UserContext(), userID, now, sessionsShown+1)
	if err != nil {
		return pages.SessionList{}, err
	}
	l := pages.SessionList{CanEnd: canEnd, Now: now, More: len(rows) > sessionsShown}
	rows = rows[:min(len(rows), sessionsShown)]
	current := web.CurrentSession(c).IDHash()
	for _, ws := range rows {
		d := useragent.Describe(ws.UserAgent)
		l.Sessions = append(l.Sessions, pages.SessionRow{
			SID: ws.SID, Label: d.Label, Kind: string(d.Kind), UserAgent: ws.UserAgent, RemoteAddr: ws.RemoteAddr,
			Started: ws.CreatedAt, LastSeen: ws.UpdatedAt, Current: current != nil && bytes.Equal(ws.IDHash, current),
		})
	}
	slices.SortStableFunc(l.Sessions, func(a, b pages.SessionRow) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		}
		return 1
	})
	return l, nil
}

// SessionsPage lists the user's browser sessions and authorized apps
// (GET /account/sessions).
func (h *Handlers) SessionsPage(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	l, err := h.sessionList(c, u.ID, true)
	if err != nil {
		return err
	}
	apps, err := h.authorizedApps(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.Sessions(h.base(c, "Sessions", "sessions"), pages.SessionsData{List: l, Apps: apps}))
}

// EndBrowserSession signs out one of the user's other browsers
// (POST /account/sessions/:sid/end). The session ID selects among the
// user's own sessions: any other is a 404 and ends nothing. The current
// browser signs out with the ordinary sign-out.
func (h *Handlers) EndBrowserSession(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	sess := web.CurrentSession(c)
	sid := c.Params("sid")
	if sid != "" && sid == sess.SID() {
		sess.AddFlash("info", "That is the browser you are using: to sign out here, use Sign out.")
		return seeOther(c, "/account/sessions")
	}
	rows, err := h.Store.ListUserWebSessions(ctx, u.ID, h.Now().UTC(), 0)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rows, func(ws models.WebSession) bool { return sid != "" && ws.SID == sid })
	if i < 0 {
		return fiber.NewError(fiber.StatusNotFound, "You have no such session: it may have ended already.")
	}
	label := useragent.Describe(rows[i].UserAgent).Label
	ended, err := h.Store.EndUserWebSessionBySID(ctx, u.ID, sid)
	if err != nil {
		return err
	}
	if !ended { // ended meanwhile (signed out there, or expired)
		sess.AddFlash("info", label+" was already signed out.")
		return seeOther(c, "/account/sessions")
	}
	h.audit(c, u, "session.ended", label, true, map[string]string{"sid": sid})
	sess.AddFlash("success", "Signed out "+label+". Whoever uses that browser has to sign in again.")
	return seeOther(c, "/account/sessions")
}

// EndOtherSessions signs the user out of every browser but this one
// (POST /account/sessions/end-others).
func (h *Handlers) EndOtherSessions(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	sess := web.CurrentSession(c)
	keep := sess.IDHash()
	if keep == nil {
		// Signed in without a row cannot happen (only a row signs in);
		// never let a nil keep end every session, this one included.
		return fiber.NewError(fiber.StatusConflict, "Your session could not be found. Sign in again and retry.")
	}
	ended, err := h.Store.EndUserWebSessions(c.UserContext(), u.ID, keep)
	if err != nil {
		return err
	}
	if len(ended) == 0 {
		sess.AddFlash("info", "You were not signed in anywhere else.")
		return seeOther(c, "/account/sessions")
	}
	h.audit(c, u, "session.ended_others", u.Username, true, map[string]string{"count": strconv.Itoa(len(ended))})
	sess.AddFlash("success", "Signed out "+sessionCount(len(ended))+". You are still signed in here.")
	return seeOther(c, "/account/sessions")
}

// sessionCount is "1 other session", "3 other sessions".
func sessionCount(n int) string {
	return pages.Plural(int64(n), "other session", "other sessions")
}
