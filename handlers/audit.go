package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/metrics"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// The audit log (admins): the page with its filters, the JSON lines
// export, and the security events of the OAuth core recorded as audit
// events.

const (
	// auditPageSize is the length of a page of the audit log.
	auditPageSize = 50
	// auditMaxFilter is the longest text filter accepted, in characters.
	auditMaxFilter = 200
	// auditDate is the format of the date filters (<input type="date">).
	auditDate = "2006-01-02"
)

// parseAuditFilter reads the filters of the audit page and export from
// the query string: the form as sent, the store filter, and a message per
// field that cannot be used.
func parseAuditFilter(c *fiber.Ctx) (pages.AuditFilterForm, models.AuditFilter, views.FieldErrors) {
	form := pages.AuditFilterForm{
		Action: strings.TrimSpace(c.Query("action")), Actor: strings.TrimSpace(c.Query("actor")),
		Target: strings.TrimSpace(c.Query("target")), RemoteAddr: strings.TrimSpace(c.Query("addr")),
		Outcome: c.Query("outcome"), Since: strings.TrimSpace(c.Query("since")), Until: strings.TrimSpace(c.Query("until")),
	}
	errs := views.FieldErrors{}
	for _, fld := range []struct{ key, value string }{{"action", form.Action}, {"actor", form.Actor}, {"target", form.Target}, {"addr", form.RemoteAddr}} {
		switch {
		case !utf8.ValidString(fld.value):
			errs[fld.key] = "Use plain text."
		case utf8.RuneCountInString(fld.value) > auditMaxFilter:
			errs[fld.key] = "Use at most " + strconv.Itoa(auditMaxFilter) + " characters."
		}
	}
	f := models.AuditFilter{Action: form.Action, Actor: form.Actor, Target: form.Target}
	if form.RemoteAddr != "" && errs["addr"] == "" {
		if a, err := netip.ParseAddr(form.RemoteAddr); err == nil {
			f.RemoteAddr = a.Unmap().String() // as recorded: 2001:DB8::1 finds 2001:db8::1
		} else {
			errs["addr"] = "Enter an IP address, such as 192.0.2.10 or 2001:db8::1."
		}
	}
	switch form.Outcome {
	case "":
	case "success", "failure":
		ok := form.Outcome == "success"
		f.Success = &ok
	default:
		errs["outcome"] = "Choose any outcome, success or failure."
		form.Outcome = ""
	}
	date := func(key, value string) time.Time {
		if value == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(auditDate, value, time.UTC)
		if err != nil || utf8.RuneCountInString(value) > len(auditDate) {
			errs[key] = "Enter a valid date, such as 2026-03-14."
			return time.Time{}
		}
		return t
	}
	f.Since = date("since", form.Since)
	if until := date("until", form.Until); !until.IsZero() {
		f.Until = until.AddDate(0, 0, 1) // the whole day
		if until.Before(f.Since) {
			errs["until"] = "The to date is before the from date."
		}
	}
	if len(errs) == 0 {
		errs = nil
	}
	return form, f, errs
}

// AuditLog shows the audit log, newest first, with its filters
// (GET /dashboard/audit?action=&actor=&target=&addr=&outcome=&since=&until=&offset=).
func (h *Handlers) AuditLog(c *fiber.Ctx) error {
	form, f, errs := parseAuditFilter(c)
	offset, _ := strconv.Atoi(c.Query("offset"))
	if offset < 0 {
		offset = 0
	}
	d := pages.AuditListData{Filter: form, Errors: errs, Offset: offset, PageSize: auditPageSize, Now: h.Now()}
	b := h.base(c, "Audit log", "audit")
	if errs != nil {
		return web.Render(c, fiber.StatusBadRequest, pages.AuditList(b, d))
	}
	f.Offset, f.Limit = offset, auditPageSize
	events, total, err := h.Store.ListAuditEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	if len(events) == 0 && offset > 0 && total > 0 {
		// Past the last page (say, after a bookmark went stale).
		return c.Redirect(d.PageURL(0), fiber.StatusSeeOther)
	}
	d.Total = total
	for _, e := range events {
		row := pages.AuditRow{ID: e.ID, Time: e.CreatedAt, Actor: e.Actor, ActorID: e.ActorID, Action: e.Action, Target: e.Target,
			RemoteAddr: e.RemoteAddr, Success: e.Success, Count: e.Count}
		for _, k := range slices.Sorted(maps.Keys(e.Details)) {
			row.Details = append(row.Details, pages.AuditDetail{Key: k, Value: e.Details[k]})
		}
		d.Events = append(d.Events, row)
	}
	return web.Render(c, fiber.StatusOK, pages.AuditList(b, d))
}

// auditLine is one event of the JSON lines export.
type auditLine struct {
	ID         int64             `json:"id"`
	Time       string            `json:"time"`
	Actor      string            `json:"actor"`
	ActorID    *int64            `json:"actor_id"`
	Action     string            `json:"action"`
	Target     string            `json:"target"`
	RemoteAddr string            `json:"remote_addr"`
	Success    bool              `json:"success"`
	Details    map[string]string `json:"details"`
	// Count is how many times it happened (a burst of throttled
	// attempts is one event).
	Count int64 `json:"count"`
}

// AuditExport sends the events the filters select as JSON lines, oldest
// first (GET /dashboard/audit/export with the page's filters). The body
// is streamed, read from the database a batch at a time; the export is
// itself audited (audit.exported, with the filters).
func (h *Handlers) AuditExport(c *fiber.Ctx) error {
	form, f, errs := parseAuditFilter(c)
	if errs != nil {
		return h.RenderError(c, fiber.StatusBadRequest, "Filters not valid",
			"Some filters of the export could not be used. Go back to the audit log, fix them there and export again.")
	}
	details := map[string]string{}
	for k, v := range form.Values() {
		details[k] = v[0]
	}
	h.audit(c, web.CurrentUser(c), "audit.exported", "", true, details)

	now := h.Now().UTC()
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="gatehouse-audit-`+now.Format("2006-01-02-150405")+`.jsonl"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	// The writer runs after the handler returned: it must not touch c.
	ctx, st, log := context.WithoutCancel(c.UserContext()), h.Store, h.Log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		enc := json.NewEncoder(w)
		err := st.EachAuditEvent(ctx, f, models.AuditBatchSize, func(events []models.AuditEvent) error {
			for _, e := range events {
				line := auditLine{ID: e.ID, Time: e.CreatedAt.UTC().Format(time.RFC3339Nano), Actor: e.Actor, ActorID: e.ActorID,
					Action: e.Action, Target: e.Target, RemoteAddr: e.RemoteAddr, Success: e.Success, Details: e.Details, Count: e.Count}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
			return w.Flush()
		})
		if err != nil {
			// The status is sent: the client sees a cut-off file.
			log.ErrorContext(ctx, "audit export stopped", "err", err)
		}
	})
	return nil
}

// OnSecurityEvent counts and audits what the OAuth core reports
// (oauth.Options.OnSecurityEvent). A failed password check of the password
// grant or the headless authorization counts as a failed sign-in in the
// metrics. In the audit log, a replay or reuse: the actor is the
// user the tokens belonged to, the target the client, with how many
// tokens were revoked. A password grant sign-in: like the sign-in form's
// (the target is the username), with the client in the details.
func (h *Handlers) OnSecurityEvent(ctx context.Context, ev oauth.SecurityEvent) {
	if ev.Kind == oauth.SecuritySignInFailed {
		kind := metrics.LoginPasswordGrant
		if ev.Grant == oauth.SignInHeadless {
			kind = metrics.LoginHeadless
		}
		h.Metrics.LoginFailed(kind)
	}
	e := &models.AuditEvent{Action: ev.Kind, Target: ev.ClientID, RemoteAddr: ev.RemoteAddr, Success: false,
		Details: map[string]string{"grant": ev.Grant, "revoked": strconv.FormatInt(ev.Revoked, 10)}}
	switch ev.Kind {
	case oauth.SecuritySignIn, oauth.SecuritySignInFailed, oauth.SecuritySignInThrottled:
		e.Target, e.Success = ev.Username, ev.Kind == oauth.SecuritySignIn
		e.Details = map[string]string{"grant": ev.Grant, "client_id": ev.ClientID}
	case oauth.SecurityAssertionAccepted, oauth.SecurityAssertionRefused:
		// JWT bearer grant: the trusted issuer is the target; the user
		// the sub was mapped to, the actor.
		e.Target, e.Success = ev.Issuer, ev.Kind == oauth.SecurityAssertionAccepted
		e.Details = map[string]string{"client_id": ev.ClientID, "sub": ev.Subject}
		if ev.Reason != "" {
			e.Details["reason"] = ev.Reason
		}
	}
	if ev.UserID != nil {
		id := *ev.UserID
		e.ActorID = &id
		if u, err := h.Store.GetUser(ctx, id); err == nil {
			e.Actor = u.Username
		}
	}
	if ev.Kind == oauth.SecuritySignInThrottled {
		h.recordThrottled(ctx, e)
		return
	}
	if err := h.Store.AddAuditEvent(ctx, e); err != nil {
		h.Log.ErrorContext(ctx, "audit event not recorded", "action", ev.Kind, "err", err)
	}
}

// auditThrottled records a sign-in the throttle refused (login.throttled)
// for the username from the request's address.
func (h *Handlers) auditThrottled(c *fiber.Ctx, username string, details map[string]string) {
	h.recordThrottled(c.UserContext(), auditEvent(c, nil, "login.throttled", username, false, details))
}

// maxThrottledTargetsPerAddress bounds the rows of one throttled action
// from one address within the throttle window.
const maxThrottledTargetsPerAddress = 10

// auditThrottledAttempt records an attempt a throttle refused (sign-up,
// e-mail change, device code entry) the way recordThrottled counts them.
func (h *Handlers) auditThrottledAttempt(c *fiber.Ctx, actor *models.User, action, target string) {
	h.recordThrottled(c.UserContext(), auditEvent(c, actor, action, target, false, nil))
}

// recordThrottled records an attempt the sign-in throttle refused: a
// burst of them (same account, address and details) within the
// throttle's window is one event whose count goes up, so that an attacker
// hammering a blocked account adds one row per window, not one per
// request.
func (h *Handlers) recordThrottled(ctx context.Context, e *models.AuditEvent) {
	since := h.Now().Add(-h.LoginThrottle.Window)
	if e.Target != "" {
		// An address blocked while trying many accounts (a new username
		// each time) gets a row per account for the first few only; the
		// rest are counted in one row for the address.
		_, n, err := h.Store.ListAuditEvents(ctx, models.AuditFilter{Action: e.Action, RemoteAddr: e.RemoteAddr, Since: since, Limit: 1})
		if err != nil {
			h.Log.ErrorContext(ctx, "audit event not recorded", "action", e.Action, "err", err)
			return
		}
		if n >= maxThrottledTargetsPerAddress {
			e.Target, e.Details = "", map[string]string{"targets": "more than " + strconv.Itoa(maxThrottledTargetsPerAddress)}
		}
	}
	if err := h.Store.AddAuditEventCounted(ctx, e, since); err != nil {
		h.Log.ErrorContext(ctx, "audit event not recorded", "action", e.Action, "err", err)
	}
}
