package oauth

import (
	"context"
	"time"
)

// Limiter counts failed attempts per account (a username, a client ID)
// and per address, and refuses more once a limit is reached. The
// application provides it (app/throttle behind an adapter); the core
// declares only what it uses.
type Limiter interface {
	// Begin counts an attempt before it is tried (a password check).
	// When a limit is reached it returns how long the caller must wait
	// and no Attempt; otherwise the caller tries, then calls Succeeded,
	// or leaves the attempt counted as a failure.
	Begin(ctx context.Context, account, address string) (Attempt, time.Duration, error)
	// Blocked reports how long attempts must wait because earlier
	// failures reached a limit (0: go ahead), counting nothing.
	Blocked(ctx context.Context, account, address string) (time.Duration, error)
	// Fail records one failed attempt.
	Fail(ctx context.Context, account, address string) error
}

// Attempt is an attempt Limiter.Begin counted.
type Attempt interface {
	// Succeeded forgets the attempt and the account's earlier failures.
	Succeeded(ctx context.Context) error
}

// PasswordChecker verifies users' passwords against their stored hashes
// (the password grant and the headless authorization).
type PasswordChecker interface {
	// Verify reports whether pw matches the stored hash.
	Verify(pw, hash string) (bool, error)
	// VerifyDummy spends the time of a Verify, for unknown users.
	VerifyDummy(pw string)
}

// TooManyRequests is the 429 answer to a throttled attempt, with
// Retry-After rounded up to whole seconds (at least one).
func TooManyRequests(wait time.Duration, desc string) *Error {
	e := ErrTooManyRequests.WithDescription("%s", desc)
	e.RetryAfter = max(int((wait+time.Second-1)/time.Second), 1)
	return e
}
