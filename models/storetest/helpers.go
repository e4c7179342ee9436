package storetest

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

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

func mustUser(t *testing.T, s *models.Store, username string) *models.User {
	t.Helper()
	u, err := s.GetUserByUsername(t.Context(), username)
	ok(t, err)
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

// withScopes is a newClient option setting the client's scope list.
func withScopes(sc ...string) func(*models.Client) { return func(c *models.Client) { c.Scopes = sc } }

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

// pluck lists f of each of xs, to compare a result by one field. The list
// is never nil, so that no rows compare equal to []string{}.
func pluck[T any](xs []T, f func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
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

// oneWinner checks that exactly one of racing calls succeeded (what names
// the count) and that the others failed with lost; it returns the index of
// the winner.
func oneWinner(t *testing.T, what string, errs []error, lost error) int {
	t.Helper()
	wins, winner := 0, -1
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, lost):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%s = %d, want 1", what, wins)
	}
	return winner
}

const racers = 50
