// Package password hashes and verifies human passwords with argon2id
// (golang.org/x/crypto/argon2), stored in the PHC string format
// $argon2id$v=19$m=...,t=...,p=...$salt$hash.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams follow OWASP's argon2id recommendation (19 MiB, t=2, p=1).
// Tests may lower them; hashes record their own parameters.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MinLength and MaxLength bound a new password, in characters.
	MinLength = 12
	MaxLength = 256
)

var b64 = base64.RawStdEncoding

// Hash returns the PHC-format argon2id hash of pw.
func Hash(pw string) (string, error) {
	p := DefaultParams
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformed is returned for a stored hash that cannot be parsed.
var ErrMalformed = errors.New("password: malformed hash")

// Verify reports whether pw matches the encoded hash, in constant time.
func Verify(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<21 || p.Time > 100 {
		return false, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 {
		return false, ErrMalformed
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var (
	dummy    string
	dummyFor Params
	dummyMu  sync.Mutex
)

// VerifyDummy spends the same time as a Verify against a real hash made
// with the current DefaultParams, and always fails. Use it for unknown users
// so that "no such user" and "wrong password" cannot be told apart by time.
func VerifyDummy(pw string) {
	dummyMu.Lock()
	if dummy == "" || dummyFor != DefaultParams {
		dummy, _ = Hash("gatehouse-dummy-password")
		dummyFor = DefaultParams
	}
	h := dummy
	dummyMu.Unlock()
	_, _ = Verify(pw, h)
}

// Problem says, for the person choosing it, why pw is not acceptable as a
// new password; "" when it is.
func Problem(pw string) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return "Password contains invalid characters."
	case n < MinLength:
		return fmt.Sprintf("Use at least %d characters.", MinLength)
	case n > MaxLength:
		return fmt.Sprintf("Use at most %d characters.", MaxLength)
	case strings.TrimSpace(pw) == "":
		return "Password cannot be only spaces."
	}
	return ""
}

// Checker is Verify and VerifyDummy as a value (the protocol core's
// oauth.PasswordChecker).
type Checker struct{}

// Verify implements oauth.PasswordChecker.
func (Checker) Verify(pw, hash string) (bool, error) { return Verify(pw, hash) }

// VerifyDummy implements oauth.PasswordChecker.
func (Checker) VerifyDummy(pw string) { VerifyDummy(pw) }
