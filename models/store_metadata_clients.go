package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// metadataClientColumns are the columns a Client ID Metadata Document
// refresh rewrites.
var metadataClientColumns = []string{"name", "icon", "homepage", "redirect_uris", "grant_types", "scopes", "public",
	"secret_hash", "client_metadata", "metadata_expires_at", "updated_at",
	"token_endpoint_auth_method", "jwks", "jwks_uri"}

// UpsertMetadataClient inserts c, a client described by its Client ID
// Metadata Document (Registration must be ClientMetadataDocument), or
// replaces the document's fields of the row with its client ID when that
// row is one too: two instances or requests storing the same document at
// once both succeed. A row with that client ID made any other way is left
// as it is, and stored reports false.
func (s *Store) UpsertMetadataClient(ctx context.Context, c *Client) (stored bool, err error) {
	entity := fmt.Sprintf("client %q", c.ClientID)
	if c.Registration != ClientMetadataDocument {
		return false, fmt.Errorf("%s: not a metadata document client", entity)
	}
	c.CreatedAt = s.orNow(c.CreatedAt)
	c.UpdatedAt = s.now()
	c.MetadataExpiresAt = tsp(c.MetadataExpiresAt)
	c.normalize()
	err = s.tx(ctx, func(tx *gorm.DB) error {
		// The stored document, to see whether its redirect URIs grow.
		var old Client
		found := s.forUpdate(tx).Where("client_id = ?", c.ClientID).Take(&old).Error == nil
		res := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "client_id"}},
			DoUpdates: clause.AssignmentColumns(metadataClientColumns),
			Where: clause.Where{Exprs: []clause.Expression{
				clause.Eq{Column: clause.Column{Table: "clients", Name: "registration"}, Value: ClientMetadataDocument},
			}},
		}).Create(c)
		if res.Error != nil {
			return wrapErr(res.Error, entity)
		}
		stored = res.RowsAffected > 0
		if stored && found {
			return dropConsentsOnNewRedirect(tx, &old, c)
		}
		return nil
	})
	return stored, err
}
