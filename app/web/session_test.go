package web

import (
	"bytes"
	"context"
	"encoding/gob"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

func newStore(t *testing.T) (*DBStore, *models.Store) {
	return newStoreWith(t, Options{})
}

// newStoreWith fills in fixed random keys when o has none.
func newStoreWith(t *testing.T, o Options) (*DBStore, *models.Store) {
	t.Helper()
	st := models.New(dbtest.SQLite(t))
	if o.Keys.Load == nil {
		hashKey, blockKey := secret.Random(64), secret.Random(32)
		o.Keys.Load = func(context.Context) ([]byte, []byte, error) { return hashKey, blockKey, nil }
	}
	s, err := NewDBStore(t.Context(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func newUserRow(t *testing.T, st *models.Store, name string) *models.User {
	t.Helper()
	u := &models.User{Username: name, Subject: "sub-" + name, PasswordHash: "x", Role: models.RoleAdmin}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRowlessCookieNeverSignsIn: a cookie without a session row that
// claims a user (made with the real keys, as anyone who read them from
// the database could) is read as a signed-out visitor's.
func TestRowlessCookieNeverSignsIn(t *testing.T) {
	t.Parallel()
	s, st := newStore(t)
	u := newUserRow(t, st, "admin")
	forged := map[any]any{keyUserID: u.ID, keyAuthTime: time.Now().UTC(), keyCreated: time.Now().UTC(), keyCSRF: "tok"}
	encoded, err := securecookie.EncodeMulti("sid", payload{Values: forged, Expires: time.Now().Add(time.Hour)}, s.codecs.Load().codecs...)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: encoded})
	sess, err := s.New(r, "sid")
	if err != nil {
		t.Fatal(err)
	}
	w := &Session{s: sess}
	if w.UserID() != 0 || !w.AuthTime().IsZero() || sess.Values[keyCreated] != nil || sess.ID != "" {
		t.Fatalf("a row-less cookie signed in: %v", sess.Values)
	}
	if sess.Values[keyCSRF] != "tok" {
		t.Fatalf("the anonymous values were lost: %v", sess.Values)
	}
	// Nor does a cookie naming a session ID that has no row.
	encoded, _ = securecookie.EncodeMulti("sid", payload{ID: "made-up"}, s.codecs.Load().codecs...)
	r = httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: encoded})
	if sess, _ := s.New(r, "sid"); sess.ID != "" || (&Session{s: sess}).UserID() != 0 {
		t.Fatalf("an unknown session ID signed in: %v", sess.Values)
	}
	// Saving a signed-out session never writes a user into its cookie.
	sess.Values[keyUserID] = int64(0)
	sess.Values[keyAuthTime] = time.Now()
	next, _ := roundTrip(t, s, r, nil, "")
	if again, _ := s.New(next, "sid"); again.Values[keyAuthTime] != nil || again.Values[keyUserID] != nil {
		t.Fatalf("the signed-out cookie carries %v", again.Values)
	}
}

// TestSessionLifetimes: a signed-in session ends after the idle timeout
// without use and after the absolute lifetime whatever its use; a limit
// lowered later applies to sessions already open, and raising it again
// does not bring them back.
func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	lt := Lifetimes{Idle: time.Hour, Absolute: 3 * time.Hour}
	clock := time.Now()
	s, st := newStoreWith(t, Options{
		Lifetimes: func(context.Context) (Lifetimes, error) { return lt, nil },
		Now:       func() time.Time { return clock },
	})
	u := newUserRow(t, st, "alice")
	r, _ := roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyUserID: u.ID}, "")
	signedIn := func() bool {
		sess, err := s.New(r, "sid")
		if err != nil {
			t.Fatal(err)
		}
		return (&Session{s: sess}).UserID() == u.ID
	}
	// Used every 50 minutes: the idle timeout never passes...
	for range 3 {
		clock = clock.Add(50 * time.Minute)
		if !signedIn() {
			t.Fatalf("signed out at %v while in use", clock)
		}
		sess, _ := s.New(r, "sid")
		r, _ = roundTrip(t, s, r, sess.Values, sess.ID)
	}
	// ...but the absolute lifetime does (3h after sign-in).
	clock = clock.Add(40 * time.Minute)
	if signedIn() {
		t.Fatal("still signed in 3h10m after sign-in with a 3h session_lifetime")
	}

	// Idle: a new session unused for over an hour ends.
	r, _ = roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyUserID: u.ID}, "")
	clock = clock.Add(61 * time.Minute)
	if signedIn() {
		t.Fatal("still signed in after 61 minutes idle with a 1h idle timeout")
	}

	// Lowered after the row was written: applies now, and for good.
	r, _ = roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyUserID: u.ID}, "")
	clock = clock.Add(20 * time.Minute)
	lt.Idle = 10 * time.Minute
	if signedIn() {
		t.Fatal("a lowered idle timeout did not apply to an open session")
	}
	lt.Idle = time.Hour
	if signedIn() {
		t.Fatal("raising the idle timeout again revived the session")
	}
}

// TestSessionKeysReload: when the keys' version moves (keys rotate
// --sessions), cookies are read and made with the new keys.
func TestSessionKeysReload(t *testing.T) {
	t.Parallel()
	version := int64(1)
	keysNow := [2][]byte{secret.Random(64), secret.Random(32)}
	s, _ := newStoreWith(t, Options{Keys: KeySource{
		Load:    func(context.Context) ([]byte, []byte, error) { return keysNow[0], keysNow[1], nil },
		Version: func(context.Context) (int64, error) { return version, nil },
	}})
	r, _ := roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyCSRF: "tok"}, "")
	keysNow = [2][]byte{secret.Random(64), secret.Random(32)}
	if sess, _ := s.New(r, "sid"); sess.Values[keyCSRF] != "tok" {
		t.Fatal("the keys were reloaded although their version did not move")
	}
	version++
	if sess, _ := s.New(r, "sid"); sess.Values[keyCSRF] != nil {
		t.Fatal("a cookie made with the old keys is still read after a rotation")
	}
	r, _ = roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyCSRF: "new"}, "")
	var p payload
	c, _ := r.Cookie("sid")
	if err := securecookie.DecodeMulti("sid", c.Value, &p, securecookie.CodecsFromPairs(keysNow[0], keysNow[1])...); err != nil {
		t.Fatalf("new cookies are not made with the new keys: %v", err)
	}
}

// roundTrip saves sess and returns a request carrying the resulting cookie.
func roundTrip(t *testing.T, s *DBStore, r *http.Request, values map[any]any, id string) (*http.Request, *httptest.ResponseRecorder) {
	t.Helper()
	sess, _ := s.New(r, "sid")
	for k, v := range values {
		sess.Values[k] = v
	}
	if id != "" {
		sess.ID = id
	}
	w := httptest.NewRecorder()
	if err := s.Save(r, w, sess); err != nil {
		t.Fatal(err)
	}
	next := httptest.NewRequest("GET", "/", nil)
	for _, c := range w.Result().Cookies() {
		next.AddCookie(c)
	}
	return next, w
}

func countRows(t *testing.T, st *models.Store) int64 {
	var n int64
	st.DB().Model(&models.WebSession{}).Count(&n)
	return n
}

// TestAnonymousSessionsStayInTheCookie: a signed-out visitor's session
// (CSRF token, flashes) is kept in the signed, encrypted cookie, so
// anonymous traffic writes nothing to the database.
func TestAnonymousSessionsStayInTheCookie(t *testing.T) {
	t.Parallel()
	s, st := newStore(t)
	r, w := roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyCSRF: "tok"}, "")
	if countRows(t, st) != 0 {
		t.Fatal("anonymous session written to the database")
	}
	c := w.Result().Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie flags %+v", c)
	}
	sess, _ := s.New(r, "sid")
	if sess.IsNew || sess.Values[keyCSRF] != "tok" {
		t.Fatalf("anonymous values not restored: %v", sess.Values)
	}
	// Expired anonymous payloads are ignored.
	s.now = func() time.Time { return time.Now().Add(AnonymousTTL + time.Minute) }
	if sess, _ := s.New(r, "sid"); !sess.IsNew || sess.Values[keyCSRF] != nil {
		t.Fatal("expired anonymous session accepted")
	}
	// A tampered cookie starts a fresh session.
	bad := httptest.NewRequest("GET", "/", nil)
	bad.AddCookie(&http.Cookie{Name: "sid", Value: c.Value[:len(c.Value)-2] + "xx"})
	if sess, _ := s.New(bad, "sid"); !sess.IsNew {
		t.Fatal("tampered cookie accepted")
	}
}

// TestSignedOutSessionIsNotResurrected: a request that loaded the session
// before the user signed out (in another request) must not write it back.
func TestSignedOutSessionIsNotResurrected(t *testing.T) {
	t.Parallel()
	s, st := newStore(t)
	r, _ := roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyUserID: int64(0)}, "")
	u := &models.User{Username: "alice", PasswordHash: "x", Role: models.RoleUser}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	r, _ = roundTrip(t, s, r, map[any]any{keyUserID: u.ID}, "")
	if countRows(t, st) != 1 {
		t.Fatal("signed-in session not stored")
	}
	inFlight, _ := s.New(r, "sid") // a slow request loads the session
	if inFlight.ID == "" {
		t.Fatal("session not loaded from the database")
	}
	if err := st.DeleteWebSession(context.Background(), digest(inFlight.ID)); err != nil { // sign-out elsewhere
		t.Fatal(err)
	}
	inFlight.Values[keyFlashes] = []Flash{{Kind: "info", Message: "x"}}
	w := httptest.NewRecorder()
	if err := s.Save(r, w, inFlight); err != nil {
		t.Fatal(err)
	}
	if countRows(t, st) != 0 {
		t.Fatal("signed-out session written back")
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("cookie not cleared: %v", w.Result().Header.Values("Set-Cookie"))
	}
	if sess, _ := s.New(r, "sid"); !sess.IsNew {
		t.Fatal("old cookie still opens the session")
	}
}

// TestSealOnce: a value sealed for one showing is stored encrypted under
// a key only the cookie's session ID gives, comes back once, and a
// session with another ID cannot open it.
func TestSealOnce(t *testing.T) {
	t.Parallel()
	s, st := newStore(t)
	u := &models.User{Username: "dev", Subject: "sub-dev", PasswordHash: "x", Role: models.RoleDeveloper}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	r, _ := roundTrip(t, s, httptest.NewRequest("GET", "/", nil), map[any]any{keyUserID: u.ID}, "")
	gs, err := s.Get(r, "sid")
	if err != nil || gs.ID == "" {
		t.Fatalf("signed-in session: %v %q", err, gs.ID)
	}
	sess := &Session{s: gs}
	const plain = "gcs_super-secret-value-shown-once"
	if !sess.SealOnce("once", plain) {
		t.Fatal("SealOnce refused a signed-in session")
	}
	w := httptest.NewRecorder()
	if err := s.Save(r, w, gs); err != nil {
		t.Fatal(err)
	}
	var leaks int64
	st.DB().Model(&models.WebSession{}).Where("instr(data, ?) > 0", []byte(plain)).Count(&leaks)
	if leaks != 0 {
		t.Fatal("the sealed value is readable in the database")
	}
	other := &Session{s: &sessions.Session{ID: "another-id", Values: map[any]any{keyUserID: u.ID, "once": gs.Values["once"]}}}
	if got := other.TakeOnce("once"); got != "" {
		t.Fatalf("another session opened it: %q", got)
	}
	if got := sess.TakeOnce("once"); got != plain {
		t.Fatalf("TakeOnce = %q", got)
	}
	if got := sess.TakeOnce("once"); got != "" {
		t.Fatalf("second TakeOnce = %q", got)
	}
	anon := &Session{s: &sessions.Session{Values: map[any]any{}}}
	if anon.SealOnce("once", plain) {
		t.Fatal("SealOnce accepted a signed-out session")
	}
}

// TestSessionFromEarlierRelease: a row written by a release before the
// session limits (its data holds neither time) keeps its user signed in,
// within the limits counted from the row's own times.
func TestSessionFromEarlierRelease(t *testing.T) {
	t.Parallel()
	s, st := newStore(t)
	u := newUserRow(t, st, "alice")
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(map[any]any{keyUserID: u.ID, keyAuthTime: time.Now().UTC(), keyCSRF: "tok"}); err != nil {
		t.Fatal(err)
	}
	id := "session-id-of-an-earlier-release"
	if err := st.SaveWebSession(context.Background(), &models.WebSession{IDHash: digest(id), UserID: &u.ID, Data: buf.Bytes(),
		ExpiresAt: time.Now().Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	encoded, err := securecookie.EncodeMulti("sid", payload{ID: id}, s.codecs.Load().codecs...)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: encoded})
	sess, err := s.New(r, "sid")
	if err != nil || (&Session{s: sess}).UserID() != u.ID || sess.Values[keyCSRF] != "tok" {
		t.Fatalf("an earlier release's session: %v %v", err, sess.Values)
	}
	s.now = func() time.Time { return time.Now().Add(13 * time.Hour) }
	if sess, _ := s.New(r, "sid"); (&Session{s: sess}).UserID() != 0 {
		t.Fatal("an earlier release's session outlived the idle timeout")
	}
}
