// Package dbtest gives tests a fresh, fully migrated database: a SQLite
// file in a temporary folder always, and a fresh PostgreSQL schema when
// GATEHOUSE_TEST_POSTGRES_URL is set. In CI (CI set) a missing PostgreSQL
// URL is a failure, not a skip.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database"
)

// PostgresEnv names the variable holding the PostgreSQL test server URL.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES_URL"

// SQLiteURL returns the URL of a new, empty SQLite database file.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
}

// PostgresURL returns the URL of a new, empty PostgreSQL schema on the test
// server, dropped when the test ends. It skips the test when no server is
// configured, and fails it in CI.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s must be set in CI", PostgresEnv)
		}
		t.Skipf("%s not set; skipping PostgreSQL", PostgresEnv)
	}
	admin, err := database.Open(mustParse(t, base), database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open PostgreSQL test server: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "gh_test_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		if sqlDB, err := admin.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func mustParse(t testing.TB, raw string) database.Target {
	t.Helper()
	target, err := database.ParseURL(raw)
	if err != nil {
		t.Fatalf("database URL: %v", err)
	}
	return target
}

// Open opens and migrates the database at url, closing it when the test ends.
func Open(t testing.TB, rawURL string) *gorm.DB {
	t.Helper()
	target := mustParse(t, rawURL)
	db, err := database.Open(target, database.Options{MaxOpenConns: 10})
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	m, err := database.NewMigrator(db, target, database.WithoutLock())
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// SQLite returns a fresh, migrated SQLite database.
func SQLite(t testing.TB) *gorm.DB {
	t.Helper()
	return Open(t, SQLiteURL(t))
}

// Postgres returns a fresh, migrated PostgreSQL schema (see PostgresURL).
func Postgres(t testing.TB) *gorm.DB {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// Backend is a way to get a fresh database of one dialect.
type Backend struct {
	Dialect string
	// URL returns the URL of a new, empty database (not migrated).
	URL func(t testing.TB) string
}

// Backends lists SQLite and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Dialect: database.SQLite, URL: SQLiteURL},
		{Dialect: database.Postgres, URL: PostgresURL},
	}
}

// Each runs fn as a subtest on a fresh migrated database of every backend.
func Each(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			fn(t, Open(t, b.URL(t)))
		})
	}
}
