package oauth

import (
	"context"
	"time"
)

// Client is a registered application as the core sees it.
type Client struct {
	ID           string
	SecretHash   []byte // SHA-256 of the secret; nil for public clients
	Public       bool
	Name         string
	Icon         string
	Homepage     string
	RedirectURIs []string
	GrantTypes   []string // empty: DefaultGrantTypes
	Scopes       []string // empty: any scope
	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// browser back to (exact match).
	PostLogoutRedirectURIs []string
	// RefreshTokenReuseInterval overrides the policy's for this client
	// (nil: the policy's).
	RefreshTokenReuseInterval *time.Duration
	// Unverified marks a client that described itself (dynamic
	// registration or a Client ID Metadata Document): nobody vouched for
	// its name and logo, and the consent screen says so.
	Unverified bool
	// TokenEndpointAuthMethod is how the client authenticates (RFC 7591
	// names); "" accepts the secret in Basic or the body (or none for a
	// public client), as clients made before it existed.
	TokenEndpointAuthMethod string
	// SecretKey is the client secret itself, for client_secret_jwt only
	// (the HMAC key of its assertions); nil otherwise.
	SecretKey []byte
	// JWKS is the client's public keys for private_key_jwt (a JWK Set as
	// JSON, "" for none); JWKSURI is where to fetch them instead.
	JWKS    string
	JWKSURI string
	// IDTokenSignedResponseAlg is RS256 ("" means RS256) or ES256.
	IDTokenSignedResponseAlg string
	// DPoPBoundAccessTokens: the client's access tokens must be DPoP-bound.
	DPoPBoundAccessTokens bool
	// RequirePAR: the client must push its authorization requests.
	RequirePAR bool
	// MayAct lists the client IDs whose tokens this client may present as
	// actor_token in a token exchange besides its own.
	MayAct []string
}

// ReuseInterval is the refresh token reuse interval in force for the
// client under pol.
func (c *Client) ReuseInterval(pol Policy) time.Duration {
	if c.RefreshTokenReuseInterval != nil {
		return *c.RefreshTokenReuseInterval
	}
	return pol.RefreshTokenReuseInterval
}

// HasGrant reports whether the client may use grant type g.
func (c *Client) HasGrant(g string) bool {
	for _, x := range EffectiveGrantTypes(c.GrantTypes) {
		if x == g {
			return true
		}
	}
	return false
}

// User is a person who signs in.
type User struct {
	ID            int64
	Subject       string
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Role          string
	Disabled      bool
	PasswordHash  string
}

// Scope is a permission a client can ask for.
type Scope struct {
	ID           string
	Name         string
	Description  string
	Icon         string
	ResourcePath string
	Method       string
	// Resource is the resource the scope belongs to ("" for none: such
	// scopes may accompany any resource). The Model gives it as stored:
	// BuiltinResourcePath for the built-in {issuer}/api, otherwise a
	// canonical URI; the core resolves it (Server.listScopes, the one
	// place), so that everything past the Model sees URIs.
	Resource string
	Default  bool
	// Machine scopes can be granted without a user: to client
	// credentials, and by token exchange of a client-credentials token
	// (SPEC.md §7.1). Nothing else a user-less token can carry.
	Machine bool
}

// Token kinds.
const (
	KindAccess  = "access"
	KindRefresh = "refresh"
)

// Token is an issued access or refresh token. Only its hash is stored.
type Token struct {
	Hash     []byte
	Kind     string
	ClientID string
	UserID   *int64 // nil for client-credentials tokens
	Scope    string // space-separated, sorted
	FamilyID string // tokens descended from one grant share it
	// SID is the browser session the grant was approved in ("" for
	// grants without one); its tokens keep it through refreshes.
	SID string
	// Audience lists the resources the token is for (RFC 8707): the
	// canonical URIs, sorted; empty for none.
	Audience []string
	// Jkt is the JWK SHA-256 thumbprint of the DPoP key the token is bound
	// to (RFC 9449 cnf.jkt); "" for a Bearer token.
	Jkt string
	// Act is the act claim of a delegated token (RFC 8693 §4.1) as JSON;
	// "" for none.
	Act       string
	AuthTime  *time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
	RotatedAt *time.Time
	RevokedAt *time.Time
}

// AuthorizationCode is an issued code. Only its hash is stored.
type AuthorizationCode struct {
	Hash                []byte
	ClientID            string
	UserID              int64
	RedirectURI         string // as sent in the request; "" when omitted
	Scope               string
	CodeChallenge       string
	CodeChallengeMethod string
	Nonce               string
	FamilyID            string
	SID                 string   // the browser session that approved it
	Resources           []string // requested resources (RFC 8707), canonical, sorted
	DPoPJkt             string   // dpop_jkt of the authorization request (RFC 9449 §10), "" for none
	AuthTime            time.Time
	ExpiresAt           time.Time
}

// The Model is how the core reaches storage, split into small interfaces
// in the manner of node-oauth2-server's model (getClient, getUser,
// saveToken, getAccessToken, revokeToken, saveAuthorizationCode, ...).
// Lookups return an error wrapping store.ErrNotFound for unknown keys;
// writes of a key already taken (a token, code or user code hash) return
// one wrapping store.ErrAlreadyExists. Values go in and come out as
// copies. oauthtest.RunModelTests checks every implementation against
// these contracts.
type Model interface {
	ClientModel
	UserModel
	TokenModel
	CodeModel
	ScopeModel
	ConsentModel
	DeviceModel
	ResourceModel
	ReplayModel
	PARModel
	TrustModel
}

// ClientModel finds clients (getClient). GetClient returns an error
// matching store.ErrNotFound for an unknown client, or an *Error
// (invalid_client with a description) for a client it refuses with a
// reason, such as a Client ID Metadata Document that fails validation:
// the authorization endpoint shows that reason on its error page.
type ClientModel interface {
	GetClient(ctx context.Context, clientID string) (*Client, error)
}

// UserModel finds users (getUser; getUserFromClient is the client
// itself in Gatehouse: client-credentials tokens carry no user).
type UserModel interface {
	// GetUserByUsername finds a user whatever the case of username
	// (usernames are stored in lower case).
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	GetUserByID(ctx context.Context, id int64) (*User, error)
}

// TokenModel stores tokens (saveToken, getAccessToken, getRefreshToken,
// revokeToken).
type TokenModel interface {
	// SaveTokens stores the tokens of one response in one write: all of
	// them or, when a hash is taken, none.
	SaveTokens(ctx context.Context, tokens ...*Token) error
	// GetToken returns a token by hash, whatever its state.
	GetToken(ctx context.Context, hash []byte) (*Token, error)
	// RotateRefreshToken marks an unused refresh token used, atomically:
	// of concurrent calls one wins; the others get store.ErrConflict, as
	// does a token already rotated or revoked. An access token is
	// store.ErrNotFound.
	RotateRefreshToken(ctx context.Context, hash []byte, now time.Time) error
	// RevokeToken revokes one token (ErrNotFound when unknown); revoking
	// it again keeps the first revocation time.
	RevokeToken(ctx context.Context, hash []byte, now time.Time) error
	// RevokeFamily revokes every token of a family, leaving a tombstone
	// that FamilyRevoked reports (also for a family without tokens yet),
	// and returns how many tokens it revoked now.
	RevokeFamily(ctx context.Context, familyID string, now time.Time) (int64, error)
	// FamilyRevoked reports whether the family was revoked.
	FamilyRevoked(ctx context.Context, familyID string) (bool, error)
}

// CodeModel stores authorization codes (saveAuthorizationCode,
// getAuthorizationCode + revokeAuthorizationCode as one atomic step).
type CodeModel interface {
	SaveAuthorizationCode(ctx context.Context, code *AuthorizationCode) error
	// RedeemAuthorizationCode marks the code used and returns it; of
	// concurrent calls exactly one succeeds. A code used before comes
	// back together with store.ErrConflict. Expiry is the caller's to
	// check.
	RedeemAuthorizationCode(ctx context.Context, hash []byte, now time.Time) (*AuthorizationCode, error)
}

// ScopeModel lists the defined scopes (the basis of validateScope and
// verifyScope).
type ScopeModel interface {
	ListScopes(ctx context.Context) ([]Scope, error)
}

// ConsentModel remembers what users granted to clients.
type ConsentModel interface {
	// GetConsent returns the scopes granted ("" and no error when none).
	GetConsent(ctx context.Context, userID int64, clientID string) (string, error)
	// SaveConsent replaces the scopes granted (the core merges first).
	SaveConsent(ctx context.Context, userID int64, clientID, scope string) error
}

// Policy is what the core needs of the runtime settings in force. The
// application maps its settings into it (PolicySource); the core never
// reads the settings store itself.
type Policy struct {
	AllowImplicitGrant      bool
	AllowPasswordGrant      bool
	EnforceState            bool
	RequireExactRedirectURI bool
	// RequirePKCE is public, all or none.
	RequirePKCE     string
	RememberConsent bool
	// RequirePushedAuthorizationRequests: every authorization request
	// must come through the PAR endpoint (RFC 9126 §5).
	RequirePushedAuthorizationRequests bool
	// AccessTokenFormat is opaque or jwt (AccessTokenFormatJWT).
	AccessTokenFormat    string
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	// RefreshTokenReuseInterval: for this long after a refresh token was
	// rotated, the same client may present it again and get fresh tokens
	// of the same family instead of the family being revoked (0: off).
	RefreshTokenReuseInterval time.Duration
	AuthorizationCodeLifetime time.Duration
	DeviceCodeLifetime        time.Duration
	DevicePollInterval        time.Duration
	// ClientIDMetadataDocuments: the metadata advertises
	// client_id_metadata_document_supported (the setting is any, or
	// allowlist while dynamic registration is off).
	ClientIDMetadataDocuments bool
	// DPoPNonce says where DPoP proofs must carry a server nonce:
	// DPoPNonceOff ("" too), DPoPNonceToken or DPoPNonceAll.
	DPoPNonce string
}

// PolicySource gives the Policy in force. It is read once per request,
// so a change of the settings applies on the next one.
type PolicySource interface {
	Policy(ctx context.Context) (Policy, error)
}

// Generator makes tokens and codes (generateAccessToken,
// generateRefreshToken, generateAuthorizationCode). The default,
// RandomGenerator, gives 256 bits from crypto/rand behind a recognisable
// prefix.
type Generator interface {
	AccessToken() string
	RefreshToken() string
	AuthorizationCode() string
}

// Policy implements PolicySource with itself: a policy that never
// changes (tests, embedding).
func (p Policy) Policy(context.Context) (Policy, error) { return p, nil }

// TrustedIssuer is an issuer of JWT assertions an admin trusts for the
// JWT bearer grant (RFC 7523 §2.1).
type TrustedIssuer struct {
	// Issuer is the assertions' iss (compared exactly); Name is for
	// people.
	Issuer string
	Name   string
	// JWKS is the issuer's public keys (a JWK Set as JSON, "" for none);
	// JWKSURI is where to fetch them instead.
	JWKS    string
	JWKSURI string
	// Subjects maps an assertion's sub to a username: only the subjects
	// listed are accepted.
	Subjects map[string]string
	// Scopes are the most the tokens may carry.
	Scopes []string
	// MaxLifetime bounds an assertion's life: exp - iat, and exp ahead
	// of now.
	MaxLifetime time.Duration
}

// TrustModel finds trusted issuers. GetTrustedIssuer returns an error
// matching store.ErrNotFound for an issuer nobody registered; the caller
// gets its own copy.
type TrustModel interface {
	GetTrustedIssuer(ctx context.Context, issuer string) (*TrustedIssuer, error)
}
