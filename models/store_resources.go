package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
)

// Resources (RFC 8707): the registered APIs tokens can be issued for. The
// built-in {issuer}/api is not a row: scopes name it by
// oauth.BuiltinResourcePath. A resource's URI cannot change (tokens carry
// it as their audience); it cannot be deleted while scopes belong to it.

func (r *Resource) normalize() {
	r.CreatedAt = ts(r.CreatedAt)
	r.UpdatedAt = ts(r.UpdatedAt)
}

// resourceColumns are the columns UpdateResource writes.
var resourceColumns = []string{"name", "description", "icon", "updated_at"}

// ListResources returns every registered resource ordered by URI (the
// built-in {issuer}/api is not stored).
func (s *Store) ListResources(ctx context.Context) ([]Resource, error) {
	var out []Resource
	if err := s.conn(ctx).Order("uri").Find(&out).Error; err != nil {
		return nil, wrapErr(err, "resources")
	}
	for i := range out {
		out[i].normalize()
	}
	return out, nil
}

// CreateResource inserts r (its URI canonical, see oauth.CanonicalResource)
// and sets its ID; CreatedAt and UpdatedAt are set to now when zero. A
// registered URI gives ErrAlreadyExists.
func (s *Store) CreateResource(ctx context.Context, r *Resource) error {
	r.CreatedAt = s.orNow(r.CreatedAt)
	r.UpdatedAt = s.orNow(r.UpdatedAt)
	r.normalize()
	return wrapErr(s.conn(ctx).Create(r).Error, fmt.Sprintf("resource %q", r.URI))
}

// GetResource returns the resource with that (canonical) URI, or
// ErrNotFound.
func (s *Store) GetResource(ctx context.Context, uri string) (*Resource, error) {
	var r Resource
	if err := s.conn(ctx).Where("uri = ?", uri).Take(&r).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("resource %q", uri))
	}
	r.normalize()
	return &r, nil
}

// GetResourceByID returns the resource with that ID, or ErrNotFound.
func (s *Store) GetResourceByID(ctx context.Context, id int64) (*Resource, error) {
	var r Resource
	if err := s.conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("resource %d", id))
	}
	r.normalize()
	return &r, nil
}

// UpdateResource changes the resource with that URI through fn (see
// updateRow): nothing is written when fn returns an error. UpdatedAt is
// set to now; ID, URI and CreatedAt cannot be changed.
func (s *Store) UpdateResource(ctx context.Context, uri string, fn func(*Resource) error) error {
	entity := fmt.Sprintf("resource %q", uri)
	return updateRow(ctx, s, entity, "uri = ?", uri, fn, func(tx *gorm.DB, old, r *Resource) error {
		if r.URI != old.URI {
			return fmt.Errorf("%s: the URI cannot be changed", entity)
		}
		r.ID = old.ID
		r.UpdatedAt = s.now()
		r.normalize()
		return wrapErr(tx.Model(r).Select(resourceColumns).Updates(r).Error, entity)
	})
}

// ResourceInUseError is returned by DeleteResource while scopes belong to
// the resource: they would name a resource that no longer exists. It
// wraps store.ErrConflict.
type ResourceInUseError struct {
	URI string
	// Scopes are the IDs of the scopes that belong to it, ordered.
	Scopes []string
}

func (e *ResourceInUseError) Error() string {
	return fmt.Sprintf("resource %q has scopes %s: %v", e.URI, strings.Join(e.Scopes, ", "), store.ErrConflict)
}

// Unwrap makes errors.Is(err, store.ErrConflict) true.
func (e *ResourceInUseError) Unwrap() error { return store.ErrConflict }

// UnknownResourceError is returned by CreateScope and UpdateScope when the
// scope's resource is neither "", the built-in one nor registered. It
// wraps store.ErrNotFound.
type UnknownResourceError struct{ URI string }

func (e *UnknownResourceError) Error() string {
	return fmt.Sprintf("resource %q: %v", e.URI, store.ErrNotFound)
}

// Unwrap makes errors.Is(err, store.ErrNotFound) true.
func (e *UnknownResourceError) Unwrap() error { return store.ErrNotFound }

// DeleteResource deletes the resource with that URI. It refuses with a
// *ResourceInUseError (and changes nothing) while scopes belong to it, and
// returns ErrNotFound when there is no such resource. The resource's row
// is locked first, as CreateScope and UpdateScope lock it, so that no
// scope can join a resource being deleted.
func (s *Store) DeleteResource(ctx context.Context, uri string) error {
	entity := fmt.Sprintf("resource %q", uri)
	return s.Tx(ctx, func(tx *Store) error {
		var r Resource
		if err := tx.forUpdate(tx.conn(ctx)).Where("uri = ?", uri).Take(&r).Error; err != nil {
			return wrapErr(err, entity)
		}
		var ids []string
		if err := tx.conn(ctx).Model(&Scope{}).Where("resource = ?", uri).Order("scope_id").Pluck("scope_id", &ids).Error; err != nil {
			return wrapErr(err, entity)
		}
		if len(ids) > 0 {
			return &ResourceInUseError{URI: uri, Scopes: ids}
		}
		return wrapErr(tx.conn(ctx).Where("id = ?", r.ID).Delete(&Resource{}).Error, entity)
	})
}

// checkScopeResource makes sure the resource a scope is stored with
// exists ("" and the built-in path always do), locking its row until the
// transaction ends (see DeleteResource).
func (s *Store) checkScopeResource(ctx context.Context, tx *gorm.DB, resource string) error {
	if resource == "" || resource == oauth.BuiltinResourcePath {
		return nil
	}
	var r Resource
	err := s.forUpdate(tx.WithContext(ctx)).Where("uri = ?", resource).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &UnknownResourceError{URI: resource}
	}
	return wrapErr(err, fmt.Sprintf("resource %q", resource))
}
