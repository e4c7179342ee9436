// Package store holds the storage contract shared by the protocol core and
// the GORM implementation in models/: sentinel errors that every backend
// returns, so callers never depend on GORM or a driver.
package store

import "errors"

var (
	// ErrNotFound is returned when the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists is returned when a unique key is already taken.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict is returned when a conditional update lost a race, for
	// example a second redemption of one authorization code.
	ErrConflict = errors.New("store: conflict")
)

// DuplicateError is an ErrAlreadyExists that names the field whose value is
// taken (e.g. "username" or "email"), so that forms can put the message
// next to the right field.
type DuplicateError struct {
	Entity string // e.g. `user "bob"`
	Field  string
}

func (e *DuplicateError) Error() string {
	return e.Entity + ": " + e.Field + " " + ErrAlreadyExists.Error()
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrAlreadyExists }
