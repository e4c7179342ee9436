package oauth

import (
	"context"
	"strings"
	"testing"
	"time"
)

// countingLimiter is a Limiter that counts the attempts it is told of.
type countingLimiter struct{ added int }

func (c *countingLimiter) Begin(context.Context, string, string) (Attempt, time.Duration, error) {
	c.added++
	return nil, 0, nil
}
func (c *countingLimiter) Blocked(context.Context, string, string) (time.Duration, error) {
	return 0, nil
}
func (c *countingLimiter) Fail(context.Context, string, string) error {
	c.added++
	return nil
}

// noModel fails the test on any lookup: the request must be refused
// before a user is looked up.
type noModel struct{ Model }

// TestCheckPasswordRefusesLongUsernames: a username longer than
// MaxUsernameBytes (after trimming) is invalid_request "username is too
// long", before the throttle counts anything, the user is looked up, or
// a sign-in is reported to the audit log.
func TestCheckPasswordRefusesLongUsernames(t *testing.T) {
	st := &countingLimiter{}
	var events []SecurityEvent
	s := New(Options{Model: noModel{}, LoginThrottle: st,
		OnSecurityEvent: func(_ context.Context, ev SecurityEvent) { events = append(events, ev) }})
	for _, name := range []string{strings.Repeat("a", MaxUsernameBytes+1), strings.Repeat("é", 33), "  " + strings.Repeat("B", 900_000)} {
		u, e := s.checkPassword(context.Background(), name, "some password", "192.0.2.1")
		if u != nil || e == nil || AsError(e).Code != ErrInvalidRequest.Code || AsError(e).Description != "username is too long" {
			t.Fatalf("%d bytes: %v %+v", len(name), u, e)
		}
		s.passwordSignIn(context.Background(), GrantPassword, "client", "192.0.2.1", name, u, e)
	}
	if st.added != 0 || len(events) != 0 {
		t.Errorf("refused usernames reached the throttle (%d events) or the audit log (%d)", st.added, len(events))
	}
}
