package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
)

// Tests of the device grant at the token endpoint (grant_device.go;
// RFC 8628 §3.4, §3.5, rule 31): the device's polls.

// deviceCore is a core with a device client (and the refresh grant),
// another one, and alice.
type deviceCore struct {
	*oauthtest.Core
	id, secret      string
	other, otherSec string
	alice           *oauth.User
}

func newDeviceCore(t *testing.T, options ...func(*oauth.Options)) *deviceCore {
	c := &deviceCore{Core: oauthtest.NewCore(t, nil, options...)}
	grants := []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}
	c.id, c.secret = c.Client(oauth.Client{GrantTypes: grants})
	c.other, c.otherSec = c.Client(oauth.Client{GrantTypes: grants})
	c.alice = c.User("alice", "pw")
	return c
}

func deviceForm(deviceCode string) url.Values {
	return url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {deviceCode}}
}

// poll is the device's token request.
func (c *deviceCore) poll(deviceCode string) (*oauth.TokenResponse, error) {
	return c.Token(c.id, c.secret, deviceForm(deviceCode))
}

// Rule 31 (RFC 8628 §3.5): while the user has not decided, a poll is
// authorization_pending; one sooner than the interval after the previous
// poll (less a fifth of it, at most a second, for timer jitter) is
// slow_down, and the interval grows by 5 s for good, up to 5 minutes.
func TestRule31_PendingAndSlowDown(t *testing.T) {
	t.Parallel()
	type step struct {
		after      time.Duration // since the previous poll
		code, desc string
		interval   time.Duration // stored afterwards
	}
	scenarios := []struct {
		name     string
		interval time.Duration // device_poll_interval
		steps    []step
	}{
		{"interval 5 s", 5 * time.Second, []step{
			{0, "authorization_pending", "poll again in 5 seconds", 5 * time.Second},
			{0, "slow_down", "wait at least 10 seconds", 10 * time.Second},
			{5 * time.Second, "slow_down", "wait at least 15 seconds", 15 * time.Second},
			{14 * time.Second, "authorization_pending", "poll again in 15 seconds", 15 * time.Second},
			{13900 * time.Millisecond, "slow_down", "wait at least 20 seconds", 20 * time.Second},
			{19 * time.Second, "authorization_pending", "poll again in 20 seconds", 20 * time.Second},
			{time.Hour / 12, "authorization_pending", "poll again in 20 seconds", 20 * time.Second},
		}},
		{"interval 2 s: the slack is a fifth", 2 * time.Second, []step{
			{0, "authorization_pending", "poll again in 2 seconds", 2 * time.Second},
			{1600 * time.Millisecond, "authorization_pending", "poll again in 2 seconds", 2 * time.Second},
			{1500 * time.Millisecond, "slow_down", "wait at least 7 seconds", 7 * time.Second},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := newDeviceCore(t, oauthtest.WithPolicy(func(p *oauth.Policy) { p.DevicePollInterval = sc.interval }))
			dev := c.DeviceAuthorization(c.id, c.secret, "")
			for i, s := range sc.steps {
				c.Advance(s.after)
				resp, err := c.poll(dev.DeviceCode)
				if resp != nil {
					t.Fatalf("step %d: answered %+v", i, resp)
				}
				oauthtest.WantError(t, err, s.code, s.desc)
				wantStatus(t, err, http.StatusBadRequest)
				d, gerr := c.Model.GetDeviceCode(context.Background(), secret.Digest(dev.DeviceCode))
				if gerr != nil || d.Interval != s.interval || !d.LastPolledAt.Equal(c.Now()) || d.Status != oauth.DevicePending {
					t.Fatalf("step %d: stored %+v %v, want interval %v and this poll recorded", i, d, gerr, s.interval)
				}
			}
		})
	}
	t.Run("the interval stops growing at 5 minutes", func(t *testing.T) {
		c := newDeviceCore(t)
		dev := c.DeviceAuthorization(c.id, c.secret, "")
		var err error
		for range 70 {
			_, err = c.poll(dev.DeviceCode)
		}
		oauthtest.WantError(t, err, "slow_down", "wait at least 300 seconds")
	})
}

// Rule 31 (RFC 8628 §3.5): the answer for each state of the
// authorization, in order: redeemed → invalid_grant; denied →
// access_denied (400, not the authorization endpoint's 403); expired →
// expired_token; approved → the tokens, once. A device code works only
// for its client.
func TestRule31_DeviceDecisions(t *testing.T) {
	t.Parallel()
	const used = "the device code was already used"
	cases := []struct {
		name   string
		decide string // "approve", "deny" or "" (pending)
		before func(c *deviceCore, deviceCode string)
		other  bool   // the other client polls
		device string // sent instead of the device code (with other unset)
		code   string
		desc   string
		status int
	}{
		{name: "approved: the tokens", decide: "approve"},
		{name: "approved, redeemed: invalid_grant", decide: "approve", before: redeem, code: "invalid_grant", desc: used, status: 400},
		{name: "denied: access_denied", decide: "deny", code: "access_denied", desc: "the user denied the request", status: 400},
		{name: "pending, expired: expired_token", before: func(c *deviceCore, _ string) { c.Advance(10 * time.Minute) },
			code: "expired_token", desc: "the device code has expired; start again", status: 400},
		// Decisions come a minute after the device authorization.
		{name: "approved, just before expiry", decide: "approve", before: func(c *deviceCore, _ string) { c.Advance(9*time.Minute - time.Second) }},
		{name: "approved, expired before the poll: expired_token", decide: "approve", before: func(c *deviceCore, _ string) { c.Advance(9 * time.Minute) },
			code: "expired_token", desc: "has expired", status: 400},
		{name: "denied, expired: still access_denied", decide: "deny", before: func(c *deviceCore, _ string) { c.Advance(time.Hour) },
			code: "access_denied", desc: "denied", status: 400},
		{name: "redeemed, expired: still invalid_grant", decide: "approve", before: func(c *deviceCore, dc string) { redeem(c, dc); c.Advance(time.Hour) },
			code: "invalid_grant", desc: used, status: 400},
		{name: "approved, the user disabled since", decide: "approve", before: func(c *deviceCore, _ string) {
			if err := c.Model.UpdateUser(c.alice.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				c.T.Fatal(err)
			}
		}, code: "invalid_grant", desc: "the user of this grant is disabled", status: 400},
		{name: "another client's device code", decide: "approve", other: true, code: "invalid_grant", desc: "the device code was issued to another client", status: 400},
		{name: "an unknown device code", device: "gdc_unknown", code: "invalid_grant", desc: "the device code is invalid", status: 400},
		{name: "no device_code", device: "-", code: "invalid_request", desc: "the request has no device_code", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newDeviceCore(t)
			dev := c.DeviceAuthorization(c.id, c.secret, "openid")
			decided := c.Now()
			if tc.decide != "" {
				c.Advance(time.Minute)
				decided = c.Now()
				c.DecideDevice(dev.UserCode, c.alice, tc.decide == "approve")
			}
			if tc.before != nil {
				tc.before(c, dev.DeviceCode)
			}
			id, sec, f := c.id, c.secret, deviceForm(dev.DeviceCode)
			switch {
			case tc.other:
				id, sec = c.other, c.otherSec
			case tc.device == "-":
				f.Del("device_code")
			case tc.device != "":
				f.Set("device_code", tc.device)
			}
			resp, err := c.Token(id, sec, f)
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				wantStatus(t, err, tc.status)
				return
			}
			st := c.StoredToken(resp.AccessToken)
			if resp.Scope != "openid user.read" || resp.RefreshToken == "" || *st.UserID != c.alice.ID || !st.AuthTime.Equal(decided) ||
				st.FamilyID != c.StoredToken(resp.RefreshToken).FamilyID {
				t.Fatalf("response %+v, stored %+v", resp, st)
			}
			_, err = c.poll(dev.DeviceCode)
			oauthtest.WantError(t, err, "invalid_grant", used)
		})
	}
}

// redeem polls an approved device code successfully.
func redeem(c *deviceCore, deviceCode string) {
	c.T.Helper()
	if _, err := c.poll(deviceCode); err != nil {
		c.T.Fatalf("redeeming: %v", err)
	}
}

// The device grant answers a refresh token only to clients that may use
// the refresh grant.
func TestDeviceGrantRefreshTokenOnlyWithTheRefreshGrant(t *testing.T) {
	t.Parallel()
	c := newDeviceCore(t)
	id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantDeviceCode}})
	dev := c.DeviceAuthorization(id, sec, "")
	c.DecideDevice(dev.UserCode, c.alice, true)
	resp, err := c.Token(id, sec, deviceForm(dev.DeviceCode))
	if err != nil || resp.RefreshToken != "" || resp.Scope != "user.read" {
		t.Fatalf("%+v %v", resp, err)
	}
}

// Rule 31: of polls arriving together for an approved authorization
// exactly one gets the tokens; the others are told it was used.
func TestRule31_ConcurrentPollsRedeemOnce(t *testing.T) {
	t.Parallel()
	c := newDeviceCore(t)
	for range 3 {
		dev := c.DeviceAuthorization(c.id, c.secret, "")
		c.DecideDevice(dev.UserCode, c.alice, true)
		oauthtest.OneWinner(t, 16, func() (*oauth.TokenResponse, error) {
			return c.Server.Token(context.Background(), c.ClientRequest(c.id, c.secret, deviceForm(dev.DeviceCode)))
		})
	}
}
