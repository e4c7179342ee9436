package pages

import (
	"testing"
	"time"
)

func TestAuditRelTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		-time.Minute: "", 0: "just now", 59 * time.Second: "just now", time.Minute: "1 minute ago", 59 * time.Minute: "59 minutes ago",
		time.Hour: "1 hour ago", 25 * time.Hour: "1 day ago", 30 * 24 * time.Hour: "30 days ago", 40 * 24 * time.Hour: "",
	} {
		if got := relTime(now.Add(-d), now); got != want {
			t.Errorf("relTime(-%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAuditActorLabel(t *testing.T) {
	t.Parallel()
	id := int64(7)
	for _, c := range []struct {
		row         AuditRow
		label, kind string
	}{
		{AuditRow{}, "anonymous", "anonymous"},
		{AuditRow{ActorID: &id}, "user #7", "user"},
		{AuditRow{Actor: "ada", ActorID: &id}, "ada", "user"},
		{AuditRow{Actor: "cli"}, "cli", "cli"},
		{AuditRow{Actor: "cli", ActorID: &id}, "cli", "user"}, // an account named cli
	} {
		if l, k := c.row.actorLabel(), c.row.actorKind(); l != c.label || k != c.kind {
			t.Errorf("%+v: %q %q, want %q %q", c.row, l, k, c.label, c.kind)
		}
	}
}

func TestAuditURLs(t *testing.T) {
	t.Parallel()
	d := AuditListData{Filter: AuditFilterForm{Action: "client.*", Outcome: "failure", Since: "2026-03-01"}, Offset: 50, PageSize: 50, Total: 120}
	for got, want := range map[string]string{
		d.PageURL(0):                              "/dashboard/audit?action=client.%2A&outcome=failure&since=2026-03-01",
		d.nextURL():                               "/dashboard/audit?action=client.%2A&offset=100&outcome=failure&since=2026-03-01",
		d.prevURL():                               "/dashboard/audit?action=client.%2A&outcome=failure&since=2026-03-01",
		d.ExportURL():                             "/dashboard/audit/export?action=client.%2A&outcome=failure&since=2026-03-01",
		d.FilterURL("addr", "::1"):                "/dashboard/audit?action=client.%2A&addr=%3A%3A1&outcome=failure&since=2026-03-01",
		AuditListData{}.PageURL(0):                "/dashboard/audit",
		AuditListData{}.ExportURL():               "/dashboard/audit/export",
		AuditListData{}.FilterURL("actor", "a&b"): "/dashboard/audit?actor=a%26b",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	if (AuditListData{Offset: 100, PageSize: 50, Total: 120}).nextURL() != "" {
		t.Error("a next page after the last")
	}
}
