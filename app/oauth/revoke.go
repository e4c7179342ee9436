package oauth

import (
	"context"

	"github.com/gatehouse/gatehouse/app/secret"
)

// Revoke is the revocation endpoint (RFC 7009 §2): an authenticated
// client (public clients too, §5) revokes one of its own tokens. Revoking
// a refresh token revokes the whole grant: every access and refresh token
// of its family (§2.1). Unknown tokens, tokens already revoked and tokens
// of other clients are answered like a success, and nothing happens
// (§2.2): the answer tells the caller nothing about other clients'
// tokens. token_type_hint is accepted and not needed: tokens are found by
// hash whatever their kind.
func (s *Server) Revoke(ctx context.Context, r *ClientRequest) error {
	plain, client, e := s.tokenRequest(ctx, r)
	if e != nil {
		return e
	}
	hash := secret.Digest(plain)
	t, err := s.model.GetToken(ctx, hash)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return serverError(err)
	}
	if t.ClientID != client.ID || t.RevokedAt != nil {
		return nil
	}
	now := s.now()
	if t.Kind == KindRefresh {
		_, err = s.model.RevokeFamily(ctx, t.FamilyID, now)
	} else {
		err = s.model.RevokeToken(ctx, hash, now)
	}
	if err != nil && !isNotFound(err) {
		return serverError(err)
	}
	return nil
}

// Discard revokes the tokens of a response that will not be sent (issued
// on a speculation that turned out stale, see app/cache.Speculate).
func (s *Server) Discard(ctx context.Context, resp *TokenResponse) error {
	now := s.now()
	for _, plain := range []string{resp.AccessToken, resp.RefreshToken} {
		if plain == "" {
			continue
		}
		if err := s.model.RevokeToken(ctx, secret.Digest(plain), now); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}
