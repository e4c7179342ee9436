package models

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// The back-channel logout queue (logout_deliveries): endSessions queues a
// row per client to notify, in the transaction that ends the session; a
// deliverer on any instance claims due rows for a while (a lease in
// locked_until), sends them, and deletes or reschedules each one. An
// instance that dies holding a lease only delays its rows: once the lease
// has passed, another claim takes them again. Delivery is therefore at
// least once (a receiver may, rarely, see a session's logout twice, each
// time with a fresh token).
//
// The lease is a time written by the claiming instance and compared by
// the others: the instances' clocks must agree to well within a lease.

// LogoutErrorMax bounds the last_error kept with a delivery, in bytes.
const LogoutErrorMax = 512

func (d *LogoutDelivery) normalize() {
	d.NextAttemptAt = ts(d.NextAttemptAt)
	d.LockedUntil = tsp(d.LockedUntil)
	d.CreatedAt = ts(d.CreatedAt)
}

// ClaimLogoutDeliveries leases up to limit deliveries that are due at now
// (next_attempt_at at or before now) and not leased (never, or the lease
// ended at or before now), the oldest due first, until `until`, and
// returns them with LockedUntil set: what the other methods take as proof
// that the caller still holds them. It is one conditional UPDATE, so of
// concurrent claims (on any instance) each row goes to one; PostgreSQL
// claimers skip the rows another is claiming at that moment rather than
// wait for them.
func (s *Store) ClaimLogoutDeliveries(ctx context.Context, now, until time.Time, limit int) ([]LogoutDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	now, until = ts(now), ts(until)
	lock := ""
	if s.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	// The conditions are repeated outside the subquery: on PostgreSQL a
	// row claimed by a concurrent statement between the subquery's
	// snapshot and the update is re-checked against them, and skipped.
	q := `UPDATE logout_deliveries SET locked_until = ?
WHERE id IN (SELECT id FROM logout_deliveries
             WHERE next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
             ORDER BY next_attempt_at, id LIMIT ?` + lock + `)
  AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
RETURNING id, client_id, subject, sid, attempts, next_attempt_at, locked_until, last_error, created_at`
	var rows []LogoutDelivery
	if err := s.conn(ctx).Raw(q, until, now, now, limit, now, now).Scan(&rows).Error; err != nil {
		return nil, wrapErr(err, "claim back-channel logout deliveries")
	}
	for i := range rows {
		rows[i].normalize()
	}
	// RETURNING gives no order: oldest due first, as claimed.
	slices.SortFunc(rows, func(a, b LogoutDelivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return rows, nil
}

// DeleteLogoutDelivery deletes the delivery (it was delivered, or there
// is nothing to deliver any more), whoever holds it, and reports whether
// it was still there.
func (s *Store) DeleteLogoutDelivery(ctx context.Context, id int64) (bool, error) {
	res := s.conn(ctx).Where("id = ?", id).Delete(&LogoutDelivery{})
	return res.RowsAffected > 0, wrapErr(res.Error, "back-channel logout delivery")
}

// RetryLogoutDelivery records a failed attempt of a delivery the caller
// claimed: one more attempt, the next one at next, lastErr (bounded to
// LogoutErrorMax bytes) kept, and the lease ended. It changes nothing and
// reports false when the caller no longer holds d (its lease passed and
// another claim took it, or it was deleted).
func (s *Store) RetryLogoutDelivery(ctx context.Context, d *LogoutDelivery, next time.Time, lastErr string) (bool, error) {
	if d.LockedUntil == nil {
		return false, nil
	}
	res := s.conn(ctx).Exec(`UPDATE logout_deliveries
SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, locked_until = NULL
WHERE id = ? AND locked_until = ?`, ts(next), boundText(lastErr, LogoutErrorMax), d.ID, ts(*d.LockedUntil))
	return res.RowsAffected > 0, wrapErr(res.Error, "back-channel logout delivery")
}

// AbandonLogoutDelivery deletes a delivery the caller claimed and gives
// up on (its last attempt failed); it reports false, deleting nothing,
// when the caller no longer holds d.
func (s *Store) AbandonLogoutDelivery(ctx context.Context, d *LogoutDelivery) (bool, error) {
	if d.LockedUntil == nil {
		return false, nil
	}
	res := s.conn(ctx).Where("id = ? AND locked_until = ?", d.ID, ts(*d.LockedUntil)).Delete(&LogoutDelivery{})
	return res.RowsAffected > 0, wrapErr(res.Error, "back-channel logout delivery")
}

// ReleaseLogoutDelivery ends the caller's lease on d without counting an
// attempt (an attempt cut short by a shutdown), so that any instance may
// claim it at once; it reports false when the caller no longer holds d.
func (s *Store) ReleaseLogoutDelivery(ctx context.Context, d *LogoutDelivery) (bool, error) {
	if d.LockedUntil == nil {
		return false, nil
	}
	res := s.conn(ctx).Model(&LogoutDelivery{}).Where("id = ? AND locked_until = ?", d.ID, ts(*d.LockedUntil)).
		Update("locked_until", nil)
	return res.RowsAffected > 0, wrapErr(res.Error, "back-channel logout delivery")
}

// ListLogoutDeliveries returns the queued deliveries, oldest first (at
// most MaxPageSize of them).
func (s *Store) ListLogoutDeliveries(ctx context.Context) ([]LogoutDelivery, error) {
	var rows []LogoutDelivery
	err := s.conn(ctx).Order("id").Limit(MaxPageSize).Find(&rows).Error
	for i := range rows {
		rows[i].normalize()
	}
	return rows, wrapErr(err, "back-channel logout deliveries")
}
