package models

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	if e.Count < 1 {
		e.Count = 1
	}
	e.CreatedAt = ts(e.CreatedAt)
}

// Bounds of the audit log's fields, in bytes (SPEC.md §7.1: audit fields
// are bounded). Whatever a request carries, a row stays under about
// 36 KB: an attacker cannot grow the log (or the audit page) faster than
// the requests they send, and PostgreSQL's indexes on action, actor and
// target (about 2.7 KB per entry at most) always take the row, so no
// event is lost to an index error.
const (
	AuditMaxAction      = 64
	AuditMaxActor       = 128
	AuditMaxTarget      = 256
	AuditMaxRemoteAddr  = 64
	AuditMaxDetailKey   = 64
	AuditMaxDetailValue = 1024
	// AuditMaxDetails is the most details an event keeps (the marker
	// entry included).
	AuditMaxDetails = 32
)

// AuditTruncated ends a value cut to its bound; AuditMoreDetails is the
// details key that says how many details were left out.
const (
	AuditTruncated   = "…"
	AuditMoreDetails = "…"
)

// bound cuts every field of e to its bound (on a UTF-8 boundary, ending
// with AuditTruncated), makes the text valid UTF-8 without NUL bytes
// (which PostgreSQL refuses), and keeps at most AuditMaxDetails details:
// the first ones by key, then AuditMoreDetails saying how many more
// there were.
func (e *AuditEvent) bound() {
	e.Action = boundText(e.Action, AuditMaxAction)
	e.Actor = boundText(e.Actor, AuditMaxActor)
	e.Target = boundText(e.Target, AuditMaxTarget)
	e.RemoteAddr = boundText(e.RemoteAddr, AuditMaxRemoteAddr)
	if len(e.Details) == 0 {
		return
	}
	keys := slices.Sorted(maps.Keys(e.Details))
	out := make(map[string]string, min(len(keys), AuditMaxDetails))
	for i, k := range keys {
		if i == AuditMaxDetails-1 && len(keys) > AuditMaxDetails {
			out[AuditMoreDetails] = strconv.Itoa(len(keys)-i) + " more details left out"
			break
		}
		bk := boundText(k, AuditMaxDetailKey)
		if _, dup := out[bk]; dup {
			// Two long keys cut to the same text: the first stays.
			continue
		}
		out[bk] = boundText(e.Details[k], AuditMaxDetailValue)
	}
	e.Details = out
}

// boundText makes s valid UTF-8 without NUL bytes and at most max bytes
// long: a longer one is cut on a character boundary and ends with
// AuditTruncated (within max).
func boundText(s string, max int) string {
	if len(s) > 4*max {
		s = s[:4*max] // at most 4 bytes a character: enough to cut from
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	cut := max - len(AuditTruncated)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + AuditTruncated
}

// AddAuditEvent appends e to the audit log and sets its ID; a nil Details
// is stored as {} and CreatedAt is set to now when zero. Every field is
// bounded first (see AuditMaxTarget and the others).
func (s *Store) AddAuditEvent(ctx context.Context, e *AuditEvent) error {
	e.CreatedAt = s.orNow(e.CreatedAt)
	e.bound()
	e.normalize()
	return wrapErr(s.conn(ctx).Create(e).Error, "audit event")
}

// AddAuditEventCounted records a repeated attempt: when the newest event
// with the same action, actor, target, address, outcome and details was
// created at or after since, it adds one to that event's count (and sets
// e to it); otherwise it adds e like AddAuditEvent. A burst of attempts
// refused by a throttle is one row with a count, not a row per attempt.
// (Two attempts racing may still make two rows; never a lost one.)
func (s *Store) AddAuditEventCounted(ctx context.Context, e *AuditEvent, since time.Time) error {
	e.CreatedAt = s.orNow(e.CreatedAt)
	e.bound()
	e.normalize()
	var last AuditEvent
	q := s.conn(ctx).Where("action = ? AND actor = ? AND target = ? AND remote_addr = ? AND success = ? AND created_at >= ?",
		e.Action, e.Actor, e.Target, e.RemoteAddr, e.Success, ts(since))
	if e.ActorID != nil {
		q = q.Where("actor_id = ?", *e.ActorID)
	} else {
		q = q.Where("actor_id IS NULL")
	}
	err := q.Order("created_at DESC").Order("id DESC").Limit(1).Find(&last).Error
	if err != nil {
		return wrapErr(err, "audit event")
	}
	if last.ID != 0 && maps.Equal(last.Details, e.Details) {
		res := s.conn(ctx).Model(&AuditEvent{}).Where("id = ?", last.ID).Update("count", gorm.Expr(`"count" + 1`))
		if res.Error != nil {
			return wrapErr(res.Error, "audit event")
		}
		if res.RowsAffected == 1 {
			last.Count++
			last.normalize()
			*e = last
			return nil
		}
		// Swept meanwhile: a new row.
	}
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
