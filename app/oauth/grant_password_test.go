package oauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/throttle"
)

// countingStore is a throttle store that counts what is written to it.
type countingStore struct{ added int }

func (c *countingStore) AddThrottleEvent(context.Context, string, time.Time) (int64, error) {
	c.added++
	return int64(c.added), nil
}
func (c *countingStore) DeleteThrottleEvents(context.Context, ...throttle.Event) error { return nil }
func (c *countingStore) CountThrottleEvents(context.Context, string, time.Time) (int64, time.Time, error) {
	return 0, time.Time{}, nil
}
func (c *countingStore) ClearThrottle(context.Context, string) error { return nil }

// noModel fails the test on any lookup: the request must be refused
// before a user is looked up.
type noModel struct{ Model }

// TestCheckPasswordRefusesLongUsernames: a username longer than
// MaxUsernameBytes (after trimming) is invalid_request "username is too
// long", before the throttle counts anything, the user is looked up, or
// a sign-in is reported to the audit log.
func TestCheckPasswordRefusesLongUsernames(t *testing.T) {
	st := &countingStore{}
	var events []SecurityEvent
	s := New(Options{Model: noModel{}, LoginThrottle: throttle.New(st, "login"),
		OnSecurityEvent: func(_ context.Context, ev SecurityEvent) { events = append(events, ev) }})
	for _, name := range []string{strings.Repeat("a", MaxUsernameBytes+1), strings.Repeat("é", 33), "  " + strings.Repeat("B", 900_000)} {
		u, e := s.checkPassword(context.Background(), name, "some password", "192.0.2.1")
		if u != nil || e == nil || e.Code != ErrInvalidRequest.Code || e.Description != "username is too long" {
			t.Fatalf("%d bytes: %v %+v", len(name), u, e)
		}
		s.passwordSignIn(context.Background(), GrantPassword, "client", "192.0.2.1", name, u, e)
	}
	if st.added != 0 || len(events) != 0 {
		t.Errorf("refused usernames reached the throttle (%d events) or the audit log (%d)", st.added, len(events))
	}
}
