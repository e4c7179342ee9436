package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/models"
)

func testAudit(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now().Add(-time.Hour)
	add := func(action, actor string, minutes int, details map[string]string) *models.AuditEvent {
		e := &models.AuditEvent{Action: action, Actor: actor, ActorID: ptr(int64(7)), Target: "t", RemoteAddr: "192.0.2.1",
			Success: action != "login.failed", Details: details, CreatedAt: base.Add(time.Duration(minutes) * time.Minute).In(zone)}
		ok(t, s.AddAuditEvent(ctx, e))
		return e
	}
	e0 := add("login", "alice", 0, nil)
	eq(t, "nil Details", e0.Details, map[string]string{})
	add("login.failed", "bob", 1, map[string]string{"reason": "bad password", "ua": "Müller/1.0 ✓"})
	add("client.create", "alice", 2, map[string]string{})
	add("login", "bob", 3, nil)
	e4 := add("login", "alice", 4, map[string]string{"k": "v"})
	var raw string
	ok(t, s.DB().Raw("SELECT CAST(details AS TEXT) FROM audit_events WHERE id = ?", e0.ID).Scan(&raw).Error)
	eq(t, "stored nil Details", raw, "{}")

	all, total, err := s.ListAuditEvents(ctx, models.AuditFilter{})
	ok(t, err)
	eq(t, "total", total, int64(5))
	eq(t, "newest", all[0], *e4)
	eq(t, "oldest", all[4], *e0)
	eq(t, "unicode details", all[3].Details["ua"], "Müller/1.0 ✓")
	eq(t, "Success", all[3].Success, false)

	actions := func(es []models.AuditEvent) []string {
		return pluck(es, func(e models.AuditEvent) string { return fmt.Sprintf("%s/%s", e.Action, e.Actor) })
	}
	cases := []struct {
		f     models.AuditFilter
		want  []string
		total int64
	}{
		{models.AuditFilter{Action: "login"}, []string{"login/alice", "login/bob", "login/alice"}, 3},
		{models.AuditFilter{Actor: "bob"}, []string{"login/bob", "login.failed/bob"}, 2},
		{models.AuditFilter{Action: "login", Actor: "alice", Limit: 1}, []string{"login/alice"}, 2},
		{models.AuditFilter{Since: base.Add(2 * time.Minute)}, []string{"login/alice", "login/bob", "client.create/alice"}, 3},
		{models.AuditFilter{Until: base.Add(2 * time.Minute).In(zone)}, []string{"login.failed/bob", "login/alice"}, 2},
		{models.AuditFilter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, []string{"client.create/alice", "login.failed/bob"}, 2},
		{models.AuditFilter{Offset: 1, Limit: 2}, []string{"login/bob", "client.create/alice"}, 5},
		{models.AuditFilter{Action: "nope"}, []string{}, 0},
	}
	for _, c := range cases {
		got, total, err := s.ListAuditEvents(ctx, c.f)
		ok(t, err)
		eq(t, fmt.Sprintf("ListAuditEvents(%+v)", c.f), actions(got), c.want)
		eq(t, fmt.Sprintf("total of ListAuditEvents(%+v)", c.f), total, c.total)
	}
}

func testAuditFilters(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now().Add(-time.Hour)
	for i, e := range []models.AuditEvent{
		{Action: "login.success", Actor: "alice", Target: "alice", RemoteAddr: "192.0.2.1", Success: true},
		{Action: "login.failure", Actor: "", Target: "bob", RemoteAddr: "198.51.100.7"},
		{Action: "client.created", Actor: "alice", Target: "app-1", RemoteAddr: "192.0.2.1", Success: true},
		{Action: "client.secret_rotated", Actor: "alice", Target: "app-1", RemoteAddr: "2001:db8::1", Success: true},
		{Action: "clientXcreated", Actor: "carol", Target: "app_1", RemoteAddr: "192.0.2.1", Success: true},
		{Action: "a_b.c", Actor: "carol", Target: "x", RemoteAddr: "192.0.2.9", Success: true},
		{Action: "axb.c", Actor: "carol", Target: "x", RemoteAddr: "192.0.2.9", Success: false},
	} {
		e.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		ok(t, s.AddAuditEvent(ctx, &e))
	}
	cases := []struct {
		name string
		f    models.AuditFilter
		want []string
	}{
		{"target", models.AuditFilter{Target: "app-1"}, []string{"client.secret_rotated", "client.created"}},
		{"target is exact", models.AuditFilter{Target: "app"}, []string{}},
		{"address", models.AuditFilter{RemoteAddr: "192.0.2.1"}, []string{"clientXcreated", "client.created", "login.success"}},
		{"IPv6 address", models.AuditFilter{RemoteAddr: "2001:db8::1"}, []string{"client.secret_rotated"}},
		{"failures", models.AuditFilter{Success: ptr(false)}, []string{"axb.c", "login.failure"}},
		{"successes", models.AuditFilter{Success: ptr(true), Actor: "carol"}, []string{"a_b.c", "clientXcreated"}},
		{"action prefix", models.AuditFilter{Action: "client.*"}, []string{"client.secret_rotated", "client.created"}},
		{"prefix with LIKE wildcards", models.AuditFilter{Action: "a_b.*"}, []string{"a_b.c"}},
		{"percent is literal", models.AuditFilter{Action: "%.*"}, []string{}},
		{"exact action is not a prefix", models.AuditFilter{Action: "client"}, []string{}},
		{"combined", models.AuditFilter{Action: "login.*", Success: ptr(true), RemoteAddr: "192.0.2.1", Since: base}, []string{"login.success"}},
	}
	for _, c := range cases {
		got, total, err := s.ListAuditEvents(ctx, c.f)
		ok(t, err)
		eq(t, c.name, pluck(got, func(e models.AuditEvent) string { return e.Action }), c.want)
		eq(t, c.name+" total", total, int64(len(c.want)))
	}
}

func testAuditEach(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now().Add(-time.Hour)
	// 20 events; several share a time, so the walk must order (and
	// resume) by id within one time.
	var want []int64
	for i := range 20 {
		e := &models.AuditEvent{Action: "login.success", Actor: fmt.Sprint("u", i%2), Success: true,
			CreatedAt: base.Add(time.Duration(i/3) * time.Second).In(zone)}
		if i == 5 {
			// added out of order: older than the ones before it
			e.CreatedAt = base.Add(-time.Minute)
		}
		ok(t, s.AddAuditEvent(ctx, e))
		if e.Actor == "u1" {
			if i == 5 {
				want = append([]int64{e.ID}, want...)
			} else {
				want = append(want, e.ID)
			}
		}
	}
	var got []int64
	var sizes []int
	err := s.EachAuditEvent(ctx, models.AuditFilter{Actor: "u1", Offset: 3, Limit: 1}, 3, func(es []models.AuditEvent) error {
		sizes = append(sizes, len(es))
		for _, e := range es {
			got = append(got, e.ID)
			sameTime(t, "CreatedAt", e.CreatedAt, e.CreatedAt.UTC())
		}
		// Events added during the walk are not part of it.
		ok(t, s.AddAuditEvent(ctx, &models.AuditEvent{Action: "audit.exported", Actor: "u1"}))
		return nil
	})
	ok(t, err)
	eq(t, "ids, oldest first", got, want)
	eq(t, "batch sizes", sizes, []int{3, 3, 3, 1})

	// Exactly a multiple of the batch: no empty call.
	sizes = nil
	ok(t, s.EachAuditEvent(ctx, models.AuditFilter{Actor: "u0"}, 5, func(es []models.AuditEvent) error {
		sizes = append(sizes, len(es))
		return nil
	}))
	eq(t, "batch sizes of 10", sizes, []int{5, 5})

	calls := 0
	ok(t, s.EachAuditEvent(ctx, models.AuditFilter{Actor: "nobody"}, 0, func([]models.AuditEvent) error { calls++; return nil }))
	eq(t, "calls without matches", calls, 0)

	boom := errors.New("boom")
	calls = 0
	isErr(t, s.EachAuditEvent(ctx, models.AuditFilter{}, 2, func([]models.AuditEvent) error { calls++; return boom }), boom)
	eq(t, "calls after an error", calls, 1)
}

// storedBytes is the size of the event's stored fields, in bytes, as the
// database reports it.
func storedBytes(t *testing.T, s *models.Store, id int64) (action, actor, target, addr, details int) {
	t.Helper()
	var row struct{ A, B, C, D, E int }
	ok(t, s.DB().Raw(`SELECT OCTET_LENGTH(action) AS a, OCTET_LENGTH(actor) AS b, OCTET_LENGTH(target) AS c,
		OCTET_LENGTH(remote_addr) AS d, OCTET_LENGTH(CAST(details AS TEXT)) AS e FROM audit_events WHERE id = ?`, id).Scan(&row).Error)
	return row.A, row.B, row.C, row.D, row.E
}

// testAuditBounds writes an event whose every field is huge, with text
// PostgreSQL refuses (NUL, invalid UTF-8) and multi-byte characters across
// the cut: it is stored (PostgreSQL's indexes take it), each field cut to
// its bound on a character boundary with the "…" marker, and the details
// capped with a note of how many were left out.
func testAuditBounds(t *testing.T, s *models.Store) {
	ctx := t.Context()
	huge := strings.Repeat("é", 450_000) // 900 KB, two bytes a character
	details := map[string]string{}
	for i := range 500 {
		details[fmt.Sprintf("k%03d", i)+huge[:2000]] = huge
	}
	details["nul"] = "a\x00b\xffc"
	e := &models.AuditEvent{Action: "x." + huge, Actor: huge, Target: "€" + huge, RemoteAddr: huge, Details: details}
	ok(t, s.AddAuditEvent(ctx, e))

	a, b, c, d, det := storedBytes(t, s, e.ID)
	if a > models.AuditMaxAction || b > models.AuditMaxActor || c > models.AuditMaxTarget || d > models.AuditMaxRemoteAddr {
		t.Errorf("stored sizes action %d actor %d target %d address %d", a, b, c, d)
	}
	maxDetails := models.AuditMaxDetails*(models.AuditMaxDetailKey+models.AuditMaxDetailValue+16) + 64
	if det > maxDetails || det < 10_000 {
		t.Errorf("stored details: %d bytes, want some and at most %d", det, maxDetails)
	}

	got, _, err := s.ListAuditEvents(ctx, models.AuditFilter{})
	ok(t, err)
	eq(t, "events", len(got), 1)
	g := got[0]
	for name, v := range map[string]string{"action": g.Action, "actor": g.Actor, "target": g.Target, "address": g.RemoteAddr} {
		if !utf8.ValidString(v) || !strings.HasSuffix(v, models.AuditTruncated) {
			t.Errorf("%s %q: not cut with the marker on a character boundary", name, v)
		}
	}
	if !strings.HasPrefix(g.Target, "€é") || !strings.HasPrefix(g.Action, "x.é") {
		t.Errorf("cut values do not keep their start: %q %q", g.Action, g.Target)
	}
	eq(t, "details kept", len(g.Details), models.AuditMaxDetails)
	eq(t, "details left out", g.Details[models.AuditMoreDetails], fmt.Sprintf("%d more details left out", 501-(models.AuditMaxDetails-1)))
	for k, v := range g.Details {
		if k == models.AuditMoreDetails {
			continue
		}
		if len(k) > models.AuditMaxDetailKey || len(v) > models.AuditMaxDetailValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			t.Errorf("detail %d bytes = %d bytes: not bounded", len(k), len(v))
		}
	}

	// Text PostgreSQL refuses is stored made valid, not lost.
	e2 := &models.AuditEvent{Action: "login.failure", Target: "bad\x00name\xfe", Details: map[string]string{"k\x00": "v\xc3"}}
	ok(t, s.AddAuditEvent(ctx, e2))
	got, _, err = s.ListAuditEvents(ctx, models.AuditFilter{Action: "login.failure"})
	ok(t, err)
	eq(t, "made valid", len(got), 1)
	eq(t, "target", got[0].Target, "bad\uFFFDname\uFFFD")
	eq(t, "details", got[0].Details, map[string]string{"k\uFFFD": "v\uFFFD"})

	// Ordinary events are stored as they are.
	plain := &models.AuditEvent{Action: "client.updated", Actor: "alice", Target: "app-1", RemoteAddr: "2001:db8::1",
		Details: map[string]string{"redirect_uris": strings.Repeat("https://app.example.com/cb ", 30)}}
	want := *plain
	ok(t, s.AddAuditEvent(ctx, plain))
	got, _, err = s.ListAuditEvents(ctx, models.AuditFilter{Action: "client.updated"})
	ok(t, err)
	eq(t, "plain target", got[0].Target, want.Target)
	eq(t, "plain details", got[0].Details, want.Details)
	eq(t, "plain count", got[0].Count, int64(1))
}

// testAuditCounted: repeated attempts within the window are one event
// whose count goes up; another address, target, outcome, details, or the
// window passing make a new event.
func testAuditCounted(t *testing.T, s *models.Store) {
	ctx := t.Context()
	since := time.Now().Add(-10 * time.Minute)
	throttled := func(target, addr string, details map[string]string) *models.AuditEvent {
		e := &models.AuditEvent{Action: "login.throttled", Target: target, RemoteAddr: addr, Details: details}
		ok(t, s.AddAuditEventCounted(ctx, e, since))
		return e
	}
	var first *models.AuditEvent
	for i := range 50 {
		e := throttled("alice", "192.0.2.1", nil)
		if i == 0 {
			first = e
		}
		eq(t, "same event", e.ID, first.ID)
		eq(t, "count", e.Count, int64(i+1))
	}
	throttled("alice", "192.0.2.2", nil)
	throttled("bob", "192.0.2.1", nil)
	throttled("alice", "192.0.2.1", map[string]string{"grant": "password"})
	throttled("alice", "192.0.2.1", map[string]string{"grant": "password"})
	// A huge target is bounded before it is compared: still one event.
	huge := strings.Repeat("x", 100_000)
	throttled(huge, "192.0.2.3", nil)
	throttled(huge+"y", "192.0.2.3", nil)

	all, total, err := s.ListAuditEvents(ctx, models.AuditFilter{Action: "login.throttled"})
	ok(t, err)
	eq(t, "events", total, int64(5))
	counts := map[string]int64{}
	for _, e := range all {
		counts[fmt.Sprint(e.Target[:min(len(e.Target), 5)], " ", e.RemoteAddr, " ", e.Details["grant"])] = e.Count
	}
	eq(t, "counts", counts, map[string]int64{"alice 192.0.2.1 ": 50, "alice 192.0.2.2 ": 1, "bob 192.0.2.1 ": 1,
		"alice 192.0.2.1 password": 2, "xxxxx 192.0.2.3 ": 2})

	// Once the window has passed (the event is older than since), a new
	// event starts.
	old := &models.AuditEvent{Action: "login.throttled", Target: "carol", RemoteAddr: "192.0.2.9", CreatedAt: since.Add(-time.Second)}
	ok(t, s.AddAuditEvent(ctx, old))
	e := throttled("carol", "192.0.2.9", nil)
	if e.ID == old.ID || e.Count != 1 {
		t.Errorf("event past the window counted: %+v", e)
	}
	// Other outcomes or actors are other events.
	ok(t, s.AddAuditEventCounted(ctx, &models.AuditEvent{Action: "login.throttled", Target: "carol", RemoteAddr: "192.0.2.9", Actor: "carol", ActorID: ptr(int64(3))}, since))
	_, total, err = s.ListAuditEvents(ctx, models.AuditFilter{Target: "carol"})
	ok(t, err)
	eq(t, "carol's events", total, int64(3))
}

// testAuditRetentionSweep: DeleteExpiredBatch on audit events deletes
// the ones created before the cut, in batches, and keeps the rest.
func testAuditRetentionSweep(t *testing.T, s *models.Store) {
	ctx := t.Context()
	cut := now().Add(-90 * 24 * time.Hour)
	for i := range 7 {
		ok(t, s.AddAuditEvent(ctx, &models.AuditEvent{Action: "login.success", Target: "old", CreatedAt: cut.Add(-time.Duration(i+1) * time.Hour)}))
	}
	ok(t, s.AddAuditEvent(ctx, &models.AuditEvent{Action: "login.success", Target: "recent", CreatedAt: cut.Add(time.Minute)}))
	n, err := s.DeleteExpiredBatch(ctx, models.ExpireAuditEvents, cut, 5)
	ok(t, err)
	eq(t, "first batch", n, int64(5))
	n, err = s.DeleteExpiredBatch(ctx, models.ExpireAuditEvents, cut, 5)
	ok(t, err)
	eq(t, "second batch", n, int64(2))
	left, total, err := s.ListAuditEvents(ctx, models.AuditFilter{})
	ok(t, err)
	eq(t, "left", total, int64(1))
	eq(t, "kept", left[0].Target, "recent")
}
