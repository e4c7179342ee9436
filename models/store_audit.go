package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// AuditFilter selects audit events for ListAuditEvents.
type AuditFilter struct {
	// Action and Actor keep the events with exactly that action or actor
	// when not empty.
	Action, Actor string
	// Since keeps events at or after it, Until events before it; a zero
	// time leaves that side unbounded.
	Since, Until time.Time
	// Offset and Limit select a page; Limit 0 means DefaultPageSize and
	// is capped at MaxPageSize.
	Offset, Limit int
}

func (e *AuditEvent) normalize() {
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.CreatedAt = ts(e.CreatedAt)
}

// AddAuditEvent appends e to the audit log and sets its ID; a nil Details
// is stored as {} and CreatedAt is set to now when zero.
func (s *Store) AddAuditEvent(ctx context.Context, e *AuditEvent) error {
	e.CreatedAt = s.orNow(e.CreatedAt)
	e.normalize()
	return wrapErr(s.conn(ctx).Create(e).Error, "audit event")
}

// ListAuditEvents returns one page of the events matching f, newest first,
// and how many events match f in all.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, int64, error) {
	filter := func(db *gorm.DB) *gorm.DB {
		db = db.Model(&AuditEvent{})
		if f.Action != "" {
			db = db.Where("action = ?", f.Action)
		}
		if f.Actor != "" {
			db = db.Where("actor = ?", f.Actor)
		}
		if !f.Since.IsZero() {
			db = db.Where("created_at >= ?", ts(f.Since))
		}
		if !f.Until.IsZero() {
			db = db.Where("created_at < ?", ts(f.Until))
		}
		return db
	}
	var total int64
	if err := s.conn(ctx).Scopes(filter).Count(&total).Error; err != nil {
		return nil, 0, wrapErr(err, "list audit events")
	}
	offset, limit := pageOf(f.Offset, f.Limit)
	events := []AuditEvent{}
	err := s.conn(ctx).Scopes(filter).Order("created_at DESC").Order("id DESC").Offset(offset).Limit(limit).Find(&events).Error
	if err != nil {
		return nil, 0, wrapErr(err, "list audit events")
	}
	for i := range events {
		events[i].normalize()
	}
	return events, total, nil
}
