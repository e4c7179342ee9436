package main

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"
)

// Sessions live in this process's memory, keyed by a random ID in an
// HttpOnly, SameSite=Lax cookie: the browser never holds a token, and
// restarting the app signs everyone out. A real app would keep them in
// its database or cache.

const (
	sessionCookie = "demo_session"
	sessionIdle   = 2 * time.Hour
	loginTimeout  = 10 * time.Minute // how long an authorization request may take
)

type session struct {
	mu      sync.Mutex // held for the whole of a request (see app.handle)
	id      string
	csrf    string // this app's own CSRF token for its POST forms
	expires time.Time

	login *pendingLogin // between /login and /callback
	user  *signedIn     // after /callback
}

// pendingLogin is what /callback checks the authorization response
// against.
type pendingLogin struct {
	state, nonce, verifier string
	expires                time.Time
}

type sessionStore struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessionStore() *sessionStore { return &sessionStore{byID: map[string]*session{}} }

// get returns the request's session, starting one (and setting its
// cookie) when there is none.
func (s *sessionStore) get(w http.ResponseWriter, r *http.Request, secure bool) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for id, ss := range s.byID { // tiny app: sweep on every request
		if now.After(ss.expires) {
			delete(s.byID, id)
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if ss := s.byID[c.Value]; ss != nil {
			ss.expires = now.Add(sessionIdle)
			return ss
		}
	}
	ss := &session{id: rand.Text(), csrf: rand.Text(), expires: now.Add(sessionIdle)}
	s.byID[ss.id] = ss
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: ss.id, Path: "/", HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	return ss
}

// end forgets the session (signing out of this app only).
func (s *sessionStore) end(w http.ResponseWriter, ss *session) {
	s.mu.Lock()
	delete(s.byID, ss.id)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// validCSRF reports whether the form carries the session's CSRF token
// (compared in constant time).
func (ss *session) validCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf_token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}
