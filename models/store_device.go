package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/gatehouse/gatehouse/app/store"
)

// The state changes of the device flow (RFC 8628). Each is one
// conditional UPDATE, so that of concurrent polls, decisions and
// redemptions exactly one takes effect on SQLite and PostgreSQL alike;
// the losers learn it from the affected-row count.

// DecideDeviceCode records the user's decision on a pending device
// authorization that has not expired at now: status (DeviceApproved or
// DeviceDenied), the deciding user, when they signed in, and the scope
// granted. It returns ErrNotFound for an unknown ID and ErrConflict,
// changing nothing, when the authorization is no longer pending or has
// expired.
func (s *Store) DecideDeviceCode(ctx context.Context, id int64, status string, userID int64, authTime time.Time, scope string, now time.Time) error {
	if status != DeviceApproved && status != DeviceDenied {
		return fmt.Errorf("device code #%d: decision %q is neither approved nor denied", id, status)
	}
	entity := fmt.Sprintf("device code #%d", id)
	res := s.conn(ctx).Model(&DeviceCode{}).
		Where("id = ? AND status = ? AND expires_at > ?", id, DevicePending, ts(now)).
		Updates(map[string]any{"status": status, "user_id": userID, "auth_time": ts(authTime), "scope": scope})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	return s.deviceCodeConflict(ctx, "id = ?", id, entity)
}

// PollDeviceCode records a poll of a pending device authorization at now
// and sets its polling interval (in seconds), provided the row is still
// as prev was read: pending, with the same last poll and interval.
// Otherwise a concurrent poll or a decision came first and it returns
// ErrConflict, changing nothing (ErrNotFound when the row is gone). This
// compare-and-set lets only one of several simultaneous polls count as
// the slow one.
func (s *Store) PollDeviceCode(ctx context.Context, prev *DeviceCode, now time.Time, interval int) error {
	entity := fmt.Sprintf("device code #%d", prev.ID)
	q := s.conn(ctx).Model(&DeviceCode{}).
		Where("id = ? AND status = ? AND interval_seconds = ?", prev.ID, DevicePending, prev.IntervalSeconds)
	if prev.LastPolledAt == nil {
		q = q.Where("last_polled_at IS NULL")
	} else {
		q = q.Where("last_polled_at = ?", ts(*prev.LastPolledAt))
	}
	res := q.Updates(map[string]any{"last_polled_at": ts(now), "interval_seconds": interval})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	return s.deviceCodeConflict(ctx, "id = ?", prev.ID, entity)
}

// RedeemDeviceCode marks the approved device authorization with that
// device code hash redeemed, provided it has not expired at now, and
// returns it: of several concurrent calls exactly one succeeds. It
// returns ErrNotFound for an unknown hash and ErrConflict when the
// authorization is not approved (pending, denied, redeemed before) or has
// expired.
func (s *Store) RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time) (*DeviceCode, error) {
	var d DeviceCode
	res := s.conn(ctx).Model(&d).Clauses(clause.Returning{}).
		Where("device_code_hash = ? AND status = ? AND expires_at > ?", hash, DeviceApproved, ts(now)).
		Update("status", DeviceRedeemed)
	if res.Error != nil {
		return nil, wrapErr(res.Error, "redeem device code")
	}
	if res.RowsAffected == 1 {
		d.normalize()
		return &d, nil
	}
	return nil, s.deviceCodeConflict(ctx, "device_code_hash = ?", hash, "device code")
}

// deviceCodeConflict explains a conditional update that changed nothing:
// ErrNotFound when no row matches cond, ErrConflict otherwise.
func (s *Store) deviceCodeConflict(ctx context.Context, cond string, arg any, entity string) error {
	var n int64
	if err := s.conn(ctx).Model(&DeviceCode{}).Where(cond, arg).Count(&n).Error; err != nil {
		return wrapErr(err, entity)
	}
	if n == 0 {
		return notFound(entity)
	}
	return fmt.Errorf("%s changed concurrently or is no longer in the expected state: %w", entity, store.ErrConflict)
}
