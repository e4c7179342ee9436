package pages

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/components"
)

// ClientListData is the clients list (GET /dashboard/clients).
type ClientListData struct {
	Clients []ClientRow
	Query   string // the search, kept in the search box
	// Total is how many clients match Query; Offset is the first shown
	// (0-based) and PageSize the page length.
	Total            int64
	Offset, PageSize int
	// ShowOwner adds the owner column (admins see every client).
	ShowOwner bool
	// AnyClients is false when the user has no client at all (not just
	// none matching the search): the empty state invites them to create one.
	AnyClients bool
	// Registration is what admins see of dynamic client registration
	// (nil for developers).
	Registration *RegistrationPanel
}

// RegistrationPanel is the clients list's panel about dynamic client
// registration (RFC 7591), for admins: the setting in force and the
// initial access token button.
type RegistrationPanel struct {
	// Mode is the dynamic_registration setting: off, token or open.
	Mode string
	// EndpointURL is the registration endpoint.
	EndpointURL string
	// NewToken is an initial access token made by the previous request,
	// shown this once, valid until NewTokenExpires.
	NewToken        string
	NewTokenExpires time.Time
	// SettingsURL is where the setting is changed.
	SettingsURL string
}

// InitialTokenLifetimes are the choices of the initial access token
// button: value (a duration) and label.
var InitialTokenLifetimes = [][2]string{{"1h", "1 hour"}, {"24h", "24 hours"}, {"168h", "7 days"}, {"720h", "30 days"}}

// ClientRow is one client in the list.
type ClientRow struct {
	ClientID, Name, Icon string
	Public               bool
	Registration         string // how the client came to be (RegistrationLabel)
	Owner                string // username; "" when the owner is gone
	RedirectURIs         int
	CreatedAt            time.Time
}

// from is the 1-based number of the first client shown.
func (d ClientListData) from() int64 { return int64(d.Offset) + 1 }

// to is the 1-based number of the last client shown.
func (d ClientListData) to() int64 { return int64(d.Offset) + int64(len(d.Clients)) }

// PageURL is the address of the page starting at offset, with the search.
func (d ClientListData) PageURL(offset int) string {
	v := url.Values{}
	if d.Query != "" {
		v.Set("q", d.Query)
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/dashboard/clients"
	}
	return "/dashboard/clients?" + v.Encode()
}

// prevURL is the previous page's address, or "" on the first page.
func (d ClientListData) prevURL() string {
	if d.Offset <= 0 {
		return ""
	}
	return d.PageURL(max(0, d.Offset-d.PageSize))
}

// nextURL is the next page's address, or "" on the last page.
func (d ClientListData) nextURL() string {
	if d.to() >= d.Total {
		return ""
	}
	return d.PageURL(d.Offset + d.PageSize)
}

// ClientForm is the create / edit form's state (kept as entered when it is
// shown again with errors).
type ClientForm struct {
	// Action is where the form posts: /dashboard/clients or the client's page.
	Action                      string
	New                         bool
	Name, Description, Homepage string
	// IconURL is the typed image URL; IconCurrent the uploaded image kept
	// (a /icons/ path, sent back as a hidden field); Icon is what the
	// client shows now, for the preview.
	IconURL, IconCurrent, Icon string
	// RedirectURIs is the textarea's text: one per line, or exactly as
	// typed when the form is shown again.
	RedirectURIs string
	GrantTypes   []string
	Scopes       []string
	Public       bool
	// PostLogoutRedirectURIs is the textarea's text, like RedirectURIs.
	PostLogoutRedirectURIs string
	// The logout URIs ("" for none), and whether the app requires the
	// session ID with them.
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// RefreshTokenReuseInterval is the client's own interval as entered
	// ("" follows the server setting).
	RefreshTokenReuseInterval string
	// TokenEndpointAuthMethod is the chosen method of a confidential
	// client (client_secret_basic, client_secret_post, client_secret_jwt,
	// private_key_jwt); public clients use none.
	TokenEndpointAuthMethod string
	// PrivateFetch: the server may fetch an http jwks_uri (JWKSURIRule).
	PrivateFetch bool
	// JWKS (the pasted JWK Set) and JWKSURI are the private_key_jwt keys,
	// as typed.
	JWKS, JWKSURI string
	// IDTokenSignedResponseAlg is RS256 or ES256.
	IDTokenSignedResponseAlg string
	// DPoPBoundAccessTokens and RequirePushedAuthorizationRequests are
	// the security checkboxes.
	DPoPBoundAccessTokens              bool
	RequirePushedAuthorizationRequests bool
	// MayAct is the textarea's text: client IDs, one per line.
	MayAct string
	ClientFormOptions
	// keys: name, description, icon, homepage, redirect_uris, grant_types,
	// scopes, public, post_logout_redirect_uris, backchannel_logout_uri,
	// frontchannel_logout_uri, refresh_token_reuse_interval,
	// token_endpoint_auth_method, jwks, jwks_uri,
	// id_token_signed_response_alg, may_act, views.FormError
	Errors views.FieldErrors
}

// AuthMethodOption is one choice of the authentication radio group.
type AuthMethodOption struct {
	ID, Label, Help string
}

// AuthMethodOptions are the methods a confidential client may choose, in
// order; public clients use none.
var AuthMethodOptions = []AuthMethodOption{
	{oauth.AuthSecretBasic, "Client secret in the Authorization header",
		"The app sends its client ID and secret with HTTP Basic. What most libraries do by default."},
	{oauth.AuthSecretPost, "Client secret in the request body",
		"The app sends client_id and client_secret as form fields, for libraries that cannot use the Authorization header."},
	{oauth.AuthSecretJWT, "JWT signed with the client secret",
		"The app signs a short-lived JWT assertion with its secret (HS256), so the secret itself never travels."},
	{oauth.AuthPrivateKeyJWT, "JWT signed with a private key",
		"The app signs a JWT assertion with its own private key; Gatehouse holds only the public keys. No shared secret at all."},
}

// AuthMethodLabel names a method for a person ("" and unknown methods
// as they are).
func AuthMethodLabel(method string) string {
	if method == oauth.AuthNone {
		return "None (public client)"
	}
	for _, o := range AuthMethodOptions {
		if o.ID == method {
			return o.Label
		}
	}
	return method
}

func (f ClientForm) authMethodIs(id string) bool { return f.TokenEndpointAuthMethod == id }

// authMethodLocked reports whether a method's radio is disabled:
// client_secret_jwt without a key secret on the server, unless the
// client uses it already (then the form says what is wrong on saving).
func (f ClientForm) authMethodLocked(id string) bool {
	return id == "client_secret_jwt" && !f.KeySecretSet && f.SavedAuthMethod != id
}

// authMethodDescribedBy lists the IDs of the texts describing a method's
// radio.
func (f ClientForm) authMethodDescribedBy(id string) string {
	ids := "auth-" + id + "-help"
	if id == "client_secret_jwt" {
		ids += " auth-client_secret_jwt-tradeoff"
	}
	if id == "private_key_jwt" && f.switchesToPrivateKeyJWT() {
		ids += " auth-private_key_jwt-secret"
	}
	return ids
}

// switchesToPrivateKeyJWT reports whether choosing private_key_jwt would
// delete the saved client's secret (it needs none).
func (f ClientForm) switchesToPrivateKeyJWT() bool {
	// A client_secret_jwt client's secret is kept sealed, not hashed.
	return !f.New && (f.SavedHasSecret || f.SavedAuthMethod == "client_secret_jwt")
}

// switchesToSecretJWT reports whether choosing client_secret_jwt would
// replace the saved client's secret: it is kept only hashed.
func (f ClientForm) switchesToSecretJWT() bool {
	return !f.New && f.SavedHasSecret && f.SavedAuthMethod != "client_secret_jwt"
}

// ClientFormOptions are what the form offers the signed-in user, whatever
// was typed.
type ClientFormOptions struct {
	// AvailableScopes are the scopes that exist, for the checkboxes.
	AvailableScopes []ScopeOption
	// OffGrants are the grant types the server's settings turn off: they
	// may be chosen, with a note saying requests using them are refused.
	OffGrants []string
	// SettingsURL, for admins, is where those grant types are turned on.
	SettingsURL string
	// NeedsAdmin is set for users who may not give a client trust
	// (developers, SPEC.md §7.1): they cannot tick the password grant, nor
	// machine scopes while the saved client has client credentials, nor
	// list another owner's client in may_act; what the saved client has
	// (an admin gave it) they keep and may untick or remove.
	NeedsAdmin bool
	// SavedPassword: the saved client has the password grant;
	// SavedJWTBearer the JWT bearer grant (both only an admin gives).
	SavedPassword  bool
	SavedJWTBearer bool
	// SavedCC: the saved client has the client credentials grant;
	// SavedMachine are the machine scopes it gets with it (an admin gave
	// them); SavedListsMachine: it lists machine scopes (so adding client
	// credentials needs an admin).
	SavedCC           bool
	SavedMachine      []string
	SavedListsMachine []string
	// ServerReuseInterval is the refresh_token_reuse_interval setting
	// ("0s": off), which clients without their own interval follow.
	ServerReuseInterval string
	// KeySecretSet: the server has a key secret (GATEHOUSE_KEY_SECRET),
	// which client_secret_jwt needs.
	KeySecretSet bool
	// SavedAuthMethod is the saved client's method ("" for a new client,
	// or one saved before the method could be chosen: LegacyAuthMethod,
	// for a confidential one).
	SavedAuthMethod  string
	LegacyAuthMethod bool
	// SavedHasSecret: the saved client has a secret (kept only hashed
	// unless it uses client_secret_jwt).
	SavedHasSecret bool
}

// ScopeOption is one scope checkbox.
type ScopeOption struct {
	ID, Name, Description string
	Default               bool
	// Machine scopes can be granted without a user (client credentials).
	Machine bool
}

func (f ClientForm) hasGrant(id string) bool { return slices.Contains(f.GrantTypes, id) }

// showDelegation reports whether the Delegation section shows: with the
// token exchange grant, or when may_act holds something or an error.
func (f ClientForm) showDelegation() bool {
	return f.hasGrant(oauth.GrantTokenExchange) || strings.TrimSpace(f.MayAct) != "" || f.Errors.Get("may_act") != ""
}
func (f ClientForm) hasScope(id string) bool { return slices.Contains(f.Scopes, id) }
func (f ClientForm) grantOff(id string) bool { return slices.Contains(f.OffGrants, id) }

// grantLocked reports whether the grant's checkbox is disabled: the
// password and JWT bearer grants, for developers, unless the saved client
// has it.
func (f ClientForm) grantLocked(id string) bool {
	return f.NeedsAdmin && ((id == oauth.GrantPassword && !f.SavedPassword) || (id == oauth.GrantJWTBearer && !f.SavedJWTBearer))
}

// grantGiven reports whether the grant is trust an admin gave that a
// developer sees (and may untick).
func (f ClientForm) grantGiven(id string) bool {
	return f.NeedsAdmin && ((id == oauth.GrantPassword && f.SavedPassword) || (id == oauth.GrantJWTBearer && f.SavedJWTBearer))
}

// ccNeedsAdmin reports whether adding client credentials needs an admin
// (a developer's client that lists machine scopes without it).
func (f ClientForm) ccNeedsAdmin(id string) bool {
	return f.NeedsAdmin && id == oauth.GrantClientCredentials && !f.SavedCC && len(f.SavedListsMachine) > 0
}

// ccNeedsAdminText is the note under client credentials when adding it
// needs an admin.
func (f ClientForm) ccNeedsAdminText() string {
	return "Needs an admin while this client lists machine scopes (" + strings.Join(f.SavedListsMachine, ", ") +
		"): with client credentials it would get them without any user. Untick those scopes first, or ask an admin."
}

// scopeLocked reports whether a scope's checkbox is disabled: a machine
// scope, for developers, while the saved client has client credentials,
// unless an admin gave it.
func (f ClientForm) scopeLocked(s ScopeOption) bool {
	return f.NeedsAdmin && s.Machine && f.SavedCC && !slices.Contains(f.SavedMachine, s.ID)
}

// scopeGiven reports whether the scope is a machine scope an admin gave
// the client with client credentials, as a developer sees it.
func (f ClientForm) scopeGiven(s ScopeOption) bool {
	return f.NeedsAdmin && s.Machine && slices.Contains(f.SavedMachine, s.ID)
}

// mayActHelp explains the may_act field; developers learn that listing
// another owner's client needs an admin (clients.CheckTrust).
func (f ClientForm) mayActHelp() string {
	help := "Client IDs of other apps whose tokens your app may present as actor_token in a token exchange; the tokens it gets then name that app as the actor (act). "
	if f.NeedsAdmin {
		help += "List your own apps: another owner's app needs an admin, as its tokens reaching your app would get tokens saying that app acts for its users. What an admin listed stays until you remove it. "
	}
	return help + "Another app's token counts only when issued for no resource or for Gatehouse's own API, not for a resource server; your app's own tokens are always accepted."
}

// anyMachineScope reports whether a machine scope exists.
func (f ClientForm) anyMachineScope() bool {
	return slices.ContainsFunc(f.AvailableScopes, func(s ScopeOption) bool { return s.Machine })
}

// scopeDescribedBy lists the IDs of the texts describing a scope's checkbox.
func (f ClientForm) scopeDescribedBy(s ScopeOption) string {
	ids := "scope-" + s.ID + "-help"
	if f.scopeLocked(s) || f.scopeGiven(s) {
		ids += " scope-" + s.ID + "-trust"
	}
	return ids
}

// redirectURIsText is the textarea's content: a leading line break is
// doubled, as HTML drops the first one after <textarea>.
func (f ClientForm) redirectURIsText() string { return textareaText(f.RedirectURIs) }

// postLogoutRedirectURIsText is that textarea's content, likewise.
func (f ClientForm) postLogoutRedirectURIsText() string {
	return textareaText(f.PostLogoutRedirectURIs)
}

// textareaText is a textarea's content for text: a leading line break is
// doubled, as HTML drops the first one after <textarea>.
func textareaText(text string) string {
	if strings.HasPrefix(text, "\n") || strings.HasPrefix(text, "\r\n") {
		return "\n" + text
	}
	return text
}

// serverReuseText describes the server's refresh token reuse interval:
// "0s, off" or "5s".
func (f ClientForm) serverReuseText() string {
	if f.ServerReuseInterval == "" || f.ServerReuseInterval == "0s" {
		return "0s, off"
	}
	return f.ServerReuseInterval
}

// reuseIntervalPlaceholder is the interval field's placeholder, shown
// while it is empty.
func (f ClientForm) reuseIntervalPlaceholder() string {
	return "Use the server setting (currently " + f.serverReuseText() + ")"
}

// reuseIntervalHelp explains the interval field.
func (f ClientForm) reuseIntervalHelp() string {
	return "For this long after your app uses a refresh token, it may present that token again and get fresh tokens instead of having the grant revoked; " +
		"apps that refresh once per request in flight, such as oauth2-proxy, need a few seconds. " +
		"Leave empty to use the server setting (currently " + f.serverReuseText() + "); 0s turns it off for this app; at most 60s."
}

// grantDescribedBy lists the IDs of the texts describing a grant's checkbox.
func (f ClientForm) grantDescribedBy(id string) string {
	ids := "grant-" + id + "-help"
	if f.grantLocked(id) || f.grantGiven(id) || f.ccNeedsAdmin(id) {
		ids += " grant-" + id + "-trust"
	}
	if f.grantOff(id) {
		ids += " grant-" + id + "-off"
	}
	return ids
}
func (f ClientForm) grantTypes() []oauth.GrantTypeInfo { return oauth.GrantTypes }

// ClientDetailData is a client's page (GET /dashboard/clients/{client_id}).
type ClientDetailData struct {
	ClientID, Name, Icon string
	Public               bool
	// SecretHint is "gcs_…" and the secret's last 4 characters.
	SecretHint string
	// NewSecret is set just after the secret was generated: it is shown
	// this once.
	NewSecret       string
	Owner           string // username; "" when nobody owns it
	CreatedAt       time.Time
	SecretRotatedAt *time.Time
	// Endpoints and a ready-to-paste authorization request.
	AuthorizeURL, TokenURL, PARURL, DiscoveryURL, EndSessionURL string
	// ExampleURL is empty when the client cannot use the authorization
	// code flow (no redirect URI or no such grant), or must push its
	// requests (RequirePAR: its flag or the server's setting): then
	// PushCurl pushes one and PushedAuthorizeURL is the authorization
	// request that uses it.
	ExampleURL, CodeVerifier     string
	RequirePAR                   bool
	PushCurl, PushedAuthorizeURL string
	// DPoP: the client's access tokens must be DPoP-bound, so its token
	// requests carry a proof.
	DPoP              bool
	ClientCredentials bool // show a token request example
	// GrantWarning says which of the client's grant types the server
	// turns off ("" when none).
	GrantWarning string
	// AuthMethod is how the client authenticates (AuthMethodOptions'
	// IDs, "none", or "" for a confidential client saved before the
	// method could be chosen); Keys describes its private_key_jwt keys
	// ("2 keys (kid a, b)" or the JWKS URL).
	AuthMethod, Keys string
	Form             ClientForm
	// Registration says how the client came to be (RegistrationLabel);
	// MetadataExpiresAt is when a metadata document client's document is
	// fetched again. A client that registered itself (RegistrationDynamic)
	// manages its own metadata: the page offers admins to promote it
	// instead of the edit form.
	Registration      string
	MetadataExpiresAt *time.Time
	// CanPromote shows the promote form (admins).
	CanPromote bool
}

// AuthArgs are curl's arguments that authenticate the client at the
// token and PAR endpoints, with placeholders for its secret or signed
// assertion.
func (d ClientDetailData) AuthArgs() string {
	switch d.AuthMethod {
	case "client_secret_jwt", "private_key_jwt":
		return "-d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d client_assertion=SIGNED_JWT"
	case "client_secret_post":
		return "-d client_id=" + d.ClientID + " -d client_secret=YOUR_SECRET"
	case "none":
		return "-d client_id=" + d.ClientID
	}
	return "-u '" + d.ClientID + ":YOUR_SECRET'"
}

// ClientCredentialsCurl is a client credentials token request, with a
// DPoP proof when the client's tokens must be bound.
func (d ClientDetailData) ClientCredentialsCurl() string {
	s := "curl "
	if d.DPoP {
		s += "-H 'DPoP: <proof>' "
	}
	return s + d.AuthArgs() + " -d grant_type=client_credentials " + d.TokenURL
}

// SelfRegistered reports whether the client registered itself and still
// manages its own metadata (RFC 7592).
func (d ClientDetailData) SelfRegistered() bool { return d.Registration == RegistrationDynamic }

// ClientDeleteData is the confirmation page before deleting a client.
type ClientDeleteData struct {
	ClientID, Name, Icon   string
	ActiveTokens, Consents int64
	Registration           string // a metadata document client comes back on its next request
}

// How a client came to be (models.Client.Registration), as the pages
// show it.
const (
	RegistrationDynamic          = "dynamic"
	RegistrationMetadataDocument = "metadata_document"
)

// RegistrationLabel is the badge of a client that was not made in the
// dashboard, CLI or admin API ("" for those).
func RegistrationLabel(registration string) string {
	switch registration {
	case RegistrationDynamic:
		return "Registered by the client"
	case RegistrationMetadataDocument:
		return "Metadata document"
	case "":
		return ""
	}
	return registration
}

// ClientPath is the dashboard address of a client: client IDs may be URLs
// (Client ID Metadata Documents), escaped into one path segment.
func ClientPath(clientID string) string { return "/dashboard/clients/" + url.PathEscape(clientID) }

// formatDate shows a date like "3 Feb 2026".
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006")
}

// formatDateTime shows a time like "3 Feb 2026, 14:05 UTC".
func formatDateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006, 15:04 MST")
}

// Plural writes a count with its noun: "1 client", "1,234 clients".
func Plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return formatCount(n) + " " + many
}

// errorItems lists the form's field errors for the error summary, in the
// order of the fields, each linking to its input.
func (f ClientForm) errorItems() []components.ErrorItem {
	return components.ErrorItems(f.Errors,
		components.ErrorField{Key: "name", Label: "Name"},
		components.ErrorField{Key: "description", Label: "Description"},
		components.ErrorField{Key: "homepage", Label: "Home page"},
		components.ErrorField{Key: "icon", Anchor: "icon_file", Label: "Icon"},
		components.ErrorField{Key: "public", Anchor: "client_type_confidential", Label: "Client type"},
		components.ErrorField{Key: "token_endpoint_auth_method", Anchor: "auth-client_secret_basic", Label: "Authentication method"},
		components.ErrorField{Key: "jwks", Label: "Public keys (JWK Set)"},
		components.ErrorField{Key: "jwks_uri", Label: "JWKS URL"},
		components.ErrorField{Key: "redirect_uris", Label: "Redirect URIs"},
		components.ErrorField{Key: "post_logout_redirect_uris", Label: "Post-logout redirect URIs"},
		components.ErrorField{Key: "backchannel_logout_uri", Label: "Back-channel logout URI"},
		components.ErrorField{Key: "frontchannel_logout_uri", Label: "Front-channel logout URI"},
		components.ErrorField{Key: "grant_types", Anchor: "grant-" + oauth.GrantTypes[0].ID, Label: "Grant types"},
		components.ErrorField{Key: "refresh_token_reuse_interval", Label: "Refresh token reuse interval"},
		components.ErrorField{Key: "scopes", Anchor: "scopes-help", Label: "Allowed scopes"},
		components.ErrorField{Key: "id_token_signed_response_alg", Anchor: "id_token_alg_RS256", Label: "ID token signing algorithm"},
		components.ErrorField{Key: "may_act", Label: "Actors"},
	)
}
