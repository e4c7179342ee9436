package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// signingKeyColumns are the columns UpdateSigningKey writes.
var signingKeyColumns = []string{"alg", "private_key", "encrypted", "public_jwk", "retired_at", "expires_at"}

func (k *SigningKey) normalize() {
	k.RetiredAt = tsp(k.RetiredAt)
	k.ExpiresAt = tsp(k.ExpiresAt)
	k.CreatedAt = ts(k.CreatedAt)
}

// CreateSigningKey inserts k and sets its ID; CreatedAt is set to now when
// zero. A taken key ID gives ErrAlreadyExists.
func (s *Store) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	k.CreatedAt = s.orNow(k.CreatedAt)
	k.normalize()
	return wrapErr(s.conn(ctx).Create(k).Error, fmt.Sprintf("signing key %q", k.KID))
}

// ListSigningKeys returns every signing key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	keys := []SigningKey{}
	if err := s.conn(ctx).Order("created_at DESC").Order("id DESC").Find(&keys).Error; err != nil {
		return nil, wrapErr(err, "list signing keys")
	}
	for i := range keys {
		keys[i].normalize()
	}
	return keys, nil
}

// UpdateSigningKey changes the key with that key ID through fn (see
// updateRow): nothing is written when fn returns an error. ID, KID and
// CreatedAt cannot be changed.
func (s *Store) UpdateSigningKey(ctx context.Context, kid string, fn func(*SigningKey) error) error {
	entity := fmt.Sprintf("signing key %q", kid)
	return updateRow(ctx, s, entity, "kid = ?", kid, fn, func(tx *gorm.DB, old, k *SigningKey) error {
		if k.KID != old.KID {
			return fmt.Errorf("%s: the key ID cannot be changed", entity)
		}
		k.ID = old.ID
		k.normalize()
		return wrapErr(tx.Model(k).Select(signingKeyColumns).Updates(k).Error, entity)
	})
}

// DeleteSigningKey deletes the key with that key ID, or returns
// ErrNotFound.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	entity := fmt.Sprintf("signing key %q", kid)
	res := s.conn(ctx).Where("kid = ?", kid).Delete(&SigningKey{})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 0 {
		return notFound(entity)
	}
	return nil
}

// LockSigningKeys serializes changes to the set of signing keys between
// instances: it must run inside Tx, and holds until the transaction ends.
// On PostgreSQL it locks the signing_keys table against other writers
// (plain reads go on); SQLite's transactions begin with BEGIN IMMEDIATE
// and so already hold the database's write lock.
func (s *Store) LockSigningKeys(ctx context.Context) error {
	if !s.inTx {
		return fmt.Errorf("lock signing keys: not inside a transaction")
	}
	if s.dialect != DialectPostgres {
		return nil
	}
	return wrapErr(s.conn(ctx).Exec("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE").Error, "lock signing keys")
}

// DeleteExpiredSigningKeys deletes the retired keys whose ExpiresAt is at
// or before now and returns how many it deleted. Keys that are not
// retired are never deleted, whatever their ExpiresAt. When there is
// nothing to delete nothing is written (so the cache counter of the keys
// does not move).
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	expired := func(db *gorm.DB) *gorm.DB {
		return db.Where("retired_at IS NOT NULL AND expires_at IS NOT NULL AND expires_at <= ?", ts(now))
	}
	var kids []string
	if err := expired(s.conn(ctx).Model(&SigningKey{})).Limit(1).Pluck("kid", &kids).Error; err != nil {
		return 0, wrapErr(err, "find expired signing keys")
	}
	if len(kids) == 0 {
		return 0, nil
	}
	res := expired(s.conn(ctx)).Delete(&SigningKey{})
	return res.RowsAffected, wrapErr(res.Error, "delete expired signing keys")
}

// GetSettings returns the stored setting overrides by key (built-in
// defaults are not included).
func (s *Store) GetSettings(ctx context.Context) (map[string]string, error) {
	var rows []Setting
	if err := s.conn(ctx).Find(&rows).Error; err != nil {
		return nil, wrapErr(err, "get settings")
	}
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r.Key] = r.Value
	}
	return m, nil
}

// SetSetting stores value for key, replacing any earlier value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&Setting{Key: key, Value: value, UpdatedAt: s.now()}).Error
	return wrapErr(err, fmt.Sprintf("setting %q", key))
}

// DeleteSetting removes the override of key, if any, so that its default
// applies again.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	return wrapErr(s.conn(ctx).Where(clause.Eq{Column: clause.Column{Name: "key"}, Value: key}).Delete(&Setting{}).Error, fmt.Sprintf("setting %q", key))
}
