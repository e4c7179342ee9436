package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
)

// Device cookies of the sign-in form (app/throttle, OWASP device
// cookies): set after each successful sign-in, read by the next.

// DeviceCookieSecret names the app secret that signs device cookies.
const DeviceCookieSecret = "device_cookie_key"

// DeviceCookieName is the device cookie's name: __Host-gatehouse_device
// on https (bound to this exact host, path /, Secure), like the session
// cookie, and gatehouse_device otherwise.
func DeviceCookieName(secure bool) string {
	if secure {
		return "__Host-gatehouse_device"
	}
	return "gatehouse_device"
}

// deviceKeys keeps the signing key (every instance reads the same app
// secret), and loads it again when the keys' cache counter moves
// (`gatehouse keys rotate --sessions` replaces it).
type deviceKeys struct {
	mu      sync.Mutex
	cookies *throttle.DeviceCookies
	version int64
}

// deviceCookies returns the signer of device cookies, loading or making
// its key on first use.
func (h *Handlers) deviceCookies(ctx context.Context) (*throttle.DeviceCookies, error) {
	var version int64
	known := false
	if h.Versions != nil {
		if vec, err := h.Versions.Current(ctx); err == nil {
			version, known = vec.Keys, true
		}
	}
	h.devices.mu.Lock()
	defer h.devices.mu.Unlock()
	if h.devices.cookies != nil && (!known || version == h.devices.version) {
		return h.devices.cookies, nil
	}
	key, err := h.Store.GetOrCreateSecret(ctx, DeviceCookieSecret, func() ([]byte, error) { return secret.Random(32), nil })
	if err != nil {
		if h.devices.cookies != nil {
			h.Log.ErrorContext(ctx, "device cookie key not reloaded; the previous one stays in use", "err", err)
			return h.devices.cookies, nil
		}
		return nil, err
	}
	h.devices.cookies = &throttle.DeviceCookies{Key: key, Now: func() time.Time { return h.Now() }}
	h.devices.version = version
	return h.devices.cookies, nil
}

// LoadDeviceCookieKey loads (or makes) the device cookie key at start, so
// that a key secret encrypts it at once and a wrong one stops the start.
func (h *Handlers) LoadDeviceCookieKey(ctx context.Context) error {
	_, err := h.deviceCookies(ctx)
	return err
}

// trustedDevice returns the device of the request's device cookie when
// it is valid (whichever account it names; the caller compares).
func (h *Handlers) trustedDevice(c *fiber.Ctx) (throttle.Device, bool, error) {
	value := c.Cookies(DeviceCookieName(h.Config.SecureCookies()))
	if value == "" {
		return throttle.Device{}, false, nil
	}
	dc, err := h.deviceCookies(c.UserContext())
	if err != nil {
		return throttle.Device{}, false, err
	}
	d, ok := dc.Check(value)
	return d, ok, nil
}

// setDeviceCookie gives the browser a new device cookie for the user
// (a fresh nonce: the failures of the old one are gone with it).
func (h *Handlers) setDeviceCookie(c *fiber.Ctx, userID int64) error {
	dc, err := h.deviceCookies(c.UserContext())
	if err != nil {
		return err
	}
	secure := h.Config.SecureCookies()
	c.Cookie(&fiber.Cookie{
		Name: DeviceCookieName(secure), Value: dc.Issue(userID), Path: "/",
		MaxAge: int(throttle.DeviceCookieMaxAge / time.Second), Secure: secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
	})
	return nil
}

// beginGuess counts a password guess for the account userID (username):
// against the browser's device cookie when it holds a valid one for that
// account (dev, valid from trustedDevice), against the account otherwise.
// trusted says which.
func (h *Handlers) beginGuess(c *fiber.Ctx, dev throttle.Device, valid bool, userID int64, username string) (attempt *throttle.Attempt, wait time.Duration, trusted bool, err error) {
	if valid && userID != 0 && dev.UserID == userID {
		attempt, wait, err = h.LoginThrottle.BeginDevice(c.UserContext(), dev.Nonce, web.IP(c))
		return attempt, wait, true, err
	}
	attempt, wait, err = h.LoginThrottle.Begin(c.UserContext(), username, web.IP(c))
	return attempt, wait, false, err
}
