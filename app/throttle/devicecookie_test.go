package throttle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/throttle"
)

// TestDeviceCookies: a cookie the key signed names its user and a fresh
// nonce; a cookie signed with another key, changed in any byte, expired,
// from the future or malformed is not a device cookie.
func TestDeviceCookies(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	dc := &throttle.DeviceCookies{Key: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }}
	v := dc.Issue(42)
	d, ok := dc.Check(v)
	if !ok || d.UserID != 42 || len(d.Nonce) < 20 || !d.IssuedAt.Equal(now) {
		t.Fatalf("Check(Issue(42)) = %+v %v", d, ok)
	}
	if d2, _ := dc.Check(dc.Issue(42)); d2.Nonce == d.Nonce {
		t.Error("two cookies share a nonce")
	}
	if strings.ContainsAny(v, " ;,\"\\") {
		t.Errorf("cookie value %q needs quoting", v)
	}

	other := &throttle.DeviceCookies{Key: []byte("another key, just as long, 32 b!"), Now: dc.Now}
	if _, ok := other.Check(v); ok {
		t.Error("a cookie signed with another key is accepted")
	}
	// Every single changed byte (the user ID, the nonce, the time, the
	// MAC) breaks it.
	for i := range len(v) {
		for _, c := range []byte{'0', '1', 'A', '_', '.'} {
			if v[i] == c {
				continue
			}
			tampered := v[:i] + string(c) + v[i+1:]
			if d, ok := dc.Check(tampered); ok {
				t.Fatalf("tampered cookie %q accepted: %+v", tampered, d)
			}
		}
	}
	// Another user's ID with the original MAC.
	parts := strings.Split(v, ".")
	parts[1] = "7"
	if _, ok := dc.Check(strings.Join(parts, ".")); ok {
		t.Error("cookie with another user ID accepted")
	}
	for _, bad := range []string{"", ".", "d1.42", "d1.42.n.1.", v + "x", v + ".", strings.Repeat("a", 5000), "d2" + v[2:]} {
		if _, ok := dc.Check(bad); ok {
			t.Errorf("%.40q accepted", bad)
		}
	}
	// Age.
	later := *dc
	later.Now = func() time.Time { return now.Add(throttle.DeviceCookieMaxAge + time.Second) }
	if _, ok := later.Check(v); ok {
		t.Error("expired cookie accepted")
	}
	earlier := *dc
	earlier.Now = func() time.Time { return now.Add(-time.Hour) }
	if _, ok := earlier.Check(v); ok {
		t.Error("cookie from the future accepted")
	}
	if _, ok := (&throttle.DeviceCookies{Now: dc.Now}).Check(v); ok {
		t.Error("a signer without a key accepts cookies")
	}
}

func TestBeginDevice(t *testing.T) { eachStore(t, testBeginDevice) }

// testBeginDevice: while failures elsewhere block an account, a trusted
// device still gets its attempts, limited per device (5) and per address;
// a success forgets the device's failures, not the account's.
func testBeginDevice(t *testing.T, st throttle.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	l := throttle.New(st, "login")
	l.Now = func() time.Time { return now }
	for i := range 10 {
		if !fail(l, "alice", "198.51.100."+string(rune('1'+i%9))) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if fail(l, "alice", "192.0.2.1") {
		t.Fatal("account not blocked after 10 failures")
	}
	device := func(dev, addr string) (*throttle.Attempt, time.Duration) {
		a, w, err := l.BeginDevice(ctx, dev, addr)
		if err != nil {
			t.Fatal(err)
		}
		return a, w
	}
	// The trusted device gets 5 failures of its own.
	for i := range 5 {
		if a, w := device("nonce-1", "192.0.2.1"); a == nil || w != 0 {
			t.Fatalf("trusted attempt %d refused (wait %v)", i+1, w)
		}
	}
	if a, w := device("nonce-1", "192.0.2.1"); a != nil || w <= 0 {
		t.Fatal("device not blocked after 5 failures")
	}
	// Another device is not blocked; its success clears its own
	// failures and leaves the account blocked for everyone else.
	device("nonce-2", "192.0.2.2")
	a, _ := device("nonce-2", "192.0.2.2")
	if a == nil {
		t.Fatal("second device refused")
	}
	if err := a.Succeeded(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := st.CountThrottleEvents(ctx, "login:device:nonce-2", time.Time{}); n != 0 {
		t.Errorf("device failures after success: %d", n)
	}
	if fail(l, "alice", "192.0.2.3") {
		t.Error("a trusted device's success unblocked the account for everyone")
	}
	// The address limit applies to trusted devices too.
	for i := range 30 {
		fail(l, "user"+string(rune('a'+i%26))+string(rune('a'+i/26)), "203.0.113.9")
	}
	if a, w := device("nonce-3", "203.0.113.9"); a != nil || w <= 0 {
		t.Error("trusted device not held by the address limit")
	}
	// The window passing frees the device.
	now = now.Add(10*time.Minute + time.Second)
	if a, _ := device("nonce-1", "192.0.2.1"); a == nil {
		t.Error("device still blocked after the window")
	}
}
