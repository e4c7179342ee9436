// Package throttle counts failures (sign-ins, client authentications,
// device user codes) per account and per client address in the database, so
// that the limits hold across every instance. After PerAccount failures for
// one account, or PerAddress from one address, within Window, further
// attempts are refused until the window has passed.
package throttle

import (
	"context"
	"net/netip"
	"strings"
	"time"
)

// Store is the storage the limiter needs.
type Store interface {
	AddThrottleEvent(ctx context.Context, key string, at time.Time) error
	CountThrottleEvents(ctx context.Context, key string, since time.Time) (int64, time.Time, error)
	ClearThrottle(ctx context.Context, key string) error
}

// Limiter throttles one kind of attempt, named by Scope (e.g. "login").
type Limiter struct {
	Store      Store
	Scope      string
	Window     time.Duration
	PerAccount int64
	PerAddress int64
	Now        func() time.Time
}

// New returns a limiter with SPEC.md's thresholds: 10 failures per account,
// 30 per address, within 10 minutes.
func New(store Store, scope string) *Limiter {
	return &Limiter{Store: store, Scope: scope, Window: 10 * time.Minute, PerAccount: 10, PerAddress: 30, Now: time.Now}
}

func (l *Limiter) keys(account, address string) (acct, addr string) {
	if account != "" {
		acct = l.Scope + ":account:" + strings.ToLower(account)
	}
	if address != "" {
		addr = l.Scope + ":address:" + AddressKey(address)
	}
	return
}

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

// Check returns how long the caller must wait (0 when allowed).
func (l *Limiter) Check(ctx context.Context, account, address string) (time.Duration, error) {
	now := l.Now().UTC()
	since := now.Add(-l.Window)
	acct, addr := l.keys(account, address)
	var wait time.Duration
	for _, k := range []struct {
		key   string
		limit int64
	}{{acct, l.PerAccount}, {addr, l.PerAddress}} {
		if k.key == "" {
			continue
		}
		n, oldest, err := l.Store.CountThrottleEvents(ctx, k.key, since)
		if err != nil {
			return 0, err
		}
		if n >= k.limit {
			w := oldest.Add(l.Window).Sub(now)
			if w < time.Second {
				w = time.Second
			}
			if w > wait {
				wait = w
			}
		}
	}
	return wait, nil
}

// Fail records a failed attempt for the account and the address.
func (l *Limiter) Fail(ctx context.Context, account, address string) error {
	now := l.Now().UTC()
	acct, addr := l.keys(account, address)
	for _, k := range []string{acct, addr} {
		if k == "" {
			continue
		}
		if err := l.Store.AddThrottleEvent(ctx, k, now); err != nil {
			return err
		}
	}
	return nil
}

// Succeed forgets the account's failures after a successful attempt. The
// address's failures stay: one good account must not unlock guessing at
// others from the same address.
func (l *Limiter) Succeed(ctx context.Context, account string) error {
	acct, _ := l.keys(account, "")
	if acct == "" {
		return nil
	}
	return l.Store.ClearThrottle(ctx, acct)
}

// RetryAfterSeconds rounds a wait up to whole seconds for Retry-After.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
