package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// The device side of the device authorization grant (device.go,
// RFC 8628 §3.1-§3.3) without HTTP: the device authorization endpoint,
// and the /device page's lookup, approval and denial. The polling of the
// token endpoint is grant_device.go's.

// deviceFixture adds device clients to the fixture: tv, public, and cli,
// confidential, both with the device grant; tv may have openid, profile
// and user.read only.
type deviceFixture struct {
	*fixture
	tv, cli, cliSec string
}

func newDeviceFixture(t *testing.T, pol func(*oauth.Policy), opts ...func(*oauth.Options)) *deviceFixture {
	t.Helper()
	f := &deviceFixture{fixture: newFixture(t, pol, opts...)}
	f.tv, _ = f.c.Client(oauth.Client{Public: true, GrantTypes: []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken},
		Scopes: []string{"openid", "profile", "user.read"}})
	f.cli, f.cliSec = f.c.Client(oauth.Client{GrantTypes: []string{oauth.GrantDeviceCode}})
	return f
}

// start asks for a device code as tv with scope.
func (f *deviceFixture) start(scope string) *oauth.DeviceAuthorizationResponse {
	f.c.T.Helper()
	resp, err := f.c.Server.DeviceAuthorization(context.Background(), f.c.ClientRequest(f.tv, "", url.Values{"scope": {scope}}))
	if err != nil {
		f.c.T.Fatalf("device authorization: %v", err)
	}
	return resp
}

// collidingModel answers the first collisions user codes with
// store.ErrAlreadyExists, as if the code were in use.
type collidingModel struct {
	oauth.Model
	collisions int
}

func (m *collidingModel) SaveDeviceCode(ctx context.Context, d *oauth.DeviceCode) error {
	if m.collisions > 0 {
		m.collisions--
		return fmt.Errorf("device code: %w", store.ErrAlreadyExists)
	}
	return m.Model.SaveDeviceCode(ctx, d)
}

// Rule 31 (the device authorization endpoint, RFC 8628 §3.1, §3.2): the
// client authenticates like at the token endpoint and must have the
// device grant; the scope is validated like at the authorization
// endpoint (defaults added); the answer holds a device code, a user code
// in display form, where to type it, its lifetime and the polling
// interval, and a pending authorization is stored.
func TestRule31_DeviceAuthorization(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		pol   func(*oauth.Policy)
		opts  []func(*oauth.Options)
		req   func(f *deviceFixture) *oauth.ClientRequest
		err   string
		scope string // the scope stored
		// expiresIn and interval are the answer's (seconds)
		expiresIn, interval int64
	}{
		{name: "public client, client_id alone", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.tv, "", url.Values{"scope": {"openid"}})
		}, scope: "openid user.read", expiresIn: 600, interval: 5},
		{name: "no scope: the defaults", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.tv, "", url.Values{})
		}, scope: "user.read", expiresIn: 600, interval: 5},
		{name: "confidential client, Basic", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.cli, f.cliSec, url.Values{"scope": {"email"}})
		}, scope: "email user.read", expiresIn: 600, interval: 5},
		{name: "confidential client, client_secret_post", req: func(f *deviceFixture) *oauth.ClientRequest {
			return &oauth.ClientRequest{Form: url.Values{"client_id": {f.cli}, "client_secret": {f.cliSec}}}
		}, scope: "user.read", expiresIn: 600, interval: 5},
		{name: "lifetime and interval from the policy", pol: func(p *oauth.Policy) {
			p.DeviceCodeLifetime, p.DevicePollInterval = 3*time.Minute, 2400*time.Millisecond
		},
			req: func(f *deviceFixture) *oauth.ClientRequest { return f.c.ClientRequest(f.tv, "", url.Values{}) }, scope: "user.read", expiresIn: 180, interval: 2},
		{name: "interval at least a second", pol: func(p *oauth.Policy) { p.DevicePollInterval = 100 * time.Millisecond },
			req: func(f *deviceFixture) *oauth.ClientRequest { return f.c.ClientRequest(f.tv, "", url.Values{}) }, scope: "user.read", expiresIn: 600, interval: 1},
		{name: "user codes in use are drawn again", opts: []func(*oauth.Options){func(o *oauth.Options) { o.Model = &collidingModel{Model: o.Model, collisions: 4} }},
			req: func(f *deviceFixture) *oauth.ClientRequest { return f.c.ClientRequest(f.tv, "", url.Values{}) }, scope: "user.read", expiresIn: 600, interval: 5},
		{name: "but not forever", opts: []func(*oauth.Options){func(o *oauth.Options) { o.Model = &collidingModel{Model: o.Model, collisions: 5} }},
			req: func(f *deviceFixture) *oauth.ClientRequest { return f.c.ClientRequest(f.tv, "", url.Values{}) }, err: "server_error"},
		{name: "a parameter twice", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.tv, "", url.Values{"scope": {"openid", "openid"}})
		}, err: "invalid_request"},
		{name: "the grant disabled", req: func(f *deviceFixture) *oauth.ClientRequest {
			f.c.Server.RegisterGrant(extensionGrant{id: oauth.GrantDeviceCode})
			return f.c.ClientRequest(f.tv, "", url.Values{})
		}, err: "unsupported_grant_type"},
		{name: "no client", req: func(*deviceFixture) *oauth.ClientRequest { return &oauth.ClientRequest{Form: url.Values{}} }, err: "invalid_client"},
		{name: "unknown client", req: func(f *deviceFixture) *oauth.ClientRequest { return f.c.ClientRequest("nope", "", url.Values{}) }, err: "invalid_client"},
		{name: "wrong secret", req: func(f *deviceFixture) *oauth.ClientRequest { return f.c.ClientRequest(f.cli, "wrong", url.Values{}) }, err: "invalid_client"},
		{name: "confidential client without its secret", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.cli, "", url.Values{})
		}, err: "invalid_client"},
		{name: "client without the device grant", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, url.Values{})
		}, err: "unauthorized_client"},
		{name: "unknown scope", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.tv, "", url.Values{"scope": {"openid nope"}})
		}, err: "invalid_scope"},
		{name: "malformed scope", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.tv, "", url.Values{"scope": {`bad"scope`}})
		}, err: "invalid_scope"},
		{name: "scope not allowed to the client", req: func(f *deviceFixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.tv, "", url.Values{"scope": {"openid email"}})
		}, err: "invalid_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeviceFixture(t, tc.pol, tc.opts...)
			r := tc.req(f)
			resp, err := f.c.Server.DeviceAuthorization(context.Background(), r)
			if oauthtest.Code(err) != tc.err {
				t.Fatalf("got %+v %v, want %q", resp, err, tc.err)
			}
			if tc.err != "" {
				return
			}
			code, ok := oauth.NormalizeUserCode(resp.UserCode)
			if !strings.HasPrefix(resp.DeviceCode, oauth.DeviceCodePrefix) || !ok || resp.UserCode != oauth.FormatUserCode(code) ||
				resp.VerificationURI != issuer+"/device" || resp.VerificationURIComplete != issuer+"/device?user_code="+resp.UserCode ||
				resp.ExpiresIn != tc.expiresIn || resp.Interval != tc.interval {
				t.Errorf("answer %+v", resp)
			}
			d, err := f.c.Model.GetDeviceCode(context.Background(), secret.Digest(resp.DeviceCode))
			if err != nil {
				t.Fatal(err)
			}
			clientID := r.Form.Get("client_id")
			if clientID == "" {
				clientID = f.cli
			}
			if d.ClientID != clientID || d.Scope != tc.scope || d.Status != oauth.DevicePending || d.UserID != nil ||
				d.UserCodeDigest != oauth.UserCodeDigest(code) || d.Interval != time.Duration(tc.interval)*time.Second ||
				!d.ExpiresAt.Equal(f.c.Now().Add(time.Duration(tc.expiresIn)*time.Second)) {
				t.Errorf("stored %+v", d)
			}
		})
	}
}

// The verification URI is below the issuer, whatever its trailing slash.
func TestDeviceVerificationURI(t *testing.T) {
	t.Parallel()
	for _, iss := range []string{"https://login.example/tenant", "https://login.example/tenant/"} {
		c := oauthtest.NewCore(t, nil, func(o *oauth.Options) { o.Issuer = iss })
		if got := c.Server.VerificationURI(); got != "https://login.example/tenant/device" {
			t.Errorf("issuer %s: %s", iss, got)
		}
	}
}

// Rule 31 (the /device page): a typed user code finds its pending
// authorization, re-validated now (RFC 8628 §3.3); codes that cannot be
// used say why.
func TestRule31_LookupUserCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// typed returns what the user types, given the code shown.
		typed func(f *deviceFixture, shown string) string
		err   error  // a sentinel, or nil
		code  string // an OAuth error code, or ""
	}{
		{name: "as shown", typed: func(_ *deviceFixture, shown string) string { return shown }},
		{name: "lower case, spaces", typed: func(_ *deviceFixture, shown string) string {
			return " " + strings.ToLower(strings.ReplaceAll(shown, "-", " ")) + " "
		}},
		{name: "malformed", typed: func(*deviceFixture, string) string { return "BCDF-GHJ" }, err: oauth.ErrUserCodeMalformed},
		{name: "unknown", typed: func(_ *deviceFixture, shown string) string {
			for {
				if c := oauth.FormatUserCode(oauth.NewUserCode()); c != shown {
					return c
				}
			}
		}, err: oauth.ErrUserCodeUnknown},
		{name: "expired", typed: func(f *deviceFixture, shown string) string {
			f.c.Advance(oauthtest.DefaultPolicy.DeviceCodeLifetime)
			return shown
		}, err: oauth.ErrUserCodeExpired},
		{name: "approved already", typed: func(f *deviceFixture, shown string) string {
			f.decide(shown, true)
			return shown
		}, err: oauth.ErrUserCodeUsed},
		{name: "denied already", typed: func(f *deviceFixture, shown string) string {
			f.decide(shown, false)
			return shown
		}, err: oauth.ErrUserCodeUsed},
		{name: "the client lost the device grant", typed: func(f *deviceFixture, shown string) string {
			f.update(func(c *oauth.Client) { c.GrantTypes = []string{oauth.GrantAuthorizationCode} })
			return shown
		}, code: "unauthorized_client"},
		{name: "a scope no longer allowed", typed: func(f *deviceFixture, shown string) string {
			f.update(func(c *oauth.Client) { c.Scopes = []string{"user.read"} })
			return shown
		}, code: "invalid_scope"},
		{name: "the client deleted", typed: func(f *deviceFixture, _ string) string {
			code := oauth.NewUserCode()
			if err := f.c.Model.SaveDeviceCode(context.Background(), &oauth.DeviceCode{Hash: secret.Digest(secret.New("gdc_")),
				UserCodeDigest: oauth.UserCodeDigest(code), ClientID: "deleted", Scope: "openid", Status: oauth.DevicePending,
				Interval: 5 * time.Second, ExpiresAt: f.c.Now().Add(time.Minute)}); err != nil {
				f.c.T.Fatal(err)
			}
			return code
		}, err: oauth.ErrUserCodeUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeviceFixture(t, nil)
			resp := f.start("openid")
			r, err := f.c.Server.LookupUserCode(context.Background(), tc.typed(f, resp.UserCode))
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %+v %v, want %v", r, err, tc.err)
				}
			case tc.code != "":
				if oauthtest.Code(err) != tc.code {
					t.Fatalf("got %+v %v, want %s", r, err, tc.code)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if r.UserCode != resp.UserCode || r.Client == nil || r.Client.ID != f.tv || !slices.Equal(r.Scopes, []string{"openid", "user.read"}) ||
					len(r.ScopeDetails) != 2 || !r.ExpiresAt.Equal(f.c.Now().Add(oauthtest.DefaultPolicy.DeviceCodeLifetime)) {
					t.Errorf("request %+v", r)
				}
			}
		})
	}
}

// update changes the tv client.
func (f *deviceFixture) update(change func(c *oauth.Client)) {
	f.c.T.Helper()
	if err := f.c.Model.UpdateClient(f.tv, func(c *oauth.Client) error { change(c); return nil }); err != nil {
		f.c.T.Fatal(err)
	}
}

// decide approves or denies the pending authorization of a user code as
// alice.
func (f *deviceFixture) decide(userCode string, approve bool) {
	f.c.T.Helper()
	ctx := context.Background()
	r, err := f.c.Server.LookupUserCode(ctx, userCode)
	if err == nil && approve {
		err = f.c.Server.ApproveDevice(ctx, r, f.user, f.c.Now())
	} else if err == nil {
		err = f.c.Server.DenyDevice(ctx, r, f.user)
	}
	if err != nil {
		f.c.T.Fatal(err)
	}
}

// Rule 31 (the decision): approving records the consent (merged with
// earlier ones) and the approval with the sign-in time; denying records
// the denial only; a decision comes once, and not after expiry.
func TestRule31_DecideDevice(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		approve bool
		// between runs after the lookup, before the decision.
		between func(f *deviceFixture, r *oauth.DeviceRequest)
		err     error
		status  string // the stored status afterwards
		consent string // alice's consent for tv afterwards (she granted email before)
	}{
		{name: "approve", approve: true, status: oauth.DeviceApproved, consent: "email openid user.read"},
		{name: "deny", status: oauth.DeviceDenied, consent: "email"},
		{name: "approve after expiry", approve: true, between: func(f *deviceFixture, _ *oauth.DeviceRequest) {
			f.c.Advance(oauthtest.DefaultPolicy.DeviceCodeLifetime)
		}, err: oauth.ErrUserCodeExpired, status: oauth.DevicePending, consent: "email openid user.read"},
		{name: "deny after expiry", between: func(f *deviceFixture, _ *oauth.DeviceRequest) {
			f.c.Advance(oauthtest.DefaultPolicy.DeviceCodeLifetime)
		}, err: oauth.ErrUserCodeExpired, status: oauth.DevicePending, consent: "email"},
		{name: "approve after a denial elsewhere", approve: true, between: func(f *deviceFixture, r *oauth.DeviceRequest) {
			if err := f.c.Server.DenyDevice(context.Background(), r, f.user); err != nil {
				f.c.T.Fatal(err)
			}
		}, err: oauth.ErrUserCodeUsed, status: oauth.DeviceDenied, consent: "email openid user.read"},
		{name: "deny after an approval elsewhere", between: func(f *deviceFixture, r *oauth.DeviceRequest) {
			if err := f.c.Server.ApproveDevice(context.Background(), r, f.user, f.c.Now()); err != nil {
				f.c.T.Fatal(err)
			}
		}, err: oauth.ErrUserCodeUsed, status: oauth.DeviceApproved, consent: "email openid user.read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeviceFixture(t, nil)
			ctx := context.Background()
			if err := f.c.Model.SaveConsent(ctx, f.user.ID, f.tv, "email"); err != nil {
				t.Fatal(err)
			}
			resp := f.start("openid")
			r, err := f.c.Server.LookupUserCode(ctx, resp.UserCode)
			if err != nil {
				t.Fatal(err)
			}
			if tc.between != nil {
				tc.between(f, r)
			}
			authTime := f.c.Now().Add(-time.Minute)
			if tc.approve {
				err = f.c.Server.ApproveDevice(ctx, r, f.user, authTime)
			} else {
				err = f.c.Server.DenyDevice(ctx, r, f.user)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("decision: %v, want %v", err, tc.err)
			}
			d, err := f.c.Model.GetDeviceCode(ctx, secret.Digest(resp.DeviceCode))
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tc.status {
				t.Errorf("status %s, want %s", d.Status, tc.status)
			}
			if tc.err == nil && (d.UserID == nil || *d.UserID != f.user.ID || d.Scope != "openid user.read" ||
				tc.approve && (d.AuthTime == nil || !d.AuthTime.Equal(authTime))) {
				t.Errorf("stored %+v", d)
			}
			if got, _ := f.c.Model.GetConsent(ctx, f.user.ID, f.tv); got != tc.consent {
				t.Errorf("consent %q, want %q", got, tc.consent)
			}
		})
	}
}
