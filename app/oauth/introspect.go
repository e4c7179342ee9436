package oauth

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse/app/secret"
)

// Introspection is the answer of the introspection endpoint (RFC 7662
// §2.2). An inactive token is exactly {"active": false}: every other
// field is omitted.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Expiry    int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	Subject   string `json:"sub,omitempty"`
	// Audience is the token's audience (RFC 8707): as in a JWT access
	// token, a string for one resource and an array for several; an
	// access token for no particular resource is for this server (the
	// issuer).
	Audience Audience `json:"aud,omitempty"`
	Issuer   string   `json:"iss,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	// Cnf names the DPoP key a token is bound to (RFC 9449 §6.2).
	Cnf *Confirmation `json:"cnf,omitempty"`
	// Act names who acts for the subject of a delegated token (RFC 8693
	// §4.1, which registers it for introspection answers too), as in a
	// JWT access token; omitted for other tokens.
	Act *Actor `json:"act,omitempty"`
}

// Token type names in introspection answers: access tokens are Bearer
// tokens (RFC 6749 §7.1), or DPoP tokens when bound to a key
// (TokenTypeDPoP); refresh tokens are named after their kind.
const (
	TokenTypeBearer  = "Bearer"
	TokenTypeRefresh = "refresh_token"
)

// Introspect is the introspection endpoint (RFC 7662): a confidential
// client (a resource server) asks about a token. Any confidential client
// may ask about any token, since resource servers check tokens issued to
// other clients; public clients may not introspect (SPEC.md §3). Unknown,
// expired, revoked or rotated tokens, and tokens of a disabled or deleted
// user, are {"active": false}.
func (s *Server) Introspect(ctx context.Context, r *ClientRequest) (*Introspection, error) {
	plain, client, e := s.tokenRequest(ctx, r)
	if e != nil {
		return nil, e
	}
	if client.Public {
		return nil, ErrInvalidClient.WithDescription("public clients cannot introspect tokens")
	}
	t, u, e := s.liveToken(ctx, plain)
	if e != nil {
		if errors.Is(e, ErrServerError) {
			return nil, e
		}
		return &Introspection{}, nil
	}
	scopes, e := s.usableScopes(ctx, t)
	if e != nil {
		return nil, e
	}
	out := &Introspection{Active: true, Scope: strings.Join(scopes, " "), ClientID: t.ClientID, Expiry: t.ExpiresAt.Unix(),
		IssuedAt: t.IssuedAt.Unix(), Subject: t.ClientID, Issuer: s.issuer, AuthTime: unixOrZero(t.AuthTime)}
	if u != nil {
		out.Username, out.Subject = u.Username, u.Subject
	}
	out.Audience = Audience(t.Audience)
	out.Cnf = confirmation(t.Jkt)
	if out.Act, e = parseAct(t.Act); e != nil {
		return nil, serverError(e)
	}
	if t.Kind == KindAccess {
		out.TokenType = TokenTypeBearer
		if t.Jkt != "" {
			out.TokenType = TokenTypeDPoP
		}
		if len(out.Audience) == 0 {
			out.Audience = Audience{s.issuer}
		}
	} else {
		out.TokenType = TokenTypeRefresh
	}
	return out, nil
}

// tokenRequest is the common start of revocation and introspection: no
// repeated parameters, a token parameter, an authenticated client.
func (s *Server) tokenRequest(ctx context.Context, r *ClientRequest) (string, *AuthenticatedClient, error) {
	if dup, ok := singleValues(r.Form); !ok {
		return "", nil, ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", truncate(dup, 32))
	}
	client, e := s.AuthenticateClient(ctx, r)
	if e != nil {
		return "", nil, e
	}
	plain := r.Form.Get("token")
	if plain == "" {
		return "", nil, ErrInvalidRequest.WithDescription("the request has no token")
	}
	return plain, client, nil
}

// liveToken finds a token that is still usable: an access token neither
// expired nor revoked, or a refresh token neither expired, revoked nor
// rotated, whose user (if any) exists and is enabled. Any other token is
// invalid_token saying why; storage failures are server errors.
func (s *Server) liveToken(ctx context.Context, plain string) (*Token, *User, error) {
	t, err := s.model.GetToken(ctx, secret.Digest(plain))
	if err != nil {
		if isNotFound(err) {
			return nil, nil, ErrInvalidToken.WithDescription("the token is invalid")
		}
		return nil, nil, serverError(err)
	}
	switch {
	case t.RevokedAt != nil:
		return nil, nil, ErrInvalidToken.WithDescription("the token has been revoked")
	case t.RotatedAt != nil:
		return nil, nil, ErrInvalidToken.WithDescription("the refresh token was already used")
	case !s.now().Before(t.ExpiresAt):
		return nil, nil, ErrInvalidToken.WithDescription("the token has expired")
	}
	var u *User
	if t.UserID != nil {
		var e error
		if u, e = s.activeUser(ctx, *t.UserID, ErrInvalidToken); e != nil {
			return nil, nil, e
		}
	}
	return t, u, nil
}
