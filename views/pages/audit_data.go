package pages

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/components"
)

// View models of the audit log (GET /dashboard/audit).

// AuditAction is an action the audit log knows, with its human label.
type AuditAction struct{ Value, Label string }

// AuditActionGroup is a group of the action filter: a category and its
// actions; Value (say "client.*") selects every action of the category.
type AuditActionGroup struct {
	Label, Value string
	All          string // the option of Value ("All client events")
	Actions      []AuditAction
}

// AuditActionGroups are the actions the code base records, by category,
// as the action filter offers them.
var AuditActionGroups = []AuditActionGroup{
	{"Sign-in", "login.*", "All sign-in attempts", []AuditAction{
		{"login.success", "Signed in"},
		{"login.failure", "Sign-in failed"},
		{"login.throttled", "Sign-in throttled"},
		{"logout", "Signed out"},
	}},
	{"Accounts", "user.*", "All account events", []AuditAction{
		{"user.signup", "Signed up"},
		{"user.signup_throttled", "Sign-up throttled"},
		{"user.created", "User created"},
		{"user.profile", "Profile changed"},
		{"user.email_change_throttled", "Email change throttled"},
		{"user.password_changed", "Password changed"},
		{"user.password_reset", "Password reset by an admin"},
		{"user.role_changed", "Role changed"},
		{"user.disabled", "User disabled"},
		{"user.enabled", "User enabled"},
		{"user.sessions_ended", "Signed out everywhere by an admin"},
	}},
	{"Sessions", "session.*", "All session events", []AuditAction{
		{"session.ended", "Signed out another browser"},
		{"session.ended_others", "Signed out all other browsers"},
	}},
	{"Back-channel logout", "backchannel_logout.*", "All back-channel logout events", []AuditAction{
		{"backchannel_logout.failed", "Logout notification failed (retried)"},
		{"backchannel_logout.delivered", "Logout notification delivered after failures"},
		{"backchannel_logout.gave_up", "Logout notification given up"},
	}},
	{"Consent", "consent.*", "All consent events", []AuditAction{
		{"consent.granted", "Consent granted"},
		{"consent.denied", "Consent denied"},
		{"consent.revoked", "Consent revoked"},
	}},
	{"Devices", "device.*", "All device events", []AuditAction{
		{"device.approved", "Device approved"},
		{"device.denied", "Device denied"},
		{"device.code_rejected", "Device code rejected"},
		{"device.throttled", "Device codes throttled"},
	}},
	{"Token security", "", "", []AuditAction{
		{"refresh_token.reused", "Refresh token reused: family revoked"},
		{"authorization_code.replayed", "Authorization code replayed: tokens revoked"},
	}},
	{"Clients", "client.*", "All client events", []AuditAction{
		{"client.created", "Client created"},
		{"client.updated", "Client changed"},
		{"client.secret_rotated", "Client secret rotated"},
		{"client.deleted", "Client deleted"},
		{"client.registered", "Client registered itself"},
		{"client.registration_updated", "Client changed its registration"},
		{"client.promoted", "Self-registered client promoted"},
		{"client.registration_token_created", "Initial access token created"},
	}},
	{"Scopes", "scope.*", "All scope events", []AuditAction{
		{"scope.created", "Scope created"},
		{"scope.updated", "Scope changed"},
		{"scope.deleted", "Scope deleted"},
	}},
	{"Resources", "resource.*", "All resource events", []AuditAction{
		{"resource.created", "Resource registered"},
		{"resource.updated", "Resource changed"},
		{"resource.deleted", "Resource deleted"},
	}},
	{"Trusted issuers", "trust.*", "All trusted issuer events", []AuditAction{
		{"trust.created", "Trusted issuer registered"},
		{"trust.deleted", "Trusted issuer deleted"},
		{"trust.assertion_accepted", "Assertion exchanged for a token (JWT bearer)"},
		{"trust.assertion_refused", "Assertion refused (JWT bearer)"},
	}},
	{"Server", "", "", []AuditAction{
		{"setting.changed", "Setting changed"},
		{"keys.rotate", "Signing keys rotated"},
		{"keys.rotate_sessions", "Session keys rotated: everyone signed out"},
		{"setup.admin_created", "First admin created"},
		{"audit.exported", "Audit log exported"},
	}},
}

// AuditActionLabel is the human label of an action ("" when unknown).
func AuditActionLabel(action string) string {
	for _, g := range AuditActionGroups {
		for _, a := range g.Actions {
			if a.Value == action {
				return a.Label
			}
		}
	}
	return ""
}

// knownAuditAction reports whether the action filter offers value.
func knownAuditAction(value string) bool {
	for _, g := range AuditActionGroups {
		if g.Value != "" && g.Value == value {
			return true
		}
		if slices.ContainsFunc(g.Actions, func(a AuditAction) bool { return a.Value == value }) {
			return true
		}
	}
	return false
}

// AuditFilterForm is the filter form as sent (the query string), kept in
// the form and in the page and export links.
type AuditFilterForm struct {
	Action, Actor, Target, RemoteAddr string
	Outcome                           string // "", "success" or "failure"
	Since, Until                      string // dates, YYYY-MM-DD (UTC)
}

// Values is the form as a query string (empty fields left out).
func (f AuditFilterForm) Values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"action", f.Action}, {"actor", f.Actor}, {"target", f.Target}, {"outcome", f.Outcome},
		{"addr", f.RemoteAddr}, {"since", f.Since}, {"until", f.Until}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	return v
}

// Any reports whether a filter is set.
func (f AuditFilterForm) Any() bool { return len(f.Values()) > 0 }

// AuditListData is the audit log page.
type AuditListData struct {
	Filter AuditFilterForm
	// Errors are the filter fields that could not be used (keys: action,
	// actor, target, addr, outcome, since, until); no events are listed
	// then.
	Errors views.FieldErrors
	Events []AuditRow
	// Total matches the filter; Offset is the first shown (0-based).
	Total            int64
	Offset, PageSize int
	// Now is the time of the request, for "5 minutes ago".
	Now time.Time
}

// AuditRow is one event.
type AuditRow struct {
	ID         int64
	Time       time.Time
	Actor      string // "" when nobody was signed in
	ActorID    *int64 // set when the actor is a user account
	Action     string
	Target     string
	RemoteAddr string
	Success    bool
	Details    []AuditDetail // sorted by key
	// Count is how many times it happened: more than 1 for a burst of
	// throttled attempts recorded once.
	Count int64
}

// countText is "×37" for an event that happened 37 times ("" for once).
func (r AuditRow) countText() string {
	if r.Count <= 1 {
		return ""
	}
	return "×" + formatCount(r.Count)
}

// AuditDetail is one key=value of an event's details.
type AuditDetail struct{ Key, Value string }

func (d AuditListData) from() int64 { return int64(d.Offset) + 1 }
func (d AuditListData) to() int64   { return int64(d.Offset) + int64(len(d.Events)) }

// PageURL is the address of the page starting at offset, with the filters.
func (d AuditListData) PageURL(offset int) string {
	v := d.Filter.Values()
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/dashboard/audit"
	}
	return "/dashboard/audit?" + v.Encode()
}

// FilterURL is the first page of the log with the current filters and
// key (actor, target or addr) set to value: a row's who, target or
// address narrows the log to it.
func (d AuditListData) FilterURL(key, value string) string {
	f := d.Filter
	switch key {
	case "actor":
		f.Actor = value
	case "target":
		f.Target = value
	case "addr":
		f.RemoteAddr = value
	}
	return AuditListData{Filter: f}.PageURL(0)
}

// ExportURL is the JSON lines export of the events the filters select.
func (d AuditListData) ExportURL() string {
	v := d.Filter.Values()
	if len(v) == 0 {
		return "/dashboard/audit/export"
	}
	return "/dashboard/audit/export?" + v.Encode()
}

func (d AuditListData) prevURL() string {
	if d.Offset <= 0 {
		return ""
	}
	return d.PageURL(max(d.Offset-d.PageSize, 0))
}

func (d AuditListData) nextURL() string {
	if int64(d.Offset+d.PageSize) >= d.Total {
		return ""
	}
	return d.PageURL(d.Offset + d.PageSize)
}

// unknownAction is a filtered action the select does not offer (say from
// a link), shown as an extra option so the form keeps it.
func (d AuditListData) unknownAction() string {
	if d.Filter.Action == "" || knownAuditAction(d.Filter.Action) {
		return ""
	}
	return d.Filter.Action
}

func (d AuditListData) errorItems() []components.ErrorItem {
	return components.ErrorItems(d.Errors,
		components.ErrorField{Key: "action", Label: "Action"},
		components.ErrorField{Key: "actor", Label: "Who"},
		components.ErrorField{Key: "target", Label: "Target"},
		components.ErrorField{Key: "outcome", Label: "Outcome"},
		components.ErrorField{Key: "addr", Label: "From address"},
		components.ErrorField{Key: "since", Label: "From date"},
		components.ErrorField{Key: "until", Label: "To date"},
	)
}

// invalid is the aria-invalid value of a filter field.
func (d AuditListData) invalid(key string) string {
	if d.Errors.Get(key) != "" {
		return "true"
	}
	return "false"
}

// actorLabel is who did it: the account (or "user #7" when only its ID
// is known), or "anonymous" when nobody was signed in.
func (r AuditRow) actorLabel() string {
	switch {
	case r.Actor != "":
		return r.Actor
	case r.ActorID != nil:
		return "user #" + strconv.FormatInt(*r.ActorID, 10)
	}
	return "anonymous"
}

// actorKind is "user" for accounts, "cli" or "system" for the server's
// own tools, "anonymous" without an actor.
func (r AuditRow) actorKind() string {
	switch {
	case r.Actor == "" && r.ActorID == nil:
		return "anonymous"
	case r.ActorID == nil && (r.Actor == "cli" || r.Actor == "system"):
		return r.Actor
	}
	return "user"
}

func (r AuditRow) actionLabel() string {
	if l := AuditActionLabel(r.Action); l != "" {
		return l
	}
	return r.Action
}

// relTime writes how long before now t was: "just now", "5 minutes ago",
// "3 days ago"; older than a month, "".
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, one)
	}
	switch {
	case d < 0:
		return ""
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	case d < 31*24*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	}
	return ""
}

// auditTime writes a time like "2026-02-03 14:05:09 UTC".
func auditTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }
