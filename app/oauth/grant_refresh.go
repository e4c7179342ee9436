package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// refreshTokenGrant renews access with a refresh token (RFC 6749 §6) and
// rotates it (RFC 9700 §4.14.2).
type refreshTokenGrant struct{ s *Server }

var _ GrantHandler = refreshTokenGrant{}

// Info implements GrantHandler.
func (refreshTokenGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantRefreshToken, "Refresh token", "Your app gets a refresh token and can renew access without asking the user again.", false}
}

func (refreshTokenGrant) bind(s *Server) GrantHandler { return refreshTokenGrant{s} }

func (refreshTokenGrant) Enabled(Policy) bool { return true }

// Handle checks the refresh token (this client's, unexpired, unused),
// narrows the scope if asked, rotates the token and issues a new pair in
// the same family. The new refresh token keeps the original scope and the
// original absolute expiry. Presenting a token that was already rotated is
// reuse: the whole family is revoked — unless it was rotated less than
// refresh_token_reuse_interval ago (a client refreshing once per request
// in flight): then it gets a fresh pair of the same family, and the pair
// the rotation gave keeps working too (rule 50).
func (g refreshTokenGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	plain := r.Form.Get("refresh_token")
	if plain == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no refresh_token")
	}
	hash := secret.Digest(plain)
	t, err := s.model.GetToken(ctx, hash)
	if err != nil {
		if isNotFound(err) {
			return nil, ErrInvalidGrant.WithDescription("the refresh token is invalid")
		}
		return nil, serverError(err)
	}
	if t.Kind != KindRefresh {
		return nil, ErrInvalidGrant.WithDescription("the refresh token is invalid")
	}
	if t.ClientID != r.Client.ID {
		return nil, ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	}
	// A public client's refresh token bound to a DPoP key needs a proof
	// of that key (RFC 9449 §5).
	if err := dpopKeyMatches(t.Jkt, r.DPoPJkt, "the refresh token"); err != nil {
		return nil, err
	}
	now := s.now()
	if t.RevokedAt != nil {
		return nil, ErrInvalidGrant.WithDescription("the refresh token has been revoked")
	}
	grace := g.withinReuseInterval(r, t, now)
	if t.RotatedAt != nil && !grace {
		return nil, g.reuse(ctx, r, t)
	}
	if !now.Before(t.ExpiresAt) {
		return nil, ErrInvalidGrant.WithDescription("the refresh token has expired")
	}
	scope, serr := narrowScope(r.Form.Get("scope"), strings.Fields(t.Scope), "the one originally granted")
	if serr != nil {
		return nil, serr
	}
	var u *User
	if t.UserID != nil {
		var uerr error
		if u, uerr = s.activeUser(ctx, *t.UserID, ErrInvalidGrant); uerr != nil {
			return nil, uerr
		}
	}
	// Scopes deleted since, or taken from the client, are not renewed.
	scope, serr = s.stillAllowed(ctx, r.Client.Client, scope)
	if serr != nil {
		return nil, serr
	}
	// The refresh token keeps the grant's audience; resource parameters
	// narrow the new access token's. A refresh token without one (issued
	// before resources existed, or for scopes in no resource) takes them
	// as a new request for its scopes.
	aud, aerr := s.narrowAudience(ctx, t.Audience, r.Resources, JoinScope(scope), true)
	if aerr != nil {
		return nil, aerr
	}
	if !grace {
		if err := s.model.RotateRefreshToken(ctx, hash, now); err != nil {
			if !errors.Is(err, store.ErrConflict) {
				return nil, serverError(err)
			}
			// Used concurrently: the same token presented twice. Within
			// the reuse interval of the rotation that won, that is allowed.
			if t, err = s.model.GetToken(ctx, hash); err != nil {
				return nil, serverError(err)
			}
			if t.RevokedAt != nil || !g.withinReuseInterval(r, t, now) {
				return nil, g.reuse(ctx, r, t)
			}
		}
	}
	// A delegated grant stays delegated (RFC 8693 §4.1).
	act, perr := parseAct(t.Act)
	if perr != nil {
		return nil, serverError(perr)
	}
	return s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: t.UserID, user: u, scope: JoinScope(scope), familyID: t.FamilyID,
		sid: t.SID, authTime: t.AuthTime, refresh: true, refreshScope: t.Scope, refreshExpiry: t.ExpiresAt, recheck: true,
		audience: aud, refreshAudience: t.Audience, act: act, jkt: r.DPoPJkt})
}

// withinReuseInterval reports whether t was rotated less than the reuse
// interval before now (never when the interval is 0): the client's own
// interval when it has one, else refresh_token_reuse_interval.
func (g refreshTokenGrant) withinReuseInterval(r *TokenRequest, t *Token, now time.Time) bool {
	iv := r.Client.ReuseInterval(r.Policy)
	return iv > 0 && t.RotatedAt != nil && now.Sub(*t.RotatedAt) < iv
}

// reuse revokes the family of a refresh token presented after rotation.
func (g refreshTokenGrant) reuse(ctx context.Context, r *TokenRequest, t *Token) error {
	n, err := g.s.model.RevokeFamily(ctx, t.FamilyID, g.s.now())
	if err != nil {
		return serverError(err)
	}
	g.s.securityEvent(ctx, SecurityEvent{Kind: SecurityRefreshReuse, Grant: GrantRefreshToken, ClientID: t.ClientID, UserID: t.UserID,
		RemoteAddr: r.RemoteAddr, Revoked: n})
	return ErrInvalidGrant.WithDescription("the refresh token was already used; every token of this grant has been revoked")
}
