package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// Unbounded input in the audit log (issue 14, item 3): usernames longer
// than any account's are refused before the throttle or the audit log
// see them, every audit field is bounded, and a burst of throttled
// sign-ins is one counted row.

// boundsHarnesses runs fn on SQLite and PostgreSQL with a server that
// trusts X-Forwarded-For (each request says its address), passing the
// database URL too.
func boundsHarnesses(t *testing.T, fn func(t *testing.T, h *harness, dbURL string)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			u := b.URL(t)
			fn(t, newHarness(t, u, map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "0.0.0.0/0,::/0"}), u)
		})
	}
}

// logBytes is how many bytes the audit log and the throttle counts hold
// (their text columns), and how many rows.
func logBytes(t *testing.T, h *harness) (bytes, rows int64) {
	t.Helper()
	var a, b struct{ N, Rows int64 }
	must(t, h.store.DB().Raw(`SELECT COALESCE(SUM(OCTET_LENGTH(actor) + OCTET_LENGTH(action) + OCTET_LENGTH(target) +
		OCTET_LENGTH(remote_addr) + OCTET_LENGTH(CAST(details AS TEXT))), 0) AS n, COUNT(*) AS rows FROM audit_events`).Scan(&a).Error)
	must(t, h.store.DB().Raw(`SELECT COALESCE(SUM(OCTET_LENGTH(key)), 0) AS n, COUNT(*) AS rows FROM throttle_events`).Scan(&b).Error)
	return a.N + b.N, a.Rows + b.Rows
}

// storageBytes is the size of the database as stored: the SQLite file
// (after a checkpoint moved the WAL into it), or the PostgreSQL tables
// the sign-in writes to, indexes included.
func storageBytes(t *testing.T, h *harness, dbURL string) int64 {
	t.Helper()
	if path, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		must(t, h.store.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error)
		st, err := os.Stat(path)
		must(t, err)
		return st.Size()
	}
	var n int64
	must(t, h.store.DB().Raw(`SELECT pg_total_relation_size('audit_events') + pg_total_relation_size('throttle_events') +
		pg_total_relation_size('web_sessions')`).Scan(&n).Error)
	return n
}

// noLongText fails when an audit or throttle row holds a text of more
// than a kilobyte, or the attacker's marker.
func noLongText(t *testing.T, h *harness, marker string) {
	t.Helper()
	n := 0
	for _, e := range auditEvents(t, h) {
		raw, _ := json.Marshal(e)
		if len(raw) > 4096 || strings.Contains(string(raw), marker) {
			if n++; n <= 3 {
				t.Errorf("audit event %s holds the long name: %.200s", e.Action, raw)
			}
		}
	}
	var keys []string
	must(t, h.store.DB().Model(&models.ThrottleEvent{}).Pluck("key", &keys).Error)
	for _, k := range keys {
		if len(k) > 200 || strings.Contains(k, marker) {
			if n++; n <= 3 {
				t.Errorf("throttle key holds the long name: %.200s", k)
			}
		}
	}
	if n > 3 {
		t.Errorf("%d rows in all hold the long name", n)
	}
}

// TestLongUsernameAttack performs the attack of the issue: 40 sign-in
// POSTs with 900 KB usernames, then the same at the password grant and
// the headless authorization. Each is refused at once with a clear
// message (a field error on the form, 400 invalid_request in OAuth), the
// database barely grows, and no audit or throttle row holds the name.
func TestLongUsernameAttack(t *testing.T) {
	t.Parallel()
	boundsHarnesses(t, func(t *testing.T, h *harness, dbURL string) {
		f := newOAuthFixture(t, h)
		f.set("allow_password_grant", "true")
		marker := "zqzqzqzqzqzqzqzqzqzq"
		long := marker + strings.Repeat("a", 900_000)
		beforeLog, beforeRows := logBytes(t, h)
		beforeDisk := storageBytes(t, h, dbURL)

		// Every request of the attack is made; what went wrong is
		// reported once per kind.
		bad := map[string]string{}
		check := func(what string, r *response, ok bool) {
			if !ok && bad[what] == "" {
				bad[what] = fmt.Sprintf("%d %.200s", r.StatusCode, r.body)
			}
		}
		attacker := browserAt(h, "198.51.100.66")
		start := time.Now()
		for i := range 40 {
			r := attacker.post("/login", "/login", url.Values{"username": {long}, "password": {"whatever it is"}, "next": {"/dashboard/clients"}})
			check("sign-in form: 400", r, r.StatusCode == http.StatusBadRequest)
			check("sign-in form: the username is not sent back", r, len(r.body) < 100_000)
			if i == 0 {
				admContains(t, "form", r.body, "Usernames are at most 64 characters long.", `aria-invalid="true"`, `value="/dashboard/clients"`)
			}
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))
		tooLong := func(r *response) bool {
			return r.StatusCode == http.StatusBadRequest && strings.Contains(r.body, `"error":"invalid_request"`) && strings.Contains(r.body, "username is too long")
		}
		for range 40 {
			r := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {long}, "password": {"x"}},
				"Authorization", basic, "X-Forwarded-For", "198.51.100.67")
			check("password grant: invalid_request", r, tooLong(r))
			v := f.authzParams("username", long, "password", "x", "code_challenge", f.challenge, "code_challenge_method", "S256")
			r = f.do(http.MethodPost, "/oauth/authorize", v, "Accept", "application/json", "X-Forwarded-For", "198.51.100.68")
			check("headless authorize: invalid_request", r, tooLong(r))
		}
		t.Logf("120 refused requests in %v", time.Since(start))
		for what, got := range bad {
			t.Errorf("%s: got %s", what, got)
		}

		afterLog, afterRows := logBytes(t, h)
		if afterRows != beforeRows || afterLog != beforeLog {
			t.Errorf("the audit log and throttle grew from %d rows (%d bytes) to %d rows (%d bytes)", beforeRows, beforeLog, afterRows, afterLog)
		}
		if grew := storageBytes(t, h, dbURL) - beforeDisk; grew > 300_000 {
			t.Errorf("the database grew by %d bytes", grew)
		}
		noLongText(t, h, marker)

		// A name of 65 bytes is refused; one of 64 (33 two-byte
		// characters are 66) goes through the usual check.
		b := browserAt(h, "198.51.100.69")
		wantStatus(t, "65 bytes", b.post("/login", "/login", url.Values{"username": {strings.Repeat("b", 65)}, "password": {"x"}}), http.StatusBadRequest)
		wantStatus(t, "66 bytes in 33 characters", b.post("/login", "/login", url.Values{"username": {strings.Repeat("é", 33)}, "password": {"x"}}), http.StatusBadRequest)
		wantStatus(t, "64 bytes", b.post("/login", "/login", url.Values{"username": {strings.Repeat("b", 64)}, "password": {"x"}}), http.StatusUnauthorized)
		wantAudit(t, h, "login.failure", strings.Repeat("b", 64), "", "198.51.100.69", false)

		// The audit page stays small and readable.
		root := browserAt(h, "203.0.113.10")
		h.createUser("root", pw, models.RoleAdmin)
		root.signIn("root")
		r := root.get("/dashboard/audit")
		wantStatus(t, "audit page", r, http.StatusOK)
		if len(r.body) > 200_000 {
			t.Errorf("audit page: %d bytes", len(r.body))
		}
	})
}

// TestAuditHugeEventBounded: an event with huge values (whatever a
// future caller passes) is recorded, not lost to PostgreSQL's index
// limit, with every field cut to its bound, and the audit page shows the
// cut values with their marker and stays small.
func TestAuditHugeEventBounded(t *testing.T) {
	t.Parallel()
	boundsHarnesses(t, func(t *testing.T, h *harness, _ string) {
		ctx := context.Background()
		// A direct write with huge values, as any future caller might.
		huge := strings.Repeat("ü", 300_000)
		e := &models.AuditEvent{Action: "client.updated", Actor: huge, Target: huge, RemoteAddr: huge,
			Details: map[string]string{"redirect_uris": huge, "scopes": huge}}
		if err := h.store.AddAuditEvent(ctx, e); err != nil {
			t.Fatalf("huge event not recorded: %v", err)
		}
		evs := admAudit(t, h, "client.updated")
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		got := evs[0]
		if len(got.Target) > models.AuditMaxTarget || len(got.Actor) > models.AuditMaxActor || len(got.Details["scopes"]) > models.AuditMaxDetailValue ||
			!strings.HasSuffix(got.Target, "…") {
			t.Errorf("stored sizes: target %d actor %d scopes %d", len(got.Target), len(got.Actor), len(got.Details["scopes"]))
		}
		// The page shows the cut values with their marker.
		root := browserAt(h, "203.0.113.10")
		h.createUser("root", pw, models.RoleAdmin)
		root.signIn("root")
		r := root.get("/dashboard/audit?action=client.updated")
		wantStatus(t, "audit page", r, http.StatusOK)
		admContains(t, "audit page", r.body, "üü…")
		if len(r.body) > 100_000 {
			t.Errorf("audit page: %d bytes", len(r.body))
		}
	})
}

// TestThrottledSignInsCounted: 50 sign-ins refused by the throttle are
// one audit row with count 50, shown as "×50" on the audit page and as
// "count": 50 in the export; the password grant's throttled attempts are
// counted the same way (in their own row: another grant).
func TestThrottledSignInsCounted(t *testing.T) {
	t.Parallel()
	boundsHarnesses(t, func(t *testing.T, h *harness, _ string) {
		f := newOAuthFixture(t, h)
		f.set("allow_password_grant", "true")
		attacker := browserAt(h, "198.51.100.70")
		for range 10 {
			wantStatus(t, "failure", attacker.post("/login", "/login", url.Values{"username": {"alice"}, "password": {"wrong password!"}}), http.StatusUnauthorized)
		}
		for range 50 {
			wantStatus(t, "throttled", attacker.post("/login", "/login", url.Values{"username": {"alice"}, "password": {"wrong password!"}}), http.StatusTooManyRequests)
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))
		for range 7 {
			r := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}},
				"Authorization", basic, "X-Forwarded-For", "198.51.100.70")
			wantStatus(t, "password grant throttled", r, http.StatusTooManyRequests)
		}
		evs := admAudit(t, h, "login.throttled")
		if len(evs) != 2 {
			t.Fatalf("%d login.throttled rows, want 2: %+v", len(evs), evs)
		}
		counts := map[string]int64{}
		for _, e := range evs {
			if e.Target != "alice" || e.RemoteAddr != "198.51.100.70" || e.Success {
				t.Errorf("throttled event: %+v", e)
			}
			counts[e.Details["grant"]] = e.Count
		}
		if counts[""] != 50 || counts["password"] != 7 {
			t.Errorf("counts %v, want 50 for the form and 7 for the password grant", counts)
		}

		root := browserAt(h, "203.0.113.10")
		h.createUser("root", pw, models.RoleAdmin)
		root.signIn("root")
		r := root.get("/dashboard/audit?action=login.throttled")
		wantStatus(t, "audit page", r, http.StatusOK)
		admContains(t, "audit page", r.body, "×50", "×7", "(50 times)")
		r = root.get("/dashboard/audit/export?action=login.throttled")
		wantStatus(t, "export", r, http.StatusOK)
		lines := readExport(t, r.body)
		got := map[int64]bool{}
		for _, l := range lines {
			got[l.Count] = true
		}
		if len(lines) != 2 || !got[50] || !got[7] {
			t.Errorf("export: %+v", lines)
		}
	})
}

// TestUsernameBoundsAgree: the sign-in form (accounts) and the OAuth core
// refuse usernames at the same length, the longest an account can have.
func TestUsernameBoundsAgree(t *testing.T) {
	t.Parallel()
	if accounts.MaxUsernameBytes != oauth.MaxUsernameBytes {
		t.Fatalf("accounts allow %d bytes, the OAuth core %d", accounts.MaxUsernameBytes, oauth.MaxUsernameBytes)
	}
	if accounts.CheckUsername(strings.Repeat("a", accounts.MaxUsernameBytes)) != "" || accounts.CheckUsername(strings.Repeat("a", accounts.MaxUsernameBytes+1)) == "" {
		t.Fatal("account creation does not allow exactly MaxUsernameBytes")
	}
}

// An address blocked by the per-address limit that goes on with a new
// username each time (the reviewer's 3,000 requests, 3,000 rows) adds a
// row per username for the first few only; the rest are one counted row.
func TestThrottledSignInsManyUsernamesCounted(t *testing.T) {
	t.Parallel()
	boundsHarnesses(t, func(t *testing.T, h *harness, _ string) {
		attacker := browserAt(h, "198.51.100.71")
		for i := range 30 {
			wantStatus(t, "failure", attacker.post("/login", "/login", url.Values{"username": {fmt.Sprintf("guess%d", i)}, "password": {"wrong password!"}}), http.StatusUnauthorized)
		}
		for i := range 60 {
			wantStatus(t, "throttled", attacker.post("/login", "/login", url.Values{"username": {fmt.Sprintf("other%d", i)}, "password": {"wrong password!"}}), http.StatusTooManyRequests)
		}
		evs := admAudit(t, h, "login.throttled")
		var total int64
		for _, e := range evs {
			total += e.Count
		}
		if len(evs) > 11 || total != 60 {
			t.Fatalf("%d login.throttled rows counting %d attempts, want at most 11 rows counting 60", len(evs), total)
		}
	})
}
