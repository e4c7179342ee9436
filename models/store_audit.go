package models

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AuditFilter selects audit events for ListAuditEvents and EachAuditEvent.
type AuditFilter struct {
	// Action keeps the events with exactly that action when not empty;
	// an action ending in ".*" (say "client.*") keeps every action
	// starting with what comes before the "*".
	Action string
	// Actor, Target and RemoteAddr keep the events with exactly that
	// actor, target or address when not empty.
	Actor, Target, RemoteAddr string
	// Success keeps only successes (true) or failures (false) when set.
	Success *bool
	// Since keeps events at or after it, Until events before it; a zero
	// time leaves that side unbounded.
	Since, Until time.Time
	// Offset and Limit select a page; Limit 0 means DefaultPageSize and
	// is capped at MaxPageSize. EachAuditEvent ignores them.
	Offset, Limit int
}

// AuditBatchSize is how many events EachAuditEvent reads at a time.
const AuditBatchSize = 1000

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

// scope is the WHERE clause of f.
func (f AuditFilter) scope(db *gorm.DB) *gorm.DB {
	db = db.Model(&AuditEvent{})
	if prefix, ok := strings.CutSuffix(f.Action, ".*"); ok {
		db = db.Where(`action LIKE ? ESCAPE '\'`, likeEscaper.Replace(prefix)+".%")
	} else if f.Action != "" {
		db = db.Where("action = ?", f.Action)
	}
	if f.Actor != "" {
		db = db.Where("actor = ?", f.Actor)
	}
	if f.Target != "" {
		db = db.Where("target = ?", f.Target)
	}
	if f.RemoteAddr != "" {
		db = db.Where("remote_addr = ?", f.RemoteAddr)
	}
	if f.Success != nil {
		db = db.Where("success = ?", *f.Success)
	}
	if !f.Since.IsZero() {
		db = db.Where("created_at >= ?", ts(f.Since))
	}
	if !f.Until.IsZero() {
		db = db.Where("created_at < ?", ts(f.Until))
	}
	return db
}

// ListAuditEvents returns one page of the events matching f, newest first,
// and how many events match f in all.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, int64, error) {
	var total int64
	if err := s.conn(ctx).Scopes(f.scope).Count(&total).Error; err != nil {
		return nil, 0, wrapErr(err, "list audit events")
	}
	offset, limit := pageOf(f.Offset, f.Limit)
	events := []AuditEvent{}
	err := s.conn(ctx).Scopes(f.scope).Order("created_at DESC").Order("id DESC").Offset(offset).Limit(limit).Find(&events).Error
	if err != nil {
		return nil, 0, wrapErr(err, "list audit events")
	}
	for i := range events {
		events[i].normalize()
	}
	return events, total, nil
}

// EachAuditEvent calls fn with the events matching f, oldest first, batch
// events at a time (AuditBatchSize when batch <= 0), reading each batch
// after the last event of the previous one (keyset pagination on
// created_at and id), so the log is never held in memory whole. Events
// added after the call began are left out. An error from fn stops the
// walk and is returned.
func (s *Store) EachAuditEvent(ctx context.Context, f AuditFilter, batch int, fn func([]AuditEvent) error) error {
	if batch <= 0 {
		batch = AuditBatchSize
	}
	var maxID int64
	if err := s.conn(ctx).Model(&AuditEvent{}).Select("COALESCE(MAX(id), 0)").Scan(&maxID).Error; err != nil {
		return wrapErr(err, "export audit events")
	}
	var last *AuditEvent
	for {
		q := s.conn(ctx).Scopes(f.scope).Where("id <= ?", maxID)
		if last != nil {
			// (created_at, id) after the last one, written so that the
			// created_at index bounds the scan on both databases.
			q = q.Where("created_at >= ?", last.CreatedAt).Where("created_at > ? OR id > ?", last.CreatedAt, last.ID)
		}
		events := []AuditEvent{}
		if err := q.Order("created_at ASC").Order("id ASC").Limit(batch).Find(&events).Error; err != nil {
			return wrapErr(err, "export audit events")
		}
		if len(events) == 0 {
			return nil
		}
		for i := range events {
			events[i].normalize()
		}
		if err := fn(events); err != nil {
			return err
		}
		if len(events) < batch {
			return nil
		}
		last = &events[len(events)-1]
	}
}
