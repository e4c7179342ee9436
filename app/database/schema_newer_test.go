package database_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/migrations"
)

// newestEmbedded is the number of the newest embedded migration file of
// the dialect.
func newestEmbedded(t *testing.T, dialect string) int64 {
	t.Helper()
	files, err := fs.Glob(migrations.FS, dialect+"/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded %s migrations: %v %v", dialect, files, err)
	}
	var newest int64
	for _, f := range files {
		v, err := strconv.ParseInt(strings.SplitN(path.Base(f), "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		newest = max(newest, v)
	}
	return newest
}

// TestSchemaNewerThanBinaryRefused: a database migrated by a newer release
// (its goose version above this binary's newest migration) is refused by
// Up, Down and Status with an error naming both versions, and left as it
// is; a database at this binary's version is not.
func TestSchemaNewerThanBinaryRefused(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			ctx := context.Background()
			url := b.URL(t)
			db, m := openMigrator(t, url)
			if _, err := m.Up(ctx); err != nil {
				t.Fatal(err)
			}
			latest := newestEmbedded(t, b.Dialect)
			if got := m.Latest(); got != latest {
				t.Fatalf("Latest() = %d, want %d", got, latest)
			}
			// Up to date: nothing to refuse.
			if n, err := m.Up(ctx); err != nil || n != 0 {
				t.Fatalf("up on an up-to-date database: n=%d err=%v", n, err)
			}
			if _, err := m.Status(ctx); err != nil {
				t.Fatalf("status on an up-to-date database: %v", err)
			}

			// A newer release applied one more migration.
			newer := latest + 1
			if err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`, newer, true).Error; err != nil {
				t.Fatal(err)
			}

			// A fresh migrator, as an old binary starting would make.
			_, old := openMigrator(t, url)
			check := func(op string, err error) {
				t.Helper()
				var tooNew *database.SchemaTooNewError
				if !errors.As(err, &tooNew) {
					t.Fatalf("%s on a newer schema: err = %v, want a SchemaTooNewError", op, err)
				}
				if tooNew.Database != newer || tooNew.Binary != latest {
					t.Errorf("%s: versions %d and %d, want %d and %d", op, tooNew.Database, tooNew.Binary, newer, latest)
				}
				msg := err.Error()
				for _, want := range []string{fmt.Sprint(newer), fmt.Sprintf("(%d)", latest), "newer release"} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s: message %q does not mention %q", op, msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("%s: message %q is not one line", op, msg)
				}
			}
			n, err := old.Up(ctx)
			check("up", err)
			if n != 0 {
				t.Errorf("up on a newer schema applied %d migrations", n)
			}
			_, err = old.Down(ctx)
			check("down", err)
			_, err = old.Status(ctx)
			check("status", err)

			// Nothing was rolled back or applied.
			if v, err := old.Version(ctx); err != nil || v != newer {
				t.Fatalf("version after the refusals = %d (%v), want %d", v, err, newer)
			}
			if !db.Migrator().HasTable("users") {
				t.Fatal("tables gone after the refusals")
			}
		})
	}
}
