package throttle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
)

// Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
// Cookies"): after a successful sign-in the browser gets a signed cookie
// naming the account and a random nonce. While failures elsewhere block
// the account, a sign-in that carries a valid device cookie for it is
// still checked, throttled per cookie (Limiter.BeginDevice), so that an
// attacker guessing passwords cannot lock the owner out of their own
// browser.

// DeviceCookieMaxAge is how long a device cookie is valid.
const DeviceCookieMaxAge = 365 * 24 * time.Hour

// deviceCookieVersion starts every device cookie: a later format can
// change it.
const deviceCookieVersion = "d1"

// maxDeviceCookie bounds what Check reads.
const maxDeviceCookie = 200

// DeviceCookies signs and checks device cookies with an HMAC-SHA256 key
// shared by every instance (an app secret).
type DeviceCookies struct {
	// Key signs the cookies (32 random bytes or more).
	Key []byte
	// MaxAge defaults to DeviceCookieMaxAge.
	MaxAge time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Device is what a valid device cookie says.
type Device struct {
	// UserID is the account that signed in on this device.
	UserID int64
	// Nonce names this cookie (random, 128 bits): its failures are
	// counted under it.
	Nonce    string
	IssuedAt time.Time
}

func (d *DeviceCookies) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *DeviceCookies) maxAge() time.Duration {
	if d.MaxAge > 0 {
		return d.MaxAge
	}
	return DeviceCookieMaxAge
}

// sign is the MAC of payload, base64url.
func (d *DeviceCookies) sign(payload string) string {
	m := hmac.New(sha256.New, d.Key)
	m.Write([]byte("gatehouse device cookie\x00"))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue returns a new device cookie value for the user, with a fresh
// nonce: "d1.<user id>.<nonce>.<issued, Unix seconds>.<HMAC>".
func (d *DeviceCookies) Issue(userID int64) string {
	payload := deviceCookieVersion + "." + strconv.FormatInt(userID, 10) + "." +
		base64.RawURLEncoding.EncodeToString(secret.Random(16)) + "." + strconv.FormatInt(d.now().Unix(), 10)
	return payload + "." + d.sign(payload)
}

// Check returns what a device cookie value says when it is valid: signed
// with Key, well formed, and issued within MaxAge (and not in the
// future). Anything else, forged or tampered with, is not a device cookie.
func (d *DeviceCookies) Check(value string) (Device, bool) {
	if len(d.Key) == 0 || value == "" || len(value) > maxDeviceCookie {
		return Device{}, false
	}
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return Device{}, false
	}
	payload, mac := value[:i], value[i+1:]
	if !secret.EqualString(mac, d.sign(payload)) {
		return Device{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 4 || parts[0] != deviceCookieVersion {
		return Device{}, false
	}
	uid, err1 := strconv.ParseInt(parts[1], 10, 64)
	issued, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || uid <= 0 || parts[2] == "" {
		return Device{}, false
	}
	at := time.Unix(issued, 0).UTC()
	now := d.now()
	if now.Sub(at) > d.maxAge() || at.Sub(now) > time.Minute {
		return Device{}, false
	}
	return Device{UserID: uid, Nonce: parts[2], IssuedAt: at}, true
}
