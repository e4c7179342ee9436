package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// auditTests cover the filters of the audit page and the batched export
// (models/store_audit.go).
var auditTests = []Test{
	{"Audit/Filters", testAuditFilters},
	{"Audit/Each", testAuditEach},
}

func init() { Tests = append(Tests, auditTests...) }

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
		names := []string{}
		for _, e := range got {
			names = append(names, e.Action)
		}
		eq(t, c.name, names, c.want)
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
