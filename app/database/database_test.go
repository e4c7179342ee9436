package database_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		dialect string
		path    string
		wantErr string
	}{
		{in: "sqlite://data/gatehouse.db", dialect: "sqlite", path: "data/gatehouse.db"},
		{in: "sqlite:///var/lib/gh.db", dialect: "sqlite", path: "/var/lib/gh.db"},
		{in: "postgres://u:p@localhost:5432/db?sslmode=disable", dialect: "postgres"},
		{in: "postgresql://localhost/db", dialect: "postgres"},
		{in: "", wantErr: "empty"},
		{in: "mysql://localhost/db", wantErr: `scheme "mysql"`},
		{in: "sqlite://", wantErr: "no file path"},
		{in: "sqlite://x.db?mode=memory", wantErr: "no parameters"},
		{in: "postgres:///db", wantErr: "no host"},
		{in: "data/gatehouse.db", wantErr: "must start with"},
	}
	for _, c := range cases {
		got, err := database.ParseURL(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseURL(%q) error = %v, want it to mention %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if got.Dialect != c.dialect || got.Path != c.path {
			t.Errorf("ParseURL(%q) = %+v, want dialect %s path %q", c.in, got, c.dialect, c.path)
		}
	}
}

func TestSQLiteCreatesFolderAndRefusesUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target, _ := database.ParseURL("sqlite://" + filepath.Join(dir, "nested", "gh.db"))
	if err := target.CheckWritable(); err != nil {
		t.Fatalf("CheckWritable: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nested", "gh.db")); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	if os.Geteuid() == 0 {
		// root can write anywhere; use a path under a regular file instead.
		f := filepath.Join(dir, "file")
		_ = os.WriteFile(f, nil, 0o600)
		target, _ = database.ParseURL("sqlite://" + filepath.Join(f, "gh.db"))
	} else {
		ro := filepath.Join(dir, "ro")
		_ = os.Mkdir(ro, 0o500)
		target, _ = database.ParseURL("sqlite://" + filepath.Join(ro, "gh.db"))
	}
	if err := target.CheckWritable(); err == nil {
		t.Fatal("CheckWritable accepted an unwritable path")
	}
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	var mode string
	db.Raw("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk int
	db.Raw("PRAGMA foreign_keys").Scan(&fk)
	if fk != 1 {
		t.Errorf("foreign_keys = %d, want 1", fk)
	}
	var busy int
	db.Raw("PRAGMA busy_timeout").Scan(&busy)
	if busy < 1000 {
		t.Errorf("busy_timeout = %d, want at least 1000", busy)
	}
}

// TestMigrationsUpDownUp applies every migration, rolls all of them back and
// applies them again, on each backend: down migrations must leave a clean
// database that up can rebuild.
// openMigrator opens the database at rawURL and its migrator (with the
// lock servers take).
func openMigrator(t *testing.T, rawURL string) (*gorm.DB, *database.Migrator) {
	t.Helper()
	target, err := database.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(target, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := database.NewMigrator(db, target)
	if err != nil {
		t.Fatal(err)
	}
	return db, m
}

func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			ctx := context.Background()
			db, m := openMigrator(t, b.URL(t))
			n, err := m.Up(ctx)
			if err != nil || n == 0 {
				t.Fatalf("first up: n=%d err=%v", n, err)
			}
			if !db.Migrator().HasTable("users") || !db.Migrator().HasTable("tokens") {
				t.Fatal("tables missing after up")
			}
			var seeded int64
			db.Table("scopes").Where("scope_id = ? AND is_default", "user.read").Count(&seeded)
			if seeded != 1 {
				t.Fatalf("user.read scope not seeded as default")
			}
			for {
				ok, err := m.Down(ctx)
				if err != nil {
					t.Fatalf("down: %v", err)
				}
				if !ok {
					break
				}
			}
			if v, _ := m.Version(ctx); v != 0 {
				t.Fatalf("version after full down = %d", v)
			}
			if db.Migrator().HasTable("users") {
				t.Fatal("users table left behind by down")
			}
			if n2, err := m.Up(ctx); err != nil || n2 != n {
				t.Fatalf("second up: n=%d (want %d) err=%v", n2, n, err)
			}
			st, err := m.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if !s.Applied {
					t.Errorf("migration %s not applied", s.Name)
				}
			}
		})
	}
}

// TestSlowQueryLogHasNoValues: logged SQL keeps its placeholders, so no
// bound value (a password hash, a token digest) reaches the log.
func TestSlowQueryLogHasNoValues(t *testing.T) {
	t.Parallel()
	old := *database.SlowQuery
	*database.SlowQuery = -1
	defer func() { *database.SlowQuery = old }()
	var buf bytes.Buffer
	target, _ := database.ParseURL(dbtest.SQLiteURL(t))
	db, err := database.Open(target, database.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	db.Exec("CREATE TABLE t (v TEXT)")
	db.Exec("INSERT INTO t (v) VALUES (?)", "SECRET-VALUE-42")
	if !strings.Contains(buf.String(), "slow query") {
		t.Fatalf("no slow query logged: %s", buf.String())
	}
	if strings.Contains(buf.String(), "SECRET-VALUE-42") {
		t.Fatalf("bound value logged: %s", buf.String())
	}
}

// TestSQLiteConcurrentFirstMigration: servers starting at once on a new
// SQLite file (separate processes: this test binary run again) all migrate
// it; each waits for the one migrating instead of failing on "table users
// already exists".
func TestSQLiteConcurrentFirstMigration(t *testing.T) {
	t.Parallel()
	if path := os.Getenv("GATEHOUSE_TEST_MIGRATE_CHILD"); path != "" {
		_, m := openMigrator(t, "sqlite://"+path)
		if _, err := m.Up(context.Background()); err != nil {
			t.Fatal(err)
		}
		return
	}
	for round := 0; round < 4; round++ {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for i := 0; i < 3; i++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteConcurrentFirstMigration$", "-test.count=1")
			cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_MIGRATE_CHILD="+path)
			out := new(bytes.Buffer)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("round %d: a concurrent first migration failed (%v):\n%s", round, err, outs[i])
			}
		}
	}
}
