package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testDialectAndPing(t *testing.T, s *models.Store) {
	if d := s.Dialect(); d != models.DialectSQLite && d != models.DialectPostgres {
		t.Errorf("Dialect() = %q", d)
	}
	ok(t, s.Ping(t.Context()))
	if s.DB() == nil {
		t.Error("DB() is nil")
	}
}

func testTx(t *testing.T, s *models.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateUser(ctx, &models.User{Username: "ghost", PasswordHash: "x"}); err != nil {
			return err
		}
		// nested Tx joins the transaction
		if err := tx.Tx(ctx, func(tx2 *models.Store) error { return tx2.SetSetting(ctx, "k", "v") }); err != nil {
			return err
		}
		if _, err := tx.GetUserByUsername(ctx, "ghost"); err != nil {
			return fmt.Errorf("read own write: %w", err)
		}
		return boom
	})
	isErr(t, err, boom)
	_, err = s.GetUserByUsername(ctx, "ghost")
	isErr(t, err, store.ErrNotFound)
	settings, err := s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings after rollback", len(settings), 0)

	ok(t, s.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateUser(ctx, &models.User{Username: "kept", PasswordHash: "x"}); err != nil {
			return err
		}
		// update through a closure inside Tx
		return tx.UpdateUser(ctx, mustUser(t, tx, "kept").ID, func(u *models.User) error { u.Name = "Kept"; return nil })
	}))
	u, err := s.GetUserByUsername(ctx, "kept")
	ok(t, err)
	eq(t, "name", u.Name, "Kept")

	// a one-time token used in a rolled back transaction stays usable
	ott := &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "setup", ExpiresAt: now().Add(time.Hour)}
	ok(t, s.CreateOneTimeToken(ctx, ott))
	err = s.Tx(ctx, func(tx *models.Store) error {
		if err := tx.UseOneTimeToken(ctx, sha("setup"), "setup", now()); err != nil {
			return err
		}
		isErr(t, tx.UseOneTimeToken(ctx, sha("setup"), "setup", now()), store.ErrNotFound)
		return boom
	})
	isErr(t, err, boom)
	ok(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", now()))
	ok(t, s.Tx(ctx, func(tx *models.Store) error { return tx.UseOneTimeToken(ctx, sha("setup"), "setup", now()) }))
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", now()), store.ErrNotFound)
}

func testTimes(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	c := newClient(t, s, "app", nil)
	// nanoseconds, far-off zone: stored as UTC with microseconds
	exp := time.Date(2031, 7, 8, 9, 10, 11, 123456789, zone)
	want := time.Date(2031, 7, 8, 3, 40, 11, 123456000, time.UTC)
	auth := exp.Add(-time.Hour)
	tok := newToken("t1", models.TokenAccess, c.ClientID, &u.ID, "f", exp)
	tok.AuthTime = &auth
	ok(t, s.CreateTokens(ctx, tok))
	sameTime(t, "ExpiresAt as passed back", tok.ExpiresAt, want)
	got, err := s.GetToken(ctx, sha("t1"))
	ok(t, err)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want)
	sameTimePtr(t, "AuthTime", got.AuthTime, ptr(want.Add(-time.Hour)))
	if got.CreatedAt.IsZero() || time.Since(got.CreatedAt) > time.Minute {
		t.Errorf("CreatedAt = %v, want about now", got.CreatedAt)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, got.CreatedAt.UTC())

	if s.Dialect() == models.DialectSQLite {
		// SQLite keeps times as text: they must all be UTC to compare.
		var raw string
		ok(t, s.DB().Raw("SELECT CAST(expires_at AS TEXT) FROM tokens").Scan(&raw).Error)
		eq(t, "stored text", raw, "2031-07-08 03:40:11.123456+00:00")
	}

	// comparisons across zones: a session expiring at exp is valid just
	// before it and gone at it, whatever zone "now" is given in.
	ws := &models.WebSession{IDHash: sha("ws"), Data: []byte("d"), ExpiresAt: exp}
	ok(t, s.SaveWebSession(ctx, ws))
	_, err = s.GetWebSession(ctx, sha("ws"), want.Add(-time.Microsecond).In(zone))
	ok(t, err)
	_, err = s.GetWebSession(ctx, sha("ws"), want.In(time.FixedZone("UTC-8", -8*3600)))
	isErr(t, err, store.ErrNotFound)
}

func testErrorsHideSQL(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newUser(t, s, "bob", func(u *models.User) { u.Email = "bob@example.com" })
	ok(t, s.CreateClient(ctx, &models.Client{ClientID: "c", Name: "C"}))
	errs := []error{
		s.CreateUser(ctx, &models.User{Username: "bob", PasswordHash: "x"}),
		s.CreateUser(ctx, &models.User{Username: "bob2", Email: "BOB@example.com", PasswordHash: "x"}),
		func() error { _, err := s.GetUser(ctx, 999); return err }(),
		s.CreateClient(ctx, &models.Client{ClientID: "c", Name: "C"}),
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		msg := strings.ToUpper(err.Error())
		for _, word := range []string{"INSERT", "SELECT", "UPDATE ", "WHERE", "CONSTRAINT", "SQLSTATE"} {
			if strings.Contains(msg, word) {
				t.Errorf("error %q shows SQL (%s)", err, word)
			}
		}
	}
}

// testTranslateError checks the connection setup the store relies on:
// GORM reports unique violations as gorm.ErrDuplicatedKey on this driver.
func testTranslateError(t *testing.T, s *models.Store) {
	db := s.DB().WithContext(t.Context())
	ok(t, db.Create(&models.Setting{Key: "k", Value: "1", UpdatedAt: now()}).Error)
	err := db.Create(&models.Setting{Key: "k", Value: "2", UpdatedAt: now()}).Error
	isErr(t, err, gorm.ErrDuplicatedKey)
}
