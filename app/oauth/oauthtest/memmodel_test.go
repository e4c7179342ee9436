package oauthtest_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/suitecheck"
)

// TestMemModel runs the Model contract tests on the in-memory model.
func TestMemModel(t *testing.T) {
	t.Parallel()
	oauthtest.RunModelTests(t, func(*testing.T) oauthtest.Fixture {
		m := oauthtest.NewMemModel()
		return oauthtest.Fixture{Model: m, Seed: m}
	})
}

// TestMemModelShared runs them all on one model, as the Fixture
// documentation allows: no test may depend on storage of its own.
func TestMemModelShared(t *testing.T) {
	t.Parallel()
	m := oauthtest.NewMemModel()
	oauthtest.RunModelTests(t, func(*testing.T) oauthtest.Fixture {
		return oauthtest.Fixture{Model: m, Seed: m}
	})
}

// Every contract test of the suite is in oauthtest.Tests.
func TestEveryTestIsListed(t *testing.T) {
	t.Parallel()
	var fns []any
	for _, tt := range oauthtest.Tests {
		fns = append(fns, tt.Fn)
	}
	suitecheck.Complete(t, ".", fns)
}
