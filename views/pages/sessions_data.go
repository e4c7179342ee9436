package pages

import (
	"net/url"
	"time"
)

// View models of the sessions pages: the user's own (GET /account/sessions)
// and the sessions part of an admin's user page.

// SessionsData is the user's sessions page.
type SessionsData struct {
	List SessionList
	// Apps are the apps the user authorized (what /account/apps lists).
	Apps []AppRow
}

// SessionList is a user's signed-in browsers, as both pages show them.
type SessionList struct {
	Sessions []SessionRow // the current one first, then the most recently active
	// More is set when the user has more sessions than are listed.
	More bool
	// CanEnd: each session but the current one gets its own sign-out
	// button (the user's own page).
	CanEnd bool
	// Now is the time of the request, for "3 hours ago".
	Now time.Time
}

// SessionRow is one browser session.
type SessionRow struct {
	SID        string // its public ID ("" for sessions of earlier releases)
	Label      string // "Firefox on Windows", or the raw User-Agent shortened
	Kind       string // desktop, mobile, tablet, tv or unknown (the icon)
	UserAgent  string // the raw header, shown on hover
	RemoteAddr string // where it signed in from
	Started    time.Time
	// LastSeen is when it was last written: at least every 15 minutes
	// while in use.
	LastSeen time.Time
	Current  bool // the browser looking at the page
}

// recentWindow: a session written this recently may be in use right now
// (sessions are written back at most every 15 minutes while in use).
const recentWindow = 15 * time.Minute

// Others is how many sessions other than the current one are listed.
func (l SessionList) Others() int {
	n := 0
	for _, s := range l.Sessions {
		if !s.Current {
			n++
		}
	}
	return n
}

// endURL is where the session's sign-out button posts.
func (s SessionRow) endURL() string {
	return "/account/sessions/" + url.PathEscape(s.SID) + "/end"
}

// icon is the Font Awesome icon of the device kind.
func (s SessionRow) icon() string {
	switch s.Kind {
	case "desktop":
		return "fa-solid fa-desktop"
	case "mobile":
		return "fa-solid fa-mobile-screen"
	case "tablet":
		return "fa-solid fa-tablet-screen-button"
	case "tv":
		return "fa-solid fa-tv"
	}
	return "fa-solid fa-globe"
}

// address is where the session signed in from.
func (s SessionRow) address() string {
	if s.RemoteAddr == "" {
		return "Address unknown"
	}
	return s.RemoteAddr
}

// ago is "3 hours ago", or the date for what is older than a month.
func ago(t, now time.Time) string {
	if r := relTime(t, now); r != "" {
		return r
	}
	return "on " + formatDateTime(t)
}

// lastSeen words when the session was last used.
func (s SessionRow) lastSeen(now time.Time) string {
	switch {
	case s.Current:
		return "Active now"
	case now.Sub(s.LastSeen) < recentWindow:
		return "Active in the last 15 minutes"
	}
	return "Last active " + ago(s.LastSeen, now)
}

// started words when the session signed in.
func (s SessionRow) started(now time.Time) string {
	return "Signed in " + ago(s.Started, now)
}

// appPermissions is "3 permissions" for the sessions page's app list.
func (a AppRow) appPermissions() string {
	if len(a.Scopes) == 0 {
		return "sign-in only"
	}
	return Plural(int64(len(a.Scopes)), "permission", "permissions")
}

// sessionsEmpty is what the user page says of a user signed in nowhere.
func (d UserDetailData) sessionsEmpty() string {
	if d.Self {
		return "You are not signed in anywhere."
	}
	return d.Username + " is not signed in anywhere."
}
