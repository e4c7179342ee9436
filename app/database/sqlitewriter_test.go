package database

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"gorm.io/gorm"
)

func TestIsWrite(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]bool{
		"SELECT 1":                                    false,
		"  select * from tokens":                      false,
		"(SELECT 1)":                                  false,
		"EXPLAIN QUERY PLAN SELECT 1":                 false,
		"PRAGMA data_version":                         false,
		"PRAGMA journal_mode=WAL":                     true,
		"PRAGMA wal_checkpoint(TRUNCATE)":             true,
		"PRAGMA wal_checkpoint(PASSIVE)":              false,
		"INSERT INTO t VALUES (1)":                    true,
		"update t set a = 1":                          true,
		"DELETE FROM t":                               true,
		"WITH x AS (SELECT 1) SELECT * FROM x":        false,
		"WITH RECURSIVE c(x) AS (SELECT 1) INSERT ..": true,
		"BEGIN": true,
		"":      true,
	} {
		if got := isWrite(q); got != want {
			t.Errorf("isWrite(%q) = %v, want %v", q, got, want)
		}
	}
}

// Concurrent writers of one process, in statements and transactions,
// through two pools on one file (two instances in one process), all
// succeed: they take turns instead of failing with "database is locked".
func TestSQLiteWritersTakeTurns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.db")
	target, err := ParseURL("sqlite://" + path)
	if err != nil {
		t.Fatal(err)
	}
	var dbs []*gorm.DB
	for i := 0; i < 2; i++ {
		db, err := Open(target, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if s, err := db.DB(); err == nil {
				_ = s.Close()
			}
		})
		dbs = append(dbs, db)
	}
	if err := dbs[0].Exec("CREATE TABLE w (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)").Error; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := dbs[g%2].WithContext(ctx)
			for i := 0; i < 50; i++ {
				if err := db.Exec("INSERT INTO w (n) VALUES (?)", i).Error; err != nil {
					errs <- err
					return
				}
				var n int64
				if err := db.Raw("SELECT count(*) FROM w").Scan(&n).Error; err != nil {
					errs <- err
					return
				}
				err := db.Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec("INSERT INTO w (n) VALUES (?)", -i).Error; err != nil {
						return err
					}
					return tx.Exec("UPDATE w SET n = n + 1 WHERE id = (SELECT max(id) FROM w)").Error
				})
				if err != nil {
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
	dbs[1].Raw("SELECT count(*) FROM w").Scan(&n)
	if n != 8*50*2 {
		t.Fatalf("%d rows, want %d", n, 8*50*2)
	}
}
