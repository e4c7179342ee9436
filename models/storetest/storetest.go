// Package storetest is the conformance suite of models.Store: every backend
// (SQLite always, PostgreSQL when configured) runs the same tests, in the
// manner of dex's storage/conformance.
package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Test is one conformance test, run on a fresh, empty (migrated) store.
type Test struct {
	Name string
	Fn   func(t *testing.T, s *models.Store)
}

// Tests lists the conformance tests in the order Run runs them.
var Tests = []Test{
	{"Store/DialectAndPing", testDialectAndPing},
	{"Store/Tx", testTx},
	{"Store/TimesUTCMicroseconds", testTimes},
	{"Store/ErrorsHideSQL", testErrorsHideSQL},
	{"Store/TranslateError", testTranslateError},

	{"User/CreateGet", testUserCreateGet},
	{"User/NotFound", testUserNotFound},
	{"User/Duplicates", testUserDuplicates},
	{"User/Update", testUserUpdate},
	{"User/ConcurrentUpdate", testUserConcurrentUpdate},
	{"User/List", testUserList},
	{"User/Admins", testUserAdmins},
	{"User/DeleteCascades", testUserDeleteCascades},

	{"Image/PutGet", testImage},

	{"Client/CreateGet", testClientCreateGet},
	{"Client/Update", testClientUpdate},
	{"Client/ListCount", testClientList},
	{"Client/DeleteCascades", testClientDeleteCascades},

	{"Scope/CRUD", testScopeCRUD},
	{"Scope/Usage", testScopeUsage},

	{"Settings", testSettings},

	{"AuthorizationCode/CreateGetRedeem", testCodeRedeem},
	{"AuthorizationCode/ConcurrentRedeem", testCodeConcurrentRedeem},

	{"Token/CreateGet", testTokenCreateGet},
	{"Token/Rotate", testTokenRotate},
	{"Token/ConcurrentRotate", testTokenConcurrentRotate},
	{"Token/Revoke", testTokenRevoke},
	{"Token/DeleteExpired", testDeleteExpired},

	{"Consent", testConsent},
	{"DeviceCode", testDeviceCode},
	{"SigningKey", testSigningKey},
	{"Audit", testAudit},

	{"AppSecret/GetOrCreate", testSecret},
	{"AppSecret/Concurrent", testSecretConcurrent},
	{"AppSecret/Encrypted", testSecretEncrypted},
	{"AppSecret/Replace", testSecretReplace},

	{"WebSession", testWebSession},
	{"Throttle", testThrottle},
	{"OneTimeToken", testOneTimeToken},
	{"OneTimeToken/ConcurrentUse", testOneTimeTokenConcurrent},
}

// Run runs every conformance test as a parallel subtest, each on its own
// store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) *models.Store) {
	for _, tc := range append(Tests[:len(Tests):len(Tests)], adminTests...) {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			tc.Fn(t, newStore(t))
		})
	}
}

// ---- helpers ---------------------------------------------------------

// now is a "current" time with microsecond precision, so that it round
// trips exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// zone is far from UTC, with an odd offset, to catch times stored in a
// local zone.
var zone = time.FixedZone("UTC+05:30", 5*3600+1800)

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func ptr[T any](v T) *T { return &v }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// sameTime checks an instant and that it is in UTC.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, got, want)
	default:
		sameTime(t, what, *got, *want)
	}
}

func newUser(t *testing.T, s *models.Store, username string, mods ...func(*models.User)) *models.User {
	t.Helper()
	u := &models.User{Username: username, Name: "Name of " + username, PasswordHash: "$argon2id$x", Role: models.RoleUser}
	for _, m := range mods {
		m(u)
	}
	ok(t, s.CreateUser(t.Context(), u))
	return u
}

func newClient(t *testing.T, s *models.Store, clientID string, owner *int64, mods ...func(*models.Client)) *models.Client {
	t.Helper()
	c := &models.Client{ClientID: clientID, Name: "App " + clientID, OwnerID: owner,
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}}
	for _, m := range mods {
		m(c)
	}
	ok(t, s.CreateClient(t.Context(), c))
	return c
}

func newCode(name, clientID string, userID int64, exp time.Time) *models.AuthorizationCode {
	return &models.AuthorizationCode{CodeHash: sha(name), ClientID: clientID, UserID: userID,
		RedirectURI: "https://app.example/cb", Scope: "openid profile", CodeChallenge: "challenge",
		CodeChallengeMethod: "S256", Nonce: "nonce", FamilyID: "family-" + name,
		AuthTime: exp.Add(-time.Hour), ExpiresAt: exp}
}

func newToken(name, kind, clientID string, userID *int64, family string, exp time.Time) *models.Token {
	return &models.Token{TokenHash: sha(name), Kind: kind, ClientID: clientID, UserID: userID,
		Scope: "openid profile", FamilyID: family, ExpiresAt: exp}
}

func newDevice(name, userCode, clientID string, exp time.Time) *models.DeviceCode {
	return &models.DeviceCode{DeviceCodeHash: sha(name), UserCode: userCode, ClientID: clientID,
		Scope: "openid", IntervalSeconds: 5, ExpiresAt: exp}
}

// count counts the rows of table matching where.
func count(t *testing.T, s *models.Store, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	ok(t, s.DB().WithContext(t.Context()).Raw(q, args...).Scan(&n).Error)
	return n
}

// concurrently runs fn n times at once and returns the errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// ---- store -----------------------------------------------------------

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
		return tx.UpdateUser(ctx, mustID(t, tx, "kept"), func(u *models.User) error { u.Name = "Kept"; return nil })
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

func mustID(t *testing.T, s *models.Store, username string) int64 {
	t.Helper()
	u, err := s.GetUserByUsername(t.Context(), username)
	ok(t, err)
	return u.ID
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

// ---- users -----------------------------------------------------------

func testUserCreateGet(t *testing.T, s *models.Store) {
	ctx := t.Context()
	before := now()
	u := &models.User{Username: "Alice", Email: "Alice@Example.com", EmailVerified: true, Name: "Alice Ånström",
		PasswordHash: "$argon2id$v=19$...", Role: models.RoleDeveloper}
	ok(t, s.CreateUser(ctx, u))
	if u.ID == 0 {
		t.Fatal("ID not set")
	}
	if _, err := uuid.Parse(u.Subject); err != nil {
		t.Errorf("Subject %q is not a UUID: %v", u.Subject, err)
	}
	eq(t, "Username", u.Username, "alice")
	for name, tm := range map[string]time.Time{"PasswordChangedAt": u.PasswordChangedAt, "CreatedAt": u.CreatedAt, "UpdatedAt": u.UpdatedAt} {
		if tm.Before(before) || tm.Location() != time.UTC {
			t.Errorf("%s = %v, want now in UTC", name, tm)
		}
	}
	for _, get := range []func() (*models.User, error){
		func() (*models.User, error) { return s.GetUser(ctx, u.ID) },
		func() (*models.User, error) { return s.GetUserByUsername(ctx, "ALICE") },
		func() (*models.User, error) { return s.GetUserBySubject(ctx, u.Subject) },
	} {
		got, err := get()
		ok(t, err)
		eq(t, "user", *got, *u)
	}

	// a given subject and role default
	v := &models.User{Username: "vera", Subject: "fixed-subject", PasswordHash: "x"}
	ok(t, s.CreateUser(ctx, v))
	eq(t, "Subject", v.Subject, "fixed-subject")
	eq(t, "Role", v.Role, models.RoleUser)
	if err := s.CreateUser(ctx, &models.User{Username: "x", PasswordHash: "x", Role: "root"}); err == nil {
		t.Error("CreateUser accepted an invalid role")
	}
}

func testUserNotFound(t *testing.T, s *models.Store) {
	ctx := t.Context()
	_, err := s.GetUser(ctx, 42)
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "nobody")
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetUserBySubject(ctx, "nobody")
	isErr(t, err, store.ErrNotFound)
	isErr(t, s.UpdateUser(ctx, 42, func(*models.User) error { return nil }), store.ErrNotFound)
	isErr(t, s.DeleteUser(ctx, 42), store.ErrNotFound)
}

func testUserDuplicates(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newUser(t, s, "alice", func(u *models.User) { u.Email = "alice@example.com" })
	dupField := func(err error, want string) {
		t.Helper()
		isErr(t, err, store.ErrAlreadyExists)
		var dup *store.DuplicateError
		if !errors.As(err, &dup) || dup.Field != want {
			t.Errorf("duplicate error %v does not name the field %q", err, want)
		}
	}
	dupField(s.CreateUser(ctx, &models.User{Username: "ALICE", PasswordHash: "x"}), "username")
	err := s.CreateUser(ctx, &models.User{Username: "alice2", Email: "Alice@EXAMPLE.com", PasswordHash: "x"})
	dupField(err, "email")
	// Inside a transaction too (PostgreSQL aborts the transaction after a
	// failed statement, so the field cannot be looked up afterwards).
	dupField(s.Tx(ctx, func(tx *models.Store) error {
		return tx.CreateUser(ctx, &models.User{Username: "alice3", Email: "alice@example.com", PasswordHash: "x"})
	}), "email")
	dupField(s.Tx(ctx, func(tx *models.Store) error {
		return tx.CreateUser(ctx, &models.User{Username: "alice", Email: "other@example.com", PasswordHash: "x"})
	}), "username")
	isErr(t, s.CreateUser(ctx, &models.User{Username: "carol", Subject: mustUser(t, s, "alice").Subject, PasswordHash: "x"}), store.ErrAlreadyExists)
	// empty emails do not clash
	newUser(t, s, "bob")
	newUser(t, s, "dave")
}

func mustUser(t *testing.T, s *models.Store, username string) *models.User {
	t.Helper()
	u, err := s.GetUserByUsername(t.Context(), username)
	ok(t, err)
	return u
}

func testUserUpdate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", func(u *models.User) {
		u.Email = "alice@example.com"
		u.EmailVerified = true
		u.Disabled = true
		u.Role = models.RoleAdmin
	})
	newUser(t, s, "bob", func(u *models.User) { u.Email = "bob@example.com" })
	time.Sleep(2 * time.Millisecond)

	// zero values are written
	ok(t, s.UpdateUser(ctx, u.ID, func(x *models.User) error {
		x.Username = "Alicia"
		x.Email = ""
		x.EmailVerified = false
		x.Disabled = false
		x.Name = ""
		x.Role = models.RoleUser
		x.Subject = "changed" // ignored
		return nil
	}))
	got, err := s.GetUser(ctx, u.ID)
	ok(t, err)
	eq(t, "Username", got.Username, "alicia")
	eq(t, "Email", got.Email, "")
	eq(t, "EmailVerified", got.EmailVerified, false)
	eq(t, "Disabled", got.Disabled, false)
	eq(t, "Name", got.Name, "")
	eq(t, "Role", got.Role, models.RoleUser)
	eq(t, "Subject", got.Subject, u.Subject)
	sameTime(t, "CreatedAt", got.CreatedAt, u.CreatedAt)
	sameTime(t, "PasswordChangedAt", got.PasswordChangedAt, u.PasswordChangedAt)
	if !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, u.UpdatedAt)
	}

	// a new password hash moves PasswordChangedAt
	ok(t, s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.PasswordHash = "new"; return nil }))
	got2, err := s.GetUser(ctx, u.ID)
	ok(t, err)
	if !got2.PasswordChangedAt.After(u.PasswordChangedAt) {
		t.Errorf("PasswordChangedAt %v not after %v", got2.PasswordChangedAt, u.PasswordChangedAt)
	}
	// unless fn sets it
	set := time.Date(2020, 1, 1, 0, 0, 0, 0, zone)
	ok(t, s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.PasswordHash = "newer"; x.PasswordChangedAt = set; return nil }))
	got3, err := s.GetUser(ctx, u.ID)
	ok(t, err)
	sameTime(t, "PasswordChangedAt", got3.PasswordChangedAt, set)

	// an email clash writes nothing
	err = s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.Email = "BOB@example.com"; x.Name = "clash"; return nil })
	isErr(t, err, store.ErrAlreadyExists)
	if !strings.Contains(err.Error(), "email") {
		t.Errorf("email clash error %q does not say email", err)
	}
	err = s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.Username = "BOB"; return nil })
	isErr(t, err, store.ErrAlreadyExists)
	// a failing closure writes nothing
	boom := errors.New("boom")
	err = s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.Name = "never"; return boom })
	isErr(t, err, boom)
	got4, err := s.GetUser(ctx, u.ID)
	ok(t, err)
	eq(t, "Name", got4.Name, "")
	eq(t, "Email", got4.Email, "")
	if err := s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.Role = "root"; return nil }); err == nil {
		t.Error("UpdateUser accepted an invalid role")
	}
}

// testUserConcurrentUpdate checks that updates through closures do not
// lose each other's changes: the row is locked from read to write.
func testUserConcurrentUpdate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice", func(u *models.User) { u.Name = "" })
	const n = 20
	for i, err := range concurrently(n, func(int) error {
		return s.UpdateUser(ctx, u.ID, func(x *models.User) error { x.Name += "x"; return nil })
	}) {
		if err != nil {
			t.Errorf("updater %d: %v", i, err)
		}
	}
	got, err := s.GetUser(ctx, u.ID)
	ok(t, err)
	eq(t, "Name", got.Name, strings.Repeat("x", n))
}

func testUserList(t *testing.T, s *models.Store) {
	ctx := t.Context()
	mk := func(name, full, email, role string) {
		newUser(t, s, name, func(u *models.User) { u.Name = full; u.Email = email; u.Role = role })
	}
	mk("dave", "Dave Jones", "dave@corp.example", models.RoleUser)
	mk("alice", "Alice Smith", "alice@example.com", models.RoleAdmin)
	mk("carol", "Carol Smith", "", models.RoleDeveloper)
	mk("bob", "Bob", "BOB@CORP.EXAMPLE", models.RoleUser)
	mk("erin_x", "Erin", "erin@example.com", models.RoleUser)
	mk("erinax", "Erin A", "", models.RoleUser)

	names := func(us []models.User) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	cases := []struct {
		f     models.UserFilter
		want  []string
		total int64
	}{
		{models.UserFilter{}, []string{"alice", "bob", "carol", "dave", "erin_x", "erinax"}, 6},
		{models.UserFilter{Query: "SMITH"}, []string{"alice", "carol"}, 2},
		{models.UserFilter{Query: "corp"}, []string{"bob", "dave"}, 2},
		{models.UserFilter{Query: "Ali"}, []string{"alice"}, 1},
		{models.UserFilter{Query: "n_x"}, []string{"erin_x"}, 1}, // _ is not a wildcard
		{models.UserFilter{Query: "%"}, []string{}, 0},
		{models.UserFilter{Role: models.RoleUser}, []string{"bob", "dave", "erin_x", "erinax"}, 4},
		{models.UserFilter{Role: models.RoleUser, Query: "example.com"}, []string{"erin_x"}, 1},
		{models.UserFilter{Offset: 1, Limit: 2}, []string{"bob", "carol"}, 6},
		{models.UserFilter{Offset: 5, Limit: 2}, []string{"erinax"}, 6},
		{models.UserFilter{Offset: 10}, []string{}, 6},
		{models.UserFilter{Offset: -3, Limit: 1}, []string{"alice"}, 6},
	}
	for _, c := range cases {
		got, total, err := s.ListUsers(ctx, c.f)
		ok(t, err)
		eq(t, fmt.Sprintf("ListUsers(%+v)", c.f), names(got), c.want)
		eq(t, fmt.Sprintf("total of ListUsers(%+v)", c.f), total, c.total)
	}

	// default and maximum page sizes
	for i := range 55 {
		newUser(t, s, fmt.Sprintf("zz%02d", i))
	}
	got, total, err := s.ListUsers(ctx, models.UserFilter{})
	ok(t, err)
	eq(t, "default page", len(got), models.DefaultPageSize)
	eq(t, "total", total, int64(61))
	got, _, err = s.ListUsers(ctx, models.UserFilter{Limit: 10000})
	ok(t, err)
	eq(t, "capped page", len(got), 61)
}

func testUserAdmins(t *testing.T, s *models.Store) {
	ctx := t.Context()
	has, err := s.HasAdmin(ctx)
	ok(t, err)
	eq(t, "HasAdmin on empty", has, false)
	newUser(t, s, "root", func(u *models.User) { u.Role = models.RoleAdmin; u.Disabled = true })
	n, err := s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "CountAdmins (one disabled)", n, int64(0))
	has, err = s.HasAdmin(ctx)
	ok(t, err)
	eq(t, "HasAdmin (one disabled)", has, true)
	newUser(t, s, "a1", func(u *models.User) { u.Role = models.RoleAdmin })
	newUser(t, s, "a2", func(u *models.User) { u.Role = models.RoleAdmin })
	newUser(t, s, "dev", func(u *models.User) { u.Role = models.RoleDeveloper })
	n, err = s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "CountAdmins", n, int64(2))
}

func testUserDeleteCascades(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	other := newUser(t, s, "bob")
	c := newClient(t, s, "app", &u.ID)
	exp := now().Add(time.Hour)
	ok(t, s.CreateAuthorizationCode(ctx, newCode("c1", c.ClientID, u.ID, exp)))
	ok(t, s.CreateAuthorizationCode(ctx, newCode("c2", c.ClientID, other.ID, exp)))
	ok(t, s.CreateTokens(ctx, newToken("t1", models.TokenAccess, c.ClientID, &u.ID, "f1", exp),
		newToken("t2", models.TokenAccess, c.ClientID, &other.ID, "f2", exp)))
	ok(t, s.UpsertConsent(ctx, u.ID, c.ClientID, "openid"))
	ok(t, s.UpsertConsent(ctx, other.ID, c.ClientID, "openid"))
	ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha("s1"), UserID: &u.ID, Data: []byte("x"), ExpiresAt: exp}))
	d := newDevice("d1", "AAAA-BBBB", c.ClientID, exp)
	d.UserID = &u.ID
	ok(t, s.CreateDeviceCode(ctx, d))

	ok(t, s.DeleteUser(ctx, u.ID))
	_, err := s.GetUser(ctx, u.ID)
	isErr(t, err, store.ErrNotFound)
	for table, want := range map[string]int64{"authorization_codes": 1, "tokens": 1, "consents": 1, "web_sessions": 0, "device_codes": 0} {
		eq(t, "rows left in "+table, count(t, s, table, ""), want)
	}
	got, err := s.GetClient(ctx, c.ClientID)
	ok(t, err)
	if got.OwnerID != nil {
		t.Errorf("client owner = %v after the owner was deleted, want nil", *got.OwnerID)
	}
	isErr(t, s.DeleteUser(ctx, u.ID), store.ErrNotFound)
}

// ---- images ----------------------------------------------------------

func testImage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	img := &models.Image{ID: "abc123", ContentType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0, 1, 2}}
	ok(t, s.PutImage(ctx, img))
	ok(t, s.PutImage(ctx, &models.Image{ID: "abc123", ContentType: "image/png", Data: []byte("other")}))
	got, err := s.GetImage(ctx, "abc123")
	ok(t, err)
	eq(t, "Data", got.Data, img.Data)
	eq(t, "ContentType", got.ContentType, "image/png")
	sameTime(t, "CreatedAt", got.CreatedAt, img.CreatedAt)
	_, err = s.GetImage(ctx, "nope")
	isErr(t, err, store.ErrNotFound)
}

// ---- clients ---------------------------------------------------------

func testClientCreateGet(t *testing.T, s *models.Store) {
	ctx := t.Context()
	owner := newUser(t, s, "dev")
	rotated := time.Date(2029, 2, 3, 4, 5, 6, 7000, zone)
	c := &models.Client{ClientID: "web-app", SecretHash: sha("secret"), SecretHint: "cret", Name: "Wébapp ✓",
		Description: "Ünïcödé 日本語 \"quoted\" <b>", Icon: "/icons/abc", Homepage: "https://app.example",
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:8080/cb?x=1&y=\"2\"", "https://日本.example/コールバック"},
		GrantTypes:   []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "offline_access"},
		OwnerID: &owner.ID, SecretRotatedAt: &rotated}
	ok(t, s.CreateClient(ctx, c))
	if c.ID == 0 {
		t.Fatal("ID not set")
	}
	got, err := s.GetClient(ctx, "web-app")
	ok(t, err)
	eq(t, "client", *got, *c)
	sameTimePtr(t, "SecretRotatedAt", got.SecretRotatedAt, &rotated)

	// nil lists are stored as [] and read back empty, not nil
	p := &models.Client{ClientID: "public-app", Name: "Public", Public: true}
	ok(t, s.CreateClient(ctx, p))
	var raw []string
	ok(t, s.DB().Raw("SELECT CAST(redirect_uris AS TEXT) FROM clients WHERE client_id = ? UNION ALL "+
		"SELECT CAST(grant_types AS TEXT) FROM clients WHERE client_id = ? UNION ALL "+
		"SELECT CAST(scopes AS TEXT) FROM clients WHERE client_id = ?", "public-app", "public-app", "public-app").Scan(&raw).Error)
	eq(t, "stored lists", raw, []string{"[]", "[]", "[]"})
	got, err = s.GetClient(ctx, "public-app")
	ok(t, err)
	eq(t, "RedirectURIs", got.RedirectURIs, []string{})
	eq(t, "GrantTypes", got.GrantTypes, []string{})
	eq(t, "Scopes", got.Scopes, []string{})
	eq(t, "SecretHash", got.SecretHash, []byte(nil))
	if got.OwnerID != nil || got.SecretRotatedAt != nil {
		t.Errorf("OwnerID, SecretRotatedAt = %v, %v; want nil", got.OwnerID, got.SecretRotatedAt)
	}
	eq(t, "Public", got.Public, true)

	isErr(t, s.CreateClient(ctx, &models.Client{ClientID: "web-app", Name: "again"}), store.ErrAlreadyExists)
	_, err = s.GetClient(ctx, "nope")
	isErr(t, err, store.ErrNotFound)
}

func testClientUpdate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	owner := newUser(t, s, "dev")
	rotated := now()
	c := newClient(t, s, "app", &owner.ID, func(c *models.Client) {
		c.Public = true
		c.Description = "desc"
		c.SecretHash = sha("s")
		c.SecretRotatedAt = &rotated
	})
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpdateClient(ctx, "app", func(x *models.Client) error {
		x.Public = false
		x.Description = ""
		x.SecretHash = nil
		x.SecretRotatedAt = nil
		x.OwnerID = nil
		x.RedirectURIs = nil
		x.GrantTypes = []string{}
		x.Scopes = []string{"openid", "émoji 🎉"}
		x.Name = "Renamed"
		return nil
	}))
	got, err := s.GetClient(ctx, "app")
	ok(t, err)
	eq(t, "Public", got.Public, false)
	eq(t, "Description", got.Description, "")
	eq(t, "SecretHash", got.SecretHash, []byte(nil))
	eq(t, "SecretRotatedAt", got.SecretRotatedAt, (*time.Time)(nil))
	eq(t, "OwnerID", got.OwnerID, (*int64)(nil))
	eq(t, "RedirectURIs", got.RedirectURIs, []string{})
	eq(t, "GrantTypes", got.GrantTypes, []string{})
	eq(t, "Scopes", got.Scopes, []string{"openid", "émoji 🎉"})
	eq(t, "Name", got.Name, "Renamed")
	sameTime(t, "CreatedAt", got.CreatedAt, c.CreatedAt)
	if !got.UpdatedAt.After(c.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, c.UpdatedAt)
	}

	boom := errors.New("boom")
	isErr(t, s.UpdateClient(ctx, "app", func(x *models.Client) error { x.Name = "never"; return boom }), boom)
	if err := s.UpdateClient(ctx, "app", func(x *models.Client) error { x.ClientID = "other"; return nil }); err == nil {
		t.Error("UpdateClient changed the client ID")
	}
	got, err = s.GetClient(ctx, "app")
	ok(t, err)
	eq(t, "Name", got.Name, "Renamed")
	isErr(t, s.UpdateClient(ctx, "nope", func(*models.Client) error { return nil }), store.ErrNotFound)
}

func testClientList(t *testing.T, s *models.Store) {
	ctx := t.Context()
	a := newUser(t, s, "a")
	b := newUser(t, s, "b")
	mk := func(id, name string, owner *int64) {
		newClient(t, s, id, owner, func(c *models.Client) { c.Name = name })
	}
	mk("z-1", "Zeta", &a.ID)
	mk("a-2", "Alpha", &a.ID)
	mk("a-1", "Alpha", &b.ID)
	mk("m-1", "Mobile App", nil)
	mk("photo-sync", "Beta", &b.ID)

	ids := func(cs []models.Client) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ClientID)
		}
		return out
	}
	cases := []struct {
		f     models.ClientFilter
		want  []string
		total int64
	}{
		{models.ClientFilter{}, []string{"a-1", "a-2", "photo-sync", "m-1", "z-1"}, 5},
		{models.ClientFilter{OwnerID: &a.ID}, []string{"a-2", "z-1"}, 2},
		{models.ClientFilter{OwnerID: &b.ID, Query: "PHOTO"}, []string{"photo-sync"}, 1},
		{models.ClientFilter{Query: "app"}, []string{"m-1"}, 1},
		{models.ClientFilter{Query: "ALP"}, []string{"a-1", "a-2"}, 2},
		{models.ClientFilter{Offset: 1, Limit: 3}, []string{"a-2", "photo-sync", "m-1"}, 5},
		{models.ClientFilter{OwnerID: ptr(int64(9999))}, []string{}, 0},
	}
	for _, c := range cases {
		got, total, err := s.ListClients(ctx, c.f)
		ok(t, err)
		eq(t, fmt.Sprintf("ListClients(%+v)", c.f), ids(got), c.want)
		eq(t, fmt.Sprintf("total of ListClients(%+v)", c.f), total, c.total)
	}
	n, err := s.CountClients(ctx, nil)
	ok(t, err)
	eq(t, "CountClients(nil)", n, int64(5))
	n, err = s.CountClients(ctx, &b.ID)
	ok(t, err)
	eq(t, "CountClients(b)", n, int64(2))
}

func testClientDeleteCascades(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	doomed := newClient(t, s, "doomed", nil)
	kept := newClient(t, s, "kept", nil)
	exp := now().Add(time.Hour)
	for _, c := range []*models.Client{doomed, kept} {
		ok(t, s.CreateAuthorizationCode(ctx, newCode("code-"+c.ClientID, c.ClientID, u.ID, exp)))
		ok(t, s.CreateTokens(ctx,
			newToken("at-"+c.ClientID, models.TokenAccess, c.ClientID, &u.ID, "f-"+c.ClientID, exp),
			newToken("rt-"+c.ClientID, models.TokenRefresh, c.ClientID, &u.ID, "f-"+c.ClientID, exp)))
		ok(t, s.UpsertConsent(ctx, u.ID, c.ClientID, "openid"))
		ok(t, s.CreateDeviceCode(ctx, newDevice("dev-"+c.ClientID, "CODE-"+c.ClientID, c.ClientID, exp)))
	}
	ok(t, s.DeleteClient(ctx, "doomed"))
	_, err := s.GetClient(ctx, "doomed")
	isErr(t, err, store.ErrNotFound)
	for _, table := range []string{"authorization_codes", "tokens", "consents", "device_codes"} {
		eq(t, "rows of the deleted client in "+table, count(t, s, table, "client_id = ?", "doomed"), int64(0))
		if count(t, s, table, "client_id = ?", "kept") == 0 {
			t.Errorf("rows of the other client in %s were deleted", table)
		}
	}
	isErr(t, s.DeleteClient(ctx, "doomed"), store.ErrNotFound)
}

// ---- scopes ----------------------------------------------------------

func testScopeCRUD(t *testing.T, s *models.Store) {
	ctx := t.Context()
	seeded := []string{"email", "offline_access", "openid", "profile", "user.read"}
	list, err := s.ListScopes(ctx)
	ok(t, err)
	var ids []string
	for _, sc := range list {
		ids = append(ids, sc.ScopeID)
	}
	eq(t, "seeded scopes", ids, seeded)
	for _, sc := range list {
		eq(t, "built-in scope "+sc.ScopeID+" is a machine scope", sc.Machine, false)
	}
	n, err := s.CountScopes(ctx)
	ok(t, err)
	eq(t, "CountScopes", n, int64(5))

	sc := &models.Scope{ScopeID: "api.write", Name: "Write", Description: "{client_name} écrit pour {user}",
		Icon: "fa-solid fa-pen", ResourcePath: "/api/*", Method: "POST", IsDefault: true, Machine: true}
	ok(t, s.CreateScope(ctx, sc))
	got, err := s.GetScope(ctx, "api.write")
	ok(t, err)
	eq(t, "scope", *got, *sc)
	isErr(t, s.CreateScope(ctx, &models.Scope{ScopeID: "openid", Name: "dup"}), store.ErrAlreadyExists)

	ok(t, s.UpdateScope(ctx, "api.write", func(x *models.Scope) error {
		x.IsDefault = false
		x.Machine = false
		x.Method = ""
		x.ResourcePath = ""
		x.Name = "Write things"
		return nil
	}))
	got, err = s.GetScope(ctx, "api.write")
	ok(t, err)
	eq(t, "IsDefault", got.IsDefault, false)
	eq(t, "Machine", got.Machine, false)
	eq(t, "Method", got.Method, "")
	eq(t, "ResourcePath", got.ResourcePath, "")
	eq(t, "Name", got.Name, "Write things")
	boom := errors.New("boom")
	isErr(t, s.UpdateScope(ctx, "api.write", func(x *models.Scope) error { x.Name = "never"; return boom }), boom)
	if err := s.UpdateScope(ctx, "api.write", func(x *models.Scope) error { x.ScopeID = "x"; return nil }); err == nil {
		t.Error("UpdateScope changed the scope ID")
	}
	got, err = s.GetScope(ctx, "api.write")
	ok(t, err)
	eq(t, "Name", got.Name, "Write things")
	isErr(t, s.UpdateScope(ctx, "nope", func(*models.Scope) error { return nil }), store.ErrNotFound)

	ok(t, s.DeleteScope(ctx, "api.write"))
	_, err = s.GetScope(ctx, "api.write")
	isErr(t, err, store.ErrNotFound)
	isErr(t, s.DeleteScope(ctx, "api.write"), store.ErrNotFound)
}

func testScopeUsage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	withScopes := func(sc ...string) func(*models.Client) { return func(c *models.Client) { c.Scopes = sc } }
	newClient(t, s, "c1", nil, withScopes("openid", "offline_access"))
	newClient(t, s, "c2", nil, withScopes("offline_access"))
	newClient(t, s, "c3", nil, withScopes("offlineXaccess", "offline_access_plus"))
	newClient(t, s, "c4", nil, withScopes())
	exp := now().Add(time.Hour)
	tok := func(name, scope string, mods ...func(*models.Token)) *models.Token {
		tk := newToken(name, models.TokenAccess, "c1", &u.ID, "f", exp)
		tk.Scope = scope
		for _, m := range mods {
			m(tk)
		}
		return tk
	}
	revoked := now()
	ok(t, s.CreateTokens(ctx,
		tok("t1", "offline_access"),
		tok("t2", "openid offline_access profile"),
		tok("t3", "openid  offline_access"),
		tok("t4", "offline_access_plus offlineXaccess OFFLINE_ACCESS"),
		tok("t5", "offline_access", func(tk *models.Token) { tk.RevokedAt = &revoked }),
		tok("t6", "offline_access", func(tk *models.Token) { tk.ExpiresAt = now().Add(-time.Second) }),
	))
	clients, active, err := s.ScopeUsage(ctx, "offline_access")
	ok(t, err)
	eq(t, "clients", clients, int64(2))
	eq(t, "active tokens", active, int64(3))
	clients, active, err = s.ScopeUsage(ctx, "profile")
	ok(t, err)
	eq(t, "clients (profile)", clients, int64(0))
	eq(t, "active tokens (profile)", active, int64(1))
	clients, active, err = s.ScopeUsage(ctx, "unused")
	ok(t, err)
	eq(t, "usage of unused", [2]int64{clients, active}, [2]int64{0, 0})
}

// ---- settings --------------------------------------------------------

func testSettings(t *testing.T, s *models.Store) {
	ctx := t.Context()
	m, err := s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings", m, map[string]string{})
	ok(t, s.SetSetting(ctx, "site_name", "Gatehouse"))
	ok(t, s.SetSetting(ctx, "motd", ""))
	ok(t, s.SetSetting(ctx, "site_name", "Gåtehouse ✓"))
	m, err = s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings", m, map[string]string{"site_name": "Gåtehouse ✓", "motd": ""})
	ok(t, s.DeleteSetting(ctx, "motd"))
	ok(t, s.DeleteSetting(ctx, "motd"))
	m, err = s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings", m, map[string]string{"site_name": "Gåtehouse ✓"})
}

// ---- authorization codes ---------------------------------------------

func testCodeRedeem(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	c := newCode("code", "app", u.ID, now().Add(time.Minute))
	c.AuthTime = c.AuthTime.In(zone)
	ok(t, s.CreateAuthorizationCode(ctx, c))
	if c.ID == 0 {
		t.Fatal("ID not set")
	}
	got, err := s.GetAuthorizationCode(ctx, sha("code"))
	ok(t, err)
	eq(t, "code", *got, *c)
	isErr(t, s.CreateAuthorizationCode(ctx, newCode("code", "app", u.ID, now())), store.ErrAlreadyExists)

	at := now().In(zone)
	red, err := s.RedeemAuthorizationCode(ctx, sha("code"), at)
	ok(t, err)
	want := *c
	want.RedeemedAt = ptr(at.UTC())
	eq(t, "redeemed code", *red, want)
	again, err := s.RedeemAuthorizationCode(ctx, sha("code"), at.Add(time.Second))
	isErr(t, err, store.ErrConflict)
	if again == nil {
		t.Fatal("second redemption returned no code")
	}
	eq(t, "code on second redemption", *again, want)

	_, err = s.RedeemAuthorizationCode(ctx, sha("unknown"), at)
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetAuthorizationCode(ctx, sha("unknown"))
	isErr(t, err, store.ErrNotFound)

	// an expired code can still be redeemed: expiry is the caller's business
	ok(t, s.CreateAuthorizationCode(ctx, newCode("old", "app", u.ID, now().Add(-time.Hour))))
	_, err = s.RedeemAuthorizationCode(ctx, sha("old"), now())
	ok(t, err)
}

const racers = 50

func testCodeConcurrentRedeem(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	ok(t, s.CreateAuthorizationCode(ctx, newCode("code", "app", u.ID, now().Add(time.Minute))))
	codes := make([]*models.AuthorizationCode, racers)
	errs := concurrently(racers, func(i int) error {
		var err error
		codes[i], err = s.RedeemAuthorizationCode(ctx, sha("code"), now())
		return err
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrConflict):
			if codes[i] == nil || codes[i].RedeemedAt == nil {
				t.Errorf("racer %d: conflict without the redeemed code", i)
			}
		default:
			t.Errorf("racer %d: %v", i, err)
		}
	}
	eq(t, "successful redemptions", wins, 1)
}

// ---- tokens ----------------------------------------------------------

func testTokenCreateGet(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	ok(t, s.CreateTokens(ctx))
	exp := now().Add(time.Hour)
	auth := now().Add(-time.Minute)
	at := newToken("at", models.TokenAccess, "app", &u.ID, "fam", exp)
	at.AuthTime = &auth
	rt := newToken("rt", models.TokenRefresh, "app", &u.ID, "fam", exp.Add(24*time.Hour))
	cc := newToken("cc", models.TokenAccess, "app", nil, "fam2", exp) // client credentials: no user
	cc.Scope = ""
	ok(t, s.CreateTokens(ctx, at, rt, cc))
	for _, tk := range []*models.Token{at, rt, cc} {
		if tk.ID == 0 {
			t.Fatalf("ID of %x not set", tk.TokenHash[:4])
		}
		got, err := s.GetToken(ctx, tk.TokenHash)
		ok(t, err)
		eq(t, "token", *got, *tk)
	}
	_, err := s.GetToken(ctx, sha("unknown"))
	isErr(t, err, store.ErrNotFound)

	// one duplicate fails the whole statement
	err = s.CreateTokens(ctx, newToken("new", models.TokenAccess, "app", nil, "f", exp), newToken("at", models.TokenAccess, "app", nil, "f", exp))
	isErr(t, err, store.ErrAlreadyExists)
	_, err = s.GetToken(ctx, sha("new"))
	isErr(t, err, store.ErrNotFound)
}

func testTokenRotate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	exp := now().Add(time.Hour)
	ok(t, s.CreateTokens(ctx,
		newToken("rt", models.TokenRefresh, "app", &u.ID, "fam", exp),
		newToken("rt-revoked", models.TokenRefresh, "app", &u.ID, "fam", exp),
		newToken("at", models.TokenAccess, "app", &u.ID, "fam", exp)))
	at := now()
	got, err := s.RotateRefreshToken(ctx, sha("rt"), at)
	ok(t, err)
	sameTimePtr(t, "RotatedAt", got.RotatedAt, &at)
	eq(t, "FamilyID", got.FamilyID, "fam")
	again, err := s.RotateRefreshToken(ctx, sha("rt"), at)
	isErr(t, err, store.ErrConflict)
	if again == nil || again.FamilyID != "fam" {
		t.Fatalf("reuse returned %+v, want the token", again)
	}
	sameTimePtr(t, "RotatedAt on reuse", again.RotatedAt, &at)

	ok(t, s.RevokeToken(ctx, sha("rt-revoked"), at))
	_, err = s.RotateRefreshToken(ctx, sha("rt-revoked"), at)
	isErr(t, err, store.ErrConflict)
	_, err = s.RotateRefreshToken(ctx, sha("at"), at)
	isErr(t, err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx, sha("unknown"), at)
	isErr(t, err, store.ErrNotFound)
}

func testTokenConcurrentRotate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	ok(t, s.CreateTokens(ctx, newToken("rt", models.TokenRefresh, "app", &u.ID, "fam", now().Add(time.Hour))))
	errs := concurrently(racers, func(int) error {
		_, err := s.RotateRefreshToken(ctx, sha("rt"), now())
		return err
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	eq(t, "successful rotations", wins, 1)
}

func testTokenRevoke(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	newClient(t, s, "app", nil)
	newClient(t, s, "other", nil)
	exp := now().Add(time.Hour)
	ok(t, s.CreateTokens(ctx,
		newToken("a1", models.TokenAccess, "app", &u.ID, "f1", exp),
		newToken("r1", models.TokenRefresh, "app", &u.ID, "f1", exp),
		newToken("a2", models.TokenAccess, "app", &u.ID, "f2", exp),
		newToken("a3", models.TokenAccess, "other", &u.ID, "f3", exp),
		newToken("a4", models.TokenAccess, "app", &v.ID, "f4", exp)))

	at := now()
	ok(t, s.RevokeToken(ctx, sha("a1"), at))
	ok(t, s.RevokeToken(ctx, sha("a1"), at.Add(time.Hour))) // again: no error, first time kept
	got, err := s.GetToken(ctx, sha("a1"))
	ok(t, err)
	sameTimePtr(t, "RevokedAt", got.RevokedAt, &at)
	isErr(t, s.RevokeToken(ctx, sha("unknown"), at), store.ErrNotFound)

	n, err := s.RevokeFamily(ctx, "f1", at)
	ok(t, err)
	eq(t, "revoked in family f1", n, int64(1)) // a1 was revoked already
	n, err = s.RevokeFamily(ctx, "f1", at)
	ok(t, err)
	eq(t, "revoked in family f1 again", n, int64(0))
	n, err = s.RevokeFamily(ctx, "nope", at)
	ok(t, err)
	eq(t, "revoked in unknown family", n, int64(0))
	// The tombstone stays for writers that store tokens afterwards.
	for fam, want := range map[string]bool{"f1": true, "nope": true, "f2": false} {
		got, err := s.FamilyRevoked(ctx, fam)
		ok(t, err)
		eq(t, "FamilyRevoked("+fam+")", got, want)
	}

	n, err = s.RevokeUserClientTokens(ctx, u.ID, "app", at)
	ok(t, err)
	eq(t, "revoked for alice at app", n, int64(1)) // a2
	for name, revoked := range map[string]bool{"a2": true, "a3": false, "a4": false, "r1": true} {
		tk, err := s.GetToken(ctx, sha(name))
		ok(t, err)
		eq(t, name+" revoked", tk.RevokedAt != nil, revoked)
	}
	// Tombstones older than an hour before the sweep's cut-off go.
	_, err = s.DeleteExpiredTokens(ctx, at.Add(2*time.Hour), 0)
	ok(t, err)
	gone, err := s.FamilyRevoked(ctx, "f1")
	ok(t, err)
	eq(t, "tombstone after the sweep", gone, false)
}

func testDeleteExpired(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	cut := now()
	past, future := cut.Add(-time.Minute), cut.Add(time.Minute)
	for i := range 5 {
		ok(t, s.CreateTokens(ctx, newToken(fmt.Sprint("old", i), models.TokenAccess, "app", &u.ID, "f", past)))
	}
	ok(t, s.CreateTokens(ctx,
		newToken("at-cut", models.TokenAccess, "app", &u.ID, "f", cut), // not before cut: kept
		newToken("new", models.TokenAccess, "app", &u.ID, "f", future)))
	for i := range 3 {
		ok(t, s.CreateAuthorizationCode(ctx, newCode(fmt.Sprint("oldcode", i), "app", u.ID, past)))
	}
	ok(t, s.CreateAuthorizationCode(ctx, newCode("newcode", "app", u.ID, future)))
	ok(t, s.CreateDeviceCode(ctx, newDevice("olddev", "OLD", "app", past)))
	ok(t, s.CreateDeviceCode(ctx, newDevice("newdev", "NEW", "app", future)))

	n, err := s.DeleteExpiredTokens(ctx, cut, 2)
	ok(t, err)
	eq(t, "first batch", n, int64(2+2+1))
	n, err = s.DeleteExpiredTokens(ctx, cut.In(zone), 2)
	ok(t, err)
	eq(t, "second batch", n, int64(2+1))
	n, err = s.DeleteExpiredTokens(ctx, cut, 0)
	ok(t, err)
	eq(t, "third batch", n, int64(1))
	n, err = s.DeleteExpiredTokens(ctx, cut, 2)
	ok(t, err)
	eq(t, "nothing left", n, int64(0))
	eq(t, "tokens left", count(t, s, "tokens", ""), int64(2))
	eq(t, "codes left", count(t, s, "authorization_codes", ""), int64(1))
	eq(t, "device codes left", count(t, s, "device_codes", ""), int64(1))
	_, err = s.GetToken(ctx, sha("at-cut"))
	ok(t, err)
}

// ---- consents --------------------------------------------------------

func testConsent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	for _, id := range []string{"a", "b", "c"} {
		newClient(t, s, id, nil)
	}
	ok(t, s.UpsertConsent(ctx, u.ID, "a", "openid"))
	first, err := s.GetConsent(ctx, u.ID, "a")
	ok(t, err)
	eq(t, "Scope", first.Scope, "openid")
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpsertConsent(ctx, u.ID, "b", "openid"))
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpsertConsent(ctx, u.ID, "c", ""))
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpsertConsent(ctx, u.ID, "a", "openid profile"))
	ok(t, s.UpsertConsent(ctx, v.ID, "a", "email"))

	got, err := s.GetConsent(ctx, u.ID, "a")
	ok(t, err)
	eq(t, "Scope", got.Scope, "openid profile")
	eq(t, "ID", got.ID, first.ID)
	sameTime(t, "CreatedAt", got.CreatedAt, first.CreatedAt)
	if !got.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, first.UpdatedAt)
	}
	list, err := s.ListConsents(ctx, u.ID)
	ok(t, err)
	var order []string
	for _, c := range list {
		order = append(order, c.ClientID)
	}
	eq(t, "consents newest first", order, []string{"a", "c", "b"})
	list, err = s.ListConsents(ctx, 9999)
	ok(t, err)
	eq(t, "consents of nobody", len(list), 0)

	_, err = s.GetConsent(ctx, v.ID, "b")
	isErr(t, err, store.ErrNotFound)
	ok(t, s.DeleteConsent(ctx, u.ID, "a"))
	isErr(t, s.DeleteConsent(ctx, u.ID, "a"), store.ErrNotFound)
	_, err = s.GetConsent(ctx, v.ID, "a")
	ok(t, err)
}

// ---- device codes ----------------------------------------------------

func testDeviceCode(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	d := newDevice("dc", "WDJB-MJHT", "tv", now().Add(10*time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))
	eq(t, "Status", d.Status, models.DevicePending)
	got, err := s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	eq(t, "device code", *got, *d)
	got, err = s.GetDeviceCodeByUserCode(ctx, "WDJB-MJHT")
	ok(t, err)
	eq(t, "device code by user code", *got, *d)
	isErr(t, s.CreateDeviceCode(ctx, newDevice("dc2", "WDJB-MJHT", "tv", now())), store.ErrAlreadyExists)
	_, err = s.GetDeviceCode(ctx, sha("nope"))
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetDeviceCodeByUserCode(ctx, "NOPE-NOPE")
	isErr(t, err, store.ErrNotFound)

	auth := now().In(zone)
	ok(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error {
		x.Status = models.DeviceApproved
		x.UserID = &u.ID
		x.AuthTime = &auth
		x.LastPolledAt = &auth
		x.IntervalSeconds = 10
		x.UserCode = "IGNORED"
		return nil
	}))
	got, err = s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	eq(t, "Status", got.Status, models.DeviceApproved)
	eq(t, "UserID", got.UserID, &u.ID)
	sameTimePtr(t, "AuthTime", got.AuthTime, &auth)
	eq(t, "IntervalSeconds", got.IntervalSeconds, 10)
	eq(t, "UserCode", got.UserCode, "WDJB-MJHT")

	// back to zero values
	ok(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error {
		x.UserID, x.AuthTime, x.LastPolledAt, x.Scope = nil, nil, nil, ""
		x.Status = models.DeviceDenied
		return nil
	}))
	got, err = s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	if got.UserID != nil || got.AuthTime != nil || got.LastPolledAt != nil || got.Scope != "" {
		t.Errorf("zero values not written: %+v", got)
	}
	boom := errors.New("boom")
	isErr(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error { x.Status = models.DeviceRedeemed; return boom }), boom)
	got, err = s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	eq(t, "Status", got.Status, models.DeviceDenied)
	isErr(t, s.UpdateDeviceCode(ctx, 9999, func(*models.DeviceCode) error { return nil }), store.ErrNotFound)
}

// ---- signing keys ----------------------------------------------------

func testSigningKey(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now()
	k1 := &models.SigningKey{KID: "k1", Alg: "RS256", PrivateKey: []byte{1, 2, 3}, Encrypted: true,
		PublicJWK: `{"kty":"RSA"}`, CreatedAt: base.Add(-time.Hour)}
	k2 := &models.SigningKey{KID: "k2", Alg: "ES256", PrivateKey: []byte{4, 5}, PublicJWK: `{"kty":"EC"}`,
		ExpiresAt: ptr(base.Add(time.Hour))}
	ok(t, s.CreateSigningKey(ctx, k1))
	ok(t, s.CreateSigningKey(ctx, k2))
	isErr(t, s.CreateSigningKey(ctx, &models.SigningKey{KID: "k1", Alg: "RS256", PrivateKey: []byte{1}, PublicJWK: "{}"}), store.ErrAlreadyExists)
	keys, err := s.ListSigningKeys(ctx)
	ok(t, err)
	eq(t, "keys newest first", keys, []models.SigningKey{*k2, *k1})

	retired := base.In(zone)
	ok(t, s.UpdateSigningKey(ctx, "k1", func(k *models.SigningKey) error {
		k.RetiredAt = &retired
		k.Encrypted = false
		k.PrivateKey = []byte{9}
		return nil
	}))
	ok(t, s.UpdateSigningKey(ctx, "k2", func(k *models.SigningKey) error { k.ExpiresAt = nil; return nil }))
	keys, err = s.ListSigningKeys(ctx)
	ok(t, err)
	sameTimePtr(t, "RetiredAt", keys[1].RetiredAt, &retired)
	eq(t, "Encrypted", keys[1].Encrypted, false)
	eq(t, "PrivateKey", keys[1].PrivateKey, []byte{9})
	eq(t, "ExpiresAt", keys[0].ExpiresAt, (*time.Time)(nil))
	boom := errors.New("boom")
	isErr(t, s.UpdateSigningKey(ctx, "k1", func(k *models.SigningKey) error { k.Alg = "none"; return boom }), boom)
	if err := s.UpdateSigningKey(ctx, "k1", func(k *models.SigningKey) error { k.KID = "k9"; return nil }); err == nil {
		t.Error("UpdateSigningKey changed the key ID")
	}
	isErr(t, s.UpdateSigningKey(ctx, "nope", func(*models.SigningKey) error { return nil }), store.ErrNotFound)

	ok(t, s.DeleteSigningKey(ctx, "k1"))
	isErr(t, s.DeleteSigningKey(ctx, "k1"), store.ErrNotFound)
	keys, err = s.ListSigningKeys(ctx)
	ok(t, err)
	eq(t, "keys left", len(keys), 1)
	eq(t, "Alg", keys[0].Alg, "ES256")
}

// ---- audit -----------------------------------------------------------

func testAudit(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now().Add(-time.Hour)
	add := func(action, actor string, minutes int, details map[string]string) *models.AuditEvent {
		e := &models.AuditEvent{Action: action, Actor: actor, ActorID: ptr(int64(7)), Target: "t", RemoteAddr: "192.0.2.1",
			Success: action != "login.failed", Details: details, CreatedAt: base.Add(time.Duration(minutes) * time.Minute).In(zone)}
		ok(t, s.AddAuditEvent(ctx, e))
		return e
	}
	e0 := add("login", "alice", 0, nil)
	eq(t, "nil Details", e0.Details, map[string]string{})
	add("login.failed", "bob", 1, map[string]string{"reason": "bad password", "ua": "Müller/1.0 ✓"})
	add("client.create", "alice", 2, map[string]string{})
	add("login", "bob", 3, nil)
	e4 := add("login", "alice", 4, map[string]string{"k": "v"})
	var raw string
	ok(t, s.DB().Raw("SELECT CAST(details AS TEXT) FROM audit_events WHERE id = ?", e0.ID).Scan(&raw).Error)
	eq(t, "stored nil Details", raw, "{}")

	all, total, err := s.ListAuditEvents(ctx, models.AuditFilter{})
	ok(t, err)
	eq(t, "total", total, int64(5))
	eq(t, "newest", all[0], *e4)
	eq(t, "oldest", all[4], *e0)
	eq(t, "unicode details", all[3].Details["ua"], "Müller/1.0 ✓")
	eq(t, "Success", all[3].Success, false)

	actions := func(es []models.AuditEvent) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s/%s", e.Action, e.Actor))
		}
		return out
	}
	cases := []struct {
		f     models.AuditFilter
		want  []string
		total int64
	}{
		{models.AuditFilter{Action: "login"}, []string{"login/alice", "login/bob", "login/alice"}, 3},
		{models.AuditFilter{Actor: "bob"}, []string{"login/bob", "login.failed/bob"}, 2},
		{models.AuditFilter{Action: "login", Actor: "alice", Limit: 1}, []string{"login/alice"}, 2},
		{models.AuditFilter{Since: base.Add(2 * time.Minute)}, []string{"login/alice", "login/bob", "client.create/alice"}, 3},
		{models.AuditFilter{Until: base.Add(2 * time.Minute).In(zone)}, []string{"login.failed/bob", "login/alice"}, 2},
		{models.AuditFilter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, []string{"client.create/alice", "login.failed/bob"}, 2},
		{models.AuditFilter{Offset: 1, Limit: 2}, []string{"login/bob", "client.create/alice"}, 5},
		{models.AuditFilter{Action: "nope"}, []string{}, 0},
	}
	for _, c := range cases {
		got, total, err := s.ListAuditEvents(ctx, c.f)
		ok(t, err)
		eq(t, fmt.Sprintf("ListAuditEvents(%+v)", c.f), actions(got), c.want)
		eq(t, fmt.Sprintf("total of ListAuditEvents(%+v)", c.f), total, c.total)
	}
}

// ---- app secrets -----------------------------------------------------

func testSecret(t *testing.T, s *models.Store) {
	ctx := t.Context()
	calls := 0
	gen := func() ([]byte, error) { calls++; return []byte(fmt.Sprint("value-", calls)), nil }
	v1, err := s.GetOrCreateSecret(ctx, "session", gen)
	ok(t, err)
	v2, err := s.GetOrCreateSecret(ctx, "session", gen)
	ok(t, err)
	eq(t, "value", v2, v1)
	eq(t, "generate calls", calls, 1)
	v3, err := s.GetOrCreateSecret(ctx, "csrf", gen)
	ok(t, err)
	eq(t, "other secret", string(v3), "value-2")

	boom := errors.New("boom")
	_, err = s.GetOrCreateSecret(ctx, "broken", func() ([]byte, error) { return nil, boom })
	isErr(t, err, boom)
	if _, err := s.GetOrCreateSecret(ctx, "empty", func() ([]byte, error) { return nil, nil }); err == nil {
		t.Error("an empty secret was accepted")
	}
	eq(t, "secrets stored", count(t, s, "app_secrets", ""), int64(2))
}

func testSecretConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const n = 20
	values := make([][]byte, n)
	errs := concurrently(n, func(i int) error {
		var err error
		values[i], err = s.GetOrCreateSecret(ctx, "session", func() ([]byte, error) {
			return []byte(fmt.Sprintf("value of instance %d", i)), nil
		})
		return err
	})
	for i, err := range errs {
		ok(t, err)
		eq(t, fmt.Sprintf("value of caller %d", i), values[i], values[0])
	}
}

// storedSecret reads an app secret's row as it is in the database.
func storedSecret(t *testing.T, s *models.Store, name string) (value []byte, encrypted bool) {
	t.Helper()
	var row models.AppSecret
	ok(t, s.DB().WithContext(t.Context()).Where("name = ?", name).Take(&row).Error)
	return row.Value, row.Encrypted
}

func testSecretEncrypted(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const keySecret = "a key secret of at least thirty-two bytes"
	// Stored before a key secret was configured: plaintext.
	plain, err := s.GetOrCreateSecret(ctx, "old", func() ([]byte, error) { return []byte("old plaintext value"), nil })
	ok(t, err)
	if v, enc := storedSecret(t, s, "old"); enc || string(v) != "old plaintext value" {
		t.Fatalf("without a key secret: stored %q (encrypted %v)", v, enc)
	}

	s.SetKeySecret(keySecret)
	if !s.EncryptingSecrets() {
		t.Fatal("EncryptingSecrets is false with a key secret")
	}
	// A new secret is stored sealed; the caller gets the plaintext.
	fresh, err := s.GetOrCreateSecret(ctx, "new", func() ([]byte, error) { return []byte("new value"), nil })
	ok(t, err)
	eq(t, "new secret", string(fresh), "new value")
	if v, enc := storedSecret(t, s, "new"); !enc || bytes.Contains(v, []byte("new value")) {
		t.Errorf("new secret stored as %q (encrypted %v), want sealed", v, enc)
	}
	// The old plaintext one is encrypted in place on first read, same value.
	again, err := s.GetOrCreateSecret(ctx, "old", nil)
	ok(t, err)
	eq(t, "old secret after encryption", again, plain)
	if v, enc := storedSecret(t, s, "old"); !enc || bytes.Contains(v, plain) {
		t.Errorf("old secret stored as %q (encrypted %v) after a read with a key secret", v, enc)
	}
	again, err = s.GetOrCreateSecret(ctx, "old", nil)
	ok(t, err)
	eq(t, "old secret read again", again, plain)

	// A sealed row cannot be moved to another name.
	sealedNew, _ := storedSecret(t, s, "new")
	ok(t, s.DB().WithContext(ctx).Model(&models.AppSecret{}).Where("name = ?", "old").Update("value", sealedNew).Error)
	if _, err := s.GetOrCreateSecret(ctx, "old", nil); err == nil {
		t.Error("a sealed value moved to another row was accepted")
	}

	// Without the key secret, or with another one, it cannot be read.
	s.SetKeySecret("")
	if _, err := s.GetOrCreateSecret(ctx, "new", nil); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_KEY_SECRET") {
		t.Errorf("encrypted secret without a key secret: err = %v", err)
	}
	s.SetKeySecret("another key secret, also thirty-two bytes")
	if _, err := s.GetOrCreateSecret(ctx, "new", nil); err == nil || !strings.Contains(err.Error(), "cannot be decrypted") {
		t.Errorf("encrypted secret with another key secret: err = %v", err)
	}
}

func testSecretReplace(t *testing.T, s *models.Store) {
	ctx := t.Context()
	s.SetKeySecret("a key secret of at least thirty-two bytes")
	old, err := s.GetOrCreateSecret(ctx, "session_hash_key", func() ([]byte, error) { return []byte("old key"), nil })
	ok(t, err)
	u := newUser(t, s, "alice")
	for _, id := range []string{"s1", "s2"} {
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(id), UserID: &u.ID, Data: []byte("x"), ExpiresAt: now().Add(time.Hour)}))
	}
	n, err := s.ReplaceSecrets(ctx, map[string][]byte{"session_hash_key": []byte("new key"), "session_block_key": []byte("new block")})
	ok(t, err)
	eq(t, "sessions ended", n, int64(2))
	eq(t, "web sessions left", count(t, s, "web_sessions", ""), int64(0))
	got, err := s.GetOrCreateSecret(ctx, "session_hash_key", nil)
	ok(t, err)
	if string(got) == string(old) || string(got) != "new key" {
		t.Errorf("after ReplaceSecrets: %q", got)
	}
	got, err = s.GetOrCreateSecret(ctx, "session_block_key", nil)
	ok(t, err)
	eq(t, "created by ReplaceSecrets", string(got), "new block")
	for _, name := range []string{"session_hash_key", "session_block_key"} {
		if v, enc := storedSecret(t, s, name); !enc || bytes.Contains(v, []byte("new")) {
			t.Errorf("%s stored as %q (encrypted %v)", name, v, enc)
		}
	}
	if _, err := s.ReplaceSecrets(ctx, map[string][]byte{"x": nil}); err == nil {
		t.Error("an empty replacement was accepted")
	}
}

// ---- web sessions ----------------------------------------------------

func testWebSession(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	t0 := now()
	ws := &models.WebSession{IDHash: sha("s1"), Data: []byte("first"), ExpiresAt: t0.Add(time.Hour)}
	ok(t, s.SaveWebSession(ctx, ws))
	got, err := s.GetWebSession(ctx, sha("s1"), t0)
	ok(t, err)
	eq(t, "session", *got, *ws)

	// upsert: data, user and expiry replaced, CreatedAt kept
	time.Sleep(2 * time.Millisecond)
	ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha("s1"), UserID: &u.ID, Data: []byte{}, ExpiresAt: t0.Add(2 * time.Hour)}))
	got, err = s.GetWebSession(ctx, sha("s1"), t0)
	ok(t, err)
	eq(t, "UserID", got.UserID, &u.ID)
	eq(t, "Data", len(got.Data), 0)
	sameTime(t, "ExpiresAt", got.ExpiresAt, t0.Add(2*time.Hour))
	sameTime(t, "CreatedAt", got.CreatedAt, ws.CreatedAt)
	if !got.UpdatedAt.After(ws.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, ws.UpdatedAt)
	}
	// user back to none, through UpdateWebSession
	ok(t, s.UpdateWebSession(ctx, &models.WebSession{IDHash: sha("s1"), Data: []byte("x"), ExpiresAt: t0.Add(2 * time.Hour)}))
	got, err = s.GetWebSession(ctx, sha("s1"), t0)
	ok(t, err)
	eq(t, "UserID", got.UserID, (*int64)(nil))

	// expiry
	_, err = s.GetWebSession(ctx, sha("s1"), t0.Add(2*time.Hour))
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetWebSession(ctx, sha("nope"), t0)
	isErr(t, err, store.ErrNotFound)

	ok(t, s.DeleteWebSession(ctx, sha("s1")))
	ok(t, s.DeleteWebSession(ctx, sha("s1")))
	// an update never brings a deleted session back (sign-out must stick)
	isErr(t, s.UpdateWebSession(ctx, &models.WebSession{IDHash: sha("s1"), UserID: &u.ID, Data: []byte("y"), ExpiresAt: t0.Add(time.Hour)}), store.ErrNotFound)
	_, err = s.GetWebSession(ctx, sha("s1"), t0)
	isErr(t, err, store.ErrNotFound)

	save := func(name string, user *int64, exp time.Time) {
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(name), UserID: user, Data: []byte(name), ExpiresAt: exp}))
	}
	save("a1", &u.ID, t0.Add(time.Hour))
	save("a2", &u.ID, t0.Add(time.Hour))
	save("a3", &u.ID, t0.Add(time.Hour))
	save("b1", &v.ID, t0.Add(time.Hour))
	save("anon", nil, t0.Add(time.Hour))
	n, err := s.DeleteUserWebSessions(ctx, u.ID, sha("a2"))
	ok(t, err)
	eq(t, "deleted (keep a2)", n, int64(2))
	_, err = s.GetWebSession(ctx, sha("a2"), t0)
	ok(t, err)
	n, err = s.DeleteUserWebSessions(ctx, u.ID, nil)
	ok(t, err)
	eq(t, "deleted (keep none)", n, int64(1))
	_, err = s.GetWebSession(ctx, sha("b1"), t0)
	ok(t, err)

	save("old1", nil, t0.Add(-time.Minute))
	save("old2", &v.ID, t0)
	n, err = s.DeleteExpiredWebSessions(ctx, t0.In(zone))
	ok(t, err)
	eq(t, "expired deleted", n, int64(2))
	eq(t, "sessions left", count(t, s, "web_sessions", ""), int64(2))
}

// ---- throttle --------------------------------------------------------

func testThrottle(t *testing.T, s *models.Store) {
	ctx := t.Context()
	t0 := now().Add(-time.Hour)
	n, oldest, err := s.CountThrottleEvents(ctx, "login:alice", t0)
	ok(t, err)
	eq(t, "n on empty", n, int64(0))
	eq(t, "oldest on empty", oldest.IsZero(), true)

	for _, m := range []int{0, 10, 20, 30} {
		_, err := s.AddThrottleEvent(ctx, "login:alice", t0.Add(time.Duration(m)*time.Minute).In(zone))
		ok(t, err)
	}
	bobID, err := s.AddThrottleEvent(ctx, "login:bob", t0.Add(15*time.Minute))
	ok(t, err)
	if bobID == 0 {
		t.Fatal("AddThrottleEvent returned no ID")
	}
	n, oldest, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(10*time.Minute))
	ok(t, err)
	eq(t, "n since +10m", n, int64(3))
	sameTime(t, "oldest since +10m", oldest, t0.Add(10*time.Minute))
	n, oldest, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(-time.Minute).In(zone))
	ok(t, err)
	eq(t, "n since -1m", n, int64(4))
	sameTime(t, "oldest since -1m", oldest, t0)
	n, _, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(31*time.Minute))
	ok(t, err)
	eq(t, "n since +31m", n, int64(0))

	deleted, err := s.DeleteThrottleEventsBefore(ctx, t0.Add(15*time.Minute))
	ok(t, err)
	eq(t, "deleted before +15m", deleted, int64(2))
	ok(t, s.ClearThrottle(ctx, "login:alice"))
	n, _, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(-time.Hour))
	ok(t, err)
	eq(t, "n after clear", n, int64(0))
	n, _, err = s.CountThrottleEvents(ctx, "login:bob", t0)
	ok(t, err)
	eq(t, "other key kept", n, int64(1))
	ok(t, s.ClearThrottle(ctx, "login:nobody"))

	ok(t, s.DeleteThrottleEvents(ctx, bobID))
	n, _, err = s.CountThrottleEvents(ctx, "login:bob", t0)
	ok(t, err)
	eq(t, "after DeleteThrottleEvents", n, int64(0))
	ok(t, s.DeleteThrottleEvents(ctx))
}

// ---- one-time tokens -------------------------------------------------

func testOneTimeToken(t *testing.T, s *models.Store) {
	ctx := t.Context()
	t0 := now()
	ok(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "setup", ExpiresAt: t0.Add(time.Hour)}))
	ok(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("old"), Purpose: "setup", ExpiresAt: t0}))
	isErr(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "x", ExpiresAt: t0}), store.ErrAlreadyExists)

	ok(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", t0))
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "reset", t0), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", t0.Add(time.Hour)), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("old"), "setup", t0.In(zone)), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("nope"), "setup", t0), store.ErrNotFound)

	isErr(t, s.UseOneTimeToken(ctx, sha("setup"), "reset", t0), store.ErrNotFound)
	isErr(t, s.UseOneTimeToken(ctx, sha("old"), "setup", t0), store.ErrNotFound)
	isErr(t, s.UseOneTimeToken(ctx, sha("nope"), "setup", t0), store.ErrNotFound)
	ok(t, s.UseOneTimeToken(ctx, sha("setup"), "setup", t0))
	isErr(t, s.UseOneTimeToken(ctx, sha("setup"), "setup", t0), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", t0), store.ErrNotFound)
}

func testOneTimeTokenConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	ok(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "setup", ExpiresAt: now().Add(time.Hour)}))
	errs := concurrently(20, func(int) error { return s.UseOneTimeToken(ctx, sha("setup"), "setup", now()) })
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("caller %d: %v", i, err)
		}
	}
	eq(t, "successful uses", wins, 1)
}
