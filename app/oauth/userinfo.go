package oauth

import "slices"

// UserInfoResponse is the UserInfo answer (OIDC Core §5.3.2): sub, and
// the claims of the scopes granted (§5.4).
type UserInfoResponse struct {
	Subject string `json:"sub"`
	UserClaims
}

// UserInfo answers the UserInfo endpoint for a checked access token
// (AuthenticateAccessToken). The token must have been issued for a user
// with the openid scope (insufficient_scope otherwise, naming openid).
func (s *Server) UserInfo(a *Access) (*UserInfoResponse, error) {
	if a.User == nil {
		return nil, &ScopeError{Err: ErrInsufficientScope.WithDescription("UserInfo needs a token issued for a user; client-credentials tokens have none")}
	}
	if !slices.Contains(a.Scopes, ScopeOpenID) {
		return nil, &ScopeError{Err: ErrInsufficientScope.WithDescription("UserInfo needs a token with the openid scope"), Needed: []string{ScopeOpenID}}
	}
	return &UserInfoResponse{Subject: a.User.Subject, UserClaims: userClaims(a.User, a.Scopes)}, nil
}
