package oauth

import (
	"context"
)

// clientCredentialsGrant issues tokens to a confidential client acting
// for itself (RFC 6749 §4.4): no user, no refresh token, and only machine
// scopes the client lists (ValidateMachineScope).
type clientCredentialsGrant struct{ s *Server }

var _ GrantHandler = clientCredentialsGrant{}

// Info implements GrantHandler.
func (clientCredentialsGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantClientCredentials, "Client credentials", "Machine to machine: your confidential app acts on its own behalf, with no user.", false}
}

func (clientCredentialsGrant) bind(s *Server) GrantHandler { return clientCredentialsGrant{s} }

func (clientCredentialsGrant) Enabled(Policy) bool { return true }

func (g clientCredentialsGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	if r.Client.Public {
		return nil, ErrUnauthorizedClient.WithDescription("public clients cannot use the client_credentials grant")
	}
	asked, perr := ParseScope(r.Form.Get("scope"))
	if perr != nil {
		return nil, perr
	}
	scopes, serr := g.s.ValidateMachineScope(ctx, r.Client.Client, asked, r.Resources)
	if serr != nil {
		return nil, serr
	}
	aud, aerr := g.s.audienceOf(ctx, JoinScope(scopes), r.Resources)
	if aerr != nil {
		return nil, aerr
	}
	return g.s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, scope: JoinScope(scopes), audience: aud,
		jkt: r.DPoPJkt})
}
