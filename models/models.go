// Package models holds the GORM structs that mirror the SQL schema in
// migrations/ and the Store that reads and writes them. The schema itself is
// owned by the migrations; GORM never auto-migrates.
package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Roles a user can have.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleUser      = "user"
)

// ValidRole reports whether r is one of the three roles.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleDeveloper || r == RoleUser
}

// User is a person who signs in: an end user, a developer or an admin.
type User struct {
	ID                int64
	Subject           string // stable, opaque OIDC "sub"
	Username          string // lower case, unique
	Email             string
	EmailVerified     bool
	Name              string
	PasswordHash      string // argon2id, PHC string format
	Role              string
	Disabled          bool
	PasswordChangedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Image is an uploaded picture (client icon) stored in the database so that
// every instance can serve it. ID is the hex SHA-256 of Data.
type Image struct {
	ID          string `gorm:"primaryKey"`
	ContentType string
	Data        []byte
	CreatedAt   time.Time
}

// Client is a registered application.
type Client struct {
	ID              int64
	ClientID        string
	SecretHash      []byte // SHA-256 of the secret; nil for public clients
	SecretHint      string // last 4 characters of the secret
	Name            string
	Description     string
	Icon            string // https URL or /icons/<image id>
	Homepage        string
	RedirectURIs    []string `gorm:"column:redirect_uris;serializer:json"`
	GrantTypes      []string `gorm:"serializer:json"`
	Scopes          []string `gorm:"serializer:json"`
	Public          bool
	OwnerID         *int64
	SecretRotatedAt *time.Time
	// Logout (OpenID Connect RP-Initiated, Back-Channel and Front-Channel
	// Logout 1.0).
	PostLogoutRedirectURIs            []string `gorm:"column:post_logout_redirect_uris;serializer:json"`
	BackchannelLogoutURI              string   `gorm:"column:backchannel_logout_uri"`
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string `gorm:"column:frontchannel_logout_uri"`
	FrontchannelLogoutSessionRequired bool
	// RefreshTokenReuseSeconds overrides the refresh_token_reuse_interval
	// setting for this client (nil: the setting).
	RefreshTokenReuseSeconds *int64
	// Registration says how the client came to be (ClientRegistered*).
	Registration string
	// RegistrationTokenHash is the SHA-256 of a dynamically registered
	// client's registration access token (RFC 7592).
	RegistrationTokenHash []byte
	// ClientMetadata keeps registered metadata Gatehouse does not use
	// itself (contacts, tos_uri, policy_uri, software_id, ...), returned
	// as registered.
	ClientMetadata JSONObject
	// MetadataExpiresAt is when a Client ID Metadata Document client's
	// document must be fetched again.
	MetadataExpiresAt *time.Time
	// TokenEndpointAuthMethod is how the client authenticates (RFC 7591
	// names; "" as before: the secret in Basic or the body, or none for a
	// public client).
	TokenEndpointAuthMethod string
	// SecretSealed is the client secret encrypted under the key secret,
	// kept only for client_secret_jwt (the secret is the HMAC key).
	SecretSealed []byte
	// JWKS is the client's public keys for private_key_jwt (a JWK Set as
	// JSON text, "" for none); JWKSURI where to fetch them instead.
	JWKS    string `gorm:"column:jwks"`
	JWKSURI string `gorm:"column:jwks_uri"`
	// IDTokenSignedResponseAlg is RS256 ("" means RS256) or ES256.
	IDTokenSignedResponseAlg string `gorm:"column:id_token_signed_response_alg"`
	// DPoPBoundAccessTokens: the client's access tokens must be DPoP-bound
	// (RFC 9449).
	DPoPBoundAccessTokens bool `gorm:"column:dpop_bound_access_tokens"`
	// RequirePushedAuthorizationRequests: the client must use PAR (RFC 9126).
	RequirePushedAuthorizationRequests bool
	// MayAct lists the client IDs whose tokens this client may present as
	// actor_token in a token exchange besides its own (RFC 8693).
	MayAct    []string `gorm:"column:may_act;serializer:json"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// How a client came to be (Client.Registration).
const (
	ClientRegisteredByAdmin = ""                  // dashboard, CLI or admin API
	ClientRegisteredDynamic = "dynamic"           // RFC 7591 dynamic registration
	ClientMetadataDocument  = "metadata_document" // a Client ID Metadata Document
)

// Resource is an API that tokens can be issued for (RFC 8707): its URI
// (canonical, absolute) is the tokens' audience.
type Resource struct {
	ID          int64
	URI         string `gorm:"column:uri"`
	Name        string
	Description string
	Icon        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TrustedIssuer is an issuer of JWT assertions an admin trusts for the
// JWT bearer grant (RFC 7523 §2.1): its keys (a pasted JWK Set or a
// jwks_uri), which of its subjects are which users, the scopes its
// assertions may get and how long an assertion may live.
type TrustedIssuer struct {
	ID int64
	// Issuer is the assertions' iss, compared exactly; unique.
	Issuer string
	Name   string
	// JWKS is the issuer's public keys as JWK Set JSON text ("" when
	// JWKSURI is used); JWKSURI where to fetch them.
	JWKS    string `gorm:"column:jwks"`
	JWKSURI string `gorm:"column:jwks_uri"`
	// Subjects maps an assertion's sub to the username of the user the
	// tokens are for.
	Subjects map[string]string `gorm:"serializer:json"`
	// Scopes are the scopes its assertions may get.
	Scopes []string `gorm:"serializer:json"`
	// MaxLifetimeSeconds bounds an assertion's life (exp - iat, and exp
	// ahead of now).
	MaxLifetimeSeconds int64
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Scope is a permission a client can ask for; it may guard a resource path.
type Scope struct {
	ID           int64
	ScopeID      string
	Name         string
	Description  string // may contain {user} and {client_name}
	Icon         string // Font Awesome class or image URL
	ResourcePath string // e.g. /api/user; a trailing * matches a subtree
	Method       string // HTTP method the scope guards
	// Resource is the URI of the resource the scope belongs to: "" for
	// none, "/api" for the built-in {issuer}/api.
	Resource  string
	IsDefault bool
	// Machine scopes can be granted without a user (client credentials,
	// and token exchange of such a token), to clients an admin gives them.
	Machine   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Setting is one runtime setting overriding its built-in default.
type Setting struct {
	Key       string `gorm:"primaryKey"`
	Value     string
	UpdatedAt time.Time
}

// AuthorizationCode is an issued authorization code, stored by its hash.
type AuthorizationCode struct {
	ID                  int64
	CodeHash            []byte
	ClientID            string
	UserID              int64
	RedirectURI         string `gorm:"column:redirect_uri"`
	Scope               string
	CodeChallenge       string
	CodeChallengeMethod string
	Nonce               string
	FamilyID            string
	SID                 string `gorm:"column:sid"` // the browser session that approved it
	Resource            string // requested resources (RFC 8707), space-separated
	DPoPJkt             string `gorm:"column:dpop_jkt"` // dpop_jkt of the request (RFC 9449 §10)
	AuthTime            time.Time
	ExpiresAt           time.Time
	RedeemedAt          *time.Time
	CreatedAt           time.Time
}

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Token is an access or refresh token, stored by its hash. Tokens issued
// from one grant share a FamilyID so that they can be revoked together.
type Token struct {
	ID        int64
	TokenHash []byte
	Kind      string
	ClientID  string
	UserID    *int64
	Scope     string
	FamilyID  string
	SID       string `gorm:"column:sid"` // the browser session that issued the grant ("" for none)
	Audience  string // resource URIs the token is for (RFC 8707), space-separated
	Jkt       string // DPoP key thumbprint the token is bound to (RFC 9449), "" for none
	Act       string // the act claim of a delegated token as JSON (RFC 8693), "" for none
	AuthTime  *time.Time
	ExpiresAt time.Time
	RotatedAt *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}

// RevokedFamily is the tombstone of a token family revoked for replay or
// reuse.
type RevokedFamily struct {
	FamilyID  string `gorm:"primaryKey"`
	RevokedAt time.Time
}

// Consent records the scopes a user granted to a client.
type Consent struct {
	ID        int64
	UserID    int64
	ClientID  string
	Scope     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Device code states.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceRedeemed = "redeemed"
)

// DeviceCode is an RFC 8628 device authorization.
type DeviceCode struct {
	ID              int64
	DeviceCodeHash  []byte
	UserCode        string
	ClientID        string
	Scope           string
	Resource        string // requested resources (RFC 8707), space-separated
	Status          string
	UserID          *int64
	AuthTime        *time.Time
	IntervalSeconds int
	LastPolledAt    *time.Time
	ExpiresAt       time.Time
	CreatedAt       time.Time
}

// SigningKey is a JOSE signing key. PrivateKey is PKCS#8 DER, encrypted
// when Encrypted is set.
type SigningKey struct {
	ID         int64
	KID        string `gorm:"column:kid"`
	Alg        string
	PrivateKey []byte
	Encrypted  bool
	PublicJWK  string `gorm:"column:public_jwk"`
	RetiredAt  *time.Time
	ExpiresAt  *time.Time
	CreatedAt  time.Time
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	ID         int64
	ActorID    *int64
	Actor      string
	Action     string
	Target     string
	RemoteAddr string
	Success    bool
	Details    map[string]string `gorm:"serializer:json"`
	// Count is how many times the event happened: 1, or more for a
	// burst of repeated attempts recorded as one row (AddAuditEventCounted).
	Count     int64 `gorm:"default:1"`
	CreatedAt time.Time
}

// AppSecret is a server-wide secret shared by every instance (session keys).
// With a key secret configured, Value is sealed (app/secret.Sealer) and
// Encrypted is true.
type AppSecret struct {
	Name      string `gorm:"primaryKey"`
	Value     []byte
	Encrypted bool
	CreatedAt time.Time
}

// WebSession is a browser session of the dashboard, keyed by the hash of the
// random session ID kept in the cookie.
type WebSession struct {
	IDHash []byte `gorm:"column:id_hash;primaryKey"`
	// SID is the session's public, stable ID: the sid claim of the ID
	// tokens issued in it, and what logout notifications name.
	SID        string `gorm:"column:sid"`
	UserID     *int64
	UserAgent  string
	RemoteAddr string
	Data       []byte
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ThrottleEvent is one counted failure (a failed sign-in, say) for a key.
type ThrottleEvent struct {
	ID        int64
	Key       string
	CreatedAt time.Time
}

// OneTimeToken is a single-use token, such as the first-admin setup token.
type OneTimeToken struct {
	TokenHash []byte `gorm:"primaryKey"`
	Purpose   string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// SessionClient records that browser session SID issued a code or tokens
// to ClientID: the clients its end is told of.
type SessionClient struct {
	SID       string `gorm:"column:sid;primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	CreatedAt time.Time
}

// LogoutDelivery is a back-channel logout token waiting to be POSTed to a
// client's backchannel_logout_uri: a durable queue, so that a restart or a
// second instance loses none. The token is signed at each attempt.
type LogoutDelivery struct {
	ID            int64
	ClientID      string
	Subject       string // the user's sub ("" when only sid is sent)
	SID           string `gorm:"column:sid"`
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   *time.Time
	LastError     string
	CreatedAt     time.Time
}

// JSONObject is a JSON object column: a nil map is written as {}, and
// NULL or {} read back as a nil map.
type JSONObject map[string]any

// Value implements driver.Valuer.
func (o JSONObject) Value() (driver.Value, error) {
	if o == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(o))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Scan implements sql.Scanner.
func (o *JSONObject) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*o = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("JSONObject: cannot scan %T", src)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) == 0 {
		m = nil
	}
	*o = m
	return nil
}
