package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"time"
)

// SQLite lets one connection write at a time; the others wait in its busy
// handler, which sleeps for milliseconds between attempts. Under
// concurrent writes (token issuance, refresh rotation, code redemption)
// that sleeping, not the writing, sets the pace and the tail latency. The
// serialDriver wraps the SQLite driver so that the connections of this
// process take turns in Go instead: a write statement, or a transaction
// from BEGIN to COMMIT, holds a per-file lock that others wait for without
// sleeping. Readers are not affected (WAL lets them read beside the
// writer), and other processes (the command line) still meet the busy
// handler as before.

// serialDriverName is the database/sql name of the wrapped driver.
const serialDriverName = "gatehouse-sqlite"

func init() {
	// The pure-Go SQLite driver registers itself as "sqlite" (imported by
	// github.com/glebarez/sqlite); sql.Open only looks it up.
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic(err)
	}
	base := db.Driver()
	_ = db.Close()
	sql.Register(serialDriverName, &serialDriver{base: base})
}

// writeLocks holds one lock per database file.
var writeLocks sync.Map // DSN path -> *writeLock

// writeLock is a lock that can be waited for with a deadline.
type writeLock struct{ ch chan struct{} }

// lockWait bounds the wait for the write lock like busy_timeout bounds
// SQLite's: a writer stuck behind a lock held elsewhere in the process
// (a transaction whose goroutine writes outside it) fails instead of
// hanging.
const lockWait = 10 * time.Second

var errWriteLockTimeout = errors.New("database is locked (waited too long for another write of this process)")

func (l *writeLock) lock(ctx context.Context) error {
	select {
	case l.ch <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(lockWait)
	defer t.Stop()
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errWriteLockTimeout
	}
}

func (l *writeLock) unlock() { <-l.ch }

func lockFor(dsn string) *writeLock {
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	l, _ := writeLocks.LoadOrStore(path, &writeLock{ch: make(chan struct{}, 1)})
	return l.(*writeLock)
}

// isWrite reports whether a statement may write: anything but a SELECT
// (or a read-only PRAGMA, EXPLAIN, ...) takes the lock.
func isWrite(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	if len(q) < 6 {
		return true
	}
	switch head := strings.ToUpper(q[:6]); {
	case head == "SELECT", head == "EXPLAI":
		return false
	case head == "PRAGMA":
		// A PASSIVE checkpoint never blocks writers: it needs no turn.
		return strings.Contains(q, "=") || strings.Contains(q, "TRUNCATE") || strings.Contains(q, "RESTART") || strings.Contains(q, "FULL")
	case strings.HasPrefix(head, "WITH"):
		u := strings.ToUpper(q)
		return strings.Contains(u, "INSERT") || strings.Contains(u, "UPDATE") || strings.Contains(u, "DELETE")
	}
	return true
}

type serialDriver struct{ base driver.Driver }

func (d *serialDriver) Open(name string) (driver.Conn, error) {
	c, err := d.base.Open(name)
	if err != nil {
		return nil, err
	}
	return &serialConn{Conn: c, lock: lockFor(name)}, nil
}

// serialConn is a connection that takes the file's write lock for write
// statements and for transactions.
type serialConn struct {
	driver.Conn
	lock *writeLock
	inTx bool // the lock is held for the open transaction
}

type (
	execerCtx  = driver.ExecerContext
	querierCtx = driver.QueryerContext
	beginnerTx = driver.ConnBeginTx
	preparerCt = driver.ConnPrepareContext
)

// acquire takes the lock for one statement unless a transaction holds it.
func (c *serialConn) acquire(ctx context.Context, query string) (release func(), err error) {
	if c.inTx || !isWrite(query) {
		return func() {}, nil
	}
	if err := c.lock.lock(ctx); err != nil {
		return nil, err
	}
	return c.lock.unlock, nil
}

func (c *serialConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if !opts.ReadOnly {
		if err := c.lock.lock(ctx); err != nil {
			return nil, err
		}
	}
	tx, err := c.Conn.(beginnerTx).BeginTx(ctx, opts)
	if err != nil {
		if !opts.ReadOnly {
			c.lock.unlock()
		}
		return nil, err
	}
	if opts.ReadOnly {
		return tx, nil
	}
	c.inTx = true
	return &serialTx{Tx: tx, c: c}, nil
}

func (c *serialConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

type serialTx struct {
	driver.Tx
	c    *serialConn
	done bool
}

func (t *serialTx) end(err error) error {
	if !t.done {
		t.done = true
		t.c.inTx = false
		t.c.lock.unlock()
	}
	return err
}

func (t *serialTx) Commit() error   { return t.end(t.Tx.Commit()) }
func (t *serialTx) Rollback() error { return t.end(t.Tx.Rollback()) }

func (c *serialConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	release, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	defer release()
	return c.Conn.(execerCtx).ExecContext(ctx, query, args)
}

func (c *serialConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	release, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := c.Conn.(querierCtx).QueryContext(ctx, query, args)
	if err != nil {
		release()
		return nil, err
	}
	// INSERT ... RETURNING writes until its rows are closed.
	return &serialRows{Rows: rows, release: release}, nil
}

func (c *serialConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.Conn.(preparerCt).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &serialStmt{Stmt: s, c: c, query: query}, nil
}

func (c *serialConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// ResetSession and IsValid pass through when the driver has them.
func (c *serialConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *serialConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

type serialStmt struct {
	driver.Stmt
	c     *serialConn
	query string
}

func (s *serialStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	release, err := s.c.acquire(ctx, s.query)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *serialStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	release, err := s.c.acquire(ctx, s.query)
	if err != nil {
		return nil, err
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		release()
		return nil, err
	}
	return &serialRows{Rows: rows, release: release}, nil
}

// serialRows releases the statement's lock when closed.
type serialRows struct {
	driver.Rows
	release func()
	once    sync.Once
}

func (r *serialRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

// ColumnTypeDatabaseTypeName passes through (GORM and the driver's time
// parsing rely on declared types).
func (r *serialRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// checkpointInterval is how often the background checkpointer copies the
// WAL into the database file.
const checkpointInterval = 250 * time.Millisecond

// walRestartFrames is the WAL size (in 4 KiB pages, about 40 MiB) past
// which the checkpointer restarts the WAL.
const walRestartFrames = 10000

// checkpointer runs PASSIVE checkpoints (which never block readers or
// writers) until db is closed. Under a steady stream of reads the WAL is
// seldom restarted from its beginning, so it keeps growing; past
// walRestartFrames frames a RESTART checkpoint makes the next writer start
// over. It briefly holds writers back (tens of milliseconds at this size);
// a TRUNCATE of a WAL left to grow to gigabytes held them for over half a
// second (make bench: p99 at half rate went from 130-520 ms to under 10).
// The WAL file keeps its size, so it is not truncated again and again.
func checkpointer(db *sql.DB) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for range t.C {
		var busy, logFrames, done int
		err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
		if errors.Is(err, sql.ErrConnDone) || (err != nil && strings.Contains(err.Error(), "database is closed")) {
			return
		}
		if err == nil && logFrames > walRestartFrames {
			_, _ = db.Exec("PRAGMA wal_checkpoint(RESTART)")
		}
	}
}
