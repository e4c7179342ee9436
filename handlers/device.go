package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/metrics"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// DeviceAuthorization is the device authorization endpoint (POST
// {P}/device/code, RFC 8628 §3.1): client authentication and errors as at
// the token endpoint, JSON answers that are never cached.
//
// Every request counts against its address (DeviceCodesPerAddress within
// 10 minutes): a public client needs no secret, and each answer stores a
// pending authorization, so without a bound anyone could fill the table
// and the user-code space (RFC 8628 §5.1, §5.2).
func (h *Handlers) DeviceAuthorization(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		ctx := c.UserContext()
		l := throttle.New(h.Throttles, "device_authorization")
		l.PerAddress = DeviceCodesPerAddress
		l.Now = func() time.Time { return h.Now() }
		_, wait, err := l.Begin(ctx, "", r.RemoteAddr)
		if err != nil {
			return nil, err
		}
		if wait > 0 {
			return nil, oauth.TooManyRequests(wait, "too many device authorization requests from this address; try again later")
		}
		return h.OAuth.DeviceAuthorization(ctx, r)
	})
}

// DeviceCodesPerAddress bounds the device authorization requests from one
// address (IPv6: one /64) within the throttle window.
const DeviceCodesPerAddress = 60

// deviceThrottle counts wrong user codes per account and per address
// (SPEC.md §3): 10 per account or 30 per address within 10 minutes, then
// 429 until the window has passed. It keeps no state of its own (the
// counts are in h.Throttles), so one per request is fine.
func (h *Handlers) deviceThrottle() *throttle.Limiter {
	l := throttle.New(h.Throttles, "device")
	l.Now = func() time.Time { return h.Now() }
	return l
}

// keyDeviceResult holds, in the session, the outcome shown after the
// redirect that follows a decision (post/redirect/get).
const keyDeviceResult = "device_result"

type deviceResult struct {
	Approved bool   `json:"a"`
	Client   string `json:"c"`
}

// DevicePage shows the form where a signed-in user types a device's user
// code (GET /device). verification_uri_complete links arrive with
// ?user_code=..., which fills the form in but is not submitted: the user
// compares it with the device's and continues (RFC 8628 §3.3.1). After a
// decision, ?done=1 shows its outcome.
func (h *Handlers) DevicePage(c *fiber.Ctx) error {
	sess := web.CurrentSession(c)
	if c.Query("done") != "" {
		if raw, ok := sess.Get(keyDeviceResult).(string); ok {
			sess.Delete(keyDeviceResult)
			var r deviceResult
			if json.Unmarshal([]byte(raw), &r) == nil {
				title := "Device connected"
				if !r.Approved {
					title = "Access denied"
				}
				return web.Render(c, fiber.StatusOK, pages.DeviceDone(h.base(c, title, "device"),
					pages.DeviceResult{Approved: r.Approved, ClientName: r.Client}))
			}
		}
	}
	f := pages.DeviceForm{}
	if typed := c.Query("user_code"); typed != "" {
		f.UserCode, f.FromLink = displayUserCode(typed), true
	}
	return h.renderDevice(c, fiber.StatusOK, f)
}

func (h *Handlers) renderDevice(c *fiber.Ctx, status int, f pages.DeviceForm) error {
	return web.Render(c, status, pages.Device(h.base(c, "Connect a device", "device"), f))
}

// displayUserCode shows a typed code in the canonical XXXX-XXXX form when
// it is one, and otherwise as typed (shortened).
func displayUserCode(typed string) string {
	if code, ok := oauth.NormalizeUserCode(typed); ok {
		return oauth.FormatUserCode(code)
	}
	typed = strings.TrimSpace(typed)
	if r := []rune(typed); len(r) > 32 {
		typed = string(r[:32])
	}
	return typed
}

// Messages of the device page.
const (
	msgDeviceEmpty     = "Enter the code shown on your device."
	msgDeviceMalformed = "That doesn't look like a device code. Codes have 8 letters, like BCDF-GHJK."
	msgDeviceUnknown   = "That code isn't valid. Check the code on your device and try again."
	msgDeviceExpired   = "That code has expired. Start again on your device to get a new code."
	msgDeviceUsed      = "That code was already used. If your device is still waiting, start again on it to get a new code."
)

// DeviceSubmit handles the device page's forms (POST /device): the code
// the user typed (then the consent screen is shown), and the consent
// screen's answer, which carries the code again (decision=allow|deny).
// Every lookup of a code is throttled per account and address; a code
// that is unknown, expired or used counts as a failure. Allowing records
// the consent, like the authorization endpoint; both answers are audited
// and end on a page that says what happens next.
func (h *Handlers) DeviceSubmit(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	typed := c.FormValue("user_code")
	decision := c.FormValue("decision")
	form := pages.DeviceForm{UserCode: displayUserCode(typed)}
	fail := func(status int, msg string) error {
		form.Error = msg
		return h.renderDevice(c, status, form)
	}
	if strings.TrimSpace(typed) == "" {
		return fail(fiber.StatusBadRequest, msgDeviceEmpty)
	}
	if _, ok := oauth.NormalizeUserCode(typed); !ok {
		// Not a code at all: no lookup, nothing to count.
		return fail(fiber.StatusBadRequest, msgDeviceMalformed)
	}
	switch decision {
	case "", "allow", "deny":
	default:
		return fail(fiber.StatusBadRequest, "Choose Allow or Deny.")
	}

	attempt, wait, err := h.deviceThrottle().Begin(ctx, u.Username, web.IP(c))
	if err != nil {
		return err
	}
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(throttle.RetryAfterSeconds(wait)))
		h.auditThrottledAttempt(c, u, "device.throttled", "")
		return fail(fiber.StatusTooManyRequests, fmt.Sprintf("Too many incorrect codes. Try again in %s.", humanWait(wait)))
	}
	req, err := h.OAuth.LookupUserCode(ctx, typed)
	if err != nil {
		// The attempt stays counted as a failure.
		return h.deviceRefused(c, u, err, fail)
	}
	// A code that exists is not a wrong guess, but it does not wipe out
	// the account's earlier wrong ones either: anyone can make valid codes
	// at will, which would otherwise reset the count between guesses.
	if err := attempt.Forget(ctx); err != nil {
		return err
	}

	switch decision {
	case "":
		return web.Render(c, fiber.StatusOK, pages.Consent(h.base(c, "Connect "+req.Client.Name, ""), h.deviceConsentData(c, req, u)))
	case "deny":
		if err := h.OAuth.DenyDevice(ctx, req, models.OAuthUser(u)); err != nil {
			return h.deviceRefused(c, u, err, fail)
		}
		h.audit(c, u, "device.denied", req.Client.ID, true, nil)
	default:
		if err := h.OAuth.ApproveDevice(ctx, req, models.OAuthUser(u), web.CurrentSession(c).AuthTime()); err != nil {
			return h.deviceRefused(c, u, err, fail)
		}
		h.audit(c, u, "device.approved", req.Client.ID, true, map[string]string{"scope": oauth.JoinScope(req.Scopes)})
	}
	raw, _ := json.Marshal(deviceResult{Approved: decision == "allow", Client: truncateName(req.Client.Name)})
	web.CurrentSession(c).Set(keyDeviceResult, string(raw))
	return seeOther(c, "/device?done=1")
}

// deviceRefused shows why a code cannot be used.
func (h *Handlers) deviceRefused(c *fiber.Ctx, u *models.User, err error, fail func(int, string) error) error {
	var oe *oauth.Error
	switch {
	case errors.Is(err, oauth.ErrUserCodeUnknown), errors.Is(err, oauth.ErrUserCodeMalformed):
		h.audit(c, u, "device.code_rejected", "", false, nil)
		h.Metrics.LoginFailed(metrics.LoginDeviceCode)
		return fail(fiber.StatusBadRequest, msgDeviceUnknown)
	case errors.Is(err, oauth.ErrUserCodeExpired):
		return fail(fiber.StatusBadRequest, msgDeviceExpired)
	case errors.Is(err, oauth.ErrUserCodeUsed):
		return fail(fiber.StatusBadRequest, msgDeviceUsed)
	case errors.As(err, &oe) && oe.Code != oauth.ErrServerError.Code:
		return fail(fiber.StatusBadRequest, "This device's request can no longer be approved: "+oe.Description+". Start again on your device.")
	case errors.As(err, &oe) && oe.Unwrap() != nil:
		return oe.Unwrap()
	default:
		return err
	}
}

// deviceConsentData is the consent screen for a device: the same as for
// an authorization request, with the user code shown and sent back.
func (h *Handlers) deviceConsentData(c *fiber.Ctx, req *oauth.DeviceRequest, u *models.User) pages.ConsentData {
	d := h.consentData(c, "", &oauth.AuthorizeRequest{Client: req.Client, ScopeDetails: req.ScopeDetails, Resources: req.Resources}, u)
	d.UserCode = req.UserCode
	d.SwitchURL = "/login?" + url.Values{"next": {"/device?" + url.Values{"user_code": {req.UserCode}}.Encode()}, "reauth": {"1"}}.Encode()
	return d
}
