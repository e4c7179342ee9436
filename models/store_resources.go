package models

import (
	"context"
)

// ListResources returns every registered resource ordered by URI (the
// built-in {issuer}/api is not stored).
func (s *Store) ListResources(ctx context.Context) ([]Resource, error) {
	var out []Resource
	if err := s.conn(ctx).Order("uri").Find(&out).Error; err != nil {
		return nil, wrapErr(err, "resources")
	}
	return out, nil
}
