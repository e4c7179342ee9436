package pages

import (
	"slices"
	"strconv"

	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/components"
)

// View models of the trusted issuers pages (JWT bearer grant, RFC 7523).

// TrustRow is a trusted issuer in the list and on its page.
type TrustRow struct {
	ID     int64
	Issuer string
	Name   string
	// Keys says where its keys come from: its jwks_uri, or "JWK Set, n
	// keys".
	Keys     string
	JWKSURI  string
	Subjects []string // SUB=USERNAME, sorted
	Scopes   []string
	// MaxLifetime is the longest an assertion may live ("1h").
	MaxLifetime string
	CreatedAt   string
}

// title is the issuer's name, or the issuer.
func (r TrustRow) title() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Issuer
}

// TrustURL is the address of a trusted issuer's page.
func TrustURL(id int64) string { return "/dashboard/trust/" + strconv.FormatInt(id, 10) }

// TrustListData is the trusted issuers list (GET /dashboard/trust).
type TrustListData struct {
	Issuers []TrustRow
	// TokenURL is the token endpoint, which assertions are sent to (and
	// may name as their aud); Issuer is Gatehouse's issuer, the other aud.
	TokenURL, Issuer string
}

// TrustScope is a scope the form offers.
type TrustScope struct {
	ID, Name string
	Machine  bool
}

// TrustForm is the new trusted issuer form.
type TrustForm struct {
	Issuer, Name, JWKS, JWKSURI string
	// Subjects is the text area: one SUB=USERNAME per line.
	Subjects    string
	Scopes      []string // ticked
	MaxLifetime string
	// AvailableScopes are the scopes that can be ticked (all but
	// offline_access: the grant issues no refresh token).
	AvailableScopes []TrustScope
	Errors          views.FieldErrors // keys: issuer, name, jwks, jwks_uri, subjects, scopes, max_lifetime
	// PrivateFetch: the server may fetch an http JWKS URL (JWKSURIRule).
	PrivateFetch bool
}

// JWKSURIRule says which JWKS URLs this server fetches (the rule of
// clients.CheckJWKSURI): https, and plain http only when it runs with
// GATEHOUSE_ALLOW_PRIVATE_FETCH=1.
func JWKSURIRule(privateFetch bool) string {
	if privateFetch {
		return "https, or plain http: this server runs with GATEHOUSE_ALLOW_PRIVATE_FETCH=1 (for tests), so it also fetches from private and loopback addresses."
	}
	return "https only: this server fetches keys over https."
}

func (f TrustForm) hasScope(id string) bool { return slices.Contains(f.Scopes, id) }

func (f TrustForm) errorItems() []components.ErrorItem {
	scopes := components.ErrorField{Key: "scopes", Label: "Scopes"}
	if len(f.AvailableScopes) > 0 {
		scopes.Anchor = "scope-" + f.AvailableScopes[0].ID // the first box takes the focus
	}
	return components.ErrorItems(f.Errors,
		components.ErrorField{Key: "issuer", Label: "Issuer"},
		components.ErrorField{Key: "name", Label: "Name"},
		components.ErrorField{Key: "jwks_uri", Label: "JWKS URL"},
		components.ErrorField{Key: "jwks", Label: "JWK Set"},
		components.ErrorField{Key: "subjects", Label: "Subjects"},
		scopes,
		components.ErrorField{Key: "max_lifetime", Label: "Maximum assertion lifetime"},
	)
}

// autofocus reports whether the field key takes the focus: the first
// invalid field, or the issuer of an unrefused form.
func (f TrustForm) autofocus(key string) bool {
	if first := components.FirstInvalid(f.errorItems()); first != "" {
		return key == first
	}
	return key == "issuer"
}

// TrustPageData is a trusted issuer's page: its details and the deletion.
type TrustPageData struct {
	Row TrustRow
	// JWKS is its pasted JWK Set, indented ("" with a jwks_uri).
	JWKS string
	// DeleteError is the message of a refused deletion (the confirm box
	// left unticked).
	DeleteError string
}
