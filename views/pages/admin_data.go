package pages

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/components"
)

// View models of the scopes, settings, users and authorized-apps pages.

// ---- scopes ----------------------------------------------------------

// ScopeMethods are the HTTP methods a scope can guard, as offered in the
// form ("*" means every method): the protocol core's list.
var ScopeMethods = oauth.ScopeMethods

// ScopePreviewClient is the sample app name the scope form fills into the
// description preview.
const ScopePreviewClient = "Acme Notes"

// ScopeListData is the scopes list (GET /dashboard/scopes).
type ScopeListData struct {
	Scopes  []ScopeRow
	CanEdit bool // admins; developers read only
}

// ScopeRow is one scope in the list.
type ScopeRow struct {
	ScopeID, Name, Description, Icon string
	Method, ResourcePath             string
	IsDefault                        bool
	Machine                          bool
	// Resource is the URI of the resource the scope belongs to ("" for
	// none); ResourceName its name ("" when it is not registered) and
	// ResourceID its page (0: the built-in one, which has none).
	Resource     string
	ResourceName string
	ResourceID   int64
}

// ScopeForm is the scope form (new and edit) or, for developers, the
// read-only view of a scope.
type ScopeForm struct {
	New     bool // creating: the scope ID is editable
	CanEdit bool // admins; developers see the scope read only
	ScopeID string
	Name    string
	// Description may use {user} and {client_name}.
	Description  string
	Icon         string
	ResourcePath string
	Method       string
	// Resource is the URI of the resource (RFC 8707) the scope belongs to
	// ("" for none); Resources are the choices.
	Resource  string
	Resources []ResourceChoice
	IsDefault bool
	// Machine: can be granted without a user (client credentials), to
	// clients an admin gives it.
	Machine bool
	Errors  views.FieldErrors // keys: scope_id, name, description, icon, resource_path, method, resource, views.FormError

	// PreviewUser is the username the preview fills in for {user}.
	PreviewUser string

	// Edit page only: Heading is the stored name (the form may hold an
	// edited one).
	Heading              string
	CreatedAt, UpdatedAt time.Time
	Delete               *ScopeDeleteData
}

// ScopeDeleteData is the danger zone of the scope edit page.
type ScopeDeleteData struct {
	// Listed clients name the scope in their list; AnyScope clients have
	// an empty list, which lets them ask for any scope.
	Listed, AnyScope int64
	ActiveTokens     int64 // unexpired, unrevoked tokens granting it
	// Guards is what the stored scope guards, as ScopeGuards writes it
	// ("" when it guards no path).
	Guards string
	// LimitedTo lists the clients (names) whose only scope this is: the
	// scope cannot be deleted while they exist.
	LimitedTo []ScopeClientRef
	// OIDC is set for the OpenID Connect scopes, which clients rely on.
	OIDC  bool
	Error string // the confirmation checkbox's message
}

// ScopeClientRef names a client on the scope pages.
type ScopeClientRef struct {
	ClientID, Name string
}

// Clients counts the clients allowed to ask for the scope.
func (d *ScopeDeleteData) Clients() int64 { return d.Listed + d.AnyScope }

// InUse reports whether clients or active tokens use the scope.
func (d *ScopeDeleteData) InUse() bool { return d.Clients() > 0 || d.ActiveTokens > 0 }

// clientsBreakdown tells, when some clients may ask for any scope, how
// the clients that may ask for this one divide: "(2 list it, 1 may ask
// for any scope)"; "" otherwise.
func (d *ScopeDeleteData) clientsBreakdown() string {
	if d.AnyScope == 0 {
		return ""
	}
	listed := "none lists it"
	switch {
	case d.Listed == 1:
		listed = "1 lists it"
	case d.Listed > 1:
		listed = formatCount(d.Listed) + " list it"
	}
	return "(" + listed + ", " + formatCount(d.AnyScope) + " may ask for any scope)"
}

// tokensAfterDelete says what deleting the scope does to the active
// tokens granting it: they are not revoked (DeleteScopeDetached leaves
// tokens alone); the scope stops guarding its path (oauth.VerifyScope
// knows only existing scopes) and refreshes drop it (stillAllowed).
func (d *ScopeDeleteData) tokensAfterDelete() string {
	if d.ActiveTokens == 0 {
		return ""
	}
	subj, obj, are := "they", "them", "are"
	msg := "Those tokens will not be revoked: they stay valid until they expire"
	if d.ActiveTokens == 1 {
		subj, obj, are = "it", "it", "is"
		msg = "That token will not be revoked: it stays valid until it expires"
	}
	if d.Guards != "" {
		msg += ", but the scope will no longer let " + obj + " through " + d.Guards
	}
	return msg + ". The scope will be dropped from " + obj + " when " + subj + " " + are + " refreshed."
}

// scopeErrorFields are the scope form's fields in page order.
var scopeErrorFields = []components.ErrorField{
	{Key: "scope_id", Label: "Scope ID"},
	{Key: "name", Label: "Display name"},
	{Key: "description", Label: "Consent text"},
	{Key: "icon", Label: "Icon"},
	{Key: "resource", Label: "Resource"},
	{Key: "method", Label: "Method"},
	{Key: "resource_path", Label: "Path"},
}

// errorItems lists the form's field errors for the error summary.
func (f ScopeForm) errorItems() []components.ErrorItem {
	return components.ErrorItems(f.Errors, scopeErrorFields...)
}

// autofocus reports whether the field key takes the focus: the first
// invalid field, or the scope ID of a new, unrefused form.
func (f ScopeForm) autofocus(key string) bool {
	if first := components.FirstInvalid(f.errorItems()); first != "" {
		return key == first
	}
	return f.New && key == "scope_id" && f.Errors.Form() == ""
}

// URL is the address of the scope's page. The scope ID is path-escaped:
// scope IDs may contain "/" and other punctuation.
func ScopeURL(scopeID string) string { return "/dashboard/scopes/" + url.PathEscape(scopeID) }

// previewDescription is the description as the consent screen shows it,
// with sample values.
func (f ScopeForm) previewDescription() string {
	d := strings.TrimSpace(f.Description)
	if d == "" {
		return ""
	}
	return oauth.ScopeDescription(d, f.previewUser(), ScopePreviewClient)
}

func (f ScopeForm) previewUser() string {
	if f.PreviewUser == "" {
		return "ada"
	}
	return f.PreviewUser
}

func (f ScopeForm) previewName() string {
	if strings.TrimSpace(f.Name) == "" {
		return "Display name"
	}
	return f.Name
}

// previewIcon is the icon shown in the preview: the scope's, or a shield.
func (f ScopeForm) previewIcon() string {
	if f.Icon == "" || f.Errors.Get("icon") != "" {
		return scopeFallbackIcon
	}
	return f.Icon
}

const scopeFallbackIcon = "fa-solid fa-shield-halved"

func (f ScopeForm) action() string {
	if f.New {
		return "/dashboard/scopes"
	}
	return ScopeURL(f.ScopeID)
}

// ScopeGuards describes what a scope guards, as the pages write it:
// "GET /api/user", "ANY /files/*" (method "*"), or "".
func ScopeGuards(method, path string) string {
	if path == "" {
		return ""
	}
	if method == "" || method == "*" {
		method = "ANY"
	}
	return method + " " + path
}

func admIconOr(icon string) string {
	if icon == "" {
		return scopeFallbackIcon
	}
	return icon
}

// ---- settings --------------------------------------------------------

// SettingsData is the settings page (GET/POST /dashboard/settings).
type SettingsData struct {
	Groups []SettingsGroup
	Errors views.FieldErrors // by setting key; views.FormError for the form
}

// SettingsGroup is one titled section of settings.
type SettingsGroup struct {
	ID, Title, Description, Icon string
	Settings                     []SettingField
}

// Setting kinds as the page renders them.
const (
	SettingBool     = "bool"
	SettingDuration = "duration"
	SettingEnum     = "enum"
	SettingText     = "text"
)

// SettingField is one setting in the form.
type SettingField struct {
	Key, Title, Help, Risk string
	Kind                   string // SettingBool, SettingDuration, SettingEnum or SettingText
	Value                  string // as entered (kept after an error) or stored
	Default                string
	Choices                []SettingChoice // enums
	Min, Max               string          // durations, e.g. "1s", "10m"
	Zero                   string          // durations: what 0 means when allowed ("keep everything")
	Modified               bool            // the stored value differs from the default
	Hint                   string          // texts: what the box takes, under it
}

// SettingChoice is one option of an enum setting.
type SettingChoice struct {
	Value, Label string
}

func (s SettingField) checked() bool { return s.Value == "true" }

// errorItems lists the settings with an error, in page order, for the
// error summary.
func (d SettingsData) errorItems() []components.ErrorItem {
	var fields []components.ErrorField
	for _, g := range d.Groups {
		for _, s := range g.Settings {
			fields = append(fields, components.ErrorField{Key: s.Key, Label: s.Title})
		}
	}
	return components.ErrorItems(d.Errors, fields...)
}

func (s SettingField) boundsText() string {
	if s.Zero != "" {
		return "0 to " + s.Zero + ", or between " + s.Min + " and " + s.Max + ". Use units such as 30s, 15m or 2h."
	}
	return "Between " + s.Min + " and " + s.Max + ". Use units such as 30s, 15m or 2h."
}

func (s SettingField) defaultText() string {
	switch s.Kind {
	case SettingBool:
		if s.Default == "true" {
			return "on"
		}
		return "off"
	case SettingEnum:
		for _, c := range s.Choices {
			if c.Value == s.Default {
				return c.Label
			}
		}
	case SettingText:
		if s.Default == "" {
			return "empty"
		}
	}
	return s.Default
}

// describedBy lists the IDs describing the setting's box: help, risk, the
// error and the bounds or hint under it.
func (s SettingField) describedBy(errMsg string) string {
	ids := settingDescribedBy(s.Key, errMsg)
	if s.Kind == SettingDuration || s.Hint != "" {
		ids += " " + s.Key + "-bounds"
	}
	return ids
}

// ---- users -----------------------------------------------------------

// UserListData is the users list (GET /dashboard/users).
type UserListData struct {
	Users []UserRow
	Query string // the search, kept in the box
	Role  string // the role filter ("" for all)
	// Total matches the filter; Offset is the first shown (0-based).
	Total            int64
	Offset, PageSize int
	// AnyFilter is set when Query or Role narrows the list.
	AnyFilter bool
}

// UserRow is one user in the list.
type UserRow struct {
	ID                    int64
	Username, Name, Email string
	EmailVerified         bool
	Role                  string
	Disabled              bool
	Self                  bool
	CreatedAt             time.Time
}

// RoleChoice is a role as the forms offer it, with what it may do.
type RoleChoice struct{ Value, Label, Help string }

// RoleChoices are the roles in the forms. The admin's help names the
// audit log only once its page exists.
func RoleChoices() []RoleChoice {
	admin := "Everything: all clients, scopes, settings and users."
	if views.Built("/dashboard/audit") {
		admin = "Everything: all clients, scopes, settings, users and the audit log."
	}
	return []RoleChoice{
		{views.RoleUser, "User", "Signs in to apps and manages their own authorized apps."},
		{views.RoleDeveloper, "Developer", "Also registers and manages their own OAuth clients, and reads scopes."},
		{views.RoleAdmin, "Admin", admin},
	}
}

// roleFocusValue is the radio of a role picker showing value that takes
// the focus: the chosen role's, or the first when none is chosen.
func roleFocusValue(value string) string {
	if value == "" {
		return views.RoleUser
	}
	for _, r := range RoleChoices() {
		if r.Value == value {
			return value
		}
	}
	return RoleChoices()[0].Value
}

// roleRadioID is the id of a role picker's radio.
func roleRadioID(name, value string) string { return name + "-" + value }

func (d UserListData) from() int64 { return int64(d.Offset) + 1 }
func (d UserListData) to() int64   { return int64(d.Offset) + int64(len(d.Users)) }

// PageURL is the address of the page starting at offset, with the filters.
func (d UserListData) PageURL(offset int) string {
	v := url.Values{}
	if d.Query != "" {
		v.Set("q", d.Query)
	}
	if d.Role != "" {
		v.Set("role", d.Role)
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/dashboard/users"
	}
	return "/dashboard/users?" + v.Encode()
}

func (d UserListData) prevURL() string {
	if d.Offset <= 0 {
		return ""
	}
	return d.PageURL(max(d.Offset-d.PageSize, 0))
}

func (d UserListData) nextURL() string {
	if int64(d.Offset+d.PageSize) >= d.Total {
		return ""
	}
	return d.PageURL(d.Offset + d.PageSize)
}

// UserURL is the address of a user's page.
func UserURL(id int64) string { return "/dashboard/users/" + strconv.FormatInt(id, 10) }

// NewUserForm is the create-user form (GET/POST /dashboard/users/new).
type NewUserForm struct {
	Username, Email, Name, Role string
	EmailVerified               bool
	Errors                      views.FieldErrors // keys: username, email, name, password, password_confirm, role, views.FormError
}

// errorItems lists the form's field errors in page order.
func (f NewUserForm) errorItems() []components.ErrorItem {
	return components.ErrorItems(f.Errors,
		components.ErrorField{Key: "username", Label: "Username"},
		components.ErrorField{Key: "name", Label: "Full name"},
		components.ErrorField{Key: "email", Label: "Email"},
		components.ErrorField{Key: "role", Anchor: roleRadioID("role", roleFocusValue(f.Role)), Label: "Role"},
		components.ErrorField{Key: "password", Label: "Password"},
		components.ErrorField{Key: "password_confirm", Label: "Confirm password"},
	)
}

// autofocus reports whether the field key takes the focus: the first
// invalid field, or the username of an unrefused form.
func (f NewUserForm) autofocus(key string) bool {
	if first := components.FirstInvalid(f.errorItems()); first != "" {
		return key == first
	}
	return key == "username" && f.Errors.Form() == ""
}

// UserDetailData is a user's page (GET /dashboard/users/:id).
type UserDetailData struct {
	ID                    int64
	Username, Name, Email string
	EmailVerified         bool
	Role                  string
	Disabled              bool
	Self                  bool // the admin looking is this user
	// LastAdmin is set when this is the only enabled admin: it cannot be
	// demoted or disabled.
	LastAdmin         bool
	Clients           int64       // clients the user owns
	Apps              int64       // apps the user authorized
	Sessions          SessionList // the user's browser sessions
	CreatedAt         time.Time
	PasswordChangedAt time.Time
	// RoleValue is the role chosen in the form (kept after an error).
	RoleValue string
	// Profile is the profile form as typed, kept after an error; nil
	// fills the form with Name, Email and EmailVerified.
	Profile *ProfileValues
	Errors  views.FieldErrors // keys: name, email (profile form), role, password, password_confirm, disabled
}

func (d UserDetailData) roleValue() string {
	if d.RoleValue != "" {
		return d.RoleValue
	}
	return d.Role
}

// passwordErrorItems are the reset-password form's field errors.
func (d UserDetailData) passwordErrorItems() []components.ErrorItem {
	return components.ErrorItems(d.Errors,
		components.ErrorField{Key: "password", Label: "New password"},
		components.ErrorField{Key: "password_confirm", Label: "Confirm new password"},
	)
}

func (d UserDetailData) displayName() string {
	if d.Name != "" {
		return d.Name
	}
	return d.Username
}

// ---- authorized apps -------------------------------------------------

// AppsData is the authorized-apps page (GET /account/apps).
type AppsData struct {
	Apps []AppRow
}

// AppRow is one client the user approved.
type AppRow struct {
	ClientID    string
	Name        string // "" when the client no longer exists
	Description string
	Icon        string // "/icons/<id>", an https URL, or "" for initials
	Homepage    string
	Scopes      []AppScope
	GrantedAt   time.Time // when the consent was last given
}

// AppScope is one granted scope as the apps page shows it.
type AppScope struct {
	ID, Name, Icon string
}

func (a AppRow) displayName() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ClientID
}

// revokeURL is where the revoke form posts.
func (a AppRow) revokeURL() string {
	return "/account/apps/" + url.PathEscape(a.ClientID) + "/revoke"
}

// admAppIcon reports whether icon is an image address the page may load.
func admAppIcon(icon string) bool {
	return strings.HasPrefix(icon, "https://") || (strings.HasPrefix(icon, "/") && !strings.HasPrefix(icon, "//"))
}

// homepageHost is the homepage's host name, for the link text.
func (a AppRow) homepageHost() string {
	u, err := url.Parse(a.Homepage)
	if err != nil || u.Host == "" {
		return a.Homepage
	}
	return u.Host
}

// safeHomepage reports whether the homepage is an http(s) URL to link to.
func (a AppRow) safeHomepage() bool {
	return strings.HasPrefix(a.Homepage, "https://") || strings.HasPrefix(a.Homepage, "http://")
}

// ---- shared helpers --------------------------------------------------

// admISO is a time for the datetime attribute of <time>.
func admISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// settingDescribedBy lists the ids that describe a setting's control.
func settingDescribedBy(key, errMsg string) string {
	ids := key + "-help " + key + "-risk"
	if errMsg != "" {
		ids = key + "-error " + ids
	}
	return ids
}
