package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// The cache counters are bumped at commit (deferred triggers), so a
// transaction that writes several cached rows never holds the counter row
// while it waits for another row: a concurrent single write of a later
// key goes through at once instead of deadlocking with it (PostgreSQL; on
// SQLite writers take turns anyway).
func TestCacheCountersTakeNoLockBeforeCommit(t *testing.T) {
	st := models.New(dbtest.Open(t, dbtest.PostgresURL(t)))
	ctx := context.Background()
	before, err := st.CacheVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan struct{})
	other := make(chan error, 1)
	err = st.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetSetting(ctx, "enforce_state", "false"); err != nil {
			return err
		}
		close(wrote)
		// Another connection writes a later key while this transaction is
		// open; it must not wait for this one to end.
		go func() { other <- st.SetSetting(ctx, "require_pkce", "all") }()
		select {
		case err := <-other:
			if err != nil {
				return err
			}
		case <-time.After(5 * time.Second):
			t.Error("a concurrent write waited for this transaction: the counter row is locked before commit")
			return nil
		}
		return tx.SetSetting(ctx, "require_pkce", "none")
	})
	<-wrote
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	after, err := st.CacheVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two commits that changed settings: the counter moved twice, and
	// nothing else moved.
	if after.Settings != before.Settings+2 || after.Clients != before.Clients || after.Tokens != before.Tokens {
		t.Errorf("counters %+v -> %+v", before, after)
	}
	// An UPDATE that changes no row moves nothing.
	if err := st.DB().Exec("UPDATE settings SET value = value WHERE key = 'no-such-key'").Error; err != nil {
		t.Fatal(err)
	}
	if again, _ := st.CacheVersions(ctx); again != after {
		t.Errorf("an UPDATE of no rows moved the counters: %+v -> %+v", after, again)
	}
}
