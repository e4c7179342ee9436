package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

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
	for i, err := range oauthtest.Concurrently(n, func(int) error {
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
		return pluck(us, func(u models.User) string { return u.Username })
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
	newUser(t, s, "root", admin, func(u *models.User) { u.Disabled = true })
	n, err := s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "CountAdmins (one disabled)", n, int64(0))
	has, err = s.HasAdmin(ctx)
	ok(t, err)
	eq(t, "HasAdmin (one disabled)", has, true)
	newUser(t, s, "a1", admin)
	newUser(t, s, "a2", admin)
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

func admin(u *models.User) { u.Role = models.RoleAdmin }

func testKeepLastAdmin(t *testing.T, s *models.Store) {
	ctx := t.Context()
	a := newUser(t, s, "a1", admin)
	off := newUser(t, s, "a-off", admin, func(u *models.User) { u.Disabled = true })
	dev := newUser(t, s, "dev", func(u *models.User) { u.Role = models.RoleDeveloper })

	demote := func(u *models.User) error { u.Role = models.RoleUser; return nil }
	disable := func(u *models.User) error { u.Disabled = true; return nil }
	isErr(t, s.UpdateUserKeepingAdmin(ctx, a.ID, demote), models.ErrLastAdmin)
	isErr(t, s.UpdateUserKeepingAdmin(ctx, a.ID, disable), store.ErrConflict)
	got := mustUser(t, s, "a1")
	eq(t, "role after refused demotion", got.Role, models.RoleAdmin)
	eq(t, "disabled after refused disabling", got.Disabled, false)

	// Changes that keep the admin, or concern others, go through.
	ok(t, s.UpdateUserKeepingAdmin(ctx, a.ID, func(u *models.User) error { u.Name = "Root"; return nil }))
	eq(t, "name", mustUser(t, s, "a1").Name, "Root")
	ok(t, s.UpdateUserKeepingAdmin(ctx, dev.ID, disable))
	ok(t, s.UpdateUserKeepingAdmin(ctx, off.ID, demote)) // a disabled admin does not count
	boom := errors.New("boom")
	isErr(t, s.UpdateUserKeepingAdmin(ctx, dev.ID, func(*models.User) error { return boom }), boom)
	isErr(t, s.UpdateUserKeepingAdmin(ctx, 99999, demote), store.ErrNotFound)

	// With a second enabled admin, the first may go.
	b := newUser(t, s, "a2", admin)
	ok(t, s.UpdateUserKeepingAdmin(ctx, a.ID, demote))
	isErr(t, s.UpdateUserKeepingAdmin(ctx, b.ID, disable), models.ErrLastAdmin)
	// Enabling a disabled admin makes two again.
	ok(t, s.UpdateUserKeepingAdmin(ctx, off.ID, func(u *models.User) error { u.Role = models.RoleAdmin; u.Disabled = false; return nil }))
	ok(t, s.UpdateUserKeepingAdmin(ctx, b.ID, disable))
	n, err := s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "enabled admins", n, int64(1))
}

// testKeepLastAdminConcurrent demotes every admin at once: exactly one
// must stay.
func testKeepLastAdminConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const n = 4
	var ids []int64
	for _, name := range []string{"a0", "a1", "a2", "a3"} {
		ids = append(ids, newUser(t, s, name, admin).ID)
	}
	errs := oauthtest.Concurrently(n, func(i int) error {
		return s.UpdateUserKeepingAdmin(ctx, ids[i], func(u *models.User) error {
			if i%2 == 0 {
				u.Role = models.RoleDeveloper
			} else {
				u.Disabled = true
			}
			return nil
		})
	})
	refused := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, models.ErrLastAdmin):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	eq(t, "refused", refused, 1)
	left, err := s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "enabled admins left", left, int64(1))
}
