package models

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/store"
)

// Store methods behind the admin dashboard (users, scopes) and the
// authorized-apps page.

// ErrLastAdmin is returned (wrapping store.ErrConflict) when a change would
// leave no enabled admin.
var ErrLastAdmin = fmt.Errorf("the last enabled admin cannot be demoted or disabled: %w", store.ErrConflict)

// UpdateUserKeepingAdmin is UpdateUser that refuses, with ErrLastAdmin and
// without writing anything, a change that would leave no enabled admin
// (demoting or disabling the only one). It is safe against concurrent
// calls: on PostgreSQL the rows of the enabled admins are locked (FOR
// UPDATE, in ID order) before the check, so of two transactions demoting
// the last two admins the second sees the first's result; SQLite
// transactions hold the database's write lock from their start.
func (s *Store) UpdateUserKeepingAdmin(ctx context.Context, id int64, fn func(*User) error) error {
	return s.Tx(ctx, func(tx *Store) error {
		var admins []int64
		err := tx.forUpdate(tx.conn(ctx).Model(&User{})).
			Where("role = ? AND disabled = ?", RoleAdmin, false).
			Order("id").Pluck("id", &admins).Error
		if err != nil {
			return wrapErr(err, "lock admins")
		}
		var after User
		err = tx.UpdateUser(ctx, id, func(u *User) error {
			if err := fn(u); err != nil {
				return err
			}
			after = *u
			return nil
		})
		if err != nil {
			return err
		}
		wasAdmin := slices.Contains(admins, id)
		stillAdmin := after.Role == RoleAdmin && !after.Disabled
		if wasAdmin && !stillAdmin && len(admins) <= 1 {
			return ErrLastAdmin // rolls the update back
		}
		return nil
	})
}

// withScope keeps the clients whose scope list contains scopeID.
func (s *Store) withScope(db *gorm.DB, scopeID string) *gorm.DB {
	if s.dialect == DialectPostgres {
		one, _ := json.Marshal([]string{scopeID})
		return db.Where("scopes @> CAST(? AS jsonb)", string(one))
	}
	return db.Where("EXISTS (SELECT 1 FROM json_each(clients.scopes) WHERE json_each.value = ?)", scopeID)
}

// ScopeClientUse counts the clients that may ask for a scope.
type ScopeClientUse struct {
	Listed   int64 // clients whose scope list names the scope
	AnyScope int64 // clients with an empty list, which may ask for any scope
}

// Total is every client that may ask for the scope.
func (u ScopeClientUse) Total() int64 { return u.Listed + u.AnyScope }

// ScopeClientUsage counts the clients that may ask for scopeID: those
// whose scope list names it, and those whose list is empty, since an empty
// list allows every scope (SPEC.md §5; oauth.ValidateScope).
func (s *Store) ScopeClientUsage(ctx context.Context, scopeID string) (ScopeClientUse, error) {
	entity := fmt.Sprintf("clients of scope %q", scopeID)
	var u ScopeClientUse
	if err := s.withScope(s.conn(ctx).Model(&Client{}), scopeID).Count(&u.Listed).Error; err != nil {
		return ScopeClientUse{}, wrapErr(err, entity)
	}
	empty := "json_array_length(clients.scopes) = 0" // 0 for "null" too
	if s.dialect == DialectPostgres {
		empty = "clients.scopes IN ('[]'::jsonb, 'null'::jsonb)"
	}
	if err := s.conn(ctx).Model(&Client{}).Where(empty).Count(&u.AnyScope).Error; err != nil {
		return ScopeClientUse{}, wrapErr(err, entity)
	}
	return u, nil
}

// ClientsLimitedToScope returns the clients whose scope list holds
// scopeID and nothing else, ordered by name. Removing the scope from their
// list would leave it empty, which means "any scope" (SPEC.md §5).
func (s *Store) ClientsLimitedToScope(ctx context.Context, scopeID string) ([]Client, error) {
	var clients []Client
	if err := s.withScope(s.conn(ctx).Model(&Client{}), scopeID).Order("name").Order("client_id").Find(&clients).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("clients of scope %q", scopeID))
	}
	out := []Client{}
	for _, c := range clients {
		c.normalize()
		if len(c.Scopes) > 0 && !slices.ContainsFunc(c.Scopes, func(x string) bool { return x != scopeID }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// ClientsListingScope returns the clients whose scope list names
// scopeID, ordered by name.
func (s *Store) ClientsListingScope(ctx context.Context, scopeID string) ([]Client, error) {
	clients := []Client{}
	if err := s.withScope(s.conn(ctx).Model(&Client{}), scopeID).Order("name").Order("client_id").Find(&clients).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("clients of scope %q", scopeID))
	}
	for i := range clients {
		clients[i].normalize()
	}
	return clients, nil
}

// ScopeInUseError is returned by DeleteScopeDetached when the scope is the
// only one some clients may request: removing it from their lists would
// let them request any scope. It wraps store.ErrConflict.
type ScopeInUseError struct {
	ScopeID string
	// Clients are the client IDs limited to the scope, ordered by name.
	Clients []string
}

func (e *ScopeInUseError) Error() string {
	return fmt.Sprintf("scope %q is the only scope of client(s) %s: %v", e.ScopeID, strings.Join(e.Clients, ", "), store.ErrConflict)
}

// Unwrap makes errors.Is(err, store.ErrConflict) true.
func (e *ScopeInUseError) Unwrap() error { return store.ErrConflict }

// DeleteScopeDetached deletes the scope and, in the same transaction,
// removes it from the scope list of every client that lists it, so that a
// scope created later with the same ID is not silently granted to them.
// It returns how many clients it changed. It refuses with a
// *ScopeInUseError (and changes nothing) when the scope is some client's
// only scope, and returns ErrNotFound when there is no such scope. Tokens
// and consents naming the scope are left as they are.
func (s *Store) DeleteScopeDetached(ctx context.Context, scopeID string) (int64, error) {
	entity := fmt.Sprintf("scope %q", scopeID)
	var changed int64
	err := s.Tx(ctx, func(tx *Store) error {
		var sc Scope
		if err := tx.forUpdate(tx.conn(ctx)).Where("scope_id = ?", scopeID).Take(&sc).Error; err != nil {
			return wrapErr(err, entity)
		}
		var clients []Client
		if err := tx.forUpdate(tx.withScope(tx.conn(ctx).Model(&Client{}), scopeID)).Order("name").Order("client_id").Find(&clients).Error; err != nil {
			return wrapErr(err, entity)
		}
		var sole []string
		for i := range clients {
			c := &clients[i]
			c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(x string) bool { return x == scopeID })
			if len(c.Scopes) == 0 {
				sole = append(sole, c.ClientID)
			}
		}
		if len(sole) > 0 {
			return &ScopeInUseError{ScopeID: scopeID, Clients: sole}
		}
		now := tx.now()
		for i := range clients {
			c := &clients[i]
			c.UpdatedAt = now
			c.normalize()
			if err := tx.conn(ctx).Model(c).Select("scopes", "updated_at").Updates(c).Error; err != nil {
				return wrapErr(err, fmt.Sprintf("client %q", c.ClientID))
			}
		}
		if err := tx.conn(ctx).Where("id = ?", sc.ID).Delete(&Scope{}).Error; err != nil {
			return wrapErr(err, entity)
		}
		changed = int64(len(clients))
		return nil
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}

// GetClientsByID returns the clients with those client IDs, keyed by
// client ID, in one query; IDs without a client are absent from the map.
func (s *Store) GetClientsByID(ctx context.Context, clientIDs []string) (map[string]*Client, error) {
	out := make(map[string]*Client, len(clientIDs))
	if len(clientIDs) == 0 {
		return out, nil
	}
	var clients []Client
	if err := s.conn(ctx).Where("client_id IN ?", clientIDs).Find(&clients).Error; err != nil {
		return nil, wrapErr(err, "get clients")
	}
	for i := range clients {
		clients[i].normalize()
		out[clients[i].ClientID] = &clients[i]
	}
	return out, nil
}

// CancelUserClientGrants withdraws what the user approved for the client
// and has not been exchanged yet: unredeemed authorization codes are
// deleted and approved device authorizations become denied. With
// RevokeUserClientTokens and DeleteConsent it completes revoking an app's
// access. It returns how many codes it affected.
func (s *Store) CancelUserClientGrants(ctx context.Context, userID int64, clientID string) (int64, error) {
	return s.cancelUserGrants(ctx, userID, &clientID)
}

// cancelUserGrants is CancelUserClientGrants for one client, or for
// every client when clientID is nil.
func (s *Store) cancelUserGrants(ctx context.Context, userID int64, clientID *string) (int64, error) {
	entity := "grants of the user"
	where := func(db *gorm.DB) *gorm.DB { return db.Where("user_id = ?", userID) }
	if clientID != nil {
		entity = fmt.Sprintf("grants of client %q", *clientID)
		where = func(db *gorm.DB) *gorm.DB { return db.Where("user_id = ? AND client_id = ?", userID, *clientID) }
	}
	var n int64
	err := s.Tx(ctx, func(tx *Store) error {
		res := where(tx.conn(ctx)).Where("redeemed_at IS NULL").Delete(&AuthorizationCode{})
		if res.Error != nil {
			return wrapErr(res.Error, entity)
		}
		n = res.RowsAffected
		res = where(tx.conn(ctx).Model(&DeviceCode{})).Where("status = ?", DeviceApproved).Update("status", DeviceDenied)
		if res.Error != nil {
			return wrapErr(res.Error, entity)
		}
		n += res.RowsAffected
		return nil
	})
	return n, err
}

// RevokeApp ends the user's authorization of the client in one
// transaction: the consent is deleted, every token the client holds for
// the user is revoked at now, and pending codes are cancelled
// (CancelUserClientGrants). It returns ErrNotFound, changing nothing, when
// the user has no consent for the client, and the number of tokens revoked.
func (s *Store) RevokeApp(ctx context.Context, userID int64, clientID string, now time.Time) (int64, error) {
	var revoked int64
	err := s.Tx(ctx, func(tx *Store) error {
		if err := tx.DeleteConsent(ctx, userID, clientID); err != nil {
			return err
		}
		n, err := tx.RevokeUserClientTokens(ctx, userID, clientID, now)
		if err != nil {
			return err
		}
		revoked = n
		_, err = tx.CancelUserClientGrants(ctx, userID, clientID)
		return err
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}
