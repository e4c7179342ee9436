package database_test

import (
	"context"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/migrations"
	"github.com/gatehouse/gatehouse/models"
)

// machineVersion is the migration that brings machine scopes (SPEC.md
// §7.1); the upgrade tests start from the schema before it.
const machineVersion = 6

// upgradeDB opens a fresh database of backend b migrated to the version
// before machineVersion, and returns a function migrating it the rest of
// the way.
func upgradeDB(t *testing.T, b dbtest.Backend) (db *gorm.DB, upgrade func()) {
	t.Helper()
	target, err := database.ParseURL(b.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	db, err = database.Open(target, database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations.FS, b.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	dialect := goose.DialectSQLite3
	if b.Dialect == database.Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.UpTo(ctx, machineVersion-1); err != nil {
		t.Fatal(err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v >= machineVersion {
		t.Fatalf("version before the upgrade: %d %v", v, err)
	}
	return db, func() {
		t.Helper()
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
	}
}

// oldRows writes rows with the columns of the schema before the upgrade.
type oldRows struct {
	t   *testing.T
	db  *gorm.DB
	now time.Time
}

func (o oldRows) user(name, role string) int64 {
	o.t.Helper()
	var id int64
	err := o.db.Raw(`INSERT INTO users (subject, username, password_hash, role, password_changed_at, created_at, updated_at)
		VALUES (?, ?, 'x', ?, ?, ?, ?) RETURNING id`, "sub-"+name, name, role, o.now, o.now, o.now).Scan(&id).Error
	if err != nil {
		o.t.Fatal(err)
	}
	return id
}

func (o oldRows) scope(id string) {
	o.t.Helper()
	if err := o.db.Exec(`INSERT INTO scopes (scope_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`, id, id, o.now, o.now).Error; err != nil {
		o.t.Fatal(err)
	}
}

// client inserts a client; grants and scopes are JSON arrays.
func (o oldRows) client(id string, owner *int64, public bool, grants, scopes string) {
	o.t.Helper()
	var hash []byte
	if !public {
		hash = secret.Digest("secret-" + id)
	}
	err := o.db.Exec(`INSERT INTO clients (client_id, secret_hash, name, redirect_uris, grant_types, scopes, public, owner_id, created_at, updated_at)
		VALUES (?, ?, ?, '["https://app.example/cb"]', ?, ?, ?, ?, ?, ?)`, id, hash, id, grants, scopes, public, owner, o.now, o.now).Error
	if err != nil {
		o.t.Fatal(err)
	}
}

// token inserts a live access token (user nil: client credentials). (The
// space after "(" keeps GORM from expanding the digest, a []byte, as an IN
// list.)
func (o oldRows) token(name, clientID string, user *int64, scope string) {
	o.t.Helper()
	err := o.db.Exec(`INSERT INTO tokens (token_hash, kind, client_id, user_id, scope, family_id, expires_at, created_at)
		VALUES ( ?, 'access', ?, ?, ?, ?, ?, ?)`, secret.Digest(name), clientID, user, scope, "fam-"+name, o.now.Add(time.Hour), o.now).Error
	if err != nil {
		o.t.Fatal(err)
	}
}

// TestMachineScopesUpgrade: migration 6 keeps today's behaviour for the
// clients an admin owns (no owner, or an admin owner) and drops the trust
// developers gave themselves: the password grant, client credentials
// combined with a machine scope, and the client-credentials tokens that
// carry scopes.
func TestMachineScopesUpgrade(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			ctx := context.Background()
			db, upgrade := upgradeDB(t, b)
			o := oldRows{t: t, db: db, now: time.Now().UTC().Truncate(time.Second)}
			root, dev := o.user("root", "admin"), o.user("dev", "developer")
			for _, id := range []string{"files.write", "reports.read", "notes.read"} {
				o.scope(id)
			}
			o.client("cli-any", nil, false, `["client_credentials"]`, `[]`)
			o.client("cli-null", nil, false, `["client_credentials"]`, `null`) // a JSON null is an empty list too
			o.client("admin-files", &root, false, `["authorization_code","client_credentials"]`, `["files.write","openid"]`)
			o.client("dev-files", &dev, false, `["authorization_code","client_credentials"]`, `["files.write","openid"]`)
			o.client("dev-password", &dev, true, `["password","authorization_code"]`, `[]`)
			o.client("dev-only-password", &dev, true, `["password"]`, `[]`)
			o.client("dev-plain-cc", &dev, false, `["client_credentials"]`, `["openid"]`)
			o.client("dev-code", &dev, false, `["authorization_code","refresh_token"]`, `["files.write"]`)
			o.token("cli-any-cc", "cli-any", nil, "user.read")
			o.token("admin-files-cc", "admin-files", nil, "files.write")
			o.token("dev-files-cc", "dev-files", nil, "files.write user.read")
			o.token("dev-files-user", "dev-files", &dev, "files.write")
			o.token("dev-plain-cc-scoped", "dev-plain-cc", nil, "openid")
			o.token("dev-plain-cc-empty", "dev-plain-cc", nil, "")

			upgrade()

			st := models.New(db)
			scopes, err := st.ListScopes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var machine, all []string
			for _, sc := range scopes {
				all = append(all, sc.ScopeID)
				if sc.Machine {
					machine = append(machine, sc.ScopeID)
				}
			}
			// cli-any had an empty list: every scope but the OpenID Connect
			// ones is a machine scope now, and its list names every scope.
			if want := []string{"files.write", "notes.read", "reports.read", "user.read"}; !slices.Equal(machine, want) {
				t.Errorf("machine scopes %v, want %v", machine, want)
			}
			client := func(id string) *models.Client {
				t.Helper()
				c, err := st.GetClient(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			if c := client("cli-any"); !slices.Equal(c.Scopes, all) || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) {
				t.Errorf("cli-any: %v %v, want every scope (%v)", c.GrantTypes, c.Scopes, all)
			}
			if c := client("cli-null"); !slices.Equal(c.Scopes, all) {
				t.Errorf("cli-null: %v, want every scope (%v)", c.Scopes, all)
			}
			if c := client("admin-files"); !slices.Equal(c.GrantTypes, []string{"authorization_code", "client_credentials"}) || !slices.Equal(c.Scopes, []string{"files.write", "openid"}) {
				t.Errorf("admin-files changed: %v %v", c.GrantTypes, c.Scopes)
			}
			if c := client("dev-files"); !slices.Equal(c.GrantTypes, []string{"authorization_code"}) || !slices.Equal(c.Scopes, []string{"files.write", "openid"}) {
				t.Errorf("dev-files: %v %v, want client credentials removed", c.GrantTypes, c.Scopes)
			}
			if c := client("dev-password"); !slices.Equal(c.GrantTypes, []string{"authorization_code"}) {
				t.Errorf("dev-password: %v, want the password grant removed", c.GrantTypes)
			}
			if c := client("dev-only-password"); len(c.GrantTypes) != 0 {
				t.Errorf("dev-only-password: %v, want an empty list (the default grants)", c.GrantTypes)
			}
			if c := client("dev-plain-cc"); !slices.Equal(c.GrantTypes, []string{"client_credentials"}) || !slices.Equal(c.Scopes, []string{"openid"}) {
				t.Errorf("dev-plain-cc changed: %v %v", c.GrantTypes, c.Scopes)
			}
			if c := client("dev-code"); !slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) {
				t.Errorf("dev-code changed: %v", c.GrantTypes)
			}
			for name, wantRevoked := range map[string]bool{
				"cli-any-cc": false, "admin-files-cc": false, "dev-files-user": false, "dev-plain-cc-empty": false,
				"dev-files-cc": true, "dev-plain-cc-scoped": true,
			} {
				tok, err := st.GetToken(ctx, secret.Digest(name))
				if err != nil {
					t.Fatal(err)
				}
				if got := tok.RevokedAt != nil; got != wantRevoked {
					t.Errorf("token %s revoked: %v, want %v", name, got, wantRevoked)
				}
			}
		})
	}
}

// TestMachineScopesUpgradeListedOnly: without an admin-owned client that
// may ask for any scope, only the scopes admin-owned client-credentials
// clients list become machine scopes, never the OpenID Connect ones.
func TestMachineScopesUpgradeListedOnly(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			db, upgrade := upgradeDB(t, b)
			o := oldRows{t: t, db: db, now: time.Now().UTC().Truncate(time.Second)}
			root, dev := o.user("root", "admin"), o.user("dev", "developer")
			o.scope("files.write")
			o.scope("notes.read")
			o.scope("reports.read")
			o.client("admin-files", &root, false, `["client_credentials"]`, `["files.write","openid","email"]`)
			o.client("cli-code", nil, false, `["authorization_code"]`, `["notes.read"]`)
			o.client("dev-reports", &dev, false, `["client_credentials"]`, `["reports.read"]`)
			o.token("dev-reports-cc", "dev-reports", nil, "reports.read")
			upgrade()
			var machine []string
			if err := db.Raw("SELECT scope_id FROM scopes WHERE machine ORDER BY scope_id").Scan(&machine).Error; err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(machine, []string{"files.write"}) {
				t.Errorf("machine scopes %v, want [files.write]", machine)
			}
			// A developer's client-credentials client whose scopes are not
			// machine scopes keeps the grant (its tokens get no scope now)
			// but loses its scoped tokens.
			c, err := models.New(db).GetClient(context.Background(), "dev-reports")
			if err != nil || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) {
				t.Errorf("dev-reports: %+v %v", c, err)
			}
			tok, err := models.New(db).GetToken(context.Background(), secret.Digest("dev-reports-cc"))
			if err != nil || tok.RevokedAt == nil {
				t.Errorf("dev-reports token not revoked: %+v %v", tok, err)
			}
		})
	}
}
