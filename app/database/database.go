// Package database opens the GORM connection described by a database URL
// (SQLite by default, PostgreSQL for production) and applies the embedded,
// per-dialect SQL migrations with goose.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gatehouse/gatehouse/migrations"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Target is a parsed database URL.
type Target struct {
	Dialect string
	// Path is the SQLite file path (relative to the working directory or
	// absolute), empty for PostgreSQL.
	Path string
	// DSN is what the driver is opened with.
	DSN string
}

// ParseURL understands sqlite://relative/path.db, sqlite:///abs/path.db and
// postgres:// or postgresql:// URLs.
func ParseURL(raw string) (Target, error) {
	switch {
	case raw == "":
		return Target{}, errors.New("database URL is empty")
	case strings.HasPrefix(raw, "sqlite://"):
		rest := strings.TrimPrefix(raw, "sqlite://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" || path == "/" {
			return Target{}, fmt.Errorf("database URL %q has no file path (use sqlite://data/gatehouse.db or sqlite:///abs/path.db)", raw)
		}
		if query != "" {
			return Target{}, fmt.Errorf("database URL %q: SQLite URLs take no parameters", raw)
		}
		return Target{Dialect: SQLite, Path: path, DSN: sqliteDSN(path)}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return Target{}, fmt.Errorf("database URL is not a valid PostgreSQL URL: %v", redactErr(err, raw))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return Target{}, errors.New("database URL: PostgreSQL URL has no host")
		}
		return Target{Dialect: Postgres, DSN: raw}, nil
	default:
		scheme, _, _ := strings.Cut(raw, ":")
		return Target{}, fmt.Errorf("database URL must start with sqlite:// or postgres:// (got scheme %q)", scheme)
	}
}

// redactErr avoids echoing a password that may be part of the URL.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	if i := strings.Index(raw, "@"); i > 0 {
		msg = strings.ReplaceAll(msg, raw[:i], "postgres://…")
	}
	return msg
}

func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Checkpoints run in the background (checkpointer), not in the commit
	// that happens to cross the threshold: that commit would copy the
	// WAL into the database and fsync it while every writer waits.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// CheckWritable makes sure the SQLite file's folder exists (creating it) and
// that the file can be created or opened for writing.
func (t Target) CheckWritable() error {
	if t.Dialect != SQLite {
		return nil
	}
	dir := filepath.Dir(t.Path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("SQLite path %q: cannot create folder %q: %v", t.Path, dir, errors.Unwrap(err))
	}
	f, err := os.OpenFile(t.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("SQLite path %q is not writable: %v", t.Path, errors.Unwrap(err))
	}
	return f.Close()
}

// Options tune the connection.
type Options struct {
	// MaxOpenConns for PostgreSQL (default 20).
	MaxOpenConns int
	// Logger receives slow queries and errors; nil means discard.
	Logger *slog.Logger
}

// Open connects to the target with GORM. Times are written in UTC.
func Open(t Target, opts Options) (*gorm.DB, error) {
	cfg := &gorm.Config{
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		TranslateError:         true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		Logger:                 newGormLogger(opts.Logger),
	}
	var dialector gorm.Dialector
	switch t.Dialect {
	case SQLite:
		if err := t.CheckWritable(); err != nil {
			return nil, err
		}
		// The first connection switches a new file to WAL, which fails
		// at once (no busy wait) while another server does the same: take
		// the migration lock until this pool's first connection is made.
		unlock, err := lockDir(filepath.Dir(t.Path))
		if err != nil {
			return nil, fmt.Errorf("cannot lock the SQLite database's folder: %v", err)
		}
		defer unlock()
		// Writes of this process take turns in Go (sqlitewriter.go).
		dialector = sqlite.Dialector{DriverName: serialDriverName, DSN: t.DSN}
	case Postgres:
		dialector = postgres.Open(t.DSN)
	default:
		return nil, fmt.Errorf("unknown database dialect %q", t.Dialect)
	}
	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open the %s database: %v", t.Dialect, sanitize(err, t))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	switch t.Dialect {
	case SQLite:
		// One writer at a time is all SQLite allows; WAL lets readers
		// proceed beside it. A small pool avoids lock churn.
		sqlDB.SetMaxOpenConns(4)
		sqlDB.SetMaxIdleConns(4)
		sqlDB.SetConnMaxLifetime(0)
		go checkpointer(sqlDB)
	case Postgres:
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		sqlDB.SetConnMaxLifetime(time.Hour)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("cannot reach the %s database: %v", t.Dialect, sanitize(err, t))
	}
	return db, nil
}

// sanitize strips the DSN (which may hold a password) from driver errors.
func sanitize(err error, t Target) string {
	msg := err.Error()
	if t.DSN != "" {
		msg = strings.ReplaceAll(msg, t.DSN, "<database url>")
	}
	if u, perr := url.Parse(t.DSN); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// Migrator applies the embedded migrations of one dialect.
type Migrator struct {
	provider *goose.Provider
	// sqliteDir is the folder of a SQLite database, locked while migrating.
	sqliteDir string
}

// MigratorOption adjusts a Migrator.
type MigratorOption func(*migratorOptions)

type migratorOptions struct{ noLock bool }

// WithoutLock skips the lock that keeps two servers from migrating one
// database at once. Only for tests, where each test migrates its own
// schema in parallel.
func WithoutLock() MigratorOption { return func(o *migratorOptions) { o.noLock = true } }

// NewMigrator prepares goose for db, opened from t. Several servers
// starting at once must not migrate twice: on PostgreSQL an advisory lock
// serialises them, on SQLite an exclusive flock on the database's folder.
func NewMigrator(db *gorm.DB, t Target, opts ...MigratorOption) (*Migrator, error) {
	var o migratorOptions
	for _, fn := range opts {
		fn(&o)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	m, err := newMigrator(sqlDB, t.Dialect, o)
	if err != nil {
		return nil, err
	}
	if t.Dialect == SQLite && !o.noLock {
		m.sqliteDir = filepath.Dir(t.Path)
	}
	return m, nil
}

func newMigrator(sqlDB *sql.DB, dialect string, o migratorOptions) (*Migrator, error) {
	sub, err := fs.Sub(migrations.FS, dialect)
	if err != nil {
		return nil, err
	}
	var gd goose.Dialect
	var opts []goose.ProviderOption
	switch dialect {
	case SQLite:
		gd = goose.DialectSQLite3
	case Postgres:
		gd = goose.DialectPostgres
		if !o.noLock {
			locker, err := lock.NewPostgresSessionLocker()
			if err != nil {
				return nil, err
			}
			opts = append(opts, goose.WithSessionLocker(locker))
		}
	default:
		return nil, fmt.Errorf("unknown database dialect %q", dialect)
	}
	p, err := goose.NewProvider(gd, sqlDB, sub, opts...)
	if err != nil {
		return nil, err
	}
	return &Migrator{provider: p}, nil
}

// locked runs fn holding the SQLite folder lock (a no-op on PostgreSQL,
// whose lock goose takes). The folder, not the database file, is locked:
// closing a second descriptor of the database file would drop the POSIX
// locks SQLite itself holds on it in this process.
func (m *Migrator) locked(fn func() error) error {
	if m.sqliteDir == "" {
		return fn()
	}
	unlock, err := lockDir(m.sqliteDir)
	if err != nil {
		return fmt.Errorf("lock the database folder for migrating: %w", err)
	}
	defer unlock()
	return fn()
}

// SchemaTooNewError is the refusal of Up, Down and Status when the
// database was migrated by a newer release: its schema version is above
// the newest migration this binary embeds (an old binary started on an
// upgraded database), whose code would not match the schema.
type SchemaTooNewError struct {
	// Database is the database's schema version, Binary the newest
	// migration of this binary.
	Database, Binary int64
}

// Error names both versions and says to run the newer release.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, newer than this binary's newest migration (%d): "+
		"it was upgraded by a newer release of Gatehouse; run that release or a later one", e.Database, e.Binary)
}

// Latest is the newest migration this binary embeds.
func (m *Migrator) Latest() int64 {
	src := m.provider.ListSources()
	if len(src) == 0 {
		return 0
	}
	return src[len(src)-1].Version
}

// checkNotNewer refuses a database whose schema is newer than this binary
// (see SchemaTooNewError). When the version cannot be read, the operation
// that follows reads the same table and reports the problem as before.
func (m *Migrator) checkNotNewer(ctx context.Context) error {
	v, err := m.provider.GetDBVersion(ctx)
	if err != nil {
		return nil // reported by the operation that follows
	}
	if latest := m.Latest(); v > latest {
		return &SchemaTooNewError{Database: v, Binary: latest}
	}
	return nil
}

// Up applies every pending migration and returns how many ran. It refuses
// a database whose schema is newer than this binary (SchemaTooNewError).
func (m *Migrator) Up(ctx context.Context) (int, error) {
	var res []*goose.MigrationResult
	var refused error
	err := m.locked(func() (err error) {
		if refused = m.checkNotNewer(ctx); refused != nil {
			return nil
		}
		res, err = m.provider.Up(ctx)
		return err
	})
	if refused != nil {
		return 0, refused
	}
	if err != nil {
		return len(res), fmt.Errorf("migration failed: %w", err)
	}
	return len(res), nil
}

// Down rolls back the most recent migration. It returns false when there
// was nothing to roll back. It refuses a database whose schema is newer
// than this binary (SchemaTooNewError).
func (m *Migrator) Down(ctx context.Context) (bool, error) {
	var refused error
	err := m.locked(func() error {
		if refused = m.checkNotNewer(ctx); refused != nil {
			return nil
		}
		_, err := m.provider.Down(ctx)
		return err
	})
	if refused != nil {
		return false, refused
	}
	if errors.Is(err, goose.ErrNoNextVersion) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rollback failed: %w", err)
	}
	return true, nil
}

// Status describes one migration.
type Status struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Status lists every migration and whether it is applied. It refuses a
// database whose schema is newer than this binary (SchemaTooNewError).
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	if err := m.checkNotNewer(ctx); err != nil {
		return nil, err
	}
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(st))
	for _, s := range st {
		out = append(out, Status{
			Version:   s.Source.Version,
			Name:      filepath.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Version is the newest applied migration (0 for an empty database).
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	return m.provider.GetDBVersion(ctx)
}

// gormLogger sends GORM's errors and slow queries to slog, never to stdout.
type gormLogger struct {
	log   *slog.Logger
	level logger.LogLevel
}

func newGormLogger(l *slog.Logger) logger.Interface {
	if l == nil {
		return logger.Discard
	}
	return &gormLogger{log: l, level: logger.Warn}
}

func (g *gormLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *g
	c.level = level
	return &c
}

func (g *gormLogger) Info(ctx context.Context, msg string, args ...any) {
	if g.level >= logger.Info {
		g.log.InfoContext(ctx, fmt.Sprintf(msg, args...))
	}
}

func (g *gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	if g.level >= logger.Warn {
		g.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
	}
}

func (g *gormLogger) Error(ctx context.Context, msg string, args ...any) {
	if g.level >= logger.Error {
		g.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
	}
}

// slowQuery is the duration above which a statement is logged.
var slowQuery = 200 * time.Millisecond

// ParamsFilter keeps bound values (passwords' hashes, token digests,
// usernames) out of logged SQL: statements are logged with their
// placeholders.
func (g *gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// Trace logs failed statements (not "record not found" or constraint
// violations, which callers handle) and slow statements, without their
// bound values (see ParamsFilter).
func (g *gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, gorm.ErrDuplicatedKey) &&
		!errors.Is(err, context.Canceled) && g.level >= logger.Error:
		g.log.ErrorContext(ctx, "database error", "err", err, "elapsed", elapsed)
	case elapsed > slowQuery && g.level >= logger.Warn:
		sql, rows := fc()
		g.log.WarnContext(ctx, "slow query", "sql", sql, "rows", rows, "elapsed", elapsed)
	}
}
