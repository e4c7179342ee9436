package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// sweepFixture stores, in every table the sweeper purges, rows that must
// go and rows that must stay, and returns a check of the outcome.
func sweepFixture(t *testing.T, db *gorm.DB, now time.Time, expiredPerTable int) func() {
	t.Helper()
	ctx := context.Background()
	st := models.New(db)
	u := &models.User{Username: "sweep", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c := &models.Client{ClientID: "sweep-client", Name: "Sweep"}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	var tokens []*models.Token
	var codes []*models.AuthorizationCode
	for i := 0; i < expiredPerTable; i++ {
		tokens = append(tokens, &models.Token{TokenHash: secret.Random(32), Kind: models.TokenAccess, ClientID: c.ClientID, FamilyID: "f", ExpiresAt: past, CreatedAt: past})
		codes = append(codes, &models.AuthorizationCode{CodeHash: secret.Random(32), ClientID: c.ClientID, UserID: u.ID, FamilyID: "f",
			AuthTime: past, ExpiresAt: now.Add(-25 * time.Hour), CreatedAt: past})
		must(t, db.Create(&models.WebSession{IDHash: secret.Random(32), Data: []byte{1}, ExpiresAt: past, CreatedAt: past, UpdatedAt: past}).Error)
		must(t, db.Create(&models.ThrottleEvent{Key: "k", CreatedAt: now.Add(-2 * time.Hour)}).Error)
		must(t, db.Create(&models.OneTimeToken{TokenHash: secret.Random(32), Purpose: "setup", ExpiresAt: past, CreatedAt: past}).Error)
		must(t, db.Create(&models.RevokedFamily{FamilyID: "old" + string(rune('a'+i)), RevokedAt: now.Add(-2 * time.Hour)}).Error)
		must(t, db.Create(&models.DeviceCode{DeviceCodeHash: secret.Random(32), UserCode: "OLD" + string(rune('A'+i)), ClientID: c.ClientID,
			Status: models.DevicePending, IntervalSeconds: 5, ExpiresAt: now.Add(-2 * time.Hour), CreatedAt: past}).Error)
		must(t, db.Create(&models.PushedRequest{RequestHash: secret.Random(32), ClientID: c.ClientID, Params: "x=1", ExpiresAt: past, CreatedAt: past}).Error)
	}
	live := &models.Token{TokenHash: secret.Random(32), Kind: models.TokenRefresh, ClientID: c.ClientID, FamilyID: "live", ExpiresAt: future, CreatedAt: now}
	tokens = append(tokens, live)
	// Expired an hour ago: within the grace that keeps replay detection.
	recentCode := &models.AuthorizationCode{CodeHash: secret.Random(32), ClientID: c.ClientID, UserID: u.ID, FamilyID: "g",
		AuthTime: past, ExpiresAt: now.Add(-time.Hour), CreatedAt: past}
	codes = append(codes, recentCode)
	must(t, db.CreateInBatches(tokens, 100).Error)
	must(t, db.CreateInBatches(codes, 100).Error)
	must(t, db.Create(&models.WebSession{IDHash: secret.Random(32), Data: []byte{1}, ExpiresAt: future, CreatedAt: now, UpdatedAt: now}).Error)
	must(t, db.Create(&models.ThrottleEvent{Key: "k", CreatedAt: now.Add(-time.Minute)}).Error)
	must(t, db.Create(&models.OneTimeToken{TokenHash: secret.Random(32), Purpose: "setup", ExpiresAt: future, CreatedAt: now}).Error)
	must(t, db.Create(&models.RevokedFamily{FamilyID: "recent", RevokedAt: now.Add(-time.Minute)}).Error)
	// Expired a minute ago: kept a while, so the device polling is told
	// expired_token.
	must(t, db.Create(&models.DeviceCode{DeviceCodeHash: secret.Random(32), UserCode: "LIVE", ClientID: c.ClientID,
		Status: models.DevicePending, IntervalSeconds: 5, ExpiresAt: past, CreatedAt: past}).Error)
	must(t, db.Create(&models.PushedRequest{RequestHash: secret.Random(32), ClientID: c.ClientID, Params: "x=1", ExpiresAt: future, CreatedAt: now}).Error)

	return func() {
		t.Helper()
		for _, m := range []any{&models.Token{}, &models.AuthorizationCode{}, &models.WebSession{}, &models.ThrottleEvent{},
			&models.OneTimeToken{}, &models.RevokedFamily{}, &models.DeviceCode{}, &models.PushedRequest{}} {
			var n int64
			must(t, db.Model(m).Count(&n).Error)
			if n != 1 {
				t.Errorf("%T: %d rows left, want only the live one", m, n)
			}
		}
		if _, err := st.GetToken(ctx, live.TokenHash); err != nil {
			t.Errorf("live token swept: %v", err)
		}
		if _, err := st.GetAuthorizationCode(ctx, recentCode.CodeHash); err != nil {
			t.Errorf("recently expired code swept before its grace: %v", err)
		}
	}
}

// sweptTables is how many tables sweepFixture fills with expired rows.
const sweptTables = 8

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSweeperDeletesExpiredInBatches(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		now := time.Now().UTC()
		check := sweepFixture(t, db, now, 7)
		pruned := 0
		w := &Sweeper{Store: models.New(db), Batch: 3, Pause: time.Millisecond, Now: func() time.Time { return now },
			Prune: func(context.Context) (int64, error) { pruned++; return 0, nil }}
		n, err := w.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n != 7*sweptTables {
			t.Errorf("deleted %d rows, want %d", n, 7*sweptTables)
		}
		if pruned != 1 {
			t.Errorf("signing keys pruned %d times, want 1", pruned)
		}
		check()
		// Nothing left: a second pass deletes nothing.
		if n, err := w.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("second sweep: %d %v", n, err)
		}
	})
}

// Several instances sweep the same database at once without errors and
// without deleting anything twice or anything live.
func TestSweepersOnSeveralInstances(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		now := time.Now().UTC()
		check := sweepFixture(t, db, now, 25)
		var wg sync.WaitGroup
		totals := make([]int64, 3)
		errs := make([]error, 3)
		for i := range totals {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := &Sweeper{Store: models.New(db), Batch: 4, Pause: time.Millisecond, Now: func() time.Time { return now }}
				totals[i], errs[i] = w.Sweep(context.Background())
			}()
		}
		wg.Wait()
		var sum int64
		for i := range totals {
			if errs[i] != nil {
				t.Fatalf("sweeper %d: %v", i, errs[i])
			}
			sum += totals[i]
		}
		if sum != 25*sweptTables {
			t.Errorf("deleted %d rows in all, want %d", sum, 25*sweptTables)
		}
		check()
	})
}

func TestSweeperRunStopsWithContext(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		(&Sweeper{Store: models.New(db), Interval: time.Millisecond, Log: NewLogger(&discard{}, "error", "text")}).Run(ctx)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

type discard struct{}

func (*discard) Write(p []byte) (int, error) { return len(p), nil }

// TestSweeperAuditRetention: the server's sweeper deletes audit events
// older than audit_retention (2160h by default), in batches, keeps the
// newer ones, and keeps everything while the setting is 0.
func TestSweeperAuditRetention(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		now := time.Now().UTC()
		add := func(target string, age time.Duration, n int) {
			for range n {
				must(t, h.store.AddAuditEvent(ctx, &models.AuditEvent{Action: "login.success", Target: target, CreatedAt: now.Add(-age)}))
			}
		}
		count := func(target string) int64 {
			_, n, err := h.store.ListAuditEvents(ctx, models.AuditFilter{Target: target})
			must(t, err)
			return n
		}
		add("ancient", 2200*time.Hour, 7)
		add("month", 30*24*time.Hour, 2)
		add("hour", time.Hour, 1)
		w := h.srv.sweeper()
		w.Batch, w.Pause = 3, time.Millisecond

		// 0 keeps everything.
		if _, err := h.srv.Handlers.Settings.Set(ctx, "audit_retention", "0"); err != nil {
			t.Fatal(err)
		}
		_, err := w.Sweep(ctx)
		must(t, err)
		if a, m, o := count("ancient"), count("month"), count("hour"); a != 7 || m != 2 || o != 1 {
			t.Fatalf("retention 0 deleted events: %d %d %d left", a, m, o)
		}

		// The default, 90 days: the ancient ones go, over several batches.
		if _, err := h.srv.Handlers.Settings.Set(ctx, "audit_retention", "2160h"); err != nil {
			t.Fatal(err)
		}
		n, err := w.Sweep(ctx)
		must(t, err)
		if a, m, o := count("ancient"), count("month"), count("hour"); a != 0 || m != 2 || o != 1 || n < 7 {
			t.Fatalf("retention 2160h: deleted %d; %d %d %d left", n, a, m, o)
		}

		// A week: the month-old ones go too.
		if _, err := h.srv.Handlers.Settings.Set(ctx, "audit_retention", "168h"); err != nil {
			t.Fatal(err)
		}
		_, err = w.Sweep(ctx)
		must(t, err)
		if m, o := count("month"), count("hour"); m != 0 || o != 1 {
			t.Fatalf("retention 168h: %d %d left", m, o)
		}
	})
}
