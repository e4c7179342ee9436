package app

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// Sweeper defaults. Every instance runs a sweeper: with several of them
// the work is shared (PostgreSQL sweepers skip the rows another is
// deleting), the random offset spreads them out, and an instance that
// finds nothing to delete costs one indexed query per table per interval.
const (
	// SweepInterval is the time between two sweeps (±20% at random).
	SweepInterval = 5 * time.Minute
	// SweepBatch is the most rows one DELETE removes: short statements
	// that token issuance, which shares the database, never waits long on.
	SweepBatch = 1000
	// SweepPause separates two batches of one sweep, leaving the database
	// to the live traffic in between.
	SweepPause = 50 * time.Millisecond
	// CodeGrace keeps expired authorization codes a day: a code replayed
	// in that time still revokes the tokens issued from it (RFC 6749
	// §4.1.2) instead of being merely unknown.
	CodeGrace = 24 * time.Hour
	// DeviceCodeGrace keeps expired device codes an hour, so that a device
	// still polling after expiry is told expired_token (RFC 8628 §3.5)
	// and starts again, rather than invalid_grant.
	DeviceCodeGrace = time.Hour
	// ThrottleWindow is how long throttle failures count (SPEC.md §3:
	// 10 minutes); older ones are deleted, with an hour of margin.
	ThrottleWindow = time.Hour
	// FamilyTombstoneTTL is how long a revoked-family tombstone is kept:
	// only writers racing with the revocation check it.
	FamilyTombstoneTTL = time.Hour
)

// Sweeper deletes what has expired: access and refresh tokens,
// authorization codes (after CodeGrace), device codes (after
// DeviceCodeGrace), browser sessions,
// one-time tokens, old throttle events, family tombstones and audit
// events older than the audit_retention setting, in batches
// with pauses; and retired signing keys past their use, through Prune.
type Sweeper struct {
	Store *models.Store
	Log   *slog.Logger
	// Prune removes signing keys no token can need any more (nil: none).
	Prune func(ctx context.Context) (int64, error)
	// AuditRetention says how long audit events are kept (the
	// audit_retention setting; 0 keeps them all). Nil keeps them all.
	AuditRetention func(ctx context.Context) (time.Duration, error)
	// Interval, Batch and Pause default to SweepInterval, SweepBatch and
	// SweepPause.
	Interval time.Duration
	Batch    int
	Pause    time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Run sweeps every Interval (with jitter) until ctx ends.
func (w *Sweeper) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = SweepInterval
	}
	for {
		// 0.8 to 1.2 times the interval, so that instances started
		// together do not sweep together.
		wait := time.Duration(float64(interval) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n, err := w.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.Log.Warn("sweep failed", "err", err, "deleted", n)
		case n > 0:
			w.Log.Info("expired rows deleted", "rows", n)
		}
	}
}

// Sweep runs one full pass and returns how many rows it deleted. Each
// table is emptied of its expired rows batch by batch; a failure on one
// table does not stop the others (the first error is returned).
func (w *Sweeper) Sweep(ctx context.Context) (int64, error) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	batch, pause := w.Batch, w.Pause
	if batch <= 0 {
		batch = SweepBatch
	}
	if pause <= 0 {
		pause = SweepPause
	}
	t := now()
	type job struct {
		e      models.Expirable
		before time.Time
	}
	jobs := []job{
		{models.ExpireTokens, t},
		{models.ExpireCodes, t.Add(-CodeGrace)},
		{models.ExpireDeviceCodes, t.Add(-DeviceCodeGrace)},
		{models.ExpireWebSessions, t},
		{models.ExpireOneTimeTokens, t},
		{models.ExpireThrottleEvents, t.Add(-ThrottleWindow)},
		{models.ExpireRevokedFamilies, t.Add(-FamilyTombstoneTTL)},
		{models.ExpireUsedJTIs, t},
		{models.ExpirePushedRequests, t},
	}
	var total int64
	var first error
	if w.AuditRetention != nil {
		switch keep, err := w.AuditRetention(ctx); {
		case err != nil:
			first = err
		case keep > 0:
			jobs = append(jobs, job{models.ExpireAuditEvents, t.Add(-keep)})
		}
	}
	for _, j := range jobs {
		for {
			n, err := w.Store.DeleteExpiredBatch(ctx, j.e, j.before, batch)
			total += n
			if err != nil {
				if first == nil {
					first = err
				}
				break
			}
			if n < int64(batch) {
				break
			}
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	// The clients of sessions that expired (ended ones drop theirs).
	n, err := w.Store.DeleteOrphanSessionClients(ctx, t.Add(-time.Hour))
	total += n
	if err != nil && first == nil {
		first = err
	}
	if w.Prune != nil {
		n, err := w.Prune(ctx)
		total += n
		if err != nil && first == nil {
			first = err
		}
	}
	return total, first
}

// sweep runs the server's sweeper until ctx ends.
func (s *Server) sweep(ctx context.Context) {
	s.sweeper().Run(ctx)
}

// sweeper is the server's sweeper: it prunes the signing keys and keeps
// audit events as long as the audit_retention setting says.
func (s *Server) sweeper() *Sweeper {
	w := &Sweeper{Store: s.Store, Log: s.Log}
	if k := s.Handlers.Keys; k != nil {
		w.Prune = k.Prune
	}
	if set := s.Handlers.Settings; set != nil {
		w.AuditRetention = func(ctx context.Context) (time.Duration, error) {
			v, err := set.Load(ctx)
			return v.AuditRetention, err
		}
	}
	return w
}
