package oauth

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/app/secret"
)

// Grant types Gatehouse knows (RFC 6749 §4, RFC 8628, RFC 8693; RFC 7523's
// GrantJWTBearer is beside its handler).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	GrantImplicit          = "implicit"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// GrantTypeInfo describes a grant type for people choosing it.
type GrantTypeInfo struct {
	ID          string
	Name        string
	Explanation string
	// Discouraged grant types are marked as such in the dashboard
	// (RFC 9700 advises against them).
	Discouraged bool
}

// builtinGrant is a grant New registers: its handler made for a Server.
type builtinGrant interface {
	GrantHandler
	bind(s *Server) GrantHandler
}

// builtinGrants are the token endpoint's grants, in the order the
// dashboard shows them. A grant added to Gatehouse is one file
// implementing GrantHandler plus one line here.
var builtinGrants = []builtinGrant{
	authorizationCodeGrant{}, refreshTokenGrant{}, clientCredentialsGrant{}, deviceCodeGrant{}, tokenExchangeGrant{}, jwtBearerGrant{}, passwordGrant{},
}

// implicitGrantInfo describes the implicit grant, which is a response
// type of the authorization endpoint, not a grant of the token endpoint.
var implicitGrantInfo = GrantTypeInfo{GrantImplicit, "Implicit", "Tokens are returned in the browser's URL fragment. Discouraged: use authorization code with PKCE instead.", true}

// GrantTypes lists the grant types a client can be given, in the order the
// dashboard shows them: each built-in grant's Info, then implicit.
var GrantTypes = grantTypes()

func grantTypes() []GrantTypeInfo {
	out := make([]GrantTypeInfo, 0, len(builtinGrants)+1)
	for _, g := range builtinGrants {
		out = append(out, g.Info())
	}
	return append(out, implicitGrantInfo)
}

// KnownGrantType reports whether g is one of GrantTypes.
func KnownGrantType(g string) bool {
	for _, t := range GrantTypes {
		if t.ID == g {
			return true
		}
	}
	return false
}

// DefaultGrantTypes are the grant types of a client whose list is empty
// (SPEC.md §5).
var DefaultGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}

// EffectiveGrantTypes returns the client's grant types, or the defaults
// when it has none.
func EffectiveGrantTypes(registered []string) []string {
	if len(registered) == 0 {
		return DefaultGrantTypes
	}
	return registered
}

// maxRedirectURILength bounds a registered redirect URI.
const maxRedirectURILength = 2000

// ValidateRedirectURI checks a redirect URI a client wants to register
// (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC 9700 §4.1): absolute, no fragment,
// no user info, https, or http only for loopback hosts (127.0.0.1, [::1],
// localhost). The error says what is wrong in words for the person
// registering the client.
func ValidateRedirectURI(raw string) error {
	if raw == "" {
		return errors.New("is empty")
	}
	if len(raw) > maxRedirectURILength {
		return fmt.Errorf("is longer than %d characters", maxRedirectURILength)
	}
	for _, r := range raw {
		if r <= 0x20 || r == 0x7f {
			return errors.New("contains spaces or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL such as https://app.example.com/callback")
	}
	if strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment (#...)")
	}
	if u.User != nil {
		return errors.New("must not contain a user name or password")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return errors.New("must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)")
		}
	default:
		return errors.New("must use https (or http on a loopback address)")
	}
	return nil
}

// IsLoopbackHost reports whether host (without port or brackets) is
// localhost or a loopback IP literal.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseRedirectURIs splits what a person typed (one URI per line or
// separated by spaces) into URIs, dropping duplicates.
func ParseRedirectURIs(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Fields(text) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// maxScopeIDLength bounds a scope ID.
const maxScopeIDLength = 64

// ValidateScopeID checks a scope ID: 1 to 64 characters allowed in a
// scope token by RFC 6749 §3.3 (printable ASCII except space, " and \).
func ValidateScopeID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	if len(id) > maxScopeIDLength {
		return fmt.Errorf("is longer than %d characters", maxScopeIDLength)
	}
	if !validScopeToken(id) {
		return errors.New(`may only contain letters, digits and punctuation other than space, " and \`)
	}
	return nil
}

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// Credentials are a newly generated client ID and secret.
type Credentials struct {
	ClientID string
	// Secret is shown once and never stored; empty for public clients.
	Secret string
	// SecretHash is the SHA-256 digest that is stored.
	SecretHash []byte
	// SecretHint is the secret's last 4 characters, shown afterwards.
	SecretHint string
}

// ClientSecretPrefix starts every client secret, so that leaked secrets
// are recognisable (e.g. by secret scanners).
const ClientSecretPrefix = "gcs_"

// NewClientID returns a random client ID (96 bits, hex).
func NewClientID() string {
	return hex.EncodeToString(secret.Random(12))
}

// NewClientSecret returns a fresh client secret with its stored digest
// and hint.
func NewClientSecret() (plain string, hash []byte, hint string) {
	plain = secret.New(ClientSecretPrefix)
	return plain, secret.Digest(plain), plain[len(plain)-4:]
}

// NewCredentials returns a client ID and, for confidential clients, a
// secret.
func NewCredentials(public bool) Credentials {
	c := Credentials{ClientID: NewClientID()}
	if !public {
		c.Secret, c.SecretHash, c.SecretHint = NewClientSecret()
	}
	return c
}

// ScopeDescription fills {user} and {client_name} into a scope's
// description. The result is plain text: the page that shows it escapes
// it (templ does).
func ScopeDescription(description, user, clientName string) string {
	return strings.NewReplacer("{user}", user, "{client_name}", clientName).Replace(description)
}
