package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func seedClient(t *testing.T, st *models.Store) string {
	t.Helper()
	c := &models.Client{ClientID: "batch-client", Name: "Batch"}
	if err := st.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c.ClientID
}

func newToken(clientID string) *models.Token {
	return &models.Token{TokenHash: secret.Random(32), Kind: models.TokenAccess, ClientID: clientID, FamilyID: "fam",
		ExpiresAt: time.Now().Add(time.Hour)}
}

// Concurrent CreateTokens calls are grouped, yet each returns only once
// its own rows are stored, with their IDs set.
func TestCreateTokensConcurrentCallsAllStored(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		cid := seedClient(t, st)
		ctx := context.Background()
		const callers, perCaller = 16, 40
		var wg sync.WaitGroup
		errs := make(chan error, callers*perCaller)
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perCaller; i++ {
					a, r := newToken(cid), newToken(cid)
					r.Kind = models.TokenRefresh
					if err := st.CreateTokens(ctx, a, r); err != nil {
						errs <- err
						return
					}
					if a.ID == 0 || r.ID == 0 {
						errs <- errors.New("ID not set")
						return
					}
					// Stored by the time CreateTokens returns.
					if _, err := st.GetToken(ctx, a.TokenHash); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var n int64
		db.Model(&models.Token{}).Count(&n)
		if n != callers*perCaller*2 {
			t.Fatalf("%d rows, want %d", n, callers*perCaller*2)
		}
	})
}

// A duplicate hash fails its own call only, even when grouped with
// others.
func TestCreateTokensDuplicateFailsOnlyItsCall(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		cid := seedClient(t, st)
		ctx := context.Background()
		taken := newToken(cid)
		if err := st.CreateTokens(ctx, taken); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 5; round++ {
			var wg sync.WaitGroup
			results := make([]error, 12)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tok := newToken(cid)
					if i == 5 {
						tok.TokenHash = taken.TokenHash
					}
					results[i] = st.CreateTokens(ctx, tok)
				}()
			}
			wg.Wait()
			for i, err := range results {
				if i == 5 {
					if !errors.Is(err, store.ErrAlreadyExists) {
						t.Fatalf("duplicate: %v, want ErrAlreadyExists", err)
					}
				} else if err != nil {
					t.Fatalf("call %d failed with the duplicate: %v", i, err)
				}
			}
		}
	})
}

// Inside a transaction the insert belongs to the transaction (no
// grouping): a rollback removes it.
func TestCreateTokensInTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		cid := seedClient(t, st)
		ctx := context.Background()
		tok := newToken(cid)
		boom := errors.New("boom")
		err := st.Tx(ctx, func(tx *models.Store) error {
			if err := tx.CreateTokens(ctx, tok); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := st.GetToken(ctx, tok.TokenHash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled-back token found: %v", err)
		}
	})
}
