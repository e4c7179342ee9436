package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
)

// OpenID Connect scopes (OIDC Core §3.1.2.1, §5.4, §11).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// IDTokenClaims are the claims of an ID token (OIDC Core §2), plus the
// profile and email claims the granted scopes allow (§5.4).
type IDTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	AuthTime int64  `json:"auth_time,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	// AtHash binds the ID token to the access token issued with it
	// (§3.1.3.6, §3.3.2.11).
	AtHash string `json:"at_hash,omitempty"`
	// AuthorizedParty is the client the token was issued to (§2); with a
	// single audience it equals it, sent so relying parties need not
	// guess.
	AuthorizedParty string `json:"azp"`
	// SessionID is the browser session the grant was approved in
	// (Front-Channel Logout §3, Back-Channel Logout §2.1): the sid of the
	// logout notifications of that session.
	SessionID string `json:"sid,omitempty"`
	UserClaims
}

// UserClaims are the standard claims about the user (OIDC Core §5.1)
// that Gatehouse knows, each present only when its scope was granted.
type UserClaims struct {
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// userClaims fills the claims that scopes allow: profile gives name and
// preferred_username, email gives email and email_verified.
func userClaims(u *User, scopes []string) UserClaims {
	var c UserClaims
	if slices.Contains(scopes, ScopeProfile) {
		c.Name, c.PreferredUsername = u.Name, u.Username
	}
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		verified := u.EmailVerified
		c.Email, c.EmailVerified = u.Email, &verified
	}
	return c
}

// AccessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2).
type AccessTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience Audience `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	// Cnf names the DPoP key of a bound token (RFC 9449 §6.1).
	Cnf *Confirmation `json:"cnf,omitempty"`
	// Act names the party acting for the subject in a delegated token
	// (RFC 8693 §4.1), nil for none.
	Act *Actor `json:"act,omitempty"`
}

// atHash is the at_hash of an access token for an RS256/ES256 ID token:
// the left half of its SHA-256, base64url (OIDC Core §3.1.3.6).
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// hasOpenID reports whether a space-separated scope includes openid.
func hasOpenID(scope string) bool {
	return slices.Contains(strings.Fields(scope), ScopeOpenID)
}

// unixOrZero is t as seconds, 0 for nil.
func unixOrZero(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.Unix()
}

// idToken signs the ID token of a token response (OIDC Core §3.1.3.3):
// for the user, audience the client, with auth_time always, the nonce of
// the authorization request when there was one (never on refresh, §12.2),
// and at_hash of the access token issued with it.
func (s *Server) idToken(ctx context.Context, in issue, u *User, accessToken string, now time.Time) (string, error) {
	c := IDTokenClaims{
		Issuer: s.issuer, Subject: u.Subject, Audience: in.client.ID, AuthorizedParty: in.client.ID,
		IssuedAt: now.Unix(), Expiry: now.Add(in.pol.AccessTokenLifetime).Unix(),
		AuthTime: unixOrZero(in.authTime), Nonce: in.nonce, AtHash: atHash(accessToken), SessionID: in.sid,
		UserClaims: userClaims(u, strings.Fields(in.scope)),
	}
	tok, err := s.signer.SignWith(ctx, in.client.IDTokenAlg(), c, TypeIDToken)
	if err != nil {
		return "", serverError(err)
	}
	return tok, nil
}

// IDTokenAlg is the algorithm that signs the client's ID tokens: its
// id_token_signed_response_alg, RS256 when it has none (OIDC Dynamic
// Client Registration §2).
func (c *Client) IDTokenAlg() string {
	if c.IDTokenSignedResponseAlg == "" {
		return AlgRS256
	}
	return c.IDTokenSignedResponseAlg
}

// jwtAccessToken signs an access token in the RFC 9068 format. Its
// audience (§2.2: aud) is the token's resources (RFC 8707): a string for
// one, an array for several; a token for no particular resource is for
// this server (aud the issuer), as before resources existed. sub is the
// user's subject, or
// the client ID for client-credentials tokens (§2.2). A random jti makes
// every token unique, so that its hash identifies it.
func (s *Server) jwtAccessToken(ctx context.Context, in issue, u *User, now, exp time.Time) (string, error) {
	c := AccessTokenClaims{
		Issuer: s.issuer, Subject: in.client.ID, Audience: Audience{s.issuer}, IssuedAt: now.Unix(), Expiry: exp.Unix(),
		JTI: base64.RawURLEncoding.EncodeToString(secret.Random(16)), ClientID: in.client.ID, Scope: in.scope,
		AuthTime: unixOrZero(in.authTime), Act: in.act, Cnf: confirmation(in.jkt),
	}
	if len(in.audience) > 0 {
		c.Audience = Audience(in.audience)
	}
	if u != nil {
		c.Subject = u.Subject
	}
	tok, err := s.signer.Sign(ctx, c, TypeAccessToken)
	if err != nil {
		return "", serverError(err)
	}
	return tok, nil
}

// AccessTokenFormatJWT is the access_token_format setting value for RFC
// 9068 JWT access tokens (the default, "opaque", is a random string).
const AccessTokenFormatJWT = "jwt"
