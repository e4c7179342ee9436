package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

func newStore(t *testing.T) (*DBStore, *models.Store) {
	st := models.New(dbtest.SQLite(t))
	return NewDBStore(st, false, secret.Random(64), secret.Random(32)), st
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
