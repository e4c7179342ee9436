package accounts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Input{Username: "  Ada.Lovelace ", Email: "ada@example.com", Name: "Ada", Password: "analytical engine"}
	ok.Normalize()
	if errs := ok.Validate(); len(errs) != 0 || ok.Username != "ada.lovelace" || ok.Role != "user" {
		t.Fatalf("valid input refused: %v %+v", errs, ok)
	}
	cases := map[string]Input{
		"username":         {Username: "a", Password: "long enough pw"},
		"email":            {Username: "bob", Email: "not-an-email", Password: "long enough pw"},
		"name":             {Username: "bob", Name: "<script>", Password: "long enough pw"},
		"password":         {Username: "bob", Password: "short"},
		"password_confirm": {Username: "bob", Password: "long enough pw", PasswordConfirm: "other", ConfirmPassword: true},
		"role":             {Username: "bob", Password: "long enough pw", Role: "root"},
	}
	for field, in := range cases {
		in.Normalize()
		if errs := in.Validate(); errs[field] == "" {
			t.Errorf("%s: no error for %+v (got %v)", field, in, errs)
		}
	}
	for _, u := range []string{"-bob", "bob-", "bo b", "bob@x", "böb"} {
		if CheckUsername(u) == "" {
			t.Errorf("username %q accepted", u)
		}
	}
}

func TestValidateEmailVerified(t *testing.T) {
	t.Parallel()
	in := Input{Username: "bob", Password: "long enough pw", EmailVerified: true}
	in.Normalize()
	if errs := in.Validate(); !strings.Contains(errs["email"], "Enter the email address you mark as verified") {
		t.Errorf("verified without an address: %v", errs)
	}
	in.Email = "bob@example.com"
	if errs := in.Validate(); len(errs) != 0 {
		t.Errorf("verified address refused: %v", errs)
	}
}

// fakeUsers is an Updater over one user; taken is an email address
// another account uses.
type fakeUsers struct {
	u      models.User
	taken  string
	writes int
}

func (f *fakeUsers) UpdateUser(_ context.Context, id int64, fn func(*models.User) error) error {
	if id != f.u.ID {
		return store.ErrNotFound
	}
	x := f.u
	if err := fn(&x); err != nil {
		return err
	}
	if x.Email != "" && strings.EqualFold(x.Email, f.taken) {
		return &store.DuplicateError{Entity: "email", Field: "email"}
	}
	f.u = x
	f.writes++
	return nil
}

func TestUpdateProfile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	verified := models.User{ID: 7, Username: "ada", Name: "Ada", Email: "ada@example.com", EmailVerified: true}
	cases := []struct {
		name         string
		p            Profile
		wantName     string
		wantEmail    string
		wantVerified bool
		changed      []string
	}{
		{"name only keeps verification", Profile{Name: "  Ada Lovelace ", Email: " ada@example.com "},
			"Ada Lovelace", "ada@example.com", true, []string{FieldName}},
		{"user's new address is unverified", Profile{Name: "Ada", Email: "ada@lovelace.org"},
			"Ada", "ada@lovelace.org", false, []string{FieldEmail, FieldEmailVerified}},
		{"a change of case is a new address", Profile{Name: "Ada", Email: "Ada@example.com"},
			"Ada", "Ada@example.com", false, []string{FieldEmail, FieldEmailVerified}},
		{"user clears the address", Profile{Name: "Ada"},
			"Ada", "", false, []string{FieldEmail, FieldEmailVerified}},
		{"user cannot verify", Profile{Name: "Ada", Email: "ada@lovelace.org", EmailVerified: true},
			"Ada", "ada@lovelace.org", false, []string{FieldEmail, FieldEmailVerified}},
		// The box was shown ticked for the old address: it does not
		// vouch for the new one.
		{"admin changes a verified address, box left ticked", Profile{Name: "Ada", Email: "ada@lovelace.org", SetVerified: true, EmailVerified: true},
			"Ada", "ada@lovelace.org", false, []string{FieldEmail, FieldEmailVerified}},
		{"admin changes the address without the box", Profile{Name: "Ada", Email: "ada@lovelace.org", SetVerified: true},
			"Ada", "ada@lovelace.org", false, []string{FieldEmail, FieldEmailVerified}},
		{"admin unticks the box", Profile{Name: "Ada", Email: "ada@example.com", SetVerified: true},
			"Ada", "ada@example.com", false, []string{FieldEmailVerified}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeUsers{u: verified}
			ch, errs, err := UpdateProfile(ctx, f, 7, tc.p)
			if err != nil || errs != nil {
				t.Fatalf("refused: %v %v", errs, err)
			}
			if f.u.Name != tc.wantName || f.u.Email != tc.wantEmail || f.u.EmailVerified != tc.wantVerified {
				t.Errorf("stored %q %q verified=%v, want %q %q %v", f.u.Name, f.u.Email, f.u.EmailVerified, tc.wantName, tc.wantEmail, tc.wantVerified)
			}
			if got := ch.Changed(); !slices.Equal(got, tc.changed) {
				t.Errorf("changed %v, want %v", got, tc.changed)
			}
			if ch.Before.Email != verified.Email || ch.After.Email != tc.wantEmail {
				t.Errorf("change %q -> %q", ch.Before.Email, ch.After.Email)
			}
		})
	}

	// An unverified user's unchanged address stays unverified; an admin
	// verifies it without changing it.
	f := &fakeUsers{u: models.User{ID: 7, Email: "bob@example.com"}}
	if _, _, err := UpdateProfile(ctx, f, 7, Profile{Email: "bob@example.com", EmailVerified: true}); err != nil || f.u.EmailVerified {
		t.Errorf("user verified their own address: %+v %v", f.u, err)
	}
	if ch, _, err := UpdateProfile(ctx, f, 7, Profile{Email: "bob@example.com", SetVerified: true, EmailVerified: true}); err != nil || !f.u.EmailVerified ||
		!slices.Equal(ch.Changed(), []string{FieldEmailVerified}) {
		t.Errorf("admin could not verify: %+v %v", f.u, err)
	}

	// An unverified address changed with the box ticked is verified: the
	// box was shown empty, so the admin ticked it for the new address.
	f = &fakeUsers{u: models.User{ID: 7, Email: "bob@example.com"}}
	if _, _, err := UpdateProfile(ctx, f, 7, Profile{Email: "bob@bob.org", SetVerified: true, EmailVerified: true}); err != nil ||
		!f.u.EmailVerified || f.u.Email != "bob@bob.org" {
		t.Errorf("admin could not set and verify a new address: %+v %v", f.u, err)
	}

	// Saving the profile as it is writes nothing.
	f = &fakeUsers{u: verified}
	ch, errs, err := UpdateProfile(ctx, f, 7, Profile{Name: "Ada ", Email: "ada@example.com"})
	if err != nil || errs != nil || len(ch.Changed()) != 0 || f.writes != 0 {
		t.Errorf("unchanged profile: %v %v %v, %d writes", ch.Changed(), errs, err, f.writes)
	}
}

func TestUpdateProfileRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name, field, msg string
		p                Profile
	}{
		{"bad email", "email", "Enter an email address", Profile{Email: "ada@"}},
		{"bad name", "name", "without line breaks", Profile{Name: "Ada\nLovelace"}},
		{"long name", "name", "at most 100", Profile{Name: strings.Repeat("a", 101)}},
		{"verified without address", "email", "Enter the email address you mark as verified", Profile{SetVerified: true, EmailVerified: true}},
		// Users are not told that another account uses an address;
		// administrators are.
		{"taken address", "email", MsgEmailUnavailable, Profile{Email: "GRACE@example.com"}},
		{"taken address, admin", "email", "Another account uses this email address.", Profile{Email: "GRACE@example.com", SetVerified: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeUsers{u: models.User{ID: 7, Name: "Ada", Email: "ada@example.com", EmailVerified: true}, taken: "grace@example.com"}
			_, errs, err := UpdateProfile(ctx, f, 7, tc.p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(errs[tc.field], tc.msg) {
				t.Errorf("got %v %v, want %s: %q", errs, err, tc.field, tc.msg)
			}
			if f.writes != 0 || f.u.Email != "ada@example.com" || !f.u.EmailVerified {
				t.Errorf("refused profile written: %+v", f.u)
			}
		})
	}
	if _, _, err := UpdateProfile(ctx, &fakeUsers{u: models.User{ID: 7}}, 8, Profile{Name: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: %v", err)
	}
}

// fakeRegistry is a Creator with one existing account, grace; dupFirst
// is the unique index the fake database reports when both are taken.
type fakeRegistry struct{ dupFirst string }

func (f fakeRegistry) CreateUser(_ context.Context, u *models.User) error {
	nameTaken, emailTaken := u.Username == "grace", strings.EqualFold(u.Email, "grace@example.com")
	switch {
	case nameTaken && emailTaken:
		return &store.DuplicateError{Entity: "user", Field: f.dupFirst}
	case nameTaken:
		return &store.DuplicateError{Entity: "user", Field: "username"}
	case emailTaken:
		return &store.DuplicateError{Entity: "email", Field: "email"}
	}
	return nil
}

func (fakeRegistry) GetUserByUsername(_ context.Context, username string) (*models.User, error) {
	if username == "grace" {
		return &models.User{ID: 1, Username: "grace"}, nil
	}
	return nil, store.ErrNotFound
}

// TestCreateTakenEmail: a taken address gets a message that does not say
// so unless an administrator creates the account, and a taken username
// wins whichever index the database reports, so that the answer to a
// taken username is the same for registered and unregistered addresses.
func TestCreateTakenEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := func(username, email string, admin bool) Input {
		return Input{Username: username, Email: email, Password: "long enough pw", Admin: admin}
	}
	for _, dupFirst := range []string{"username", "email"} {
		st := fakeRegistry{dupFirst}
		cases := []struct {
			name  string
			in    Input
			field string
			msg   string
		}{
			{"taken address", in("ada", "Grace@example.com", false), "email", MsgEmailUnavailable},
			{"taken address, admin", in("ada", "Grace@example.com", true), "email", "Another account uses this email address."},
			{"taken username, taken address", in("grace", "grace@example.com", false), "username", "This username is taken."},
			{"taken username, free address", in("grace", "ada@example.com", false), "username", "This username is taken."},
		}
		for _, tc := range cases {
			_, errs, err := Create(ctx, st, tc.in)
			if !errors.Is(err, ErrInvalid) || len(errs) != 1 || errs[tc.field] != tc.msg {
				t.Errorf("%s (%s reported first): %v %v, want only %s: %q", tc.name, dupFirst, errs, err, tc.field, tc.msg)
			}
		}
	}
	if u, errs, err := Create(ctx, fakeRegistry{}, in("ada", "ada@example.com", false)); err != nil || u == nil {
		t.Errorf("free username and address: %v %v", errs, err)
	}
}

// fakePasswords records what the password functions did.
type fakePasswords struct {
	hash            string
	sessionsDeleted bool
	kept            []byte
	revoked         bool
	calls           []string
}

func (f *fakePasswords) UpdateUser(_ context.Context, _ int64, fn func(*models.User) error) error {
	u := models.User{}
	if err := fn(&u); err != nil {
		return err
	}
	f.hash = u.PasswordHash
	f.calls = append(f.calls, "password")
	return nil
}

func (f *fakePasswords) EndUserWebSessions(_ context.Context, _ int64, keep []byte) ([]models.EndedSession, error) {
	f.sessionsDeleted = true
	f.kept = keep
	f.calls = append(f.calls, "sessions")
	return []models.EndedSession{{SID: "a", UserID: 7}, {SID: "b", UserID: 7}}, nil
}

func (f *fakePasswords) RevokeUserFamilies(context.Context, int64, time.Time) (int64, error) {
	f.revoked = true
	f.calls = append(f.calls, "apps")
	return 3, nil
}

// TestPasswordChangesSignOut: an admin's reset always signs the user out
// of every session and app; the user's own change does apps only when
// asked. The password is stored first, so that nothing revoked can be
// obtained again with the old one.
func TestPasswordChangesSignOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	f := &fakePasswords{}
	if n, err := ResetPassword(ctx, f, 7, "a new password", now); err != nil || n != 3 || !f.revoked || !f.sessionsDeleted || f.kept != nil || f.hash == "" ||
		!slices.Equal(f.calls, []string{"password", "apps", "sessions"}) {
		t.Errorf("reset: %d %v %+v", n, err, f)
	}
	f = &fakePasswords{}
	if n, err := ChangePassword(ctx, f, 7, "a new password", now, true, []byte("mine")); err != nil || n != 3 || !f.revoked || !f.sessionsDeleted ||
		string(f.kept) != "mine" {
		t.Errorf("change, signing out apps: %d %v %+v", n, err, f)
	}
	f = &fakePasswords{}
	if n, err := ChangePassword(ctx, f, 7, "a new password", now, false, nil); err != nil || n != 0 || f.revoked || !f.sessionsDeleted {
		t.Errorf("change, keeping apps: %d %v %+v", n, err, f)
	}
}
