package database_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

// TestQueryTokenDefaultUpgrade: allow_query_access_token defaults to off,
// but an install upgraded from before (migration 8) that has users or
// clients keeps accepting ?access_token=, as it did; a fresh install, or
// one whose admin already chose a value, gets nothing new.
func TestQueryTokenDefaultUpgrade(t *testing.T) {
	t.Parallel()
	const before = 4 // the last migration before the default changed
	cases := []struct {
		name   string
		setup  []string // SQL run at migration 4
		stored string   // the stored value after the upgrade ("" = none)
	}{
		{"fresh install", nil, ""},
		{"with a user", []string{insertUser}, "true"},
		{"with a client only", []string{insertClient}, "true"},
		{"admin turned it off", []string{insertUser, `INSERT INTO settings (key, value, updated_at) VALUES ('allow_query_access_token', 'false', CURRENT_TIMESTAMP)`}, "false"},
	}
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					ctx := context.Background()
					db, m := openMigrator(t, b.URL(t))
					if _, err := m.Up(ctx); err != nil {
						t.Fatal(err)
					}
					for {
						v, err := m.Version(ctx)
						if err != nil {
							t.Fatal(err)
						}
						if v <= before {
							break
						}
						if _, err := m.Down(ctx); err != nil {
							t.Fatal(err)
						}
					}
					for _, q := range c.setup {
						if err := db.Exec(q).Error; err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					if _, err := m.Up(ctx); err != nil {
						t.Fatal(err)
					}
					var stored []string
					if err := db.Raw(`SELECT value FROM settings WHERE key = 'allow_query_access_token'`).Scan(&stored).Error; err != nil {
						t.Fatal(err)
					}
					if want := c.stored; (want == "" && len(stored) != 0) || (want != "" && (len(stored) != 1 || stored[0] != want)) {
						t.Fatalf("stored allow_query_access_token = %q, want %q", stored, want)
					}
					vals, err := settings.NewService(models.New(db)).Load(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if vals.AllowQueryAccessToken != (c.stored == "true") {
						t.Fatalf("allow_query_access_token in effect = %v", vals.AllowQueryAccessToken)
					}
				})
			}
		})
	}
}

// Rows as migration 4 knew them (the models may have grown since).
const (
	insertUser = `INSERT INTO users (subject, username, password_hash, role, password_changed_at, created_at, updated_at)
		VALUES ('sub-1', 'alice', 'x', 'admin', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`
	insertClient = `INSERT INTO clients (client_id, name, created_at, updated_at)
		VALUES ('client-1', 'Acme', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`
)
