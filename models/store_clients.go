package models

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// ClientFilter selects clients for ListClients.
type ClientFilter struct {
	// OwnerID keeps the clients of that user when not nil.
	OwnerID *int64
	// Query keeps clients whose name or client ID contains it, ignoring
	// case (of ASCII letters only on SQLite).
	Query string
	// Offset and Limit select a page; Limit 0 means DefaultPageSize and
	// is capped at MaxPageSize.
	Offset, Limit int
}

// clientColumns are the columns UpdateClient writes.
var clientColumns = []string{"secret_hash", "secret_hint", "name", "description", "icon", "homepage",
	"redirect_uris", "grant_types", "scopes", "public", "owner_id", "secret_rotated_at",
	"post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required",
	"frontchannel_logout_uri", "frontchannel_logout_session_required", "refresh_token_reuse_seconds", "updated_at",
	"registration", "registration_token_hash", "client_metadata",
	"token_endpoint_auth_method", "secret_sealed", "jwks", "jwks_uri", "id_token_signed_response_alg",
	"dpop_bound_access_tokens", "require_pushed_authorization_requests", "may_act"}

func (c *Client) normalize() {
	c.RedirectURIs = nonNil(c.RedirectURIs)
	c.GrantTypes = nonNil(c.GrantTypes)
	c.Scopes = nonNil(c.Scopes)
	c.PostLogoutRedirectURIs = nonNil(c.PostLogoutRedirectURIs)
	c.MayAct = nonNil(c.MayAct)
	c.SecretRotatedAt = tsp(c.SecretRotatedAt)
	c.CreatedAt = ts(c.CreatedAt)
	c.UpdatedAt = ts(c.UpdatedAt)
}

// CreateClient inserts c and sets its ID. Nil lists are stored as empty
// lists; CreatedAt and UpdatedAt are set to now when zero. A taken client
// ID gives ErrAlreadyExists.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	c.CreatedAt = s.orNow(c.CreatedAt)
	c.UpdatedAt = s.orNow(c.UpdatedAt)
	c.normalize()
	return wrapErr(s.conn(ctx).Create(c).Error, fmt.Sprintf("client %q", c.ClientID))
}

// GetClient returns the client with that client ID, or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, clientID string) (*Client, error) {
	var c Client
	if err := s.conn(ctx).Where("client_id = ?", clientID).Take(&c).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("client %q", clientID))
	}
	c.normalize()
	return &c, nil
}

func clientFilter(f ClientFilter) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		db = db.Model(&Client{})
		if f.OwnerID != nil {
			db = db.Where("owner_id = ?", *f.OwnerID)
		}
		if f.Query != "" {
			p := containsPattern(f.Query)
			db = db.Where(`lower(name) LIKE ? ESCAPE '\' OR lower(client_id) LIKE ? ESCAPE '\'`, p, p)
		}
		return db
	}
}

// ListClients returns one page of the clients matching f, ordered by name
// then client ID, and how many clients match f in all.
func (s *Store) ListClients(ctx context.Context, f ClientFilter) ([]Client, int64, error) {
	var total int64
	if err := s.conn(ctx).Scopes(clientFilter(f)).Count(&total).Error; err != nil {
		return nil, 0, wrapErr(err, "list clients")
	}
	offset, limit := pageOf(f.Offset, f.Limit)
	clients := []Client{}
	err := s.conn(ctx).Scopes(clientFilter(f)).Order("name").Order("client_id").Offset(offset).Limit(limit).Find(&clients).Error
	if err != nil {
		return nil, 0, wrapErr(err, "list clients")
	}
	for i := range clients {
		clients[i].normalize()
	}
	return clients, total, nil
}

// CountClients counts all clients, or those of one owner when ownerID is
// not nil.
func (s *Store) CountClients(ctx context.Context, ownerID *int64) (int64, error) {
	var n int64
	err := s.conn(ctx).Scopes(clientFilter(ClientFilter{OwnerID: ownerID})).Count(&n).Error
	return n, wrapErr(err, "count clients")
}

// UpdateClient changes the client with that client ID through fn (see
// updateRow): nothing is written when fn returns an error. UpdatedAt is set
// to now; ID, ClientID and CreatedAt cannot be changed.
func (s *Store) UpdateClient(ctx context.Context, clientID string, fn func(*Client) error) error {
	entity := fmt.Sprintf("client %q", clientID)
	return updateRow(ctx, s, entity, "client_id = ?", clientID, fn, func(tx *gorm.DB, old, c *Client) error {
		if c.ClientID != old.ClientID {
			return fmt.Errorf("%s: the client ID cannot be changed", entity)
		}
		c.ID = old.ID
		c.UpdatedAt = s.now()
		c.normalize()
		if err := tx.Model(c).Select(clientColumns).Updates(c).Error; err != nil {
			return wrapErr(err, entity)
		}
		return dropConsentsOnNewRedirect(tx, old, c)
	})
}

// dropConsentsOnNewRedirect deletes the users' consents to a client that
// described itself (dynamic registration, a metadata document) when its
// redirect URIs gain one: whoever controls its metadata now must not
// receive codes silently at an address the users never saw (remembered
// consent and prompt=none would send them there).
func dropConsentsOnNewRedirect(tx *gorm.DB, old, c *Client) error {
	if old.Registration == ClientRegisteredByAdmin {
		return nil
	}
	for _, u := range c.RedirectURIs {
		if !slices.Contains(old.RedirectURIs, u) {
			return wrapErr(tx.Where("client_id = ?", c.ClientID).Delete(&Consent{}).Error, fmt.Sprintf("consents of client %q", c.ClientID))
		}
	}
	return nil
}

// DeleteClient deletes the client with that client ID together with its
// authorization codes, tokens, consents and device codes. It returns
// ErrNotFound when there is no such client.
func (s *Store) DeleteClient(ctx context.Context, clientID string) error {
	entity := fmt.Sprintf("client %q", clientID)
	res := s.conn(ctx).Where("client_id = ?", clientID).Delete(&Client{})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 0 {
		return notFound(entity)
	}
	return nil
}

// ClientOwnerNames returns the usernames of the owners of clients, by user
// ID, in one query. Clients without an owner (or whose owner was deleted)
// have no entry.
func (s *Store) ClientOwnerNames(ctx context.Context, clients []Client) (map[int64]string, error) {
	names := map[int64]string{}
	var ids []int64
	for _, c := range clients {
		if c.OwnerID != nil {
			ids = append(ids, *c.OwnerID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return names, nil
	}
	var rows []struct {
		ID       int64
		Username string
	}
	if err := s.conn(ctx).Model(&User{}).Select("id", "username").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, wrapErr(err, "client owners")
	}
	for _, r := range rows {
		names[r.ID] = r.Username
	}
	return names, nil
}

// ClientUsage is what deleting a client takes away.
type ClientUsage struct {
	// ActiveTokens counts unrevoked, unexpired access and refresh tokens.
	ActiveTokens int64
	// Consents counts the users who authorized the client.
	Consents int64
}

// GetClientUsage counts the client's active tokens and consents.
func (s *Store) GetClientUsage(ctx context.Context, clientID string) (ClientUsage, error) {
	entity := fmt.Sprintf("usage of client %q", clientID)
	var u ClientUsage
	err := s.conn(ctx).Model(&Token{}).
		Where("client_id = ? AND revoked_at IS NULL AND expires_at > ?", clientID, s.now()).
		Count(&u.ActiveTokens).Error
	if err != nil {
		return ClientUsage{}, wrapErr(err, entity)
	}
	if err := s.conn(ctx).Model(&Consent{}).Where("client_id = ?", clientID).Count(&u.Consents).Error; err != nil {
		return ClientUsage{}, wrapErr(err, entity)
	}
	return u, nil
}

// scopeColumns are the columns UpdateScope writes.
var scopeColumns = []string{"name", "description", "icon", "resource_path", "method", "resource", "is_default", "machine", "updated_at"}

func (sc *Scope) normalize() {
	sc.CreatedAt = ts(sc.CreatedAt)
	sc.UpdatedAt = ts(sc.UpdatedAt)
}

// CreateScope inserts sc and sets its ID; CreatedAt and UpdatedAt are set
// to now when zero. A taken scope ID gives ErrAlreadyExists; a resource
// (sc.Resource) that is neither "", the built-in path nor registered gives
// an *UnknownResourceError.
func (s *Store) CreateScope(ctx context.Context, sc *Scope) error {
	sc.CreatedAt = s.orNow(sc.CreatedAt)
	sc.UpdatedAt = s.orNow(sc.UpdatedAt)
	sc.normalize()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.checkScopeResource(ctx, tx, sc.Resource); err != nil {
			return err
		}
		return wrapErr(tx.Create(sc).Error, fmt.Sprintf("scope %q", sc.ScopeID))
	})
}

// GetScope returns the scope with that scope ID, or ErrNotFound.
func (s *Store) GetScope(ctx context.Context, scopeID string) (*Scope, error) {
	var sc Scope
	if err := s.conn(ctx).Where("scope_id = ?", scopeID).Take(&sc).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("scope %q", scopeID))
	}
	sc.normalize()
	return &sc, nil
}

// ListScopes returns every scope ordered by scope ID.
func (s *Store) ListScopes(ctx context.Context) ([]Scope, error) {
	scopes := []Scope{}
	if err := s.conn(ctx).Order("scope_id").Find(&scopes).Error; err != nil {
		return nil, wrapErr(err, "list scopes")
	}
	for i := range scopes {
		scopes[i].normalize()
	}
	return scopes, nil
}

// CountScopes counts the scopes.
func (s *Store) CountScopes(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&Scope{}).Count(&n).Error
	return n, wrapErr(err, "count scopes")
}

// UpdateScope changes the scope with that scope ID through fn (see
// updateRow): nothing is written when fn returns an error. UpdatedAt is set
// to now; ID, ScopeID and CreatedAt cannot be changed. A new resource that
// is not registered gives an *UnknownResourceError (see CreateScope).
func (s *Store) UpdateScope(ctx context.Context, scopeID string, fn func(*Scope) error) error {
	entity := fmt.Sprintf("scope %q", scopeID)
	return updateRow(ctx, s, entity, "scope_id = ?", scopeID, fn, func(tx *gorm.DB, old, sc *Scope) error {
		if sc.ScopeID != old.ScopeID {
			return fmt.Errorf("%s: the scope ID cannot be changed", entity)
		}
		if sc.Resource != old.Resource {
			if err := s.checkScopeResource(ctx, tx, sc.Resource); err != nil {
				return err
			}
		}
		sc.ID = old.ID
		sc.UpdatedAt = s.now()
		sc.normalize()
		return wrapErr(tx.Model(sc).Select(scopeColumns).Updates(sc).Error, entity)
	})
}

// DeleteScope deletes the scope with that scope ID, or returns ErrNotFound.
// Clients and tokens naming the scope are left as they are.
func (s *Store) DeleteScope(ctx context.Context, scopeID string) error {
	entity := fmt.Sprintf("scope %q", scopeID)
	res := s.conn(ctx).Where("scope_id = ?", scopeID).Delete(&Scope{})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 0 {
		return notFound(entity)
	}
	return nil
}

// ScopeUsage counts the clients whose scope list names the scope and the
// active (unrevoked, unexpired) tokens granting it.
func (s *Store) ScopeUsage(ctx context.Context, scopeID string) (clients int64, activeTokens int64, err error) {
	if err := s.withScope(s.conn(ctx).Model(&Client{}), scopeID).Count(&clients).Error; err != nil {
		return 0, 0, wrapErr(err, fmt.Sprintf("usage of scope %q", scopeID))
	}
	if activeTokens, err = s.ScopeActiveTokens(ctx, scopeID); err != nil {
		return 0, 0, err
	}
	return clients, activeTokens, nil
}

// ScopeActiveTokens counts the active (unrevoked, unexpired) tokens
// granting the scope.
func (s *Store) ScopeActiveTokens(ctx context.Context, scopeID string) (int64, error) {
	// The scope column is space-separated: pad it so that a whole word
	// is always surrounded by spaces. instr/strpos are case-sensitive,
	// as scope tokens are.
	find := "instr"
	if s.dialect == DialectPostgres {
		find = "strpos"
	}
	var n int64
	err := s.conn(ctx).Model(&Token{}).
		Where("revoked_at IS NULL AND expires_at > ?", s.now()).
		Where(find+"(' ' || scope || ' ', ?) > 0", " "+scopeID+" ").
		Count(&n).Error
	if err != nil {
		return 0, wrapErr(err, fmt.Sprintf("usage of scope %q", scopeID))
	}
	return n, nil
}

// DeleteImageIfUnused deletes the image with that ID unless a client's
// icon still points at it (iconPath, e.g. "/icons/<id>").
func (s *Store) DeleteImageIfUnused(ctx context.Context, id, iconPath string) error {
	err := s.conn(ctx).Exec("DELETE FROM images WHERE id = ? AND NOT EXISTS (SELECT 1 FROM clients WHERE icon = ?)", id, iconPath).Error
	return wrapErr(err, fmt.Sprintf("image %q", id))
}
