package models

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// AddThrottleEvent counts one attempt for key at the given time and
// returns the event's ID.
func (s *Store) AddThrottleEvent(ctx context.Context, key string, at time.Time) (int64, error) {
	ev := &ThrottleEvent{Key: key, CreatedAt: s.orNow(at)}
	if err := s.conn(ctx).Create(ev).Error; err != nil {
		return 0, wrapErr(err, "throttle event")
	}
	return ev.ID, nil
}

// DeleteThrottleEvents deletes the events with these IDs (an attempt that
// turned out fine, or one refused without being tried).
func (s *Store) DeleteThrottleEvents(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	return wrapErr(s.conn(ctx).Where("id IN ?", ids).Delete(&ThrottleEvent{}).Error, "delete throttle events")
}

// CountThrottleEvents counts the failures for key at or after since and
// returns the time of the earliest of them (zero when n is 0), from which
// the caller can tell when the window frees up.
func (s *Store) CountThrottleEvents(ctx context.Context, key string, since time.Time) (n int64, oldest time.Time, err error) {
	var row struct {
		N         int64
		CreatedAt time.Time
	}
	res := s.conn(ctx).Model(&ThrottleEvent{}).
		Select("COUNT(*) OVER () AS n, created_at").
		Where(clause.Eq{Column: clause.Column{Name: "key"}, Value: key}).
		Where("created_at >= ?", ts(since)).
		Order("created_at").Limit(1).
		Scan(&row)
	if res.Error != nil {
		return 0, time.Time{}, wrapErr(res.Error, "count throttle events")
	}
	if res.RowsAffected == 0 {
		return 0, time.Time{}, nil
	}
	return row.N, ts(row.CreatedAt), nil
}

// ClearThrottle forgets every failure counted for key.
func (s *Store) ClearThrottle(ctx context.Context, key string) error {
	err := s.conn(ctx).Where(clause.Eq{Column: clause.Column{Name: "key"}, Value: key}).Delete(&ThrottleEvent{}).Error
	return wrapErr(err, "clear throttle")
}

// DeleteThrottleEventsBefore deletes the failures counted before t and
// returns how many it deleted.
func (s *Store) DeleteThrottleEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	res := s.conn(ctx).Where("created_at < ?", ts(t)).Delete(&ThrottleEvent{})
	return res.RowsAffected, wrapErr(res.Error, "delete throttle events")
}
