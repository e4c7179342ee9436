// Package views holds the view models shared by the templ components in
// views/components, views/layout and views/pages.
package views

import "strings"

// Roles a user can have.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleUser      = "user"
)

// FormError is the FieldErrors key for a message that belongs to the whole
// form rather than to one field; pages show it above the form.
const FormError = "_form"

// CurrentUser is the signed-in user as the layout needs it.
type CurrentUser struct {
	Username string
	Name     string
	Role     string // "admin", "developer" or "user"
}

// DisplayName is the user's name, or the username when the name is empty.
func (u *CurrentUser) DisplayName() string {
	if u == nil {
		return ""
	}
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	return u.Username
}

// Initials returns up to two upper-case initials for an avatar.
func (u *CurrentUser) Initials() string {
	if u == nil {
		return ""
	}
	return Initials(u.DisplayName())
}

// Initials returns up to two upper-case initials of name.
func Initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		for _, r := range w {
			out = append(out, r)
			break
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // "success", "error" or "info"
	Message string
}

// Base is what every page passes to the layout.
type Base struct {
	Title     string       // page title, shown as "<Title> · Gatehouse"
	CSRFToken string       // for every form (the logout form in the nav too)
	User      *CurrentUser // nil when signed out
	Flashes   []Flash
	Active    string // nav key: "dashboard", "clients", "scopes", "resources", "trust", "settings", "users", "audit", "account", "apps", "device"
	// Focused pages (the consent screen) use the centered card of the
	// signed-out pages even for a signed-in user: no navigation to wander
	// off into in the middle of an authorization.
	Focused bool
	// Scripts are files under static/ (e.g. "js/clients.js") loaded with
	// defer: progressive enhancement only, every page works without them.
	Scripts []string
}

// FullTitle is the document title.
func (b Base) FullTitle() string {
	if strings.TrimSpace(b.Title) == "" {
		return "Gatehouse"
	}
	return b.Title + " · Gatehouse"
}

// HomeURL is where the logo and "go home" links point.
func (b Base) HomeURL() string {
	if b.User != nil {
		return "/dashboard"
	}
	return "/"
}

// FieldErrors maps a form field name to the message shown next to it.
// The FormError key holds a message for the whole form.
type FieldErrors map[string]string

// Get returns the message for field name ("" when none; safe on nil).
func (e FieldErrors) Get(name string) string { return e[name] }

// Form returns the form-level message.
func (e FieldErrors) Form() string { return e[FormError] }

// NavItem is one link of the main navigation.
type NavItem struct {
	Key   string // matches Base.Active
	Label string
	Href  string
	Icon  string // Font Awesome classes
}

var (
	navDashboard = NavItem{"dashboard", "Dashboard", "/dashboard", "fa-solid fa-gauge"}
	navClients   = NavItem{"clients", "Clients", "/dashboard/clients", "fa-solid fa-cubes"}
	navScopes    = NavItem{"scopes", "Scopes", "/dashboard/scopes", "fa-solid fa-shield-halved"}
	navResources = NavItem{"resources", "Resources", "/dashboard/resources", "fa-solid fa-server"}
	navTrust     = NavItem{"trust", "Trust", "/dashboard/trust", "fa-solid fa-handshake"}
	navSettings  = NavItem{"settings", "Settings", "/dashboard/settings", "fa-solid fa-sliders"}
	navUsers     = NavItem{"users", "Users", "/dashboard/users", "fa-solid fa-users"}
	navAudit     = NavItem{"audit", "Audit", "/dashboard/audit", "fa-solid fa-clock-rotate-left"}
	// navDevice is where anyone signs in a TV or CLI (RFC 8628).
	navDevice = NavItem{"device", "Connect device", "/device", "fa-solid fa-tv"}
)

// built lists the pages that exist. Navigation and dashboard cards only
// link to these, so no link leads to a 404 while the dashboard grows: add
// a page's path here when its handler lands in the route table.
var built = map[string]bool{
	"/dashboard":               true,
	"/account":                 true,
	"/dashboard/clients":       true,
	"/dashboard/clients/new":   true,
	"/dashboard/scopes":        true,
	"/dashboard/scopes/new":    true,
	"/dashboard/resources":     true,
	"/dashboard/resources/new": true,
	"/dashboard/trust":         true,
	"/dashboard/trust/new":     true,
	"/dashboard/settings":      true,
	"/dashboard/users":         true,
	"/dashboard/users/new":     true,
	"/dashboard/audit":         true,
	"/account/apps":            true,
	"/account/sessions":        true,
	"/device":                  true,
}

// Built reports whether the page at path exists.
func Built(path string) bool { return built[path] }

// NavItems returns the main navigation for a role.
func NavItems(role string) []NavItem {
	var all []NavItem
	switch role {
	case RoleAdmin:
		all = []NavItem{navDashboard, navClients, navScopes, navResources, navTrust, navSettings, navUsers, navAudit, navDevice}
	case RoleDeveloper:
		all = []NavItem{navDashboard, navClients, navScopes, navResources, navDevice}
	default:
		all = []NavItem{navDashboard, navDevice}
	}
	items := all[:0:0]
	for _, it := range all {
		if Built(it.Href) {
			items = append(items, it)
		}
	}
	return items
}

// RoleLabel is the human name of a role.
func RoleLabel(role string) string {
	switch role {
	case RoleAdmin:
		return "Admin"
	case RoleDeveloper:
		return "Developer"
	case RoleUser:
		return "User"
	default:
		return role
	}
}
