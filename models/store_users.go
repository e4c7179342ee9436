package models

import (
	"context"
	"fmt"
	"github.com/gatehouse/gatehouse/app/store"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// UserFilter selects users for ListUsers.
type UserFilter struct {
	// Query keeps users whose username, name or email contains it,
	// ignoring case (of ASCII letters only on SQLite).
	Query string
	// Role keeps users of that role when not empty.
	Role string
	// Offset and Limit select a page; Limit 0 means DefaultPageSize and
	// is capped at MaxPageSize.
	Offset, Limit int
}

// userColumns are the columns UpdateUser writes (ID, Subject and CreatedAt
// never change).
var userColumns = []string{"username", "email", "email_verified", "name", "password_hash",
	"role", "disabled", "password_changed_at", "updated_at"}

func (u *User) normalize() {
	u.Username = strings.ToLower(u.Username)
	u.PasswordChangedAt = ts(u.PasswordChangedAt)
	u.CreatedAt = ts(u.CreatedAt)
	u.UpdatedAt = ts(u.UpdatedAt)
}

// userDupErr names the column a unique violation on users is about. The
// PostgreSQL message names the constraint; the SQLite driver's translated
// error does not, so on SQLite (where a failed statement leaves the
// transaction usable) the database is asked.
func (s *Store) userDupErr(db *gorm.DB, err error, u *User) error {
	if !isDuplicate(err) {
		return wrapErr(err, fmt.Sprintf("user %q", u.Username))
	}
	col := duplicateOf(err, "username", "email", "subject")
	if col == "" && s.dialect != DialectPostgres {
		taken := func(cond string, arg any) bool {
			var n int64
			return db.Model(&User{}).Where(cond, arg).Where("id <> ?", u.ID).Count(&n).Error == nil && n > 0
		}
		switch {
		case taken("username = ?", u.Username):
			col = "username"
		case u.Email != "" && taken("lower(email) = ?", strings.ToLower(u.Email)):
			col = "email"
		case taken("subject = ?", u.Subject):
			col = "subject"
		}
	}
	switch col {
	case "email":
		return &store.DuplicateError{Entity: fmt.Sprintf("email %q", u.Email), Field: "email"}
	case "subject":
		return &store.DuplicateError{Entity: fmt.Sprintf("user subject %q", u.Subject), Field: "subject"}
	default:
		return &store.DuplicateError{Entity: fmt.Sprintf("user %q", u.Username), Field: "username"}
	}
}

// CreateUser inserts u and sets its ID. It fills in Subject (a random UUID)
// when empty, lower-cases Username, defaults Role to RoleUser and sets
// PasswordChangedAt, CreatedAt and UpdatedAt to now when zero. A taken
// username or email (compared without case) gives ErrAlreadyExists.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if u.Subject == "" {
		u.Subject = uuid.NewString()
	}
	if u.Role == "" {
		u.Role = RoleUser
	}
	if !ValidRole(u.Role) {
		return fmt.Errorf("user %q: invalid role %q", u.Username, u.Role)
	}
	u.PasswordChangedAt = s.orNow(u.PasswordChangedAt)
	u.CreatedAt = s.orNow(u.CreatedAt)
	u.UpdatedAt = s.orNow(u.UpdatedAt)
	u.normalize()
	if err := s.conn(ctx).Create(u).Error; err != nil {
		return s.userDupErr(s.conn(ctx), err, u)
	}
	return nil
}

// GetUser returns the user with that ID, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id int64) (*User, error) {
	return s.getUser(ctx, fmt.Sprintf("user #%d", id), "id = ?", id)
}

// GetUserByUsername returns the user with that username, ignoring case, or
// ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	return s.getUser(ctx, fmt.Sprintf("user %q", username), "username = ?", strings.ToLower(username))
}

// GetUserBySubject returns the user with that OIDC subject, or ErrNotFound.
func (s *Store) GetUserBySubject(ctx context.Context, sub string) (*User, error) {
	return s.getUser(ctx, fmt.Sprintf("user subject %q", sub), "subject = ?", sub)
}

func (s *Store) getUser(ctx context.Context, entity, cond string, arg any) (*User, error) {
	var u User
	if err := s.conn(ctx).Where(cond, arg).Take(&u).Error; err != nil {
		return nil, wrapErr(err, entity)
	}
	u.normalize()
	return &u, nil
}

// ListUsers returns one page of the users matching f, ordered by username,
// and how many users match f in all. Query ignores the case of ASCII
// letters on every database, of all letters on PostgreSQL only (SQLite's
// lower() folds ASCII alone).
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]User, int64, error) {
	filter := func(db *gorm.DB) *gorm.DB {
		db = db.Model(&User{})
		if f.Query != "" {
			p := containsPattern(f.Query)
			db = db.Where(`lower(username) LIKE ? ESCAPE '\' OR lower(name) LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\'`, p, p, p)
		}
		if f.Role != "" {
			db = db.Where("role = ?", f.Role)
		}
		return db
	}
	var total int64
	if err := s.conn(ctx).Scopes(filter).Count(&total).Error; err != nil {
		return nil, 0, wrapErr(err, "list users")
	}
	offset, limit := pageOf(f.Offset, f.Limit)
	users := []User{}
	if err := s.conn(ctx).Scopes(filter).Order("username").Offset(offset).Limit(limit).Find(&users).Error; err != nil {
		return nil, 0, wrapErr(err, "list users")
	}
	for i := range users {
		users[i].normalize()
	}
	return users, total, nil
}

// UpdateUser changes the user with that ID through fn (see updateRow): fn
// gets the current row and nothing is written when it returns an error.
// Username is lower-cased; when fn changes PasswordHash but not
// PasswordChangedAt, PasswordChangedAt is set to now. ID, Subject and
// CreatedAt are never written. An email taken by another user gives
// ErrAlreadyExists.
func (s *Store) UpdateUser(ctx context.Context, id int64, fn func(*User) error) error {
	return updateRow(ctx, s, fmt.Sprintf("user #%d", id), "id = ?", id, fn, func(tx *gorm.DB, old, u *User) error {
		if !ValidRole(u.Role) {
			return fmt.Errorf("user %q: invalid role %q", u.Username, u.Role)
		}
		now := s.now()
		if u.PasswordHash != old.PasswordHash && u.PasswordChangedAt.Equal(old.PasswordChangedAt) {
			u.PasswordChangedAt = now
		}
		u.ID = old.ID
		u.UpdatedAt = now
		u.normalize()
		if err := tx.Model(u).Select(userColumns).Updates(u).Error; err != nil {
			return s.userDupErr(tx, err, u)
		}
		return nil
	})
}

// CountAdmins counts the enabled admins.
func (s *Store) CountAdmins(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&User{}).Where("role = ? AND disabled = ?", RoleAdmin, false).Count(&n).Error
	return n, wrapErr(err, "count admins")
}

// HasAdmin reports whether any admin exists, enabled or not.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var ids []int64
	err := s.conn(ctx).Model(&User{}).Where("role = ?", RoleAdmin).Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, wrapErr(err, "find admin")
}

// DeleteUser deletes the user with that ID, with their codes, tokens,
// consents and sessions; clients they own lose their owner. It returns
// ErrNotFound when there is no such user.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&User{})
	if res.Error != nil {
		return wrapErr(res.Error, fmt.Sprintf("user #%d", id))
	}
	if res.RowsAffected == 0 {
		return notFound(fmt.Sprintf("user #%d", id))
	}
	return nil
}

// PutImage stores img unless an image with its ID exists already (the ID
// is a digest of the content, so the existing row is the same picture).
// CreatedAt is set to now when zero.
func (s *Store) PutImage(ctx context.Context, img *Image) error {
	img.CreatedAt = s.orNow(img.CreatedAt)
	err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(img).Error
	return wrapErr(err, fmt.Sprintf("image %q", img.ID))
}

// GetImage returns the image with that ID, or ErrNotFound.
func (s *Store) GetImage(ctx context.Context, id string) (*Image, error) {
	var img Image
	if err := s.conn(ctx).Where("id = ?", id).Take(&img).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("image %q", id))
	}
	img.CreatedAt = ts(img.CreatedAt)
	return &img, nil
}
