// Package cimd accepts OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document): a client whose
// client_id is an https URL publishes its metadata at that URL, and
// Gatehouse fetches it instead of knowing the client beforehand.
//
// Whether such client IDs are accepted is the setting
// client_id_metadata_documents (off, allowlist with
// client_id_metadata_hosts, or any). A document is fetched with the
// SSRF-safe app/outbound client (no redirects, timeouts, a 5 KB cap, no
// private, loopback or link-local address unless
// GATEHOUSE_ALLOW_PRIVATE_FETCH=1), validated here, and kept as a clients
// row (registration = metadata_document) whose client_id is the URL:
// tokens, codes and consents refer to clients by foreign key, and the row
// is the cache every instance shares, until metadata_expires_at. Deleting
// the row forgets the client; its next request fetches the document again.
//
// The Model decorator puts all this behind oauth.ClientModel.GetClient,
// so the protocol core sees an ordinary client marked Unverified: public
// (auth method none, PKCE as for any public client), or, when the
// document says token_endpoint_auth_method private_key_jwt, a confidential
// client that authenticates with assertions signed by the keys of its
// jwks_uri or jwks. A document never carries a shared secret.
package cimd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// Limits of a document.
const (
	// MaxDocumentBytes caps a document (the draft's recommended 5 KB).
	MaxDocumentBytes = 5 << 10
	// MaxClientIDLength bounds a client ID URL: the token endpoint
	// accepts client IDs of at most 128 bytes.
	MaxClientIDLength = 128
	// maxURLLength bounds logo_uri and client_uri.
	maxURLLength = 2000
	// maxNameLength bounds client_name, in characters.
	maxNameLength = 100
	// maxRedirectURIs bounds redirect_uris.
	maxRedirectURIs = 20
)

// RefusedError is why a client ID URL or its document is not accepted.
// Reason is written for the person reading the authorization error page
// ("the document's client_id differs from its URL"). Transient marks a
// failure to reach the document (network, timeout, 5xx) as opposed to a
// document that answered and is wrong.
type RefusedError struct {
	Reason    string
	Transient bool
}

func (e *RefusedError) Error() string { return "client metadata document refused: " + e.Reason }

func refused(format string, args ...any) *RefusedError {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// IsCandidate reports whether a client_id looks like a URL (http or https,
// in any case), i.e. one this package decides about.
func IsCandidate(clientID string) bool {
	l := strings.ToLower(clientID[:min(len(clientID), 8)])
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// ParseClientIDURL checks a client identifier URL (draft §3): https, a
// host, a path component, no single- or double-dot path segment, no
// fragment, no user name or password. A query is allowed (the draft
// discourages it). The URL is compared as a string, never normalised.
func ParseClientIDURL(raw string) (*url.URL, error) {
	if len(raw) > MaxClientIDLength {
		return nil, refused("the client_id URL is longer than %d characters", MaxClientIDLength)
	}
	for _, r := range raw {
		if r <= 0x20 || r >= 0x7f {
			return nil, refused("the client_id URL contains spaces, control or non-ASCII characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refused("the client_id is not a valid URL")
	}
	if !strings.HasPrefix(raw, "https://") {
		return nil, refused("a client_id URL must use https (in lower case)")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, refused("the client_id URL has no host")
	}
	if u.User != nil || strings.Contains(strings.SplitN(raw[len("https://"):], "/", 2)[0], "@") {
		return nil, refused("the client_id URL must not contain a user name or password")
	}
	if strings.Contains(raw, "#") {
		return nil, refused("the client_id URL must not contain a fragment")
	}
	// The draft: SHOULD NOT contain a query. Refused, so that one document
	// cannot be fetched (and stored) under endless client IDs.
	if strings.Contains(raw, "?") {
		return nil, refused("the client_id URL must not contain a query")
	}
	path := u.EscapedPath()
	if path == "" || path == "/" {
		return nil, refused("the client_id URL must have a path, such as https://app.example.com/oauth/client.json")
	}
	for _, seg := range strings.Split(path, "/") {
		if s, err := url.PathUnescape(seg); err == nil && (s == "." || s == "..") {
			return nil, refused("the client_id URL must not contain . or .. path segments")
		}
	}
	return u, nil
}

// Document is what Gatehouse uses of a validated Client ID Metadata
// Document.
type Document struct {
	ClientID     string
	Name         string // client_name, or the URL's host when absent
	LogoURI      string
	ClientURI    string
	RedirectURIs []string
	GrantTypes   []string // a subset of authorization_code, refresh_token
	// TokenEndpointAuthMethod is none (a public client, with PKCE) or
	// private_key_jwt, whose keys are JWKS (a JWK Set as JSON text) or at
	// JWKSURI, exactly one of them.
	TokenEndpointAuthMethod string
	JWKS                    string
	JWKSURI                 string
	// Extra keeps the informative metadata shown to admins (tos_uri,
	// policy_uri, software_id, software_version).
	Extra map[string]any
}

// document is the wire form: fields whose presence matters are raw.
type document struct {
	ClientID                string          `json:"client_id"`
	ClientName              json.RawMessage `json:"client_name"`
	LogoURI                 json.RawMessage `json:"logo_uri"`
	ClientURI               json.RawMessage `json:"client_uri"`
	RedirectURIs            json.RawMessage `json:"redirect_uris"`
	GrantTypes              json.RawMessage `json:"grant_types"`
	ResponseTypes           json.RawMessage `json:"response_types"`
	TokenEndpointAuthMethod json.RawMessage `json:"token_endpoint_auth_method"`
	ClientSecret            json.RawMessage `json:"client_secret"`
	ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at"`
	JWKS                    json.RawMessage `json:"jwks"`
	JWKSURI                 json.RawMessage `json:"jwks_uri"`
}

// extraFields are the informative fields kept in Document.Extra.
var extraFields = []string{"tos_uri", "policy_uri", "software_id", "software_version"}

// ParseDocument validates body as the document fetched from clientID
// (already checked by ParseClientIDURL). Unknown fields are ignored.
func ParseDocument(clientID string, body []byte) (*Document, error) {
	if len(body) > MaxDocumentBytes {
		return nil, refused("the metadata document is larger than %d bytes", MaxDocumentBytes)
	}
	if !utf8.Valid(body) {
		return nil, refused("the metadata document is not UTF-8 JSON")
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(body, &all); err != nil || all == nil {
		return nil, refused("the metadata document is not a JSON object")
	}
	var d document
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, refused("the metadata document has a field of the wrong type: %s", jsonFieldError(err))
	}
	if _, ok := all["client_id"]; !ok {
		return nil, refused("the metadata document has no client_id")
	}
	if d.ClientID != clientID {
		return nil, refused("the document's client_id differs from the URL it was fetched from")
	}
	if present(d.ClientSecret) || present(d.ClientSecretExpiresAt) {
		return nil, refused("a metadata document must not contain a client_secret")
	}
	method, err := optString(d.TokenEndpointAuthMethod, "token_endpoint_auth_method")
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(clientID)
	doc := &Document{ClientID: clientID, Name: u.Hostname(), TokenEndpointAuthMethod: oauth.AuthNone}
	switch method {
	case "", oauth.AuthNone:
	case oauth.AuthPrivateKeyJWT:
		if err := parseKeys(&d, doc); err != nil {
			return nil, err
		}
	case oauth.AuthSecretBasic, oauth.AuthSecretPost, oauth.AuthSecretJWT:
		return nil, refused("a metadata document client cannot use a shared secret (token_endpoint_auth_method %s); use none or private_key_jwt", method)
	default:
		return nil, refused("token_endpoint_auth_method %q is not supported; use none or private_key_jwt", truncate(method, 40))
	}
	name, err := optString(d.ClientName, "client_name")
	if err != nil {
		return nil, err
	}
	if name = strings.TrimSpace(name); name != "" {
		if utf8.RuneCountInString(name) > maxNameLength {
			return nil, refused("client_name is longer than %d characters", maxNameLength)
		}
		if strings.IndexFunc(name, unicode.IsControl) >= 0 {
			return nil, refused("client_name contains control characters")
		}
		doc.Name = name
	}
	if doc.LogoURI, err = httpsURL(d.LogoURI, "logo_uri"); err != nil {
		return nil, err
	}
	if doc.ClientURI, err = httpsURL(d.ClientURI, "client_uri"); err != nil {
		return nil, err
	}
	if !present(d.RedirectURIs) {
		return nil, refused("the metadata document has no redirect_uris")
	}
	uris, err := stringList(d.RedirectURIs, "redirect_uris")
	if err != nil {
		return nil, err
	}
	if len(uris) == 0 {
		return nil, refused("redirect_uris is empty")
	}
	if len(uris) > maxRedirectURIs {
		return nil, refused("redirect_uris lists more than %d URIs", maxRedirectURIs)
	}
	for _, r := range uris {
		if err := oauth.ValidateRedirectURI(r); err != nil {
			return nil, refused("the redirect URI %q %v", truncate(r, 80), err)
		}
	}
	doc.RedirectURIs = uris
	doc.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	if present(d.GrantTypes) {
		gts, err := stringList(d.GrantTypes, "grant_types")
		if err != nil {
			return nil, err
		}
		// Grant types Gatehouse does not give such clients are left out
		// (the draft leaves grant policy to the server): VS Code's
		// document lists the device flow besides the code flow.
		var out []string
		for _, g := range gts {
			if !slices.Contains(allowedGrantTypes, g) || slices.Contains(out, g) {
				continue
			}
			out = append(out, g)
		}
		if !slices.Contains(out, oauth.GrantAuthorizationCode) {
			return nil, refused("grant_types must include authorization_code")
		}
		doc.GrantTypes = out
	}
	if present(d.ResponseTypes) {
		rts, err := stringList(d.ResponseTypes, "response_types")
		if err != nil {
			return nil, err
		}
		for _, rt := range rts {
			if rt != oauth.ResponseTypeCode {
				return nil, refused("response type %q is not allowed for a metadata document client (only code)", truncate(rt, 60))
			}
		}
	}
	for _, k := range extraFields {
		if raw, ok := all[k]; ok {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" && len(s) <= maxURLLength {
				if doc.Extra == nil {
					doc.Extra = map[string]any{}
				}
				doc.Extra[k] = s
			}
		}
	}
	return doc, nil
}

// parseKeys reads the keys of a private_key_jwt document: jwks_uri (an
// https URL, fetched when an assertion needs it) or jwks (a JWK Set of
// public keys, oauth.ParsePublicJWKS), exactly one.
func parseKeys(d *document, doc *Document) error {
	doc.TokenEndpointAuthMethod = oauth.AuthPrivateKeyJWT
	switch {
	case present(d.JWKS) && present(d.JWKSURI):
		return refused("a private_key_jwt document has jwks or jwks_uri, not both")
	case present(d.JWKSURI):
		u, err := optString(d.JWKSURI, "jwks_uri")
		if err != nil {
			return err
		}
		if err := oauth.CheckJWKSURI(u, oauth.JWKSURIHTTPS); err != nil {
			return refused("jwks_uri: %v", err)
		}
		doc.JWKSURI = u
	case present(d.JWKS):
		if _, err := oauth.ParsePublicJWKS(d.JWKS); err != nil {
			return refused("jwks: %v", err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, d.JWKS); err != nil {
			return refused("jwks is not valid JSON")
		}
		doc.JWKS = compact.String()
	default:
		return refused("token_endpoint_auth_method private_key_jwt needs the client's public keys: jwks_uri or jwks")
	}
	return nil
}

// allowedGrantTypes are the grant types a metadata document client may
// have: those of a self-registered client.
var allowedGrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func optString(raw json.RawMessage, field string) (string, error) {
	if !present(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", refused("%s must be a string", field)
	}
	return s, nil
}

func stringList(raw json.RawMessage, field string) ([]string, error) {
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, refused("%s must be an array of strings", field)
	}
	return l, nil
}

// httpsURL checks an optional https URL field (logo_uri, client_uri).
func httpsURL(raw json.RawMessage, field string) (string, error) {
	s, err := optString(raw, field)
	if err != nil || s == "" {
		return "", err
	}
	if len(s) > maxURLLength {
		return "", refused("%s is longer than %d characters", field, maxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(s, " \t\r\n\"'<>\\") {
		return "", refused("%s must be an https URL", field)
	}
	return s, nil
}

// jsonFieldError names the field of a json type error, if it can.
func jsonFieldError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field
	}
	return "invalid JSON"
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
