// Package throttle counts failures (sign-ins, client authentications,
// device user codes) per account and per client address in shared storage
// (the database, or Redis when GATEHOUSE_REDIS_URL is set), so that the
// limits hold across every instance. After PerAccount failures for one
// account, or PerAddress from one address, within Window, further attempts
// are refused until the window has passed.
//
// A storage error fails the attempt (the caller answers 500 or
// server_error) rather than letting it through unthrottled or refusing
// it as throttled: the limits never silently switch off, and nobody is
// locked out beyond the outage, which /readyz reports.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Store keeps the counted events: a sliding window of timestamps per key.
type Store interface {
	// AddThrottleEvent counts one event for key at the given time and
	// returns its ID (unique within the key).
	AddThrottleEvent(ctx context.Context, key string, at time.Time) (int64, error)
	// DeleteThrottleEvents forgets these events.
	DeleteThrottleEvents(ctx context.Context, events ...Event) error
	// CountThrottleEvents counts the events for key at or after since and
	// returns the time of the earliest of them (zero when n is 0).
	CountThrottleEvents(ctx context.Context, key string, since time.Time) (n int64, oldest time.Time, err error)
	// ClearThrottle forgets every event counted for key.
	ClearThrottle(ctx context.Context, key string) error
}

// Event names one counted event.
type Event struct {
	Key string
	ID  int64
}

// DatabaseStore is the database's storage (models.Store): event IDs are
// unique across keys there.
type DatabaseStore interface {
	AddThrottleEvent(ctx context.Context, key string, at time.Time) (int64, error)
	DeleteThrottleEvents(ctx context.Context, ids ...int64) error
	CountThrottleEvents(ctx context.Context, key string, since time.Time) (int64, time.Time, error)
	ClearThrottle(ctx context.Context, key string) error
}

// Database counts in the database.
func Database(db DatabaseStore) Store { return database{db} }

type database struct{ DatabaseStore }

func (d database) DeleteThrottleEvents(ctx context.Context, events ...Event) error {
	ids := make([]int64, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return d.DatabaseStore.DeleteThrottleEvents(ctx, ids...)
}

// Limiter throttles one kind of attempt, named by Scope (e.g. "login").
type Limiter struct {
	Store      Store
	Scope      string
	Window     time.Duration
	PerAccount int64
	PerAddress int64
	// PerDevice limits the attempts of one trusted device (BeginDevice).
	PerDevice int64
	Now       func() time.Time
}

// New returns a limiter with SPEC.md's thresholds: 10 failures per account,
// 30 per address, within 10 minutes; and 5 per trusted device.
func New(store Store, scope string) *Limiter {
	return &Limiter{Store: store, Scope: scope, Window: 10 * time.Minute, PerAccount: 10, PerAddress: 30, PerDevice: 5, Now: time.Now}
}

func (l *Limiter) keys(account, address string) (acct, addr string) {
	if account != "" {
		acct = l.Scope + ":account:" + keyPart(strings.ToLower(account))
	}
	if address != "" {
		addr = l.Scope + ":address:" + AddressKey(address)
	}
	return
}

// deviceKey is the key of a trusted device's attempts.
func (l *Limiter) deviceKey(device string) string {
	return l.Scope + ":device:" + keyPart(device)
}

// keyPart is s, or its SHA-256 when longer than maxKeyPart: whatever a
// caller sends, keys stay small.
func keyPart(s string) string {
	if len(s) <= maxKeyPart {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// maxKeyPart bounds the account part of a key; longer ones are hashed.
const maxKeyPart = 64

// AddressKey groups IPv6 addresses by their /64 network (one host usually
// owns the whole network); IPv4 addresses stand alone.
func AddressKey(address string) string {
	a, err := netip.ParseAddr(address)
	if err != nil {
		return address
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Attempt is one attempt in progress, already counted.
type Attempt struct {
	l      *Limiter
	events []Event
	// clear is the key whose failures a success forgets: the account's,
	// or the trusted device's.
	clear string
}

// Begin counts an attempt for the account and the address before it is
// tried, then looks at the counts: the attempt is recorded first so that
// parallel requests cannot all slip under the limit while the slow
// password check runs. When a limit is reached, Begin forgets the attempt
// again and returns how long the caller must wait (and a nil Attempt).
// Otherwise the caller tries, then calls Succeeded or leaves the attempt
// counted as a failure.
func (l *Limiter) Begin(ctx context.Context, account, address string) (*Attempt, time.Duration, error) {
	acct, _ := l.keys(account, "")
	return l.begin(ctx, l.limits(account, address), acct)
}

// BeginDevice is Begin for an attempt from a trusted device: a browser
// that proved an earlier sign-in to the account with a device cookie
// (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"). The
// attempt is counted and limited per device (PerDevice, device being the
// cookie's nonce) and per address, not per account: failures elsewhere,
// which may block the account, do not lock the owner's browser out, and a
// stolen cookie gets only PerDevice guesses. A success forgets the
// device's failures, not the account's: those were someone else's.
func (l *Limiter) BeginDevice(ctx context.Context, device, address string) (*Attempt, time.Duration, error) {
	dev := l.deviceKey(device)
	ls := []limit{{dev, l.PerDevice}}
	if _, addr := l.keys("", address); addr != "" {
		ls = append(ls, limit{addr, l.PerAddress})
	}
	return l.begin(ctx, ls, dev)
}

func (l *Limiter) begin(ctx context.Context, limits []limit, clear string) (*Attempt, time.Duration, error) {
	now := l.Now().UTC()
	a := &Attempt{l: l, clear: clear}
	var wait time.Duration
	for _, k := range limits {
		id, err := l.Store.AddThrottleEvent(ctx, k.key, now)
		if err != nil {
			return nil, 0, err
		}
		a.events = append(a.events, Event{k.key, id})
		// This attempt is counted already: the limit itself may pass.
		w, err := l.waitOver(ctx, k.key, k.limit, now)
		if err != nil {
			return nil, 0, err
		}
		wait = max(wait, w)
	}
	if wait > 0 {
		// A refused attempt is not a guess: it does not extend the block.
		if err := l.Store.DeleteThrottleEvents(ctx, a.events...); err != nil {
			return nil, 0, err
		}
		return nil, wait, nil
	}
	return a, 0, nil
}

// Succeeded forgets this attempt and the account's earlier failures (the
// device's, for BeginDevice). The address's earlier failures stay: one
// good account must not unlock guessing at others from the same address.
func (a *Attempt) Succeeded(ctx context.Context) error {
	if err := a.Forget(ctx); err != nil {
		return err
	}
	if a.clear != "" {
		return a.l.Store.ClearThrottle(ctx, a.clear)
	}
	return nil
}

// Forget forgets this attempt only: it was no failure, but the earlier
// failures of the account stay counted (unlike Succeeded), for attempts
// whose success an attacker can arrange at will.
func (a *Attempt) Forget(ctx context.Context) error {
	return a.l.Store.DeleteThrottleEvents(ctx, a.events...)
}

// Blocked reports how long attempts for the account or from the address
// must wait because earlier failures reached a limit (0: go ahead). It
// counts without recording: use it with Fail where the attempt itself
// cannot be guessed (client secrets carry 256 bits), so that a blocked
// attacker does not lock out the legitimate caller for longer.
func (l *Limiter) Blocked(ctx context.Context, account, address string) (time.Duration, error) {
	now := l.Now().UTC()
	var wait time.Duration
	for _, k := range l.limits(account, address) {
		// Nothing counted yet: reaching the limit blocks.
		w, err := l.waitOver(ctx, k.key, k.limit-1, now)
		if err != nil {
			return 0, err
		}
		wait = max(wait, w)
	}
	return wait, nil
}

// limit is one key with its threshold.
type limit struct {
	key   string
	limit int64
}

// limits are the keys of an attempt that have a threshold.
func (l *Limiter) limits(account, address string) []limit {
	acct, addr := l.keys(account, address)
	var out []limit
	if acct != "" {
		out = append(out, limit{acct, l.PerAccount})
	}
	if addr != "" {
		out = append(out, limit{addr, l.PerAddress})
	}
	return out
}

// waitOver is how long attempts under key must wait when more than
// allowed failures are counted within the window (0 otherwise): until the
// oldest leaves the window, at least a second.
func (l *Limiter) waitOver(ctx context.Context, key string, allowed int64, now time.Time) (time.Duration, error) {
	n, oldest, err := l.Store.CountThrottleEvents(ctx, key, now.Add(-l.Window))
	if err != nil || n <= allowed {
		return 0, err
	}
	return max(oldest.Add(l.Window).Sub(now), time.Second), nil
}

// Fail records one failed attempt for the account and the address.
func (l *Limiter) Fail(ctx context.Context, account, address string) error {
	now := l.Now().UTC()
	for _, k := range l.limits(account, address) {
		if _, err := l.Store.AddThrottleEvent(ctx, k.key, now); err != nil {
			return err
		}
	}
	return nil
}

// RetryAfterSeconds rounds a wait up to whole seconds for Retry-After.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// Held is a Limiter whose failures (Fail) are kept back until Release:
// for work that may be thrown away and done again (a speculative
// request), so that one failure is not counted twice. Begin and Blocked
// are the Limiter's own.
type Held struct {
	*Limiter
	mu    sync.Mutex
	fails [][2]string // account, address
}

// Hold returns a Held over l for one piece of work.
func (l *Limiter) Hold() *Held { return &Held{Limiter: l} }

// Fail keeps the failure back until Release.
func (h *Held) Fail(_ context.Context, account, address string) error {
	h.mu.Lock()
	h.fails = append(h.fails, [2]string{account, address})
	h.mu.Unlock()
	return nil
}

// Release records the failures held back (each once).
func (h *Held) Release(ctx context.Context) error {
	h.mu.Lock()
	fails := h.fails
	h.fails = nil
	h.mu.Unlock()
	for _, f := range fails {
		if err := h.Limiter.Fail(ctx, f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}
