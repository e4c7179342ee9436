package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// TestCLISchemaNewerThanBinary: on a database migrated by a newer release,
// `serve`, `migrate` (up, down, status) and the other commands stop at
// once with one "error: " line naming both versions, and exit 1.
func TestCLISchemaNewerThanBinary(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			dbURL := b.URL(t)
			env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_ADDR": "127.0.0.1:0"}
			if r := runCLI(env, "", "migrate"); r.code != 0 {
				t.Fatalf("migrate: %+v", r)
			}
			db := dbtest.Open(t, dbURL)
			target, err := database.ParseURL(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			m, err := database.NewMigrator(db, target, database.WithoutLock())
			if err != nil {
				t.Fatal(err)
			}
			latest := m.Latest()
			if err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`, latest+1, true).Error; err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("error: the database schema is at version %d, newer than this binary's newest migration (%d): ", latest+1, latest)

			for _, args := range [][]string{
				{"serve"},
				{"migrate"},
				{"migrate", "down"},
				{"migrate", "status"},
				{"settings", "get"},
			} {
				// serve would block if it started: give up after a while.
				done := make(chan cliResult, 1)
				go func() { done <- runCLI(env, "", args...) }()
				var r cliResult
				select {
				case r = <-done:
				case <-time.After(30 * time.Second):
					t.Fatalf("%v did not stop on a newer schema", args)
				}
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], want) || !strings.Contains(lines[0], "newer release") {
					t.Errorf("%v: code %d, stdout %q, stderr %q; want one line starting %q", args, r.code, r.stdout, r.stderr, want)
				}
			}
		})
	}
}
