package oauth

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
)

// TokenResponse is a successful token endpoint answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
}

// TokenRequest is a token request from an authenticated client.
type TokenRequest struct {
	Form       FormValues
	Client     *AuthenticatedClient
	RemoteAddr string
	// Policy is the policy in force for this request (read once).
	Policy Policy
	// Resources are the request's resource parameters (RFC 8707),
	// canonical, sorted, without duplicates; Audience its audience
	// parameters as sent (RFC 8693 token exchange). Form.Get gives only
	// the first of each.
	Resources []string
	Audience  []string
	// DPoPJkt is the thumbprint of the key of the request's valid DPoP
	// proof ("" for none): the access token is bound to it (RFC 9449).
	DPoPJkt string
}

// FormValues is the request body (url.Values without the ambiguity: the
// token endpoint refuses repeated parameters before grants see them; the
// repeatable ones reach grants as TokenRequest.Resources and Audience).
type FormValues interface {
	Get(key string) string
}

// GrantHandler handles one grant_type at the token endpoint. A new
// built-in grant is one file implementing it plus one line in
// builtinGrants; an extension grant is registered with RegisterGrant.
type GrantHandler interface {
	// Info names the grant (its grant_type is Info().ID) and explains it
	// to developers choosing grants in the dashboard.
	Info() GrantTypeInfo
	// Enabled reports whether the grant is switched on by the settings
	// (unsupported_grant_type otherwise).
	Enabled(pol Policy) bool
	// Handle issues tokens for the request.
	Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error)
}

// RegisterGrant makes a grant type (h.Info().ID) available at the token
// endpoint.
func (s *Server) RegisterGrant(h GrantHandler) { s.grants[h.Info().ID] = h }

// Token is the token endpoint (RFC 6749 §3.2): it refuses repeated
// parameters, finds the grant, authenticates the client, checks that the
// client may use the grant, and lets the grant issue the tokens.
func (s *Server) Token(ctx context.Context, r *ClientRequest) (*TokenResponse, error) {
	if dup, ok := singleValues(r.Form); !ok {
		return nil, ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", truncate(dup, 32))
	}
	gt := r.Form.Get("grant_type")
	if gt == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no grant_type")
	}
	h, ok := s.grants[gt]
	if !ok {
		return nil, ErrUnsupportedGrantType.WithDescription("grant_type %q is not supported", truncate(gt, 64))
	}
	pol, perr := s.loadPolicy(ctx)
	if perr != nil {
		return nil, perr
	}
	if !h.Enabled(pol) {
		return nil, ErrUnsupportedGrantType.WithDescription("grant_type %q is disabled on this server", gt)
	}
	// The proof first: a use_dpop_nonce answer must not spend the
	// client's assertion (its jti), so that the client can retry the
	// same request with the nonce.
	jkt, derr := s.dpopProofAtTokenEndpoint(ctx, r.DPoP, pol)
	if derr != nil {
		return nil, derr
	}
	client, cerr := s.AuthenticateClient(ctx, r)
	if cerr != nil {
		return nil, cerr
	}
	if !client.HasGrant(gt) {
		return nil, ErrUnauthorizedClient.WithDescription("this client may not use the %s grant", gt)
	}
	resources, rerr := ParseResources(r.Form["resource"])
	if rerr != nil {
		return nil, rerr
	}
	if err := dpopRequired(client.Client, jkt); err != nil {
		return nil, err
	}
	return h.Handle(ctx, &TokenRequest{Form: r.Form, Client: client, RemoteAddr: r.RemoteAddr, Policy: pol, Resources: resources,
		Audience: r.Form["audience"], DPoPJkt: jkt})
}

// issue describes the tokens of one token response.
type issue struct {
	pol    Policy
	client *Client
	userID *int64
	// user is the user of userID when the grant loaded it already
	// (nil: loaded here when an ID token or JWT access token needs it).
	user  *User
	scope string
	// audience is the access token's audience (RFC 8707; none: the
	// token is for no particular resource), and refreshAudience the
	// refresh token's: the grant's whole audience, which a request may
	// have narrowed for the access token only.
	audience        []string
	refreshAudience []string
	familyID        string
	// sid is the browser session the grant came from ("" for none): the
	// tokens remember it and the ID token carries it.
	sid      string
	authTime *time.Time
	// refresh: also issue a refresh token expiring at refreshExpiry
	// (zero: refresh_token_lifetime from now).
	refresh       bool
	refreshScope  string // "" means scope
	refreshExpiry time.Time
	// accessExpiry caps the access token's expiry when not zero.
	accessExpiry time.Time
	// recheck: the family may be revoked concurrently (a replayed code,
	// a reused refresh token); look for its tombstone after storing.
	recheck bool
	// nonce is the authorization request's nonce, sent back in the ID
	// token of the code exchange (never on refresh).
	nonce string
	// noIDToken: the grant never answers with an ID token even for the
	// openid scope (implicit response_type=token, token exchange).
	noIDToken bool
	// jkt binds the access token to a DPoP key (RFC 9449; "" for a Bearer
	// token), and a public client's refresh token too (§5).
	jkt string
	// act is the act claim of delegated tokens (token exchange with an
	// actor token, RFC 8693 §4.1; nil for none): stored with the tokens,
	// and in JWT access tokens.
	act *Actor
}

// issueTokens stores the access token (and refresh token) of one response
// in one write and returns the response.
func (s *Server) issueTokens(ctx context.Context, in issue) (*TokenResponse, error) {
	pol := in.pol
	if in.userID == nil || len(in.audience) > 0 {
		all, err := s.listScopes(ctx)
		if err != nil {
			return nil, err
		}
		if in.userID == nil {
			// Every token without a user is issued here: the last check
			// that it carries only machine scopes the client lists (rule
			// 51), whichever grant made it.
			if e := checkMachineScope(all, in.client, strings.Fields(in.scope)); e != nil {
				return nil, e
			}
		}
		if len(in.audience) > 0 {
			// The access token carries only the scopes of its audience's
			// resources (and those of none): narrowed to some resources,
			// it must not take another's scopes along (RFC 8707 §2.2).
			// The refresh token keeps the grant's.
			if in.refreshScope == "" {
				in.refreshScope = in.scope
			}
			in.scope = scopeForAudience(all, in.scope, in.audience)
		}
	}
	now := s.now()
	exp := now.Add(pol.AccessTokenLifetime)
	if !in.accessExpiry.IsZero() && in.accessExpiry.Before(exp) {
		exp = in.accessExpiry
	}
	if in.familyID == "" {
		in.familyID = newFamilyID()
	}
	// The ID token (for the openid scope, when a user is involved) and a
	// JWT access token need the user.
	wantID := !in.noIDToken && in.userID != nil && s.signer != nil && hasOpenID(in.scope)
	jwt := pol.AccessTokenFormat == AccessTokenFormatJWT && s.signer != nil
	u := in.user
	if u == nil && in.userID != nil && (wantID || jwt) {
		var uerr error
		if u, uerr = s.activeUser(ctx, *in.userID, ErrInvalidGrant); uerr != nil {
			return nil, uerr
		}
	}
	access := ""
	if jwt {
		var e error
		if access, e = s.jwtAccessToken(ctx, in, u, now, exp); e != nil {
			return nil, e
		}
	} else {
		access = s.gen.AccessToken()
	}
	tokens := []*Token{{Hash: secret.Digest(access), Kind: KindAccess, ClientID: in.client.ID, UserID: in.userID,
		Scope: in.scope, FamilyID: in.familyID, SID: in.sid, Audience: in.audience, Act: storedAct(in.act), Jkt: in.jkt, AuthTime: in.authTime,
		IssuedAt: now, ExpiresAt: exp}}
	resp := &TokenResponse{AccessToken: access, TokenType: TokenTypeBearer, ExpiresIn: int64(exp.Sub(now) / time.Second), Scope: in.scope}
	if in.jkt != "" {
		resp.TokenType = TokenTypeDPoP
	}
	// A public client's refresh token is bound to the DPoP key too (RFC
	// 9449 §5): refreshing then needs a proof of it. A confidential
	// client's is bound by its authentication already.
	refreshJkt := ""
	if in.client.Public {
		refreshJkt = in.jkt
	}
	if in.refresh {
		rexp := in.refreshExpiry
		if rexp.IsZero() {
			rexp = now.Add(pol.RefreshTokenLifetime)
		}
		rscope := in.refreshScope
		if rscope == "" {
			rscope = in.scope
		}
		refresh := s.gen.RefreshToken()
		tokens = append(tokens, &Token{Hash: secret.Digest(refresh), Kind: KindRefresh, ClientID: in.client.ID, UserID: in.userID,
			Scope: rscope, FamilyID: in.familyID, SID: in.sid, Audience: in.refreshAudience, Act: storedAct(in.act), Jkt: refreshJkt,
			AuthTime: in.authTime, IssuedAt: now, ExpiresAt: rexp})
		resp.RefreshToken = refresh
	}
	if wantID {
		var e error
		if resp.IDToken, e = s.idToken(ctx, in, u, access, now); e != nil {
			return nil, e
		}
	}
	if err := s.model.SaveTokens(ctx, tokens...); err != nil {
		return nil, serverError(err)
	}
	if in.recheck {
		// A replay or reuse that revoked the family before these tokens
		// were stored could not revoke them: do it now. The request that
		// won the redemption still gets its (now dead) answer, so that of
		// concurrent redemptions exactly one succeeds.
		revoked, err := s.model.FamilyRevoked(ctx, in.familyID)
		if err != nil {
			return nil, serverError(err)
		}
		if revoked {
			if _, err := s.model.RevokeFamily(ctx, in.familyID, now); err != nil {
				return nil, serverError(err)
			}
		}
	}
	return resp, nil
}

// activeUser loads the user of a grant or token; a deleted or disabled
// user makes it invalid, answered with base (invalid_grant at the token
// endpoint, invalid_token at resources).
func (s *Server) activeUser(ctx context.Context, id int64, base *Error) (*User, error) {
	u, err := s.model.GetUserByID(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return nil, base.WithDescription("the user of this grant no longer exists")
		}
		return nil, serverError(err)
	}
	if u.Disabled {
		return nil, base.WithDescription("the user of this grant is disabled")
	}
	return u, nil
}

// narrowScope applies a request's scope parameter to a granted scope:
// omitted keeps it, a subset narrows it, anything wider is invalid_scope
// ("wider than <than>").
func narrowScope(param string, granted []string, than string) ([]string, error) {
	if param == "" {
		return granted, nil
	}
	asked, err := ParseScope(param)
	if err != nil {
		return nil, err
	}
	if !subset(asked, granted) {
		return nil, ErrInvalidScope.WithDescription("the requested scope is wider than %s", than)
	}
	return asked, nil
}
