// Package accounts validates, creates and updates user accounts. The setup
// page, the sign-up page, the account page, the admin's user pages and
// `gatehouse users create` all go through it, so the rules are the same
// everywhere.
package accounts

import (
	"context"
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Input is a new account as entered.
type Input struct {
	Username        string
	Email           string
	Name            string
	Password        string
	PasswordConfirm string // checked only when ConfirmPassword is set
	ConfirmPassword bool
	Role            string // empty means user
	// EmailVerified says that Email is known to be the user's (apps get it
	// as the email_verified claim). Only administrators and the CLI set
	// it: Gatehouse sends no confirmation mail. It needs an Email.
	EmailVerified bool
	// Admin says an administrator (the dashboard, the CLI) creates the
	// account: they are told when another account uses Email. Anyone
	// else (sign-up) gets MsgEmailUnavailable, which does not say so.
	Admin bool
}

// Errors maps a field name (username, email, name, password,
// password_confirm, role) to a message for the person entering it.
type Errors map[string]string

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$`)

// MaxUsernameBytes is the longest username, in bytes. No account can have
// a longer one, so every place a username arrives (the sign-in form, the
// password grant, the headless authorization) refuses a longer one before
// it reaches the throttle or the audit log (SPEC.md §7.1).
const MaxUsernameBytes = 64

// NormalizeUsername trims and lower-cases a username.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CheckUsername returns why u (normalized) is not a valid username, or "".
func CheckUsername(u string) string {
	switch {
	case u == "":
		return "Choose a username."
	case len(u) < 3 || len(u) > MaxUsernameBytes:
		return "Use 3 to 64 characters."
	case !usernameRE.MatchString(u):
		return "Use lower-case letters, digits, dots, dashes and underscores, starting and ending with a letter or digit."
	}
	return ""
}

// CheckEmail returns why e is not a usable email address, or "" (empty is
// allowed).
func CheckEmail(e string) string {
	if e == "" {
		return ""
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") {
		return "Enter an email address such as ada@example.com."
	}
	return ""
}

// checkEmailVerified is CheckEmail, and refuses to mark a missing address
// as verified.
func checkEmailVerified(e string, verified bool) string {
	if m := CheckEmail(e); m != "" {
		return m
	}
	if verified && e == "" {
		return "Enter the email address you mark as verified, or untick Email address verified."
	}
	return ""
}

// CheckName returns why n is not a usable display name, or "".
func CheckName(n string) string {
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > 100 || strings.ContainsAny(n, "\x00\r\n\t<>") {
		return "Use at most 100 characters, without line breaks or < >."
	}
	return ""
}

// Normalize trims the input's fields in place.
func (in *Input) Normalize() {
	in.Username = NormalizeUsername(in.Username)
	in.Email = strings.TrimSpace(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	in.Role = strings.TrimSpace(in.Role)
	if in.Role == "" {
		in.Role = models.RoleUser
	}
}

// Validate returns every problem with the (normalized) input.
func (in *Input) Validate() Errors {
	errs := Errors{}
	if m := CheckUsername(in.Username); m != "" {
		errs["username"] = m
	}
	if m := checkEmailVerified(in.Email, in.EmailVerified); m != "" {
		errs["email"] = m
	}
	if m := CheckName(in.Name); m != "" {
		errs["name"] = m
	}
	if msg := password.Problem(in.Password); msg != "" {
		errs["password"] = msg
	} else if in.ConfirmPassword && in.Password != in.PasswordConfirm {
		errs["password_confirm"] = "The two passwords do not match."
	}
	if !models.ValidRole(in.Role) {
		errs["role"] = "Role must be admin, developer or user."
	}
	return errs
}

// ErrInvalid is returned by Create with the field errors.
var ErrInvalid = errors.New("invalid account")

// Creator is the storage Create needs.
type Creator interface {
	CreateUser(ctx context.Context, u *models.User) error
	GetUserByUsername(ctx context.Context, username string) (*models.User, error)
}

// Create validates the input, hashes the password and stores the user.
// Validation problems (including a taken username or email) come back as
// Errors with ErrInvalid. A taken username is always said (usernames are
// public) and wins over a taken email address, so that the answer to a
// taken username does not depend on whether the address is registered;
// see Input.Admin for what a taken address gets.
func Create(ctx context.Context, st Creator, in Input) (*models.User, Errors, error) {
	in.Normalize()
	if errs := in.Validate(); len(errs) > 0 {
		return nil, errs, ErrInvalid
	}
	hash, err := password.Hash(in.Password)
	if err != nil {
		return nil, nil, err
	}
	u := &models.User{Username: in.Username, Email: in.Email, EmailVerified: in.EmailVerified, Name: in.Name, PasswordHash: hash, Role: in.Role}
	if err := st.CreateUser(ctx, u); err != nil {
		errs := duplicateErrors(err, in.Admin)
		if errs == nil {
			return nil, nil, err
		}
		if errs["email"] != "" {
			// Which unique index a database checks first is its
			// business: look at the username too.
			_, err := st.GetUserByUsername(ctx, in.Username)
			switch {
			case err == nil:
				errs = Errors{"username": msgUsernameTaken}
			case !errors.Is(err, store.ErrNotFound):
				return nil, nil, err
			}
		}
		return nil, errs, ErrInvalid
	}
	return u, nil, nil
}

const msgUsernameTaken = "This username is taken."

// MsgEmailUnavailable refuses an email address another account uses,
// on the sign-up and account pages. It does not say why: telling
// visitors which addresses are registered would let them find out who
// has an account (Gatehouse sends no mail that could say it privately).
const MsgEmailUnavailable = "This email address can't be used. Enter a different one, or leave the field empty."

// msgEmailTaken is what administrators are told instead.
const msgEmailTaken = "Another account uses this email address."

// duplicateErrors turns the store's "already exists" error about a user
// into a field error (nil for any other error); admin chooses the
// message for a taken email address.
func duplicateErrors(err error, admin bool) Errors {
	var dup *store.DuplicateError
	if errors.As(err, &dup) && dup.Field == "email" {
		if admin {
			return Errors{"email": msgEmailTaken}
		}
		return Errors{"email": MsgEmailUnavailable}
	}
	if errors.Is(err, store.ErrAlreadyExists) {
		return Errors{"username": msgUsernameTaken}
	}
	return nil
}

// Profile is a new name and email address for a user, as entered.
type Profile struct {
	Name  string
	Email string
	// SetVerified is set when an administrator edits the profile: then
	// EmailVerified (their form's checkbox) is their word on whether Email
	// is the user's. The form shows the box ticked when the stored address
	// is verified, so a tick vouches for that address only: when Email
	// changes, it counts only if the old address was unverified (the box
	// was shown empty and the admin ticked it). Without SetVerified (a
	// user editing their own profile), an unchanged address keeps its
	// verification and a changed one is unverified, since Gatehouse sends
	// no mail to confirm it. An administrator is also told when another
	// account uses Email; users get MsgEmailUnavailable, which does not
	// say so.
	SetVerified   bool
	EmailVerified bool
}

// Normalize trims the profile's fields in place.
func (p *Profile) Normalize() {
	p.Name = strings.TrimSpace(p.Name)
	p.Email = strings.TrimSpace(p.Email)
}

// Validate returns every problem with the (normalized) profile, with the
// same rules as account creation.
func (p *Profile) Validate() Errors {
	errs := Errors{}
	if m := CheckName(p.Name); m != "" {
		errs["name"] = m
	}
	if m := checkEmailVerified(p.Email, p.SetVerified && p.EmailVerified); m != "" {
		errs["email"] = m
	}
	return errs
}

// Profile fields, as ProfileChange.Changed names them.
const (
	FieldName          = "name"
	FieldEmail         = "email"
	FieldEmailVerified = "email_verified"
)

// ProfileChange is a user before and after UpdateProfile.
type ProfileChange struct {
	Before, After models.User
}

// Changed lists the profile fields that changed (FieldName, FieldEmail,
// FieldEmailVerified, in that order); none when the profile was saved as
// it was.
func (c ProfileChange) Changed() []string {
	var out []string
	if c.Before.Name != c.After.Name {
		out = append(out, FieldName)
	}
	if c.Before.Email != c.After.Email {
		out = append(out, FieldEmail)
	}
	if c.Before.EmailVerified != c.After.EmailVerified {
		out = append(out, FieldEmailVerified)
	}
	return out
}

// Updater is the storage UpdateProfile needs.
type Updater interface {
	UpdateUser(ctx context.Context, id int64, fn func(*models.User) error) error
}

// errUnchanged stops UpdateUser from writing a profile saved as it was.
var errUnchanged = errors.New("profile unchanged")

// UpdateProfile validates p and stores it as the user's name, email
// address and email verification (see Profile.SetVerified). The address
// is compared exactly: any change to it, even of letter case, counts as a
// new address. Nothing is written when nothing changes. Validation
// problems (including an address another account uses, see
// Profile.SetVerified) come back as Errors with ErrInvalid; a missing
// user gives the store's ErrNotFound.
func UpdateProfile(ctx context.Context, st Updater, userID int64, p Profile) (ProfileChange, Errors, error) {
	p.Normalize()
	if errs := p.Validate(); len(errs) > 0 {
		return ProfileChange{}, errs, ErrInvalid
	}
	var ch ProfileChange
	err := st.UpdateUser(ctx, userID, func(x *models.User) error {
		ch.Before = *x
		same := p.Email == x.Email
		verified := x.EmailVerified && same
		if p.SetVerified {
			verified = p.EmailVerified && (same || !x.EmailVerified)
		}
		x.Name, x.Email, x.EmailVerified = p.Name, p.Email, verified && p.Email != ""
		ch.After = *x
		if len(ch.Changed()) == 0 {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return ch, nil, nil
	}
	if err != nil {
		if errs := duplicateErrors(err, p.SetVerified); errs != nil {
			return ProfileChange{}, errs, ErrInvalid
		}
		return ProfileChange{}, nil, err
	}
	return ch, nil, nil
}

// PasswordSetter is the storage the password functions need.
type PasswordSetter interface {
	UpdateUser(ctx context.Context, id int64, fn func(*models.User) error) error
	// EndUserWebSessions ends the user's browser sessions but keep
	// (notifying the clients signed in through them).
	EndUserWebSessions(ctx context.Context, userID int64, keep []byte) ([]models.EndedSession, error)
	// RevokeUserFamilies revokes every token family of the user and
	// returns how many it revoked.
	RevokeUserFamilies(ctx context.Context, userID int64, now time.Time) (int64, error)
}

// ResetPassword is an administrator's reset of a user's password (the
// dashboard's user page; a CLI command or admin API that sets passwords
// must go through it too): the user gets the new (already checked) password, every session they
// have ends, and every app they authorized loses its tokens (refresh
// tokens and the access tokens of their grants), so that whoever knew
// the old password keeps nothing. It returns how many token families
// were revoked.
func ResetPassword(ctx context.Context, st PasswordSetter, userID int64, pw string, now time.Time) (int64, error) {
	return setPassword(ctx, st, userID, pw, now, true, nil)
}

// ChangePassword is the user's own change of password (the account page,
// after checking the current one): every other session of theirs ends
// (keep is the ID hash of the browser's own, which the caller signs in
// again) and, with signOutApps, every app they authorized loses its tokens
// as on ResetPassword. It returns how many token families were revoked.
func ChangePassword(ctx context.Context, st PasswordSetter, userID int64, pw string, now time.Time, signOutApps bool, keep []byte) (int64, error) {
	return setPassword(ctx, st, userID, pw, now, signOutApps, keep)
}

// setPassword stores the new password first, so that nothing revoked
// afterwards can be obtained again with the old one.
func setPassword(ctx context.Context, st PasswordSetter, userID int64, pw string, now time.Time, signOutApps bool, keep []byte) (int64, error) {
	hash, err := password.Hash(pw)
	if err != nil {
		return 0, err
	}
	if err := st.UpdateUser(ctx, userID, func(x *models.User) error {
		x.PasswordHash = hash
		x.PasswordChangedAt = now
		return nil
	}); err != nil {
		return 0, err
	}
	// The apps first, so that the count is of every grant the user had
	// (ending a session revokes the grants it started but
	// offline_access ones, which only signOutApps reaches).
	var revoked int64
	if signOutApps {
		if revoked, err = st.RevokeUserFamilies(ctx, userID, now); err != nil {
			return 0, err
		}
	}
	if _, err := st.EndUserWebSessions(ctx, userID, keep); err != nil {
		return 0, err
	}
	return revoked, nil
}
