package models

import (
	"context"
	"fmt"
)

// InsertResourceForTest inserts a resources row as it is (the contract
// tests' Seeder: the registry's validating Create is another package's),
// with the store's error mapping (a taken URI is ErrAlreadyExists).
func InsertResourceForTest(ctx context.Context, s *Store, r *Resource) error {
	r.CreatedAt = s.orNow(r.CreatedAt)
	r.UpdatedAt = s.orNow(r.UpdatedAt)
	return wrapErr(s.conn(ctx).Create(r).Error, fmt.Sprintf("resource %q", r.URI))
}
