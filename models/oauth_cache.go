package models

import (
	"context"
	"slices"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/oauth"
)

// Cache sizes: clients and scopes are few; users may be many, so their
// cache is bounded (it is dropped whole when full, see cache.Map).
const (
	maxCachedClients = 10000
	maxCachedUsers   = 100000
	maxCachedTokens  = 50000
)

// CachedOAuthModel is the OAuthModel with clients, users (by ID), the
// scope list and the resource list served from memory while their counters in the cache_state
// row stay the same (see app/cache): one primary-key read per request
// replaces a client read, a user read and a scope listing, and a change
// made anywhere (another instance, the CLI) is seen by the next request.
// Access tokens are cached too, under the tokens counter, which moves
// whenever a token is revoked or deleted: revocation takes effect on the
// next request everywhere. Refresh tokens (rotated on use), codes and
// consents are never cached. Every other method is OAuthModel's.
type CachedOAuthModel struct {
	OAuthModel
	versions *cache.Versions
	clients  *cache.Map[string, *oauth.Client]
	users    *cache.Map[int64, *oauth.User]
	scopes   *cache.Value[[]oauth.Scope]
	// resources are cached under the scopes counter, which every change
	// of the resources table moves too (migration 10's triggers).
	resources *cache.Value[[]oauth.Resource]
	tokens    *cache.Map[[32]byte, *oauth.Token]
}

var _ oauth.Model = (*CachedOAuthModel)(nil)

// NewCachedOAuthModel returns the caching model over st.
func NewCachedOAuthModel(st *Store, versions *cache.Versions) *CachedOAuthModel {
	return &CachedOAuthModel{
		OAuthModel: OAuthModel{S: st},
		versions:   versions,
		clients:    cache.NewMap[string, *oauth.Client](maxCachedClients),
		users:      cache.NewMap[int64, *oauth.User](maxCachedUsers),
		scopes:     &cache.Value[[]oauth.Scope]{},
		resources:  &cache.Value[[]oauth.Resource]{},
		tokens:     cache.NewMap[[32]byte, *oauth.Token](maxCachedTokens),
	}
}

// GetClient implements oauth.ClientModel from the cache. The caller gets
// its own copy of the client (its lists are shared and must not be
// changed).
func (m *CachedOAuthModel) GetClient(ctx context.Context, clientID string) (*oauth.Client, error) {
	vec, err := m.versions.Current(ctx)
	if err != nil {
		return nil, err
	}
	c, ok := m.clients.Get(vec.Clients, clientID)
	if !ok {
		if c, err = m.OAuthModel.GetClient(ctx, clientID); err != nil {
			return nil, err
		}
		m.clients.Put(vec.Clients, clientID, c)
	}
	cp := *c
	return &cp, nil
}

// GetUserByID implements oauth.UserModel from the cache (a copy each
// time).
func (m *CachedOAuthModel) GetUserByID(ctx context.Context, id int64) (*oauth.User, error) {
	vec, err := m.versions.Current(ctx)
	if err != nil {
		return nil, err
	}
	u, ok := m.users.Get(vec.Users, id)
	if !ok {
		if u, err = m.OAuthModel.GetUserByID(ctx, id); err != nil {
			return nil, err
		}
		m.users.Put(vec.Users, id, u)
	}
	cp := *u
	return &cp, nil
}

// ListScopes implements oauth.ScopeModel from the cache (a copy each
// time).
func (m *CachedOAuthModel) ListScopes(ctx context.Context) ([]oauth.Scope, error) {
	vec, err := m.versions.Current(ctx)
	if err != nil {
		return nil, err
	}
	all, ok := m.scopes.Get(vec.Scopes)
	if !ok {
		if all, err = m.OAuthModel.ListScopes(ctx); err != nil {
			return nil, err
		}
		m.scopes.Put(vec.Scopes, all)
	}
	return slices.Clone(all), nil
}

// ListResources implements oauth.ResourceModel from the cache (a copy
// each time), under the scopes counter.
func (m *CachedOAuthModel) ListResources(ctx context.Context) ([]oauth.Resource, error) {
	vec, err := m.versions.Current(ctx)
	if err != nil {
		return nil, err
	}
	all, ok := m.resources.Get(vec.Scopes)
	if !ok {
		if all, err = m.OAuthModel.ListResources(ctx); err != nil {
			return nil, err
		}
		m.resources.Put(vec.Scopes, all)
	}
	return slices.Clone(all), nil
}

// GetToken implements oauth.TokenModel, serving access tokens from the
// cache (a copy each time). Unknown hashes are not cached.
func (m *CachedOAuthModel) GetToken(ctx context.Context, hash []byte) (*oauth.Token, error) {
	if len(hash) != 32 {
		return m.OAuthModel.GetToken(ctx, hash)
	}
	vec, err := m.versions.Current(ctx)
	if err != nil {
		return nil, err
	}
	key := [32]byte(hash)
	t, ok := m.tokens.Get(vec.Tokens, key)
	if !ok {
		if t, err = m.OAuthModel.GetToken(ctx, hash); err != nil {
			return nil, err
		}
		if t.Kind != oauth.KindAccess {
			return t, nil
		}
		m.tokens.Put(vec.Tokens, key, t)
	}
	cp := *t
	cp.Audience = slices.Clone(t.Audience)
	return &cp, nil
}
