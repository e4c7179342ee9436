package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// deviceCodeColumns are the columns UpdateDeviceCode writes.
var deviceCodeColumns = []string{"scope", "status", "user_id", "auth_time", "interval_seconds",
	"last_polled_at", "expires_at"}

func (d *DeviceCode) normalize() {
	d.AuthTime = tsp(d.AuthTime)
	d.LastPolledAt = tsp(d.LastPolledAt)
	d.ExpiresAt = ts(d.ExpiresAt)
	d.CreatedAt = ts(d.CreatedAt)
}

// CreateDeviceCode inserts d and sets its ID; Status defaults to
// DevicePending and CreatedAt to now. A user code (or device code hash)
// in use gives ErrAlreadyExists: generate another and retry.
func (s *Store) CreateDeviceCode(ctx context.Context, d *DeviceCode) error {
	if d.Status == "" {
		d.Status = DevicePending
	}
	d.CreatedAt = s.orNow(d.CreatedAt)
	d.normalize()
	return wrapErr(s.conn(ctx).Create(d).Error, "device code")
}

// GetDeviceCode returns the device authorization with that device code
// hash, or ErrNotFound.
func (s *Store) GetDeviceCode(ctx context.Context, hash []byte) (*DeviceCode, error) {
	return s.getDeviceCode(ctx, "device_code_hash = ?", hash)
}

// GetDeviceCodeByUserCode returns the device authorization with that user
// code (compared exactly: normalize it first), or ErrNotFound.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCode string) (*DeviceCode, error) {
	return s.getDeviceCode(ctx, "user_code = ?", userCode)
}

func (s *Store) getDeviceCode(ctx context.Context, cond string, arg any) (*DeviceCode, error) {
	var d DeviceCode
	if err := s.conn(ctx).Where(cond, arg).Take(&d).Error; err != nil {
		return nil, wrapErr(err, "device code")
	}
	d.normalize()
	return &d, nil
}

// UpdateDeviceCode changes the device authorization with that ID through
// fn (see updateRow): nothing is written when fn returns an error. Only
// Scope, Status, UserID, AuthTime, IntervalSeconds, LastPolledAt and
// ExpiresAt are written.
func (s *Store) UpdateDeviceCode(ctx context.Context, id int64, fn func(*DeviceCode) error) error {
	entity := fmt.Sprintf("device code #%d", id)
	return updateRow(ctx, s, entity, "id = ?", id, fn, func(tx *gorm.DB, old, d *DeviceCode) error {
		d.ID = old.ID
		d.normalize()
		return wrapErr(tx.Model(d).Select(deviceCodeColumns).Updates(d).Error, entity)
	})
}
