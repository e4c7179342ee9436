package models_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/models"
)

// storeSeeder is oauthtest.Seeder over the Store's Create methods.
type storeSeeder struct{ st *models.Store }

func (s storeSeeder) CreateClient(ctx context.Context, c *oauth.Client) error {
	return s.st.CreateClient(ctx, &models.Client{ClientID: c.ID, SecretHash: c.SecretHash, Public: c.Public, Name: c.Name,
		Icon: c.Icon, Homepage: c.Homepage, RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes, Scopes: c.Scopes})
}

func (s storeSeeder) CreateUser(ctx context.Context, u *oauth.User) error {
	row := &models.User{Subject: u.Subject, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		Role: u.Role, Disabled: u.Disabled, PasswordHash: u.PasswordHash}
	if err := s.st.CreateUser(ctx, row); err != nil {
		return err
	}
	u.ID, u.Subject, u.Username, u.Role = row.ID, row.Subject, row.Username, row.Role
	return nil
}

func (s storeSeeder) CreateScope(ctx context.Context, sc oauth.Scope) error {
	return s.st.CreateScope(ctx, &models.Scope{ScopeID: sc.ID, Name: sc.Name, Description: sc.Description, Icon: sc.Icon,
		ResourcePath: sc.ResourcePath, Method: sc.Method, Resource: sc.Resource, IsDefault: sc.Default, Machine: sc.Machine})
}

// CreateResource inserts the row directly: the resources registry's
// Create (app/resources) validates for the dashboard and CLI, which the
// Model contract does not need.
func (s storeSeeder) CreateResource(ctx context.Context, r oauth.Resource) error {
	return models.InsertResourceForTest(ctx, s.st, &models.Resource{URI: r.URI, Name: r.Name, Description: r.Description, Icon: r.Icon})
}

// CreateTrustedIssuer inserts the row directly: app/trust validates for
// the dashboard and CLI, which the Model contract does not need.
func (s storeSeeder) CreateTrustedIssuer(ctx context.Context, ti oauth.TrustedIssuer) error {
	return s.st.CreateTrustedIssuer(ctx, &models.TrustedIssuer{Issuer: ti.Issuer, Name: ti.Name, JWKS: ti.JWKS, JWKSURI: ti.JWKSURI,
		Subjects: ti.Subjects, Scopes: ti.Scopes, MaxLifetimeSeconds: int64(ti.MaxLifetime / time.Second)})
}

// runOAuthModelTests runs the Model contract tests (app/oauth/oauthtest)
// on OAuthModel and CachedOAuthModel, each model on a fresh database from
// url that its tests share, running in parallel (the suite allows it:
// every test makes keys of its own). A database per test would cost a
// schema and the migrations each, thirty times over.
func runOAuthModelTests(t *testing.T, url func(testing.TB) string) {
	kinds := []struct {
		name string
		wrap func(*models.Store) oauth.Model
	}{
		{"OAuthModel", func(st *models.Store) oauth.Model { return models.OAuthModel{S: st} }},
		{"CachedOAuthModel", func(st *models.Store) oauth.Model { return models.NewCachedOAuthModel(st, cache.NewVersions(st)) }},
	}
	for _, m := range kinds {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			st := models.New(dbtest.Open(t, url(t)))
			f := oauthtest.Fixture{Model: m.wrap(st), Seed: storeSeeder{st}}
			oauthtest.RunModelTests(t, func(*testing.T) oauthtest.Fixture { return f })
		})
	}
}

// TestOAuthModelSQLite runs the Model contract tests on SQLite.
func TestOAuthModelSQLite(t *testing.T) {
	t.Parallel()
	runOAuthModelTests(t, dbtest.SQLiteURL)
}

// TestOAuthModelPostgres runs the Model contract tests on PostgreSQL; it
// skips unless GATEHOUSE_TEST_POSTGRES_URL is set (fails in CI).
func TestOAuthModelPostgres(t *testing.T) {
	t.Parallel()
	if os.Getenv(dbtest.PostgresEnv) == "" && os.Getenv("CI") == "" {
		t.Skipf("%s not set; skipping PostgreSQL", dbtest.PostgresEnv)
	}
	runOAuthModelTests(t, dbtest.PostgresURL)
}
