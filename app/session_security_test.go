package app

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
)

// forgedPayload has the fields of the session cookie's payload: gob
// matches fields by name, so this is what anyone who read the session
// keys could encode.
type forgedPayload struct {
	ID      string
	Values  map[any]any
	Expires time.Time
}

// storedSessionKeys reads the session keys from app_secrets as a copy of
// the database shows them.
func storedSessionKeys(t *testing.T, st *models.Store) (hashKey, blockKey []byte, encrypted bool) {
	t.Helper()
	var rows []models.AppSecret
	if err := st.DB().Where("name IN ?", []string{"session_hash_key", "session_block_key"}).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("session keys in app_secrets: %d rows", len(rows))
	}
	for _, r := range rows {
		encrypted = encrypted || r.Encrypted
		if r.Name == "session_hash_key" {
			hashKey = r.Value
		} else {
			blockKey = r.Value
		}
	}
	return hashKey, blockKey, encrypted
}

// forgeSessionCookie makes a cookie without a session row that claims
// the user is signed in, with the real gorilla/securecookie encoding.
func forgeSessionCookie(t *testing.T, hashKey, blockKey []byte, userID int64, csrf string) *http.Cookie {
	t.Helper()
	p := forgedPayload{
		Values:  map[any]any{"uid": userID, "auth_time": time.Now().UTC(), "csrf": csrf},
		Expires: time.Now().Add(time.Hour),
	}
	name := web.CookieName(false)
	v, err := securecookie.EncodeMulti(name, p, securecookie.CodecsFromPairs(hashKey, blockKey)...)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return &http.Cookie{Name: name, Value: v}
}

// TestForgedSessionCookieIsSignedOut performs the attack of issue 14.1:
// with the two session keys read from the database, a cookie is minted
// that claims the admin is signed in, without any session row. It must
// neither reach the dashboard nor create an admin.
func TestForgedSessionCookieIsSignedOut(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		admin := h.createUser("root", "root-password-1", models.RoleAdmin)
		hashKey, blockKey, encrypted := storedSessionKeys(t, h.store)
		if encrypted {
			t.Fatal("without a key secret the keys are expected in plaintext (the attack's premise)")
		}
		h.jar[web.CookieName(false)] = forgeSessionCookie(t, hashKey, blockKey, admin.ID, "forged-csrf")

		r := h.get("/dashboard")
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Fatalf("forged cookie on /dashboard: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		h.jar[web.CookieName(false)] = forgeSessionCookie(t, hashKey, blockKey, admin.ID, "forged-csrf")
		r = h.do(http.MethodPost, "/dashboard/users", url.Values{
			"csrf_token": {"forged-csrf"}, "username": {"mallory"}, "password": {"mallory-password-1"},
			"password_confirm": {"mallory-password-1"}, "role": {"admin"},
		})
		if r.StatusCode < 400 {
			t.Fatalf("forged cookie creating an admin: %d", r.StatusCode)
		}
		if _, err := h.store.GetUserByUsername(context.Background(), "mallory"); err == nil {
			t.Fatal("the forged cookie created an admin")
		}

		// The real admin's sign-in still works, and its cookie is backed
		// by a row.
		delete(h.jar, web.CookieName(false))
		if r := h.login("root", "root-password-1"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		if r := h.get("/dashboard"); r.StatusCode != http.StatusOK {
			t.Fatalf("dashboard after a real sign-in: %d", r.StatusCode)
		}
	})
}

// TestSessionKeysEncryptedAtRest: with GATEHOUSE_KEY_SECRET the session
// keys in app_secrets are sealed (their stored bytes forge nothing);
// plaintext keys of an earlier start are encrypted on the first start
// with the secret, and sessions signed in before stay signed in; a start
// without the secret, or with another, fails with a clear error.
func TestSessionKeysEncryptedAtRest(t *testing.T) {
	t.Parallel()
	const keySecret = "session-keys-secret-of-at-least-32-bytes"
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			dbURL := b.URL(t)
			// An earlier start without a key secret: plaintext keys, and a
			// signed-in user.
			old := newHarness(t, dbURL, nil)
			old.createUser("root", "root-password-1", models.RoleAdmin)
			if r := old.login("root", "root-password-1"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", r.StatusCode)
			}
			plainHash, plainBlock, encrypted := storedSessionKeys(t, old.store)
			if encrypted {
				t.Fatal("keys encrypted without a key secret")
			}

			// First start with the secret: encrypted in place, same keys.
			h := newHarness(t, dbURL, map[string]string{"GATEHOUSE_KEY_SECRET": keySecret})
			h.jar = old.jar
			if r := h.get("/dashboard"); r.StatusCode != http.StatusOK {
				t.Fatalf("a session from before the key secret was set: %d", r.StatusCode)
			}
			hashKey, blockKey, encrypted := storedSessionKeys(t, h.store)
			if !encrypted || string(hashKey) == string(plainHash) || string(blockKey) == string(plainBlock) ||
				strings.Contains(string(hashKey), string(plainHash)) {
				t.Fatal("the session keys are still stored in plaintext after a start with a key secret")
			}
			if plain, err := h.store.PlaintextSecrets(context.Background()); err != nil || len(plain) != 0 {
				t.Fatalf("app secrets still in plaintext after a start with a key secret: %v %v", plain, err)
			}
			if !strings.Contains(h.logs.String(), "keys rotate --sessions") || !strings.Contains(h.logs.String(), "device_cookie_key session_block_key session_hash_key") {
				t.Errorf("no advice to rotate the keys that were in plaintext:\n%s", h.logs.String())
			}

			// A new database with the secret from the start: the stored
			// bytes are not the keys.
			fresh := newHarness(t, b.URL(t), map[string]string{"GATEHOUSE_KEY_SECRET": keySecret})
			admin := fresh.createUser("root", "root-password-1", models.RoleAdmin)
			hashKey, blockKey, encrypted = storedSessionKeys(t, fresh.store)
			if !encrypted {
				t.Fatal("new session keys stored unencrypted with a key secret")
			}
			// (AES takes 32 bytes: the sealed value is longer.)
			fresh.jar[web.CookieName(false)] = forgeSessionCookie(t, hashKey, blockKey[:32], admin.ID, "x")
			if r := fresh.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("a cookie made from the stored (sealed) bytes: %d", r.StatusCode)
			}

			// Without the secret, or with another, the server does not start.
			for _, env := range []map[string]string{nil, {"GATEHOUSE_KEY_SECRET": strings.Repeat("o", 40)}} {
				cfg := testConfig(t, dbURL, env)
				st := models.New(dbtest.Open(t, dbURL))
				_, err := NewServer(context.Background(), cfg, st, NewLogger(io.Discard, "error", "text"))
				if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_KEY_SECRET") || !strings.Contains(err.Error(), "keys rotate --sessions") {
					t.Errorf("start with key secret %q: err = %v", env["GATEHOUSE_KEY_SECRET"], err)
				}
			}
		})
	}
}

// TestCLIRotateSessionKeys: `gatehouse keys rotate --sessions` replaces the
// session keys and ends every session; a running server signs the
// browser out at once, reads cookies with the new keys only, and lets
// people sign in again.
func TestCLIRotateSessionKeys(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			dbURL := b.URL(t)
			const keySecret = "session-keys-secret-of-at-least-32-bytes"
			env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_KEY_SECRET": keySecret}
			h := newHarness(t, dbURL, map[string]string{"GATEHOUSE_KEY_SECRET": keySecret})
			h.createUser("root", "root-password-1", models.RoleAdmin)
			h.login("root", "root-password-1")
			if r := h.get("/dashboard"); r.StatusCode != http.StatusOK {
				t.Fatalf("dashboard: %d", r.StatusCode)
			}
			signedIn := h.jar[web.CookieName(false)]
			anonymous := newHarness(t, dbURL, map[string]string{"GATEHOUSE_KEY_SECRET": keySecret})
			anonymous.get("/login")
			anonCookie := anonymous.jar[web.CookieName(false)]

			deviceKey := func() []byte {
				var row models.AppSecret
				if err := h.store.DB().Where("name = ?", "device_cookie_key").Take(&row).Error; err != nil {
					t.Fatal(err)
				}
				return row.Value
			}
			oldDeviceKey := deviceKey()
			r := runCLI(env, "", "keys", "rotate", "--sessions")
			if r.code != 0 || !strings.Contains(r.stdout, "1 signed-in sessions ended") || strings.Contains(r.stderr, "warning") {
				t.Fatalf("keys rotate --sessions: %+v", r)
			}
			if string(deviceKey()) == string(oldDeviceKey) {
				t.Error("the device cookie key was not replaced")
			}
			if r := h.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("dashboard after the rotation: %d, want a redirect to sign in", r.StatusCode)
			}
			// The old keys no longer open even a signed-out cookie.
			h.jar = map[string]*http.Cookie{anonCookie.Name: anonCookie}
			if r := h.do(http.MethodPost, "/login", url.Values{"username": {"root"}, "password": {"root-password-1"}}); r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusBadRequest {
				t.Errorf("a form with the CSRF token of a cookie made with the old keys: %d", r.StatusCode)
			}
			h.jar = map[string]*http.Cookie{signedIn.Name: signedIn}
			if r := h.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("the old signed-in cookie after the rotation: %d", r.StatusCode)
			}
			h.clearCookies()
			if r := h.login("root", "root-password-1"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in after the rotation: %d", r.StatusCode)
			}
			if r := h.get("/dashboard"); r.StatusCode != http.StatusOK {
				t.Fatalf("dashboard after signing in again: %d", r.StatusCode)
			}
			hashKey, _, encrypted := storedSessionKeys(t, h.store)
			if !encrypted || len(hashKey) == 64 {
				t.Error("the new session keys are not stored encrypted")
			}
			if evs := admAudit(t, h, "keys.rotate_sessions"); len(evs) != 1 || evs[0].Actor != "cli" || evs[0].Details["sessions_ended"] != "1" {
				t.Errorf("audit: %+v", evs)
			}
			// Run with another key secret than the servers': it says so.
			other := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_KEY_SECRET": strings.Repeat("o", 40)}
			if r := runCLI(other, "", "keys", "rotate", "--sessions"); r.code != 0 || !strings.Contains(r.stderr, "warning: the stored session keys cannot be read") {
				t.Errorf("rotate with another key secret: %+v", r)
			}
			for _, args := range [][]string{{"keys", "list", "--sessions"}, {"keys", "rotate", "--sessions", "--withdraw-old"}} {
				if r := runCLI(env, "", args...); r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
					t.Errorf("%v: %+v", args, r)
				}
			}
		})
	}
}

// TestSessionLifetimeSettings: the session rows' expiry follows the
// settings session_idle_timeout and session_lifetime (the limits
// themselves are tested with a clock in app/web).
func TestSessionLifetimeSettings(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.createUser("root", "root-password-1", models.RoleAdmin)
		expiry := func() time.Duration {
			t.Helper()
			h.clearCookies()
			if r := h.login("root", "root-password-1"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", r.StatusCode)
			}
			var rows []models.WebSession
			if err := h.store.DB().Order("created_at DESC").Find(&rows).Error; err != nil || len(rows) == 0 {
				t.Fatalf("sessions: %v %d", err, len(rows))
			}
			return time.Until(rows[0].ExpiresAt).Round(time.Minute)
		}
		if got := expiry(); got != 12*time.Hour {
			t.Errorf("default session expiry in %v, want 12h", got)
		}
		set := func(k, v string) {
			if _, err := h.srv.Handlers.Settings.Set(context.Background(), k, v); err != nil {
				t.Fatal(err)
			}
		}
		set("session_idle_timeout", "30m")
		if got := expiry(); got != 30*time.Minute {
			t.Errorf("with session_idle_timeout=30m: expiry in %v", got)
		}
		set("session_lifetime", "10m")
		if got := expiry(); got != 10*time.Minute {
			t.Errorf("with session_lifetime=10m: expiry in %v", got)
		}
		for k, v := range map[string]string{"session_lifetime": "0", "session_idle_timeout": "1s"} {
			if _, err := h.srv.Handlers.Settings.Set(context.Background(), k, v); err == nil {
				t.Errorf("%s=%s accepted", k, v)
			}
		}
	})
}
