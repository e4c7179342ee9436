package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// authorizationCodeGrant redeems authorization codes (RFC 6749 §4.1.3,
// RFC 7636 §4.6).
type authorizationCodeGrant struct{ s *Server }

var _ GrantHandler = authorizationCodeGrant{}

// Info implements GrantHandler.
func (authorizationCodeGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantAuthorizationCode, "Authorization code", "Users sign in and approve your app; the standard flow for web, mobile and single-page apps (with PKCE).", false}
}

func (authorizationCodeGrant) bind(s *Server) GrantHandler { return authorizationCodeGrant{s} }

func (authorizationCodeGrant) Enabled(Policy) bool { return true }

// Handle redeems the code once: a second redemption is invalid_grant and
// revokes every token issued from the first (RFC 6749 §4.1.2). The code
// must belong to the client, come with the same redirect_uri as the
// authorization request, and with the PKCE verifier of its challenge.
func (g authorizationCodeGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	code := r.Form.Get("code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no code")
	}
	now := s.now()
	rec, err := s.model.RedeemAuthorizationCode(ctx, secret.Digest(code), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidGrant.WithDescription("the authorization code is invalid")
	case errors.Is(err, store.ErrConflict):
		n, rerr := s.model.RevokeFamily(ctx, rec.FamilyID, now)
		if rerr != nil {
			return nil, serverError(rerr)
		}
		uid := rec.UserID
		s.securityEvent(ctx, SecurityEvent{Kind: SecurityCodeReplay, Grant: GrantAuthorizationCode, ClientID: rec.ClientID, UserID: &uid,
			RemoteAddr: r.RemoteAddr, Revoked: n})
		return nil, ErrInvalidGrant.WithDescription("the authorization code was already used")
	case err != nil:
		return nil, serverError(err)
	}
	if rec.ClientID != r.Client.ID {
		return nil, ErrInvalidGrant.WithDescription("the authorization code was issued to another client")
	}
	if !now.Before(rec.ExpiresAt) {
		return nil, ErrInvalidGrant.WithDescription("the authorization code has expired")
	}
	// dpop_jkt in the authorization request binds the code to a DPoP key
	// (RFC 9449 §10).
	if err := dpopKeyMatches(rec.DPoPJkt, r.DPoPJkt, "the authorization code (dpop_jkt)"); err != nil {
		return nil, err
	}
	sent := r.Form.Get("redirect_uri")
	switch {
	case rec.RedirectURI != "" && sent != rec.RedirectURI:
		return nil, ErrInvalidGrant.WithDescription("redirect_uri does not match the authorization request")
	case rec.RedirectURI == "" && sent != "" && (len(r.Client.RedirectURIs) != 1 || sent != r.Client.RedirectURIs[0]):
		return nil, ErrInvalidGrant.WithDescription("redirect_uri does not match the authorization request")
	}
	verifier := r.Form.Get("code_verifier")
	if rec.CodeChallenge == "" {
		if verifier != "" {
			return nil, ErrInvalidGrant.WithDescription("code_verifier sent for a code issued without code_challenge")
		}
	} else {
		if verifier == "" {
			return nil, ErrInvalidGrant.WithDescription("code_verifier is missing")
		}
		if !codeChallengeRE.MatchString(verifier) || !secret.EqualString(S256Challenge(verifier), rec.CodeChallenge) {
			return nil, ErrInvalidGrant.WithDescription("code_verifier does not match the code_challenge")
		}
	}
	u, uerr := s.activeUser(ctx, rec.UserID, ErrInvalidGrant)
	if uerr != nil {
		return nil, uerr
	}
	// The grant's audience: the resources of the authorization request,
	// or those of its scopes; resource parameters here narrow the access
	// token's (RFC 8707 §2.2).
	grant, aud, aerr := s.storedGrantAudience(ctx, rec.Scope, rec.Resources, r.Resources)
	if aerr != nil {
		return nil, aerr
	}
	uid, at := rec.UserID, rec.AuthTime
	return s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: &uid, user: u, scope: rec.Scope, familyID: rec.FamilyID,
		sid: rec.SID, authTime: &at, nonce: rec.Nonce, refresh: r.Client.HasGrant(GrantRefreshToken), recheck: true,
		audience: aud, refreshAudience: grant, jkt: r.DPoPJkt})
}

// S256Challenge is the PKCE S256 transform of a verifier (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
