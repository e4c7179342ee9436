package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/gatehouse/gatehouse/app/secret"
)

// SetKeySecret makes the store keep app secrets encrypted under keySecret
// (GATEHOUSE_KEY_SECRET), with the scheme of the signing keys
// (app/secret.Sealer, purpose "app-secret"). Call it once, before the
// store is used; "" leaves them in plaintext.
func (s *Store) SetKeySecret(keySecret string) {
	if keySecret == "" {
		s.sealer = nil
		return
	}
	s.sealer = secret.NewSealer(keySecret, "app-secret")
}

// EncryptingSecrets reports whether app secrets are kept encrypted.
func (s *Store) EncryptingSecrets() bool { return s.sealer != nil }

func appSecretAD(name string) []byte { return []byte("gatehouse app secret " + name) }

// PlaintextSecrets lists the names of the app secrets stored
// unencrypted.
func (s *Store) PlaintextSecrets(ctx context.Context) ([]string, error) {
	var names []string
	err := s.conn(ctx).Model(&AppSecret{}).Where("encrypted = ?", false).Order("name").Pluck("name", &names).Error
	return names, wrapErr(err, "app secrets")
}

// seal returns what is stored for value: sealed when a key secret is set.
func (s *Store) seal(name string, value []byte) (stored []byte, encrypted bool) {
	if s.sealer == nil {
		return value, false
	}
	return s.sealer.Seal(value, appSecretAD(name)), true
}

// GetOrCreateSecret returns the app secret called name. When it does not
// exist yet it stores the value returned by generate, unless another
// instance stored one meanwhile: every caller, even concurrent ones on
// several instances, gets the same value. With a key secret (SetKeySecret)
// the value is stored encrypted, and a plaintext one stored before the
// key secret was configured is encrypted in place on first read.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	entity := fmt.Sprintf("app secret %q", name)
	var sec AppSecret
	err := s.conn(ctx).Where("name = ?", name).Take(&sec).Error
	if err == nil {
		return s.openSecret(ctx, &sec)
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
	stored, encrypted := s.seal(name, value)
	err = s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&AppSecret{Name: name, Value: stored, Encrypted: encrypted, CreatedAt: s.now()}).Error
	if err != nil {
		return nil, wrapErr(err, entity)
	}
	if err := s.conn(ctx).Where("name = ?", name).Take(&sec).Error; err != nil {
		return nil, wrapErr(err, entity)
	}
	return s.openSecret(ctx, &sec)
}

// openSecret returns the plaintext of a stored app secret.
func (s *Store) openSecret(ctx context.Context, sec *AppSecret) ([]byte, error) {
	if sec.Encrypted {
		if s.sealer == nil {
			return nil, fmt.Errorf("app secret %q is stored encrypted, but no key secret is configured: set GATEHOUSE_KEY_SECRET "+
				"(or --key-secret, or key_secret in the config file) to the secret it was stored with, or run "+
				"\"gatehouse keys rotate --sessions\" to replace the session keys (everyone is signed out)", sec.Name)
		}
		plain, err := s.sealer.Open(sec.Value, appSecretAD(sec.Name))
		if err != nil {
			return nil, fmt.Errorf("app secret %q cannot be decrypted with the configured key secret (GATEHOUSE_KEY_SECRET): "+
				"it was stored with another one. Configure that secret, or run \"gatehouse keys rotate --sessions\" "+
				"to replace the session keys (everyone is signed out)", sec.Name)
		}
		return plain, nil
	}
	if s.sealer != nil {
		// Stored before a key secret was configured: encrypt it now. The
		// condition on the old value makes concurrent first starts of
		// several instances encrypt it once.
		stored, _ := s.seal(sec.Name, sec.Value)
		err := s.conn(ctx).Model(&AppSecret{}).
			Where("name = ? AND encrypted = ? AND value = ?", sec.Name, false, sec.Value).
			Updates(map[string]any{"value": stored, "encrypted": true}).Error
		if err != nil {
			return nil, wrapErr(err, fmt.Sprintf("encrypt app secret %q", sec.Name))
		}
	}
	return sec.Value, nil
}

// ReplaceSecrets stores new values for the named app secrets (encrypted
// when a key secret is set), creating those that do not exist, and
// deletes every web session, in one transaction: the rotation of the
// session keys, after which every browser is signed out. Those sessions
// end as endSessions ends them: their back-channel logouts are queued in
// the same transaction, and their grants (but offline_access ones) are
// revoked after it.
func (s *Store) ReplaceSecrets(ctx context.Context, values map[string][]byte) (sessions int64, err error) {
	var sids []string
	queued := false
	err = s.Tx(ctx, func(tx *Store) error {
		sids, queued = nil, false
		for name, value := range values {
			if len(value) == 0 {
				return fmt.Errorf("app secret %q: empty value", name)
			}
			stored, encrypted := tx.seal(name, value)
			err := tx.conn(ctx).Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "name"}},
				DoUpdates: clause.AssignmentColumns([]string{"value", "encrypted", "created_at"}),
			}).Create(&AppSecret{Name: name, Value: stored, Encrypted: encrypted, CreatedAt: tx.now()}).Error
			if err != nil {
				return wrapErr(err, fmt.Sprintf("app secret %q", name))
			}
		}
		var rows []WebSession
		if err := tx.conn(ctx).Select("sid", "user_id").Where("sid <> '' AND user_id IS NOT NULL").Find(&rows).Error; err != nil {
			return wrapErr(err, "web sessions")
		}
		now := tx.now()
		for _, r := range rows {
			q, err := tx.sessionEnded(ctx, r.SID, *r.UserID, now)
			if err != nil {
				return err
			}
			queued = queued || q
			sids = append(sids, r.SID)
		}
		res := tx.conn(ctx).Where("1 = 1").Delete(&WebSession{})
		sessions = res.RowsAffected
		return wrapErr(res.Error, "delete web sessions")
	})
	if err != nil {
		return sessions, err
	}
	if queued {
		s.notifyLogoutQueued()
	}
	return sessions, s.revokeSessionGrants(ctx, sids, s.now())
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
