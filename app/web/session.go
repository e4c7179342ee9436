// Package web holds what every page handler shares: the browser session
// (gorilla/sessions over the database, bridged into fiber once per request),
// CSRF tokens, flash messages, the signed-in user, role checks and the
// client's address.
package web

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func init() {
	gob.Register(time.Time{})
	gob.Register([]Flash{})
	gob.Register([]string{})
}

// Flash is a one-time message shown on the next page.
type Flash struct {
	Kind    string // success, error, info
	Message string
}

// SessionStore is the storage the session store needs.
type SessionStore interface {
	SaveWebSession(ctx context.Context, ws *models.WebSession) error
	UpdateWebSession(ctx context.Context, ws *models.WebSession) error
	GetWebSession(ctx context.Context, idHash []byte, now time.Time) (*models.WebSession, error)
	DeleteWebSession(ctx context.Context, idHash []byte) error
	// EndWebSession deletes the session as the user's sign-out: its
	// clients are notified (back-channel logout) and the tokens it
	// issued revoked.
	EndWebSession(ctx context.Context, idHash []byte) (*models.EndedSession, error)
}

// AnonymousTTL bounds a signed-out session (CSRF token, flashes).
const AnonymousTTL = time.Hour

// Lifetimes bound a signed-in session: Idle since its last use
// (session_idle_timeout) and Absolute since sign-in (session_lifetime).
type Lifetimes struct {
	Idle, Absolute time.Duration
}

// DefaultLifetimes are SPEC.md §7.1's defaults.
var DefaultLifetimes = Lifetimes{Idle: 12 * time.Hour, Absolute: 720 * time.Hour}

// maxTouchAfter: an unchanged signed-in session is written back (to extend
// its idle timeout) only once it is this much older than its last write,
// or a quarter of the idle timeout when that is shorter.
const maxTouchAfter = 15 * time.Minute

// maxCookieAge bounds the age of a cookie's signature. Cookies are
// re-signed whenever their session is written (at least every
// maxTouchAfter while in use), so this only matters to a cookie nobody
// used for a month; the server enforces the real limits.
const maxCookieAge = 31 * 24 * time.Hour

// payload is what the cookie carries, signed and encrypted: the random ID
// of a signed-in session (whose values live in the database), or the few
// values of a signed-out visitor (so that merely opening the sign-in page
// writes nothing to the database). A payload without an ID never signs
// anyone in: its user ID and sign-in time are dropped when it is read, so
// that the cookie keys alone (a copy of the database) cannot make a
// session.
type payload struct {
	ID      string
	Values  map[any]any
	Expires time.Time
}

// KeySource gives the cookie keys, which live in the database
// (app_secrets) so that every instance shares them.
type KeySource struct {
	// Load returns the HMAC and AES keys of the cookies.
	Load func(ctx context.Context) (hashKey, blockKey []byte, err error)
	// Version, when set, returns a counter that moves whenever the keys
	// may have changed (cache.Versions' Keys): they are loaded again
	// when it does, so that `gatehouse keys rotate --sessions` reaches
	// every running instance on its next request.
	Version func(ctx context.Context) (int64, error)
}

// Options configure a DBStore.
type Options struct {
	Secure bool // https issuer: Secure cookies
	Keys   KeySource
	// Lifetimes returns the limits in force (the settings); nil means
	// DefaultLifetimes.
	Lifetimes func(ctx context.Context) (Lifetimes, error)
	Now       func() time.Time
	// Log receives the failures to reload the keys (nil: discarded).
	Log *slog.Logger
}

// codecSet is the cookie codecs made from one load of the keys.
type codecSet struct {
	version int64
	codecs  []securecookie.Codec
}

// DBStore is a gorilla/sessions Store. Signed-in sessions are kept in the
// database and only their random ID travels in the cookie, so deleting the
// row (sign-out, password change, disabling a user) ends the session on
// every instance, and nothing but a row makes a visitor signed in.
// Signed-out sessions live in the cookie alone.
type DBStore struct {
	store     SessionStore
	keys      KeySource
	lifetimes func(ctx context.Context) (Lifetimes, error)
	codecs    atomic.Pointer[codecSet]
	reload    sync.Mutex
	opts      sessions.Options
	now       func() time.Time
	log       *slog.Logger
}

var _ sessions.Store = (*DBStore)(nil)

// NewDBStore returns a store whose cookies are signed and encrypted with
// the keys of o.Keys, which it loads now (an error stops the start).
func NewDBStore(ctx context.Context, st SessionStore, o Options) (*DBStore, error) {
	s := &DBStore{
		store:     st,
		keys:      o.Keys,
		lifetimes: o.Lifetimes,
		opts: sessions.Options{
			Path:     "/",
			MaxAge:   0, // browser-session cookie; the server enforces expiry
			Secure:   o.Secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		now: o.Now,
		log: o.Log,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.keys.Load == nil {
		return nil, errors.New("web: no session keys")
	}
	var version int64
	if s.keys.Version != nil {
		v, err := s.keys.Version(ctx)
		if err != nil {
			return nil, err
		}
		version = v
	}
	set, err := s.loadCodecs(ctx, version)
	if err != nil {
		return nil, err
	}
	s.codecs.Store(set)
	return s, nil
}

func (s *DBStore) loadCodecs(ctx context.Context, version int64) (*codecSet, error) {
	hashKey, blockKey, err := s.keys.Load(ctx)
	if err != nil {
		return nil, err
	}
	codecs := securecookie.CodecsFromPairs(hashKey, blockKey)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(int(maxCookieAge / time.Second))
		}
	}
	return &codecSet{version: version, codecs: codecs}, nil
}

// currentCodecs returns the codecs of the keys in force, loading them
// again when the keys' version moved. When that fails (the database is
// away), the previous codecs are used: the session lookup fails then too.
func (s *DBStore) currentCodecs(ctx context.Context) []securecookie.Codec {
	cur := s.codecs.Load()
	if s.keys.Version == nil {
		return cur.codecs
	}
	v, err := s.keys.Version(ctx)
	if err != nil || v == cur.version {
		return cur.codecs
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if cur = s.codecs.Load(); cur.version == v {
		return cur.codecs
	}
	set, err := s.loadCodecs(ctx, v)
	if err != nil {
		s.log.ErrorContext(ctx, "session keys not reloaded; the previous ones stay in use until they can be", "err", err)
		return cur.codecs
	}
	s.codecs.Store(set)
	return set.codecs
}

// Lifetimes returns the session limits in force.
func (s *DBStore) Lifetimes(ctx context.Context) Lifetimes {
	if s.lifetimes == nil {
		return DefaultLifetimes
	}
	lt, err := s.lifetimes(ctx)
	if err != nil || lt.Idle <= 0 || lt.Absolute <= 0 {
		return DefaultLifetimes
	}
	return lt
}

// touchAfter is how old the last write of an unchanged signed-in session
// may get before it is written back to extend it.
func (lt Lifetimes) touchAfter() time.Duration {
	return min(maxTouchAfter, lt.Idle/4)
}

// expiry is when a signed-in session created at created and used at now
// ends, unless used again.
func (lt Lifetimes) expiry(created, now time.Time) time.Time {
	idle, abs := now.Add(lt.Idle), created.Add(lt.Absolute)
	if abs.Before(idle) {
		return abs
	}
	return idle
}

// CookieName is __Host-gatehouse on https (bound to this exact host, path /,
// Secure) and gatehouse_session otherwise.
func CookieName(secure bool) string {
	if secure {
		return "__Host-gatehouse"
	}
	return "gatehouse_session"
}

// Get returns the named session (new when the cookie is missing or stale).
func (s *DBStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

// New loads the session named by the request's cookie, or starts a new one.
func (s *DBStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.opts
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	ctx := r.Context()
	var p payload
	if err := securecookie.DecodeMulti(name, c.Value, &p, s.currentCodecs(ctx)...); err != nil {
		return sess, nil // forged, old key or garbage: start afresh
	}
	now := s.now().UTC()
	if p.ID == "" {
		if now.Before(p.Expires) && p.Values != nil {
			// Only a row signs a visitor in: a cookie that claims a user
			// without one was not made by Gatehouse.
			for _, k := range internalKeys {
				delete(p.Values, k)
			}
			sess.Values = p.Values
			sess.IsNew = false
		}
		return sess, nil
	}
	ws, err := s.store.GetWebSession(ctx, digest(p.ID), now)
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	values := map[any]any{}
	if err := gob.NewDecoder(bytes.NewReader(ws.Data)).Decode(&values); err != nil {
		return sess, nil
	}
	if uid, _ := values[keyUserID].(int64); ws.UserID == nil || uid != *ws.UserID {
		return sess, nil
	}
	if ws.SID != "" {
		values[keySID] = ws.SID
	}
	// Rows of earlier releases carry neither time in their data.
	if _, ok := values[keyLastWrite].(time.Time); !ok {
		values[keyLastWrite] = ws.UpdatedAt
	}
	if _, ok := values[keyCreated].(time.Time); !ok {
		values[keyCreated] = ws.CreatedAt
	}
	lt := s.Lifetimes(ctx)
	if !now.Before(lt.expiry(values[keyCreated].(time.Time), values[keyLastWrite].(time.Time))) {
		// Over a limit lowered since the row was written: it ends now,
		// and the row goes so that raising the limit cannot revive it.
		if err := s.store.DeleteWebSession(ctx, digest(p.ID)); err != nil {
			return sess, err
		}
		return sess, nil
	}
	sess.Values = values
	sess.ID = p.ID
	sess.IsNew = false
	return sess, nil
}

// Save writes the session and its cookie. MaxAge < 0 deletes both. A
// signed-in session whose row has meanwhile been deleted (signed out in
// another request) is not brought back: the cookie is cleared instead.
func (s *DBStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.store.DeleteWebSession(r.Context(), digest(sess.ID)); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	values := make(map[any]any, len(sess.Values))
	for k, v := range sess.Values {
		values[k] = v
	}
	now := s.now().UTC()
	var p payload
	if id, ok := values[keyUserID].(int64); ok && id > 0 {
		created, ok := values[keyCreated].(time.Time)
		if !ok || sess.ID == "" {
			created = now
		}
		values[keyCreated], values[keyLastWrite] = created, now
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(values); err != nil {
			return err
		}
		expires := s.Lifetimes(r.Context()).expiry(created, now)
		sid, _ := values[keySID].(string)
		ua, _ := values[keyUserAgent].(string)
		addr, _ := values[keyRemoteAddr].(string)
		ws := &models.WebSession{SID: sid, UserID: &id, UserAgent: ua, RemoteAddr: addr, Data: buf.Bytes(), ExpiresAt: expires,
			UpdatedAt: now, CreatedAt: created}
		if sess.ID == "" {
			sess.ID = base64.RawURLEncoding.EncodeToString(secret.Random(32))
			ws.IDHash = digest(sess.ID)
			if err := s.store.SaveWebSession(r.Context(), ws); err != nil {
				return err
			}
		} else {
			ws.IDHash = digest(sess.ID)
			err := s.store.UpdateWebSession(r.Context(), ws)
			if errors.Is(err, store.ErrNotFound) {
				http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &sessions.Options{Path: "/", MaxAge: -1, Secure: sess.Options.Secure, HttpOnly: true, SameSite: sess.Options.SameSite}))
				return nil
			}
			if err != nil {
				return err
			}
		}
		p = payload{ID: sess.ID}
	} else {
		if sess.ID != "" { // no longer signed in: drop the server-side row
			if err := s.store.DeleteWebSession(r.Context(), digest(sess.ID)); err != nil {
				return err
			}
			sess.ID = ""
		}
		for _, k := range internalKeys {
			delete(values, k)
		}
		p = payload{Values: values, Expires: now.Add(AnonymousTTL)}
	}
	sess.Values[keyLastWrite] = now
	encoded, err := securecookie.EncodeMulti(sess.Name(), p, s.currentCodecs(r.Context())...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

func digest(id string) []byte {
	d := sha256.Sum256([]byte("session:" + id))
	return d[:]
}

// Session keys.
const (
	keyUserID    = "uid"
	keyAuthTime  = "auth_time"
	keyCSRF      = "csrf"
	keyFlashes   = "flashes"
	keyLastWrite = "_last_write" // when the row was last written
	keyCreated   = "_created"    // when the row was created (sign-in)
	// keySID is the session's public ID (the row's sid column): stable
	// while the same user stays signed in, new for each sign-in of
	// another.
	keySID        = "_sid"
	keyUserAgent  = "_ua" // the browser that signed in
	keyRemoteAddr = "_ip" // the address it signed in from
	// KeyAuthorizeRequests holds the authorization requests in flight
	// (they survive sign-in).
	KeyAuthorizeRequests = "authz"
)

// internalKeys are never taken from a cookie without a session row: the
// signed-in state, and the bookkeeping of rows.
var internalKeys = []string{keyUserID, keyAuthTime, keyLastWrite, keyCreated, keySID, keyUserAgent, keyRemoteAddr}

// Session wraps the gorilla session of one request and remembers whether it
// must be written back.
type Session struct {
	s          *sessions.Session
	touchAfter time.Duration
	dirty      bool
	// regenerate: delete the old row and issue a new ID on save.
	regenerate bool
	// end: the old row's session ends (sign-out, or another user signing
	// in): its clients are notified when it is deleted.
	end bool
}

// UserID is the signed-in user's ID, or 0.
func (s *Session) UserID() int64 {
	id, _ := s.s.Values[keyUserID].(int64)
	return id
}

// AuthTime is when the user last entered their password.
func (s *Session) AuthTime() time.Time {
	t, _ := s.s.Values[keyAuthTime].(time.Time)
	return t
}

// Get returns a stored value.
func (s *Session) Get(key string) any { return s.s.Values[key] }

// Set stores a value (gob-encodable; register custom types with gob).
func (s *Session) Set(key string, v any) {
	s.s.Values[key] = v
	s.dirty = true
}

// Delete removes a value.
func (s *Session) Delete(key string) {
	if _, ok := s.s.Values[key]; ok {
		delete(s.s.Values, key)
		s.dirty = true
	}
}

// SID is the session's public ID, the sid claim of the ID tokens issued
// in it ("" when nobody is signed in).
func (s *Session) SID() string {
	if s.UserID() == 0 {
		return ""
	}
	sid, _ := s.s.Values[keySID].(string)
	return sid
}

// Device is where a sign-in came from: shown on the sessions page.
type Device struct {
	UserAgent  string
	RemoteAddr string
}

// SignIn records the user and starts a new session ID (the old one stops
// working), keeping nothing from the anonymous session but pending flashes
// and the authorization requests in flight. The public session ID (SID)
// stays when the same user signs in again (prompt=login, max_age): it is
// the same browser session to the clients. Another user's session ends.
func (s *Session) SignIn(userID int64, at time.Time, d Device) {
	old := s.s.Values
	prevUser, _ := old[keyUserID].(int64)
	sid, _ := old[keySID].(string)
	if prevUser != userID || sid == "" {
		s.end = s.end || prevUser != 0
		sid = NewSID()
	}
	s.s.Values = map[any]any{keyUserID: userID, keyAuthTime: at.UTC(), keyCSRF: newCSRFToken(), keySID: sid,
		keyUserAgent: truncate(d.UserAgent, 512), keyRemoteAddr: truncate(d.RemoteAddr, 64)}
	for _, k := range []string{keyFlashes, KeyAuthorizeRequests} {
		if v, ok := old[k]; ok {
			s.s.Values[k] = v
		}
	}
	s.regenerate = true
	s.dirty = true
}

// NewSID returns a new public session ID.
func NewSID() string {
	return base64.RawURLEncoding.EncodeToString(secret.Random(16))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Drop ends a signed-in session whose user may no longer use it (deleted,
// disabled, password changed): the row is deleted and the browser carries
// on as a signed-out visitor, so that what this request stores (an
// authorization request in flight) survives.
func (s *Session) Drop() {
	s.s.Values = map[any]any{keyCSRF: newCSRFToken()}
	s.dirty = true
}

// SealOnce keeps a secret value (a client secret to show once) until
// TakeOnce reads it. Signed-in sessions live in the database, so the value
// is sealed with AES-GCM under a key derived from the session ID, which
// only the browser's cookie holds (the database keeps its hash): neither
// the database nor its backups ever see the secret. It reports false when
// the session has no ID yet (signed out).
func (s *Session) SealOnce(key, value string) bool {
	aead, ok := s.onceAEAD(key)
	if !ok {
		return false
	}
	nonce := secret.Random(aead.NonceSize())
	s.Set(key, append(nonce, aead.Seal(nil, nonce, []byte(value), []byte(key))...))
	return true
}

// TakeOnce returns and forgets a value kept by SealOnce ("" when none).
func (s *Session) TakeOnce(key string) string {
	sealed, ok := s.Get(key).([]byte)
	if !ok {
		return ""
	}
	s.Delete(key)
	aead, ok := s.onceAEAD(key)
	if !ok || len(sealed) < aead.NonceSize() {
		return ""
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(key))
	if err != nil {
		return ""
	}
	return string(plain)
}

func (s *Session) onceAEAD(key string) (cipher.AEAD, bool) {
	if s.s.ID == "" || s.UserID() == 0 {
		return nil, false
	}
	k, err := hkdf.Key(sha256.New, []byte(s.s.ID), nil, "gatehouse one-shot "+key, 32)
	if err != nil {
		return nil, false
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false
	}
	return aead, true
}

// SignOut ends the session: the row is deleted (its clients notified and
// its tokens revoked, EndWebSession) and the browser carries on as a
// signed-out visitor, keeping pending flashes.
func (s *Session) SignOut() {
	old := s.s.Values
	s.s.Values = map[any]any{keyCSRF: newCSRFToken()}
	if v, ok := old[keyFlashes]; ok {
		s.s.Values[keyFlashes] = v
	}
	if uid, _ := old[keyUserID].(int64); uid != 0 {
		s.end = true
	}
	s.dirty = true
}

// IDHash is the key of the session's row (nil when signed out): what
// the store's End* methods take to spare the browser's own session.
func (s *Session) IDHash() []byte {
	if s.s.ID == "" {
		return nil
	}
	return digest(s.s.ID)
}

// CSRFToken returns the session's synchronizer token, creating it.
func (s *Session) CSRFToken() string {
	if t, ok := s.s.Values[keyCSRF].(string); ok && t != "" {
		return t
	}
	t := newCSRFToken()
	s.Set(keyCSRF, t)
	return t
}

func newCSRFToken() string {
	return base64.RawURLEncoding.EncodeToString(secret.Random(32))
}

// AddFlash queues a message for the next page.
func (s *Session) AddFlash(kind, msg string) {
	fl, _ := s.s.Values[keyFlashes].([]Flash)
	s.Set(keyFlashes, append(fl, Flash{Kind: kind, Message: msg}))
}

// Flashes returns and clears the queued messages.
func (s *Session) Flashes() []Flash {
	fl, _ := s.s.Values[keyFlashes].([]Flash)
	if len(fl) > 0 {
		s.Delete(keyFlashes)
	}
	return fl
}

// needsTouch reports whether an unchanged signed-in session should be
// written back to extend its idle timeout.
func (s *Session) needsTouch(now time.Time) bool {
	if s.UserID() == 0 {
		return false
	}
	last, _ := s.s.Values[keyLastWrite].(time.Time)
	return now.Sub(last) > s.touchAfter
}

const localsSession = "gatehouse.session"

// SessionMiddleware loads the session once per request (converting just
// the Cookie header to a net/http request for gorilla), keeps it in
// c.Locals, and writes it back after the handler when it changed, copying
// gorilla's Set-Cookie header to fiber.
func SessionMiddleware(st *DBStore, name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r := &http.Request{Header: http.Header{}}
		if ck := c.Get(fiber.HeaderCookie); ck != "" {
			r.Header.Set("Cookie", ck)
		}
		r = r.WithContext(c.UserContext())
		gs, err := st.New(r, name)
		if err != nil {
			return err
		}
		sess := &Session{s: gs, touchAfter: st.Lifetimes(r.Context()).touchAfter()}
		c.Locals(localsSession, sess)

		herr := c.Next()
		if herr != nil {
			// Render the error now, so that what the error page does to
			// the session (showing flashes, making a CSRF token) is saved.
			if err := c.App().ErrorHandler(c, herr); err != nil {
				return err
			}
		}

		now := st.now().UTC()
		if !sess.dirty && !sess.needsTouch(now) {
			return nil
		}
		if (sess.regenerate || sess.end) && gs.ID != "" {
			if sess.end {
				if _, err := st.store.EndWebSession(r.Context(), digest(gs.ID)); err != nil {
					return err
				}
			} else if err := st.store.DeleteWebSession(r.Context(), digest(gs.ID)); err != nil {
				return err
			}
			gs.ID = ""
		}
		w := &headerWriter{h: http.Header{}}
		if err := st.Save(r, w, gs); err != nil {
			return err
		}
		for _, v := range w.h.Values("Set-Cookie") {
			c.Response().Header.Add(fiber.HeaderSetCookie, v)
		}
		return nil
	}
}

// SessionOf returns the request's session, and false on routes mounted
// without the session middleware (API paths, or a request that failed
// before the middleware ran).
func SessionOf(c *fiber.Ctx) (*Session, bool) {
	s, ok := c.Locals(localsSession).(*Session)
	return s, ok && s != nil
}

// CurrentSession returns the request's session.
func CurrentSession(c *fiber.Ctx) *Session {
	s, _ := c.Locals(localsSession).(*Session)
	if s == nil {
		// Only reachable from routes mounted without the middleware.
		panic("web: session middleware not installed for " + c.Path())
	}
	return s
}

// headerWriter collects the headers gorilla writes.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}
