package oauth

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse/app/secret"
)

// TokenTypeAccessToken is RFC 8693's type URI for access tokens.
const TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// tokenExchangeGrant is an extension grant (RFC 6749 §4.5), and the
// example of how one is added: this file plus one line in builtinGrants. It
// implements the down-scoping case of RFC 8693 token exchange: a client
// trades one of its own access tokens for a new one with a subset of the
// scopes (and of the audience: resource and audience parameters) that
// expires no later. The new token joins the subject token's
// family, so revoking the grant revokes it too.
type tokenExchangeGrant struct{ s *Server }

var _ GrantHandler = tokenExchangeGrant{}

// Info implements GrantHandler.
func (tokenExchangeGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantTokenExchange, "Token exchange (down-scoping)", "Your app trades one of its access tokens for a shorter-lived token with fewer scopes (RFC 8693).", false}
}

func (tokenExchangeGrant) bind(s *Server) GrantHandler { return tokenExchangeGrant{s} }

func (tokenExchangeGrant) Enabled(Policy) bool { return true }

func (g tokenExchangeGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	subject := r.Form.Get("subject_token")
	if subject == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no subject_token")
	}
	if tt := r.Form.Get("subject_token_type"); tt != TokenTypeAccessToken {
		return nil, ErrInvalidRequest.WithDescription("subject_token_type must be %s", TokenTypeAccessToken)
	}
	if rt := r.Form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
		return nil, ErrInvalidRequest.WithDescription("only access tokens can be requested")
	}
	if r.Form.Get("actor_token") != "" {
		return nil, ErrInvalidRequest.WithDescription("actor_token is not supported")
	}
	// resource and audience (RFC 8693 §2.1) name where the new token is
	// for. Gatehouse's audiences are resource URIs, so both are resource
	// indicators here, canonicalised and checked like RFC 8707's: a
	// subset of the subject token's audience.
	requested, perr := ParseResources(append(append([]string(nil), r.Resources...), r.Audience...))
	if perr != nil {
		return nil, perr
	}
	t, err := s.model.GetToken(ctx, secret.Digest(subject))
	if err != nil {
		if isNotFound(err) {
			return nil, ErrInvalidGrant.WithDescription("the subject_token is invalid")
		}
		return nil, serverError(err)
	}
	now := s.now()
	if t.Kind != KindAccess || t.RevokedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, ErrInvalidGrant.WithDescription("the subject_token is invalid, expired or revoked")
	}
	if t.ClientID != r.Client.ID {
		return nil, ErrInvalidGrant.WithDescription("the subject_token was issued to another client")
	}
	// A DPoP-bound subject token is exchanged only with a proof of its
	// key: otherwise whoever stole it could trade it for an unbound one
	// (a public client authenticates with nothing else).
	if err := dpopKeyMatches(t.Jkt, r.DPoPJkt, "the subject_token"); err != nil {
		return nil, err
	}
	scope, serr := narrowScope(r.Form.Get("scope"), strings.Fields(t.Scope), "the subject token's")
	if serr != nil {
		return nil, serr
	}
	if t.UserID == nil {
		// A client-credentials token: the new one may carry only the
		// machine scopes the client lists now (rule 51).
		if scope, serr = s.machineSubset(ctx, r.Client.Client, scope, r.Form.Get("scope") != ""); serr != nil {
			return nil, serr
		}
	}
	if t.UserID != nil {
		if _, uerr := s.activeUser(ctx, *t.UserID, ErrInvalidGrant); uerr != nil {
			return nil, uerr
		}
	}
	aud, aerr := s.narrowAudience(ctx, t.Audience, requested, JoinScope(scope), true)
	if aerr != nil {
		return nil, aerr
	}
	resp, e := s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: t.UserID, scope: JoinScope(scope), familyID: t.FamilyID,
		sid: t.SID, authTime: t.AuthTime, accessExpiry: t.ExpiresAt, noIDToken: true, recheck: true, audience: aud,
		jkt: r.DPoPJkt})
	if e != nil {
		return nil, e
	}
	resp.IssuedTokenType = TokenTypeAccessToken
	return resp, nil
}

// machineSubset keeps the scopes a token without a user may still carry:
// the machine scopes the client lists now. When the request named the
// scopes (asked), one it may not have is invalid_scope instead; scopes
// only inherited from the subject token are dropped quietly, as a refresh
// drops scopes taken from a client.
func (s *Server) machineSubset(ctx context.Context, client *Client, scopes []string, asked bool) ([]string, error) {
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, err
	}
	if asked {
		if e := checkMachineScope(all, client, scopes); e != nil {
			return nil, e
		}
		return scopes, nil
	}
	allowed := machineScopes(all, client)
	out := scopes[:0:0]
	for _, sc := range scopes {
		if allowed[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}
