// Package pages holds the full pages of the dashboard and the sign-in flow.
// Each page takes views.Base (for the layout) and its own data struct.
package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/views"
)

// LoginForm is the sign-in form's state.
type LoginForm struct {
	Username      string // kept after a failed attempt
	Next          string // where to go after signing in (a local path)
	Error         string // one generic message, e.g. "Incorrect username or password."
	UsernameError string // the username field's own message (too long)
	SignupAllowed bool   // shows the "Create an account" link
	// ContinueTo names the application whose authorization request the
	// sign-in continues ("" for a plain sign-in).
	ContinueTo string
	// ForDevice: the sign-in continues to the /device page (RFC 8628).
	ForDevice bool
}

// SignupForm is the self-service registration form's state.
type SignupForm struct {
	Username, Email, Name string
	Errors                views.FieldErrors // keys: username, name, email, password, password_confirm, views.FormError
}

// SetupForm is the first-administrator form's state.
type SetupForm struct {
	Token                 string // the one-time setup token, sent back as a hidden field
	Username, Email, Name string
	Errors                views.FieldErrors // keys as SignupForm
}

// DashboardData is the home page.
type DashboardData struct {
	Greeting string // e.g. "Good morning, Ada"
	Role     string
	Cards    []DashboardCard
}

// DashboardCard is one link tile on the home page.
type DashboardCard struct {
	Title, Description, Href string
	Icon                     string // Font Awesome classes or an image URL
	Count                    int64
	ShowCount                bool
}

// AccountData is the account page.
type AccountData struct {
	Username, Name, Email, Role string
	EmailVerified               bool
	// Profile is the profile form as typed, kept after an error; nil
	// fills the form with Name and Email.
	Profile *ProfileValues
	// ProfileError is a message for the whole profile form (too many
	// changes of email address).
	ProfileError string
	Errors       views.FieldErrors // keys: name, email (profile form); current_password, new_password, new_password_confirm, views.FormError (password form)
	// KeepApps: the password form's "Also sign out of all apps" box was
	// unticked (it is ticked by default).
	KeepApps bool
}

// ProfileValues are a profile form's fields as typed (the account page's,
// and the admin's on a user's page).
type ProfileValues struct {
	Name, Email   string
	EmailVerified bool
}

// ErrorData is an error page. Title and Message default to a text that fits Status.
type ErrorData struct {
	Status         int
	Title, Message string
	// Authorization: an authorization request that cannot go back to
	// the app, shown to the person signing in: the buttons lead back to
	// the app (App, its AppHomepage when known) and to their account,
	// not to the dashboard.
	Authorization    bool
	App, AppHomepage string
}

// roleSummary says in one sentence what a role can do.
func roleSummary(role string) string {
	switch role {
	case views.RoleAdmin:
		if views.Built("/dashboard/audit") {
			return "You're an administrator: register apps, define the scopes they may request, tune security settings, manage users and review the audit log."
		}
		return "You're an administrator: register apps, define the scopes they may request, tune security settings and manage users."
	case views.RoleDeveloper:
		return "You're a developer: register OAuth clients for your apps, manage their redirect URIs and secrets, and browse the scopes they can request."
	default:
		return "Review the apps you have allowed to use your account, and keep your password up to date."
	}
}

func (e ErrorData) status() int {
	if e.Status < 400 || e.Status > 599 {
		return http.StatusInternalServerError
	}
	return e.Status
}

func (e ErrorData) title() string {
	if e.Title != "" {
		return e.Title
	}
	switch e.status() {
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusForbidden:
		return "You don't have access to this page"
	case http.StatusBadRequest:
		return "Something about that request wasn't right"
	case http.StatusUnauthorized:
		return "Please sign in"
	case http.StatusTooManyRequests:
		return "Too many attempts"
	case http.StatusMethodNotAllowed:
		return "That action isn't available here"
	default:
		if e.status() >= 500 {
			return "Something went wrong on our side"
		}
		return "That didn't work"
	}
}

func (e ErrorData) message() string {
	if e.Message != "" {
		return e.Message
	}
	switch e.status() {
	case http.StatusNotFound:
		return "The page you were looking for doesn't exist or has moved. Check the address, or head back to the start."
	case http.StatusForbidden:
		return "Your account doesn't have permission to see this. If you think it should, ask an administrator."
	case http.StatusBadRequest:
		return "The request couldn't be processed. Go back, reload the page and try again."
	case http.StatusUnauthorized:
		return "You need to sign in to continue."
	case http.StatusTooManyRequests:
		return "For your security, further attempts are paused for a few minutes. Please wait and try again."
	default:
		if e.status() >= 500 {
			return "An unexpected error occurred. It has been logged; please try again in a moment."
		}
		return "Go back and try again."
	}
}

func (e ErrorData) icon() string {
	switch e.status() {
	case http.StatusNotFound:
		return "fa-solid fa-compass"
	case http.StatusForbidden, http.StatusUnauthorized:
		return "fa-solid fa-lock"
	case http.StatusTooManyRequests:
		return "fa-solid fa-hourglass-half"
	default:
		if e.status() >= 500 {
			return "fa-solid fa-triangle-exclamation"
		}
		return "fa-solid fa-circle-exclamation"
	}
}

func displayName(a AccountData) string {
	if a.Name != "" {
		return a.Name
	}
	return a.Username
}

// formatCount writes n with thousands separators: 1284 -> "1,284".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// passwordHelp states the password rule before anyone breaks it.
func passwordHelp() string {
	return "At least " + strconv.Itoa(password.MinLength) + " characters. A passphrase of a few random words is strong and easy to remember."
}
