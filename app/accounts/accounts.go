// Package accounts validates and creates user accounts. The setup page, the
// sign-up page, the admin's user pages and `gatehouse users create` all go
// through it, so the rules are the same everywhere.
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
}

// Errors maps a field name (username, email, name, password,
// password_confirm, role) to a message for the person entering it.
type Errors map[string]string

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$`)

// NormalizeUsername trims and lower-cases a username.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CheckUsername returns why u (normalized) is not a valid username, or "".
func CheckUsername(u string) string {
	switch {
	case u == "":
		return "Choose a username."
	case len(u) < 3 || len(u) > 64:
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
	if m := CheckEmail(in.Email); m != "" {
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
}

// Create validates the input, hashes the password and stores the user.
// Validation problems (including a taken username or email) come back as
// Errors with ErrInvalid.
func Create(ctx context.Context, st Creator, in Input) (*models.User, Errors, error) {
	in.Normalize()
	if errs := in.Validate(); len(errs) > 0 {
		return nil, errs, ErrInvalid
	}
	hash, err := password.Hash(in.Password)
	if err != nil {
		return nil, nil, err
	}
	u := &models.User{Username: in.Username, Email: in.Email, Name: in.Name, PasswordHash: hash, Role: in.Role}
	if err := st.CreateUser(ctx, u); err != nil {
		var dup *store.DuplicateError
		if errors.As(err, &dup) && dup.Field == "email" {
			return nil, Errors{"email": "Another account uses this email address."}, ErrInvalid
		}
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, Errors{"username": "This username is taken."}, ErrInvalid
		}
		return nil, nil, err
	}
	return u, nil, nil
}

// PasswordSetter is the storage SetPassword needs.
type PasswordSetter interface {
	UpdateUser(ctx context.Context, id int64, fn func(*models.User) error) error
	DeleteUserWebSessions(ctx context.Context, userID int64, keep []byte) (int64, error)
}

// SetPassword gives the user a new (already checked) password and ends
// every session they have, so that whoever knew the old one is out.
func SetPassword(ctx context.Context, st PasswordSetter, userID int64, pw string, now time.Time) error {
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	if err := st.UpdateUser(ctx, userID, func(x *models.User) error {
		x.PasswordHash = hash
		x.PasswordChangedAt = now
		return nil
	}); err != nil {
		return err
	}
	_, err = st.DeleteUserWebSessions(ctx, userID, nil)
	return err
}
