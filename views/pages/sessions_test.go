package pages

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/views"
)

func TestSessionRowWords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 2, 3, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		row      SessionRow
		lastSeen string
		started  string
	}{
		{SessionRow{Current: true, LastSeen: now.Add(-10 * time.Minute), Started: now.Add(-3 * time.Hour)}, "Active now", "Signed in 3 hours ago"},
		{SessionRow{LastSeen: now.Add(-14 * time.Minute), Started: now.Add(-30 * time.Second)}, "Active in the last 15 minutes", "Signed in just now"},
		{SessionRow{LastSeen: now.Add(-15 * time.Minute), Started: now.Add(-25 * time.Hour)}, "Last active 15 minutes ago", "Signed in 1 day ago"},
		{SessionRow{LastSeen: now.Add(-40 * 24 * time.Hour), Started: now.Add(-50 * 24 * time.Hour)}, "Last active on 25 Dec 2025, 14:00 UTC", "Signed in on 15 Dec 2025, 14:00 UTC"},
	} {
		if got := tc.row.lastSeen(now); got != tc.lastSeen {
			t.Errorf("lastSeen = %q, want %q", got, tc.lastSeen)
		}
		if got := tc.row.started(now); got != tc.started {
			t.Errorf("started = %q, want %q", got, tc.started)
		}
	}
}

func TestSessionItemsRender(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	b := views.Base{CSRFToken: "tok123"}
	l := SessionList{Now: now, CanEnd: true, More: true, Sessions: []SessionRow{
		{SID: "cur", Label: "Firefox on Windows", Kind: "desktop", UserAgent: `Firefox "x"`, RemoteAddr: "192.0.2.1", Started: now, LastSeen: now, Current: true},
		{SID: "other", Label: "Safari on iPhone", Kind: "mobile", RemoteAddr: "2001:db8::1", Started: now, LastSeen: now},
		{SID: "", Label: "<script>", Kind: "unknown", Started: now, LastSeen: now}, // a row of an earlier release
	}}
	html := render(t, SessionItems(b, l, "none"))
	for _, w := range []string{"This device", `action="/account/sessions/other/end"`, `name="csrf_token" value="tok123"`,
		`title="Firefox &#34;x&#34;"`, "fa-mobile-screen", "fa-desktop", "fa-globe", "Address unknown", `<span class="sr-only">Safari on iPhone (2001:db8::1)</span>`, "&lt;script&gt;",
		"Only the most recently active sessions are listed"} {
		if !strings.Contains(html, w) {
			t.Errorf("missing %q", w)
		}
	}
	if n := strings.Count(html, `/end"`); n != 1 {
		t.Errorf("%d sign-out forms, want 1 (not the current one, not one without a sid)", n)
	}
	// Read only (the admin's view): no sign-out forms.
	l.CanEnd = false
	if html := render(t, SessionItems(b, l, "none")); strings.Contains(html, "<form") {
		t.Error("a read-only list has forms")
	}
	if html := render(t, SessionItems(b, SessionList{}, "Nobody here.")); !strings.Contains(html, "Nobody here.") {
		t.Error("the empty list does not say so")
	}
}
