package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/secret"
)

// Dynamic client registration (RFC 7591) and its management protocol
// (RFC 7592): the rules of the metadata a client registers itself with,
// and the shape of the answers. The application checks what needs the
// store (the scopes that exist, the dashboard's rules for names, icons
// and logout URIs: app/clients) and saves the client.

// DynamicGrantTypes are the only grant types a client may register itself
// with (SPEC.md §7.3): those that need a user's consent.
var DynamicGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode}

// DynamicAuthMethods are the token endpoint authentication methods a
// client may register (RFC 7591 §2): none makes a public client (PKCE),
// client_secret_basic and client_secret_post a confidential one with a
// generated secret, private_key_jwt a confidential one without a secret
// that signs client assertions with the keys of its jwks or jwks_uri.
var DynamicAuthMethods = []string{AuthNone, AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT}

// Limits of a registration request.
const (
	// MaxRegistrationBody bounds the JSON body of a registration or
	// update request.
	MaxRegistrationBody = 64 << 10
	maxContacts         = 10
	maxMetadataString   = 2000
	maxScopeValues      = 100
)

// RegistrationAccessTokenPrefix starts every registration access token
// (RFC 7592), InitialAccessTokenPrefix every initial access token (RFC
// 7591 §3): recognisable when leaked.
const (
	RegistrationAccessTokenPrefix = "grat_"
	InitialAccessTokenPrefix      = "giat_"
)

// ClientMetadata is the metadata of a client registering itself (RFC 7591
// §2, OpenID Connect logout fields), as checked by ParseClientMetadata:
// the defaults are filled in, lists have no duplicates.
type ClientMetadata struct {
	RedirectURIs []string
	// TokenEndpointAuthMethod is one of DynamicAuthMethods.
	TokenEndpointAuthMethod string
	// JWKS (a JWK Set of public keys as compact JSON text) or JWKSURI (an
	// https URL), exactly one, for private_key_jwt; both "" otherwise.
	JWKS    string
	JWKSURI string
	// GrantTypes are among DynamicGrantTypes (default authorization_code).
	GrantTypes []string
	// ResponseTypes are code, or none without the authorization_code
	// grant.
	ResponseTypes []string
	ClientName    string
	ClientURI     string
	LogoURI       string
	// Scope lists the scopes the client may ask for (empty: any).
	Scope           []string
	Contacts        []string
	TOSURI          string
	PolicyURI       string
	SoftwareID      string
	SoftwareVersion string

	PostLogoutRedirectURIs            []string
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool

	// ClientID and ClientSecret are those of an update request (RFC 7592
	// §2.2), as sent ("" when absent).
	ClientID     string
	ClientSecret string
}

// Public reports whether the metadata registers a public client.
func (m *ClientMetadata) Public() bool { return m.TokenEndpointAuthMethod == AuthNone }

// UsesSecret reports whether the metadata registers a client that
// authenticates with a client secret (client_secret_basic or
// client_secret_post): only those are issued one.
func (m *ClientMetadata) UsesSecret() bool {
	return m.TokenEndpointAuthMethod == AuthSecretBasic || m.TokenEndpointAuthMethod == AuthSecretPost
}

// metadataError is invalid_client_metadata with a description.
func metadataError(format string, args ...any) *Error {
	return ErrInvalidClientMetadata.WithDescription(format, args...)
}

// ParseClientMetadata reads and checks a registration (or RFC 7592
// update) request body: a JSON object of client metadata. Unknown fields
// are ignored, as are a software statement (Gatehouse does not process
// them: only the plain fields count), jwks and jwks_uri unless the method
// is private_key_jwt, and language-tagged variants
// ("client_name#fr"). Bad redirect URIs are invalid_redirect_uri; any
// other problem invalid_client_metadata, its description naming the
// field.
func ParseClientMetadata(body []byte) (*ClientMetadata, error) {
	if len(body) > MaxRegistrationBody {
		return nil, metadataError("the request body is larger than %d KB", MaxRegistrationBody>>10)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, metadataError("the request body must be a JSON object of client metadata (RFC 7591 §2)")
	}
	r := metadataReader{raw: raw}
	m := &ClientMetadata{
		RedirectURIs:            r.strings("redirect_uris"),
		TokenEndpointAuthMethod: r.string("token_endpoint_auth_method"),
		GrantTypes:              r.strings("grant_types"),
		ResponseTypes:           r.strings("response_types"),
		ClientName:              r.string("client_name"),
		ClientURI:               r.string("client_uri"),
		LogoURI:                 r.string("logo_uri"),
		Contacts:                r.strings("contacts"),
		TOSURI:                  r.string("tos_uri"),
		PolicyURI:               r.string("policy_uri"),
		SoftwareID:              r.string("software_id"),
		SoftwareVersion:         r.string("software_version"),

		PostLogoutRedirectURIs:            r.strings("post_logout_redirect_uris"),
		BackchannelLogoutURI:              r.string("backchannel_logout_uri"),
		BackchannelLogoutSessionRequired:  r.bool("backchannel_logout_session_required"),
		FrontchannelLogoutURI:             r.string("frontchannel_logout_uri"),
		FrontchannelLogoutSessionRequired: r.bool("frontchannel_logout_session_required"),

		ClientID:     r.string("client_id"),
		ClientSecret: r.string("client_secret"),
		JWKSURI:      r.string("jwks_uri"),
	}
	var jwks json.RawMessage
	r.decode("jwks", &jwks, "a JSON object (a JWK Set)")
	m.JWKS = string(jwks)
	scope := r.string("scope")
	_, hasResponseTypes := raw["response_types"]
	if r.err != nil {
		return nil, r.err
	}
	if err := m.check(scope, hasResponseTypes); err != nil {
		return nil, err
	}
	return m, nil
}

// check fills in the defaults and checks the metadata's rules.
func (m *ClientMetadata) check(scope string, hasResponseTypes bool) *Error {
	// Token endpoint authentication (RFC 7591 §2: default
	// client_secret_basic).
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthSecretBasic
	}
	if !slices.Contains(DynamicAuthMethods, m.TokenEndpointAuthMethod) {
		return metadataError("token_endpoint_auth_method %q is not supported: use none (a public client, with PKCE), client_secret_basic, client_secret_post or private_key_jwt",
			truncate(m.TokenEndpointAuthMethod, 100))
	}
	if err := m.checkKeys(); err != nil {
		return err
	}

	// Grant and response types (RFC 7591 §2.1: defaults
	// authorization_code and code, and consistent with each other).
	m.GrantTypes = uniq(m.GrantTypes)
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode}
	}
	for _, g := range m.GrantTypes {
		if !slices.Contains(DynamicGrantTypes, g) {
			return metadataError("grant_types: %q cannot be registered here: a client registering itself may use authorization_code, refresh_token and %s only",
				truncate(g, 100), GrantDeviceCode)
		}
	}
	if len(m.GrantTypes) == 1 && m.GrantTypes[0] == GrantRefreshToken {
		return metadataError("grant_types: refresh_token alone gets no tokens: add authorization_code or %s", GrantDeviceCode)
	}
	code := slices.Contains(m.GrantTypes, GrantAuthorizationCode)
	m.ResponseTypes = uniq(m.ResponseTypes)
	if !hasResponseTypes && code {
		m.ResponseTypes = []string{ResponseTypeCode}
	}
	for _, rt := range m.ResponseTypes {
		if rt != ResponseTypeCode {
			return metadataError("response_types: %q is not supported: the only response type is code", truncate(rt, 100))
		}
	}
	switch hasCode := len(m.ResponseTypes) > 0; {
	case hasCode && !code:
		return metadataError("response_types code needs the authorization_code grant type in grant_types (RFC 7591 §2.1)")
	case code && !hasCode:
		return metadataError("the authorization_code grant type needs the response type code in response_types (RFC 7591 §2.1)")
	}

	// Redirect URIs: the rules of every client, and no wildcards.
	m.RedirectURIs = uniq(m.RedirectURIs)
	if code && len(m.RedirectURIs) == 0 {
		return ErrInvalidRedirectURI.WithDescription("redirect_uris is required for the authorization_code grant")
	}
	for _, u := range m.RedirectURIs {
		if err := checkDynamicRedirectURI(u); err != nil {
			return ErrInvalidRedirectURI.WithDescription("redirect_uris: %q %v", truncate(u, 100), err)
		}
	}
	m.PostLogoutRedirectURIs = uniq(m.PostLogoutRedirectURIs)
	for _, u := range m.PostLogoutRedirectURIs {
		if err := checkDynamicRedirectURI(u); err != nil {
			return metadataError("post_logout_redirect_uris: %q %v", truncate(u, 100), err)
		}
	}

	// Scope: space-separated scope tokens (RFC 7591 §2); which exist is
	// the application's to check.
	m.Scope = uniq(strings.Fields(scope))
	if len(m.Scope) > maxScopeValues {
		return metadataError("scope: at most %d scopes", maxScopeValues)
	}
	for _, s := range m.Scope {
		if !validScopeToken(s) {
			return metadataError("scope: %q is not a scope (RFC 6749 §3.3)", truncate(s, 100))
		}
	}

	// Text and addresses.
	for _, f := range []struct{ name, value string }{{"client_name", m.ClientName}, {"software_id", m.SoftwareID}, {"software_version", m.SoftwareVersion}} {
		if utf8.RuneCountInString(f.value) > 200 || !utf8.ValidString(f.value) || strings.ContainsFunc(f.value, isControlRune) {
			return metadataError("%s must be a single line of at most 200 characters", f.name)
		}
	}
	for _, f := range []struct {
		name, value string
		httpsOnly   bool
	}{{"client_uri", m.ClientURI, false}, {"logo_uri", m.LogoURI, true}, {"tos_uri", m.TOSURI, false}, {"policy_uri", m.PolicyURI, false},
		{"backchannel_logout_uri", m.BackchannelLogoutURI, false}, {"frontchannel_logout_uri", m.FrontchannelLogoutURI, false}} {
		if msg := checkMetadataURL(f.value, f.httpsOnly); msg != "" {
			return metadataError("%s %s", f.name, msg)
		}
	}
	m.Contacts = uniq(m.Contacts)
	if len(m.Contacts) > maxContacts {
		return metadataError("contacts: at most %d", maxContacts)
	}
	for _, c := range m.Contacts {
		if len(c) > 200 || strings.ContainsFunc(c, isControlRune) {
			return metadataError("contacts: each is a single line of at most 200 characters")
		}
	}
	return nil
}

// checkKeys checks the keys of a private_key_jwt client: a jwks_uri (an
// https URL) or a jwks of public signing keys (ParsePublicJWKS), exactly
// one; other methods use no keys, and what they sent is dropped.
func (m *ClientMetadata) checkKeys() *Error {
	if m.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		m.JWKS, m.JWKSURI = "", ""
		return nil
	}
	switch {
	case m.JWKS != "" && m.JWKSURI != "":
		return metadataError("jwks and jwks_uri: send one of them, not both (RFC 7591 §2)")
	case m.JWKSURI != "":
		if err := CheckJWKSURI(m.JWKSURI, JWKSURIHTTPS); err != nil {
			return metadataError("jwks_uri: %v", err)
		}
	case m.JWKS != "":
		if _, err := ParsePublicJWKS([]byte(m.JWKS)); err != nil {
			return metadataError("jwks: %v", err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(m.JWKS)); err != nil {
			return metadataError("jwks must be a JSON object (a JWK Set)")
		}
		m.JWKS = compact.String()
	default:
		return metadataError("token_endpoint_auth_method private_key_jwt needs the client's public keys: jwks_uri or jwks")
	}
	return nil
}

// checkDynamicRedirectURI is ValidateRedirectURI, plus: no wildcard (a
// registered URI is matched as it is; a "*" is always a mistake).
func checkDynamicRedirectURI(raw string) error {
	if err := ValidateRedirectURI(raw); err != nil {
		return err
	}
	if strings.Contains(raw, "*") {
		return fmt.Errorf("must not contain a wildcard (*): register each redirect URI exactly")
	}
	return nil
}

// checkMetadataURL returns why raw is not an absolute https (or, unless
// httpsOnly, http) URL, or "" (empty is allowed).
func checkMetadataURL(raw string, httpsOnly bool) string {
	if raw == "" {
		return ""
	}
	if len(raw) > maxMetadataString {
		return fmt.Sprintf("is longer than %d characters", maxMetadataString)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return "must be an absolute URL such as https://app.example.com"
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	if u.Scheme != "https" && (httpsOnly || u.Scheme != "http") {
		if httpsOnly {
			return "must be an https URL"
		}
		return "must be an https (or http) URL"
	}
	return ""
}

func isControlRune(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// uniq drops empty and repeated entries, keeping the order.
func uniq(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// metadataReader reads typed fields of a JSON object; the first field of
// the wrong type is its err.
type metadataReader struct {
	raw map[string]json.RawMessage
	err *Error
}

func (r *metadataReader) decode(name string, v any, want string) {
	b, ok := r.raw[name]
	if !ok || r.err != nil || bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		r.err = metadataError("%s must be %s", name, want)
	}
}

func (r *metadataReader) string(name string) string {
	var s string
	r.decode(name, &s, "a string")
	if r.err == nil && len(s) > maxMetadataString {
		r.err = metadataError("%s is longer than %d characters", name, maxMetadataString)
	}
	return s
}

func (r *metadataReader) strings(name string) []string {
	var l []string
	r.decode(name, &l, "an array of strings")
	if r.err == nil && len(l) > maxMetadataString {
		r.err = metadataError("%s has too many entries", name)
	}
	for _, s := range l {
		if r.err == nil && len(s) > maxMetadataString {
			r.err = metadataError("%s: an entry is longer than %d characters", name, maxMetadataString)
		}
	}
	return l
}

func (r *metadataReader) bool(name string) bool {
	var b bool
	r.decode(name, &b, "true or false")
	return b
}

// ClientInformation is the client information response (RFC 7591 §3.2.1,
// RFC 7592 §3): the client's credentials and its registered metadata.
type ClientInformation struct {
	ClientID string `json:"client_id"`
	// ClientSecret is sent when it is issued, only then.
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	// RegistrationAccessToken is sent when it is issued (registration),
	// only then: it is stored hashed.
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`

	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	Contacts                []string        `json:"contacts,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	SoftwareID              string          `json:"software_id,omitempty"`
	SoftwareVersion         string          `json:"software_version,omitempty"`

	PostLogoutRedirectURIs            []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI              string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  bool     `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI             string   `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool     `json:"frontchannel_logout_session_required,omitempty"`
}

// Information is the client information response for m, the metadata of
// client clientID issued at issuedAt, managed at registrationURI. secret
// and token are the client secret and registration access token when
// they are issued now ("" otherwise).
func (m *ClientMetadata) Information(clientID string, issuedAt time.Time, registrationURI, secret, token string) *ClientInformation {
	info := &ClientInformation{
		ClientID: clientID, ClientSecret: secret, ClientIDIssuedAt: issuedAt.Unix(),
		RegistrationAccessToken: token, RegistrationClientURI: registrationURI,
		RedirectURIs: nonNilStrings(m.RedirectURIs), TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		GrantTypes: nonNilStrings(m.GrantTypes), ResponseTypes: nonNilStrings(m.ResponseTypes),
		ClientName: m.ClientName, ClientURI: m.ClientURI, LogoURI: m.LogoURI, Scope: strings.Join(m.Scope, " "),
		Contacts: m.Contacts, TOSURI: m.TOSURI, PolicyURI: m.PolicyURI, SoftwareID: m.SoftwareID, SoftwareVersion: m.SoftwareVersion,
		PostLogoutRedirectURIs: m.PostLogoutRedirectURIs, BackchannelLogoutURI: m.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: m.BackchannelLogoutSessionRequired, FrontchannelLogoutURI: m.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: m.FrontchannelLogoutSessionRequired,
		JWKSURI:                           m.JWKSURI,
	}
	if m.JWKS != "" {
		info.JWKS = json.RawMessage(m.JWKS)
	}
	if secret != "" {
		never := int64(0) // client secrets do not expire
		info.ClientSecretExpiresAt = &never
	}
	return info
}

func nonNilStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// NewRegistrationAccessToken returns a fresh registration access token
// (RFC 7592) and the digest that is stored.
func NewRegistrationAccessToken() (plain string, hash []byte) {
	plain = secret.New(RegistrationAccessTokenPrefix)
	return plain, secret.Digest(plain)
}

// RegistrationTokenMatches reports, in constant time, whether token is
// the registration access token whose digest is hash (never for an empty
// hash or token).
func RegistrationTokenMatches(hash []byte, token string) bool {
	if len(hash) == 0 || token == "" {
		return false
	}
	return secret.Equal(secret.Digest(token), hash)
}
