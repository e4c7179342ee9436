package pages

// ConsentData is the consent screen's view model.
type ConsentData struct {
	RequestID      string // the authorization request in flight
	ClientName     string
	ClientIcon     string // https URL, /icons/<id>, or "" (initials)
	ClientHomepage string
	RedirectHost   string // where the browser goes afterwards
	// Unverified marks an app that described itself (dynamic
	// registration, Client ID Metadata Document): its name and logo are
	// its own claims, and the screen says so.
	Unverified bool
	// ClientHost is the host publishing a Client ID Metadata Document
	// client's document (its client_id URL's host); "" for other clients.
	ClientHost string
	UserName   string // the user's display name
	Username   string
	SwitchURL  string // sign in as someone else and come back
	Scopes     []ConsentScope
	// Resources are the APIs the tokens will be for (RFC 8707), when the
	// request named them.
	Resources []ConsentResource
	// UserCode is set when a device asks (RFC 8628): the code the user
	// typed, shown for comparison with the one on the device. The form
	// then goes to /device with the code instead of to /consent with
	// RequestID.
	UserCode string
}

// action is where the consent form goes.
func (d ConsentData) action() string {
	if d.UserCode != "" {
		return "/device"
	}
	return "/consent"
}

// ConsentResource is an API the tokens will be for: its name (registered
// resources have one) and its host.
type ConsentResource struct {
	Name string
	Host string
}

// ConsentScope is one permission on the consent screen.
type ConsentScope struct {
	ID          string
	Name        string
	Icon        string // Font Awesome class or image URL
	Description string // placeholders filled in; plain text (escaped by templ)
}
