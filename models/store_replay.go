package models

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"gorm.io/gorm/clause"
)

// UsedJTI is a single-use identifier seen (a client assertion's, a JWT
// bearer assertion's or a DPoP proof's jti), kept until ExpiresAt.
type UsedJTI struct {
	Key       string `gorm:"primaryKey"`
	ExpiresAt time.Time
}

// TableName names the table.
func (UsedJTI) TableName() string { return "used_jtis" }

// UseOnce records key until expiresAt in one statement: a row of an
// expired key is taken over, a live one gives store.ErrAlreadyExists. The
// database's primary key makes concurrent calls single-winner on every
// instance.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	res := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.Assignments(map[string]any{"expires_at": ts(expiresAt)}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Lt{Column: clause.Column{Table: "used_jtis", Name: "expires_at"}, Value: ts(now)}}},
	}).Create(&UsedJTI{Key: key, ExpiresAt: ts(expiresAt)})
	if res.Error != nil {
		return wrapErr(res.Error, "record single-use identifier")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("single-use identifier: %w", store.ErrAlreadyExists)
	}
	return nil
}

// UseOnce implements oauth.ReplayModel.
func (m OAuthModel) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	return m.S.UseOnce(ctx, key, expiresAt, now)
}
