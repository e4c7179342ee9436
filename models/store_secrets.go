package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GetOrCreateSecret returns the app secret called name. When it does not
// exist yet it stores the value returned by generate, unless another
// instance stored one meanwhile: every caller, even concurrent ones on
// several instances, gets the same value.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	entity := fmt.Sprintf("app secret %q", name)
	var sec AppSecret
	err := s.conn(ctx).Where("name = ?", name).Take(&sec).Error
	if err == nil {
		return sec.Value, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, wrapErr(err, entity)
	}
	value, err := generate()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", entity, err)
	}
	if len(value) == 0 {
		return nil, fmt.Errorf("%s: generated an empty value", entity)
	}
	err = s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&AppSecret{Name: name, Value: value, CreatedAt: s.now()}).Error
	if err != nil {
		return nil, wrapErr(err, entity)
	}
	if err := s.conn(ctx).Where("name = ?", name).Take(&sec).Error; err != nil {
		return nil, wrapErr(err, entity)
	}
	return sec.Value, nil
}

// CreateOneTimeToken inserts t; CreatedAt is set to now when zero. A hash
// that exists gives ErrAlreadyExists.
func (s *Store) CreateOneTimeToken(ctx context.Context, t *OneTimeToken) error {
	t.CreatedAt = s.orNow(t.CreatedAt)
	t.ExpiresAt = ts(t.ExpiresAt)
	t.UsedAt = tsp(t.UsedAt)
	return wrapErr(s.conn(ctx).Create(t).Error, "one-time token")
}

// CheckOneTimeToken returns nil when a token with that hash exists for
// purpose, unused and unexpired at now, and ErrNotFound otherwise.
func (s *Store) CheckOneTimeToken(ctx context.Context, hash []byte, purpose string, now time.Time) error {
	var n int64
	err := s.conn(ctx).Model(&OneTimeToken{}).
		Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", hash, purpose, ts(now)).
		Count(&n).Error
	if err != nil {
		return wrapErr(err, "one-time token")
	}
	if n == 0 {
		return notFound("one-time token")
	}
	return nil
}

// UseOneTimeToken marks the token used at now with one conditional update,
// so that it can be used once only, even by concurrent callers. It returns
// ErrNotFound when the token is unknown, for another purpose, expired or
// used already. Inside Tx, a rollback makes the token usable again.
func (s *Store) UseOneTimeToken(ctx context.Context, hash []byte, purpose string, now time.Time) error {
	now = ts(now)
	res := s.conn(ctx).Model(&OneTimeToken{}).
		Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", hash, purpose, now).
		Update("used_at", now)
	if res.Error != nil {
		return wrapErr(res.Error, "one-time token")
	}
	if res.RowsAffected == 0 {
		return notFound("one-time token")
	}
	return nil
}
