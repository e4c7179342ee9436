// Package backchannel delivers OpenID Connect Back-Channel Logout 1.0
// notifications: when a browser session ends, the store queues a row per
// client with a backchannel_logout_uri that received tokens in it
// (models.LogoutDelivery, in the transaction that ends the session), and
// a Deliverer, running in every `gatehouse serve`, POSTs each client a
// logout token (§2.4, §2.5).
//
// The queue lives in the database, so a restart or a crash loses nothing
// and several instances share the work: each claims due rows under a lease
// (models.Store.ClaimLogoutDeliveries), so no two send the same row at
// once, and a row whose holder died is claimed again once the lease has
// passed. A failed attempt is retried with exponential backoff (Backoff:
// 10s, 30s, 1m, 5m, 15m, 30m, 1h, 2h, 4h, 8h, 8h, about a day in all,
// each ±10%); every failure is written to the audit log
// (backchannel_logout.failed), and so is giving up after the last attempt
// (backchannel_logout.gave_up) and a delivery that succeeds after failures
// (backchannel_logout.delivered). A delivery that succeeds at once is not
// audited: the sign-out that queued it is.
//
// Logout tokens are signed like ID tokens (the current RS256 key), afresh
// at each attempt (new jti, iat and exp); they are never logged or
// audited.
package backchannel

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Protocol values (Back-Channel Logout 1.0 §2.4).
const (
	// TypeLogoutToken is the JWT header "typ" of logout tokens.
	TypeLogoutToken = "logout+jwt"
	// EventLogout is the member of the events claim.
	EventLogout = "http://schemas.openid.net/event/backchannel-logout"
)

// Audit actions. The actor is "system", the target the client ID.
const (
	ActionFailed    = "backchannel_logout.failed"
	ActionGaveUp    = "backchannel_logout.gave_up"
	ActionDelivered = "backchannel_logout.delivered"
	auditActor      = "system"
)

// Defaults of Options.
const (
	DefaultPoll          = 5 * time.Second
	DefaultLease         = time.Minute
	DefaultConcurrency   = 4
	DefaultTokenLifetime = 2 * time.Minute
	DefaultShutdownGrace = 3 * time.Second
	DefaultJitter        = 0.1
)

// DefaultBackoff is the wait after each failed attempt: after the first
// failure 10 s, ..., after the eleventh 8 h; the twelfth failure, about
// 24 hours after the first attempt, is the last.
var DefaultBackoff = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
}

// Signer signs JWTs with the keys that sign ID tokens (app/keys.Manager).
type Signer interface {
	// SignWith signs with the current key of alg (RS256 or ES256).
	SignWith(ctx context.Context, alg string, claims any, typ string) (string, error)
}

// Poster sends the logout request (app/outbound.Client).
type Poster interface {
	PostForm(ctx context.Context, u string, form url.Values) (*outbound.Response, error)
}

// Options configure a Deliverer. Store, Signer, Issuer and HTTP are
// required.
type Options struct {
	Store  *models.Store
	Signer Signer
	// Issuer is the iss of the logout tokens (the ID tokens' issuer).
	Issuer string
	// HTTP sends the requests: an outbound.Client, which refuses
	// non-public addresses, redirects and slow or large answers.
	HTTP Poster
	Log  *slog.Logger
	// Now is the clock of claims, leases, backoff and token times
	// (default time.Now); Poll and the shutdown grace use real time.
	Now func() time.Time
	// Poll is how often the queue is checked without a wake-up (rows of
	// other instances, retries that came due).
	Poll time.Duration
	// Lease is how long a claimed row is reserved; it must exceed the
	// longest attempt (the outbound timeout) by a margin.
	Lease time.Duration
	// Concurrency bounds the attempts in flight.
	Concurrency int
	// TokenLifetime is exp - iat of the logout tokens.
	TokenLifetime time.Duration
	// Backoff is the wait after each failed attempt; a failure past its
	// end is the last (the delivery is given up).
	Backoff []time.Duration
	// Jitter spreads each wait by ± that fraction (default 0.1; a
	// negative value: none).
	Jitter float64
	// ShutdownGrace is how long attempts in flight may finish after Run's
	// context ends; those still running are then cut short, and their
	// rows released for the next start or another instance.
	ShutdownGrace time.Duration
}

// Deliverer sends the queued back-channel logout notifications.
type Deliverer struct {
	o     Options
	wake  chan struct{}
	freed chan struct{}
	slots chan struct{}
	wg    sync.WaitGroup

	mu          sync.Mutex
	claimFailed bool // the last claim failed (logged once per streak)
}

// New returns a Deliverer; Run starts it.
func New(o Options) *Deliverer {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	if len(o.Backoff) == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	return &Deliverer{o: o, wake: make(chan struct{}, 1), freed: make(chan struct{}, 1),
		slots: make(chan struct{}, o.Concurrency)}
}

// Wake makes Run look at the queue now (the store calls it after queuing
// deliveries). It never blocks.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: at once, whenever woken (Wake; Run sets it
// as the store's hook), and every Poll. Then it claims nothing more,
// gives the attempts in flight ShutdownGrace to finish, cuts the others
// short (their rows are released, not counted as attempts) and returns
// once none is left.
func (d *Deliverer) Run(ctx context.Context) {
	d.o.Store.SetLogoutQueued(d.Wake)
	defer d.o.Store.SetLogoutQueued(nil)
	// Attempts outlive ctx by the grace.
	work, cutShort := context.WithCancel(context.WithoutCancel(ctx))
	defer cutShort()
	poll := time.NewTicker(d.o.Poll)
	defer poll.Stop()
	for {
		d.fill(ctx, work)
		select {
		case <-ctx.Done():
			done := make(chan struct{})
			go func() { d.wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(d.o.ShutdownGrace):
				cutShort()
				<-done
			}
			return
		case <-d.wake:
		case <-d.freed:
		case <-poll.C:
		}
	}
}

// RunOnce delivers every row due now, with the same bounded concurrency,
// and returns how many attempts it made (tests, and a caller that wants
// the queue drained before it goes on).
func (d *Deliverer) RunOnce(ctx context.Context) int {
	total := 0
	for {
		n := d.fill(ctx, ctx)
		d.wg.Wait()
		total += n
		if n == 0 || ctx.Err() != nil {
			return total
		}
	}
}

// fill claims due rows while attempt slots are free and starts an attempt
// for each (in work), and returns how many it started.
func (d *Deliverer) fill(ctx, work context.Context) int {
	started := 0
	for ctx.Err() == nil {
		free := 0
	take:
		for free < d.o.Concurrency {
			select {
			case d.slots <- struct{}{}:
				free++
			default:
				break take
			}
		}
		if free == 0 {
			return started // a finishing attempt calls again (freed)
		}
		now := d.o.Now()
		rows, err := d.o.Store.ClaimLogoutDeliveries(ctx, now, now.Add(d.o.Lease), free)
		d.claimResult(ctx, err)
		for range free - len(rows) {
			<-d.slots
		}
		for _, row := range rows {
			started++
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer func() {
					<-d.slots
					select {
					case d.freed <- struct{}{}:
					default:
					}
				}()
				d.attempt(work, row)
			}()
		}
		if err != nil || len(rows) < free {
			return started
		}
	}
	return started
}

// claimResult logs a failing claim once, and its recovery.
func (d *Deliverer) claimResult(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil && !d.claimFailed:
		d.claimFailed = true
		d.o.Log.ErrorContext(ctx, "back-channel logout: cannot read the delivery queue; retrying", "err", err)
	case err == nil && d.claimFailed:
		d.claimFailed = false
		d.o.Log.InfoContext(ctx, "back-channel logout: the delivery queue can be read again")
	}
}

// LogoutClaims are the claims of a logout token (Back-Channel Logout 1.0
// §2.4): always both sub and sid (so backchannel_logout_session_required
// is met), never nonce.
type LogoutClaims struct {
	Issuer    string                    `json:"iss"`
	Subject   string                    `json:"sub,omitempty"`
	Audience  string                    `json:"aud"`
	IssuedAt  int64                     `json:"iat"`
	Expiry    int64                     `json:"exp"`
	JTI       string                    `json:"jti"`
	Events    map[string]map[string]any `json:"events"`
	SessionID string                    `json:"sid,omitempty"`
}

// Token signs the logout token of row for its client, issued at now, with
// the algorithm of the client's ID tokens (its id_token_signed_response_alg,
// "" for RS256): Back-Channel Logout 1.0 §2.4 applies the ID tokens'
// signing rules to logout tokens.
func (d *Deliverer) Token(ctx context.Context, row *models.LogoutDelivery, alg string, now time.Time) (string, error) {
	c := LogoutClaims{
		Issuer: d.o.Issuer, Subject: row.Subject, Audience: row.ClientID,
		IssuedAt: now.Unix(), Expiry: now.Add(d.o.TokenLifetime).Unix(),
		JTI:       base64.RawURLEncoding.EncodeToString(secret.Random(16)),
		Events:    map[string]map[string]any{EventLogout: {}},
		SessionID: row.SID,
	}
	return d.o.Signer.SignWith(ctx, cmp.Or(alg, oauth.AlgRS256), c, TypeLogoutToken)
}

// attempt makes one attempt at row, which this instance has claimed.
func (d *Deliverer) attempt(ctx context.Context, row models.LogoutDelivery) {
	log := d.o.Log.With("client_id", row.ClientID, "delivery", row.ID, "attempt", row.Attempts+1)
	client, err := d.o.Store.GetClient(ctx, row.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && client.BackchannelLogoutURI == "":
		// Deleted (its rows go with it) or no longer listening.
		if _, err := d.o.Store.DeleteLogoutDelivery(ctx, row.ID); err != nil {
			log.WarnContext(ctx, "back-channel logout: cannot drop a delivery", "err", err)
		} else {
			log.DebugContext(ctx, "back-channel logout dropped: the client has no backchannel_logout_uri any more")
		}
		return
	case err != nil && ctx.Err() != nil:
		d.release(row, log) // shutting down
		return
	case err != nil:
		// Our database, not the client: the lease runs out and the row is
		// claimed again, no attempt counted.
		log.WarnContext(ctx, "back-channel logout: cannot load the client; will retry", "err", err)
		return
	}
	now := d.o.Now()
	var failure string
	status := 0
	token, err := d.Token(ctx, &row, client.IDTokenSignedResponseAlg, now)
	if err != nil {
		failure = "signing the logout token: " + err.Error()
	} else {
		res, err := d.o.HTTP.PostForm(ctx, client.BackchannelLogoutURI, url.Values{"logout_token": {token}})
		switch {
		case err != nil && ctx.Err() != nil:
			d.release(row, log)
			return
		case err != nil:
			failure = err.Error()
		case res.StatusCode < 200 || res.StatusCode > 299:
			status = res.StatusCode
			failure = fmt.Sprintf("HTTP %d", res.StatusCode)
		}
	}
	if failure == "" {
		d.delivered(ctx, row, log)
		return
	}
	d.failed(ctx, row, now, status, failure, log)
}

// delivered deletes a delivered row; one that had failed before gets an
// audit event, so that the failures logged for it are seen to end.
func (d *Deliverer) delivered(ctx context.Context, row models.LogoutDelivery, log *slog.Logger) {
	if _, err := d.o.Store.DeleteLogoutDelivery(ctx, row.ID); err != nil {
		// Sent again once the lease runs out: receivers must cope with
		// a repeated logout anyway.
		log.WarnContext(ctx, "back-channel logout delivered, but cannot be removed from the queue", "err", err)
		return
	}
	log.DebugContext(ctx, "back-channel logout delivered")
	if row.Attempts == 0 {
		return
	}
	d.audit(ctx, ActionDelivered, row.ClientID, true, map[string]string{
		"attempt": strconv.Itoa(row.Attempts + 1), "sid": row.SID,
	})
}

// failed reschedules row after a failed attempt, or gives it up after the
// last one.
func (d *Deliverer) failed(ctx context.Context, row models.LogoutDelivery, now time.Time, status int, failure string, log *slog.Logger) {
	attempt := row.Attempts + 1
	details := map[string]string{"attempt": strconv.Itoa(attempt), "sid": row.SID}
	if status != 0 {
		details["status"] = strconv.Itoa(status)
	} else {
		details["error"] = failure
	}
	if attempt > len(d.o.Backoff) {
		held, err := d.o.Store.AbandonLogoutDelivery(ctx, &row)
		if err != nil || !held {
			if err != nil {
				log.WarnContext(ctx, "back-channel logout: cannot give up a delivery", "err", err)
			}
			return
		}
		d.audit(ctx, ActionFailed, row.ClientID, false, details)
		d.audit(ctx, ActionGaveUp, row.ClientID, false, map[string]string{
			"attempts": strconv.Itoa(attempt), "sid": row.SID, "last_error": failure,
			"queued_at": row.CreatedAt.UTC().Format(time.RFC3339),
		})
		log.WarnContext(ctx, "back-channel logout given up after the last attempt", "err", failure)
		return
	}
	next := now.Add(d.wait(attempt))
	held, err := d.o.Store.RetryLogoutDelivery(ctx, &row, next, failure)
	if err != nil || !held {
		if err != nil {
			log.WarnContext(ctx, "back-channel logout: cannot reschedule a delivery", "err", err)
		}
		return
	}
	details["next_attempt"] = next.UTC().Format(time.RFC3339)
	d.audit(ctx, ActionFailed, row.ClientID, false, details)
	log.WarnContext(ctx, "back-channel logout failed; will retry", "err", failure, "next_attempt", next.UTC().Format(time.RFC3339))
}

// wait is the backoff after failed attempt number attempt (1-based),
// jittered.
func (d *Deliverer) wait(attempt int) time.Duration {
	w := d.o.Backoff[attempt-1]
	if d.o.Jitter > 0 {
		w = time.Duration(float64(w) * (1 + d.o.Jitter*(2*rand.Float64()-1)))
	}
	return w
}

// release gives the row back after an attempt cut short by a shutdown.
func (d *Deliverer) release(row models.LogoutDelivery, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.o.Store.ReleaseLogoutDelivery(ctx, &row); err != nil {
		log.WarnContext(ctx, "back-channel logout: cannot release a delivery cut short; it is retried once its lease has passed", "err", err)
	}
}

func (d *Deliverer) audit(ctx context.Context, action, clientID string, success bool, details map[string]string) {
	e := &models.AuditEvent{Actor: auditActor, Action: action, Target: clientID, Success: success, Details: details}
	if err := d.o.Store.AddAuditEvent(ctx, e); err != nil {
		d.o.Log.ErrorContext(ctx, "audit event not recorded", "action", action, "err", err)
	}
}
