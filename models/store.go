package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// Dialect names returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Page sizes used by the List methods.
const (
	// DefaultPageSize is used when a filter's Limit is zero or negative.
	DefaultPageSize = 50
	// MaxPageSize caps a filter's Limit.
	MaxPageSize = 500
)

// Store reads and writes every table through GORM. It works on SQLite and
// PostgreSQL alike and returns the sentinel errors of app/store
// (ErrNotFound, ErrAlreadyExists, ErrConflict), wrapped with the entity
// concerned, so that callers test them with errors.Is. A Store is safe for
// concurrent use.
type Store struct {
	db      *gorm.DB
	dialect string
	inTx    bool // db is a transaction opened by Tx
	// tokens batches concurrent CreateTokens calls into one INSERT
	// (group commit); nil inside a transaction.
	tokens *tokenBatcher
	// sealer encrypts app secrets at rest; nil without a key secret.
	sealer *secret.Sealer
	// hooks are shared by the Store and its transactions' Stores.
	hooks *storeHooks
}

// storeHooks are callbacks the application sets once (SetLogoutQueued).
type storeHooks struct {
	logoutQueued atomic.Pointer[func()]
}

// New returns a Store using db, which must have been opened the way
// app/database opens it (TranslateError, UTC NowFunc).
func New(db *gorm.DB) *Store {
	s := &Store{db: db, dialect: db.Dialector.Name(), hooks: &storeHooks{}}
	s.tokens = newTokenBatcher(s)
	return s
}

// DB returns the underlying GORM handle (a transaction inside Tx).
func (s *Store) DB() *gorm.DB { return s.db }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Tx runs fn in one database transaction: it commits when fn returns nil
// and rolls back otherwise. The Store passed to fn must not be used after
// fn returns. Calling Tx on a transaction's Store runs fn in the same
// transaction.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	if s.inTx {
		return fn(s)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx, dialect: s.dialect, inTx: true, sealer: s.sealer, hooks: s.hooks})
	})
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// conn returns the handle for one operation.
func (s *Store) conn(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// tx runs fn in a transaction, or directly when s is already one.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.inTx {
		return fn(s.conn(ctx))
	}
	return s.conn(ctx).Transaction(fn)
}

// forUpdate locks the selected rows on PostgreSQL. SQLite needs no lock:
// its transactions start with BEGIN IMMEDIATE and so hold the write lock.
func (s *Store) forUpdate(db *gorm.DB) *gorm.DB {
	if s.dialect == DialectPostgres {
		return db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return db
}

// now is the current time as it is stored.
func (s *Store) now() time.Time { return ts(s.db.NowFunc()) }

// ts normalizes a time the way every stored time is normalized: UTC, with
// microsecond precision (what PostgreSQL keeps). SQLite stores times as
// text, which compares correctly only when every value has the same zone.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsp is ts for optional times.
func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// orNow returns ts(t), or now when t is zero.
func (s *Store) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return ts(t)
}

// wrapErr maps GORM and driver errors to the store sentinels, naming the
// entity concerned (for example `user "bob"`). The entity must not contain
// secrets such as token digests.
func wrapErr(err error, entity string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", entity, store.ErrNotFound)
	case isDuplicate(err):
		return fmt.Errorf("%s: %w", entity, store.ErrAlreadyExists)
	default:
		return fmt.Errorf("%s: %w", entity, err)
	}
}

// notFound is the error for a missing entity.
func notFound(entity string) error { return fmt.Errorf("%s: %w", entity, store.ErrNotFound) }

// isDuplicate reports a unique-constraint violation. GORM translates it to
// ErrDuplicatedKey (TranslateError); the driver codes are checked too in
// case an error reaches us untranslated.
func isDuplicate(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "23505" {
		return true
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return true
		}
	}
	return false
}

// duplicateOf guesses which of the named columns a unique violation is
// about from the constraint named in the driver message (SQLite:
// "users.username" or "index 'users_email_unique'"; PostgreSQL:
// "users_username_key"). It returns "" when none matches.
func duplicateOf(err error, columns ...string) string {
	msg := err.Error()
	for _, c := range columns {
		if strings.Contains(msg, c) {
			return c
		}
	}
	return ""
}

// pageOf applies the default and maximum page size.
func pageOf(offset, limit int) (int, int) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		limit = MaxPageSize
	}
	if offset < 0 {
		offset = 0
	}
	return offset, limit
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// containsPattern is a LIKE pattern (used with ESCAPE '\') matching any
// text that contains q, lower-cased.
func containsPattern(q string) string {
	return "%" + likeEscaper.Replace(strings.ToLower(q)) + "%"
}

// nonNil turns a nil list into an empty one, stored as [] rather than null.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// updateRow implements the update-through-closure pattern: it loads the
// row matching cond in a transaction (locked with FOR UPDATE on
// PostgreSQL), calls fn on it and, when fn succeeds, calls save with the row
// as it was loaded and as fn left it. When fn fails nothing is written and
// its error is returned as is.
func updateRow[T any](ctx context.Context, s *Store, entity string, cond string, key any,
	fn func(*T) error, save func(tx *gorm.DB, old, row *T) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var row T
		if err := s.forUpdate(tx).Where(cond, key).Take(&row).Error; err != nil {
			return wrapErr(err, entity)
		}
		old := row
		if err := fn(&row); err != nil {
			return err
		}
		return save(tx, &old, &row)
	})
}

// CacheVersions reads the change counters of the cached tables (see
// app/cache): one primary-key read of the cache_state row, which triggers
// bump in the same transaction as every change to those tables.
func (s *Store) CacheVersions(ctx context.Context) (cache.Vector, error) {
	var v cache.Vector
	err := s.conn(ctx).Raw("SELECT settings, clients, scopes, users, keys, tokens FROM cache_state WHERE id = 1").Row().
		Scan(&v.Settings, &v.Clients, &v.Scopes, &v.Users, &v.Keys, &v.Tokens)
	if err != nil {
		return cache.Vector{}, wrapErr(err, "cache versions")
	}
	return v, nil
}
