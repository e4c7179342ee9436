package storetest_test

import (
	"os"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/suitecheck"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/models/storetest"
)

// TestSQLite runs the conformance suite on a fresh SQLite file per test.
func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) *models.Store { return models.New(dbtest.SQLite(t)) })
}

// TestPostgres runs the conformance suite on a fresh PostgreSQL schema per
// test; it skips unless GATEHOUSE_TEST_POSTGRES_URL is set (fails in CI).
func TestPostgres(t *testing.T) {
	t.Parallel()
	if os.Getenv(dbtest.PostgresEnv) == "" && os.Getenv("CI") == "" {
		t.Skipf("%s not set; skipping PostgreSQL", dbtest.PostgresEnv)
	}
	storetest.Run(t, func(t *testing.T) *models.Store {
		return models.New(dbtest.Postgres(t))
	})
}

// Every test function of the suite is in storetest.Tests.
func TestEveryTestIsListed(t *testing.T) {
	var fns []any
	for _, tt := range storetest.Tests {
		fns = append(fns, tt.Fn)
	}
	suitecheck.Complete(t, ".", fns)
}
