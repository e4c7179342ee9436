package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
)

// deviceFixture is an OAuth fixture with device clients and a movable
// clock.
type deviceFixture struct {
	*oauthFixture
	tvID, tvSec string // confidential: device_code + refresh_token
	cliID       string // public: device_code only
	offset      atomic.Int64
}

func newDeviceFixture(t *testing.T, h *harness) *deviceFixture {
	t.Helper()
	f := &deviceFixture{oauthFixture: newOAuthFixture(t, h)}
	ctx := context.Background()
	tv, sec, errs, err := clients.Create(ctx, h.store, clients.Input{Name: "Living-room TV", Homepage: "https://tv.example",
		GrantTypes: []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}}, nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	f.tvID, f.tvSec = tv.ClientID, sec
	cli, _, errs, err := clients.Create(ctx, h.store, clients.Input{Name: "Gatehouse CLI", Public: true,
		GrantTypes: []string{oauth.GrantDeviceCode}, Scopes: []string{"user.read", "openid"}}, nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	f.cliID = cli.ClientID
	h.srv.Handlers.Now = func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }
	return f
}

// wait moves the clock forward.
func (f *deviceFixture) wait(d time.Duration) { f.offset.Add(int64(d)) }

func (f *deviceFixture) tvBasic() []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.tvID)+":"+url.QueryEscape(f.tvSec)))}
}

func jsonBody(t *testing.T, r *response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("status %d, body not JSON: %.300s", r.StatusCode, r.body)
	}
	return m
}

// authorizeDevice asks for a device code (POST /oauth/device/code).
func (f *deviceFixture) authorizeDevice(form url.Values, headers ...string) (*response, map[string]any) {
	f.t.Helper()
	r := f.do(http.MethodPost, "/oauth/device/code", form, headers...)
	return r, jsonBody(f.t, r)
}

// deviceResp is a successful device authorization response.
type deviceResp struct {
	DeviceCode, UserCode, VerificationURI, VerificationURIComplete string
	ExpiresIn, Interval                                            int64
}

// tvCode asks for a device code as the TV.
func (f *deviceFixture) tvCode(scope string) deviceResp {
	f.t.Helper()
	form := url.Values{}
	if scope != "" {
		form.Set("scope", scope)
	}
	r, m := f.authorizeDevice(form, f.tvBasic()...)
	if r.StatusCode != http.StatusOK {
		f.t.Fatalf("device authorization: %d %v", r.StatusCode, m)
	}
	num := func(k string) int64 { n, _ := m[k].(float64); return int64(n) }
	str := func(k string) string { s, _ := m[k].(string); return s }
	return deviceResp{str("device_code"), str("user_code"), str("verification_uri"), str("verification_uri_complete"),
		num("expires_in"), num("interval")}
}

// poll asks the token endpoint for the device code's tokens as the TV.
func (f *deviceFixture) poll(deviceCode string) (*response, map[string]any) {
	f.t.Helper()
	r := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {deviceCode}}, f.tvBasic()...)
	return r, jsonBody(f.t, r)
}

func (f *deviceFixture) wantPoll(deviceCode string, status int, code string) map[string]any {
	f.t.Helper()
	r, m := f.poll(deviceCode)
	wantOAuthError(f.t, r, m, status, code)
	if r.Header.Get("Cache-Control") != "no-store" {
		f.t.Errorf("poll answer Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
	return m
}

// enterCode types a user code on the /device page.
func (f *deviceFixture) enterCode(code string) *response {
	f.t.Helper()
	return f.post("/device", "/device", url.Values{"user_code": {code}})
}

var userCodeFieldRE = regexp.MustCompile(`name="user_code" value="([^"]+)"`)

// answer submits the device consent screen shown by r.
func (f *deviceFixture) answer(r *response, decision string) *response {
	f.t.Helper()
	m := userCodeFieldRE.FindStringSubmatch(r.body)
	c := csrfRE.FindStringSubmatch(r.body)
	if r.StatusCode != http.StatusOK || m == nil || c == nil || !strings.Contains(r.body, `action="/device"`) {
		f.t.Fatalf("no device consent form (status %d): %.600s", r.StatusCode, r.body)
	}
	return f.do(http.MethodPost, "/device", url.Values{"user_code": {m[1]}, "csrf_token": {c[1]}, "decision": {decision}})
}

// approve signs alice in (when needed) and approves the user code.
func (f *deviceFixture) approve(userCode string) {
	f.t.Helper()
	if r := f.answer(f.enterCode(userCode), "allow"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/device?done=1" {
		f.t.Fatalf("allow: %d %s %.300s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
}

func (f *deviceFixture) deny(userCode string) {
	f.t.Helper()
	if r := f.answer(f.enterCode(userCode), "deny"); r.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("deny: %d %.300s", r.StatusCode, r.body)
	}
}

func (f *deviceFixture) deviceRow(deviceCode string) *models.DeviceCode {
	f.t.Helper()
	d, err := f.store.GetDeviceCode(context.Background(), secret.Digest(deviceCode))
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// --- Device authorization endpoint ------------------------------------

var userCodeRE = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestRule31_DeviceAuthorizationResponse(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	// A public client authenticates with client_id alone.
	r, m := f.authorizeDevice(url.Values{"client_id": {f.cliID}, "scope": {"openid"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("public client: %d %v", r.StatusCode, m)
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
	}
	dc, _ := m["device_code"].(string)
	uc, _ := m["user_code"].(string)
	if !strings.HasPrefix(dc, "gdc_") || len(dc) < 4+43 {
		t.Errorf("device_code %q: want gdc_ and 256 bits", dc)
	}
	if !userCodeRE.MatchString(uc) {
		t.Errorf("user_code %q is not XXXX-XXXX from the unambiguous alphabet", uc)
	}
	issuer := f.srv.Config.Issuer
	if m["verification_uri"] != issuer+"/device" {
		t.Errorf("verification_uri = %v", m["verification_uri"])
	}
	if m["verification_uri_complete"] != issuer+"/device?user_code="+uc {
		t.Errorf("verification_uri_complete = %v", m["verification_uri_complete"])
	}
	if m["expires_in"] != float64(600) || m["interval"] != float64(5) {
		t.Errorf("expires_in %v, interval %v; want 600 and 5 (the settings' defaults)", m["expires_in"], m["interval"])
	}

	// Stored: only digests, the scope with the defaults added, pending.
	d := f.deviceRow(dc)
	if d.UserCode == uc || strings.Contains(d.UserCode, strings.ReplaceAll(uc, "-", "")) || len(d.UserCode) != 64 {
		t.Errorf("user code stored as %q", d.UserCode)
	}
	if d.ClientID != f.cliID || d.Status != models.DevicePending || d.IntervalSeconds != 5 || d.Scope != "openid user.read" {
		t.Errorf("stored %+v", d)
	}
	var n int64
	f.store.DB().Raw("SELECT COUNT(*) FROM device_codes WHERE device_code_hash = ?", []byte(dc)).Scan(&n)
	if n != 0 {
		t.Error("device code stored in plain text")
	}

	// The settings decide the lifetime and the interval.
	f.set("device_code_lifetime", "3m")
	f.set("device_poll_interval", "7s")
	got := f.tvCode("")
	if got.ExpiresIn != 180 || got.Interval != 7 {
		t.Errorf("expires_in %d, interval %d; want 180 and 7", got.ExpiresIn, got.Interval)
	}
	if got.UserCode == uc || got.DeviceCode == dc {
		t.Error("codes repeated")
	}
}

func TestRule31_DeviceAuthorizationErrors(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	basic := func(id, sec string) []string {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+sec))}
	}
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
		status  int
		code    string
	}{
		{"unknown client", url.Values{"client_id": {"nope"}}, nil, 401, "invalid_client"},
		{"no client", url.Values{}, nil, 401, "invalid_client"},
		{"confidential client without its secret", url.Values{"client_id": {f.tvID}}, nil, 401, "invalid_client"},
		{"wrong secret", url.Values{}, basic(f.tvID, "wrong"), 401, "invalid_client"},
		{"client without the device grant", url.Values{}, basic(f.confID, f.confSec), 400, "unauthorized_client"},
		{"public client without the device grant", url.Values{"client_id": {f.pubID}}, nil, 400, "unauthorized_client"},
		{"unknown scope", url.Values{"scope": {"user.read no.such"}}, f.tvBasic(), 400, "invalid_scope"},
		{"scope the client may not have", url.Values{"client_id": {f.cliID}, "scope": {"email"}}, nil, 400, "invalid_scope"},
		{"malformed scope", url.Values{"client_id": {f.cliID}, "scope": {`bad"scope`}}, nil, 400, "invalid_scope"},
		{"duplicate parameter", url.Values{"client_id": {f.cliID}, "scope": {"openid", "openid"}}, nil, 400, "invalid_request"},
		{"duplicate client_id", url.Values{"client_id": {f.cliID, f.cliID}}, nil, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, m := f.authorizeDevice(tc.form, tc.headers...)
			wantOAuthError(t, r, m, tc.status, tc.code)
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
			}
			if tc.code == "invalid_client" && len(tc.headers) > 0 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("invalid_client after Basic without WWW-Authenticate")
			}
		})
	}
	// Not a form body.
	r := f.do(http.MethodPost, "/oauth/device/code", nil, "Content-Type", "application/json")
	wantOAuthError(t, r, jsonBody(t, r), 400, "invalid_request")

	var n int64
	f.store.DB().Raw("SELECT COUNT(*) FROM device_codes").Scan(&n)
	if n != 0 {
		t.Errorf("%d device codes stored by refused requests", n)
	}
}

// --- Polling ----------------------------------------------------------

func TestRule31_AuthorizationPendingAndSlowDown(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("user.read")
	dc := resp.DeviceCode

	m := f.wantPoll(dc, 400, "authorization_pending")
	if !strings.Contains(m["error_description"].(string), "5 seconds") {
		t.Errorf("pending description %q does not give the interval", m["error_description"])
	}
	// Polled again at once: too fast; the interval grows by 5 s, stored.
	f.wantPoll(dc, 400, "slow_down")
	if got := f.deviceRow(dc).IntervalSeconds; got != 10 {
		t.Fatalf("interval after slow_down = %d, want 10", got)
	}
	// 6 s later is enough under the old interval, not under the new one.
	f.wait(6 * time.Second)
	m = f.wantPoll(dc, 400, "slow_down")
	if !strings.Contains(m["error_description"].(string), "15 seconds") {
		t.Errorf("slow_down description %q does not give the new interval", m["error_description"])
	}
	if got := f.deviceRow(dc).IntervalSeconds; got != 15 {
		t.Fatalf("interval after the second slow_down = %d, want 15", got)
	}
	// Waiting the interval out: pending again, and the interval stays.
	f.wait(15 * time.Second)
	f.wantPoll(dc, 400, "authorization_pending")
	// A client polling on a timer of exactly the interval sees some gaps
	// come out a little short: that is not too fast.
	f.wait(15*time.Second - 500*time.Millisecond)
	f.wantPoll(dc, 400, "authorization_pending")
	f.wait(13 * time.Second)
	f.wantPoll(dc, 400, "slow_down")
	if got := f.deviceRow(dc).IntervalSeconds; got != 20 {
		t.Fatalf("interval after the third slow_down = %d, want 20", got)
	}
	f.wait(20 * time.Second)
	f.wantPoll(dc, 400, "authorization_pending")
	if got := f.deviceRow(dc).IntervalSeconds; got != 20 {
		t.Errorf("interval = %d, want 20 for good", got)
	}

	// Approved: the next poll gets the tokens, however soon it comes.
	f.signIn()
	f.approve(resp.UserCode)
	r, tok := f.poll(dc)
	if r.StatusCode != http.StatusOK || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["scope"] != "user.read" {
		t.Fatalf("after approval: %d %v", r.StatusCode, tok)
	}
}

func TestRule31_AccessDeniedWhenDenied(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	f.deny(resp.UserCode)
	f.wantPoll(resp.DeviceCode, 400, "access_denied")
	f.wait(time.Minute)
	f.wantPoll(resp.DeviceCode, 400, "access_denied")
	if d := f.deviceRow(resp.DeviceCode); d.Status != models.DeviceDenied || d.UserID == nil || *d.UserID != f.user.ID {
		t.Errorf("stored %+v", d)
	}
	// Denying records no consent.
	if _, err := f.store.GetConsent(context.Background(), f.user.ID, f.tvID); err == nil {
		t.Error("denying recorded a consent")
	}
}

func TestRule31_ExpiredToken(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	pending := f.tvCode("")
	approved := f.tvCode("")
	f.signIn()
	f.approve(approved.UserCode)

	f.wait(10*time.Minute + time.Second)
	f.wantPoll(pending.DeviceCode, 400, "expired_token")
	f.wantPoll(approved.DeviceCode, 400, "expired_token") // approved, never fetched in time
	// The page says so too.
	r := f.enterCode(pending.UserCode)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "expired") {
		t.Errorf("expired code on the page: %d %.300s", r.StatusCode, r.body)
	}
}

func TestRule31_DeviceCodeOnlyWorksForItsClient(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	// The public CLI client presents the TV's device code.
	other := func() (*response, map[string]any) {
		r := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {resp.DeviceCode},
			"client_id": {f.cliID}})
		return r, jsonBody(t, r)
	}
	r, m := other()
	wantOAuthError(t, r, m, 400, "invalid_grant")
	// The foreign poll was not recorded: the TV's first poll is not "too fast".
	f.wantPoll(resp.DeviceCode, 400, "authorization_pending")

	f.signIn()
	f.approve(resp.UserCode)
	r, m = other()
	wantOAuthError(t, r, m, 400, "invalid_grant")
	if r, m := f.poll(resp.DeviceCode); r.StatusCode != http.StatusOK {
		t.Fatalf("the TV after another client tried its code: %d %v", r.StatusCode, m)
	}

	// Unknown and missing codes; a client without the grant.
	f.wantPoll("gdc_nope", 400, "invalid_grant")
	r2 := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {oauth.GrantDeviceCode}}, f.tvBasic()...)
	wantOAuthError(t, r2, jsonBody(t, r2), 400, "invalid_request")
	r3, m3 := f.token(url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {resp.DeviceCode}}, true)
	wantOAuthError(t, r3, m3, 400, "unauthorized_client")
}

func TestRule31_RedeemedOnce(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	f.approve(resp.UserCode)
	if r, m := f.poll(resp.DeviceCode); r.StatusCode != http.StatusOK {
		t.Fatalf("first poll: %d %v", r.StatusCode, m)
	}
	f.wantPoll(resp.DeviceCode, 400, "invalid_grant")
	// And the page refuses the used code.
	r := f.enterCode(resp.UserCode)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "already used") {
		t.Errorf("used code on the page: %d", r.StatusCode)
	}
}

// Revoking the app on the Authorized apps page before the device fetched
// its tokens denies the approval.
func TestRule31_RevokedBeforeRedemptionIsDenied(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	f.approve(resp.UserCode)
	if r := f.post("/account/apps", "/account/apps/"+f.tvID+"/revoke", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	f.wantPoll(resp.DeviceCode, 400, "access_denied")
}

func TestRule31_DisabledUserGetsNoTokens(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	f.approve(resp.UserCode)
	if err := f.store.UpdateUser(context.Background(), f.user.ID, func(u *models.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	f.wantPoll(resp.DeviceCode, 400, "invalid_grant")
}

// --- End to end, both databases ---------------------------------------

func TestRule31_EndToEnd(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newDeviceFixture(t, h)
		resp := f.tvCode("openid user.read")
		f.wantPoll(resp.DeviceCode, 400, "authorization_pending")

		// The user opens verification_uri_complete signed out: sign-in
		// first, then back to the page with the code filled in.
		path := strings.TrimPrefix(resp.VerificationURIComplete, f.srv.Config.Issuer)
		r := f.get(path)
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
			t.Fatalf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		loginURL, _ := url.Parse(r.Header.Get("Location"))
		next := loginURL.Query().Get("next")
		if next != path {
			t.Fatalf("next = %q, want %q", next, path)
		}
		r = f.post(r.Header.Get("Location"), "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
			t.Fatalf("login: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		r = f.get(path)
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `value="`+resp.UserCode+`"`) || !strings.Contains(r.body, "is the one on your device") {
			t.Fatalf("prefilled page: %d %.400s", r.StatusCode, r.body)
		}
		if strings.Contains(r.body, "Living-room TV") {
			t.Error("the code from the link was looked up before the user submitted it")
		}

		// Submitting shows the consent screen for the TV, with the code.
		c := f.post(path, "/device", url.Values{"user_code": {strings.ToLower(resp.UserCode)}})
		for _, want := range []string{"Living-room TV", "wants to access your account", resp.UserCode, `name="decision" value="allow"`, "openid"} {
			if !strings.Contains(c.body, want) {
				t.Errorf("consent screen lacks %q", want)
			}
		}
		f.wantPoll(resp.DeviceCode, 400, "slow_down") // polled again at once

		r = f.answer(c, "allow")
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/device?done=1" {
			t.Fatalf("allow: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		done := f.get("/device?done=1")
		if done.StatusCode != http.StatusOK || !strings.Contains(done.body, "You can return to your device") || !strings.Contains(done.body, "Living-room TV") {
			t.Fatalf("result page: %d %.400s", done.StatusCode, done.body)
		}
		if again := f.get("/device?done=1"); strings.Contains(again.body, "You can return to your device") {
			t.Error("the result is shown twice")
		}

		tr, tok := f.poll(resp.DeviceCode)
		if tr.StatusCode != http.StatusOK {
			t.Fatalf("poll after approval: %d %v", tr.StatusCode, tok)
		}
		if tr.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", tr.Header.Get("Cache-Control"))
		}
		if tok["token_type"] != "Bearer" || tok["scope"] != "openid user.read" || tok["refresh_token"] == nil {
			t.Errorf("token response %v", tok)
		}
		// openid: an ID token for the user, to the device's client.
		idt, _ := tok["id_token"].(string)
		if idt == "" {
			t.Fatalf("no id_token for the openid scope: %v", tok)
		}
		_, claims := f.verifyJWT(idt)
		if claims["aud"] != f.tvID && !slices.Contains(toStrings(claims["aud"]), f.tvID) {
			t.Errorf("id_token aud = %v, want %s", claims["aud"], f.tvID)
		}
		if claims["sub"] == nil || claims["sub"] == "" || claims["auth_time"] == nil || claims["nonce"] != nil {
			t.Errorf("id_token claims %v", claims)
		}
		at, _ := tok["access_token"].(string)
		api := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+at)
		if api.StatusCode != http.StatusOK || !strings.Contains(api.body, "alice") {
			t.Errorf("/api/user with the device's token: %d %.200s", api.StatusCode, api.body)
		}
		// The stored token carries the user and the time they signed in.
		stored, err := f.store.GetToken(context.Background(), secret.Digest(at))
		if err != nil || stored.UserID == nil || *stored.UserID != f.user.ID || stored.AuthTime == nil || stored.ClientID != f.tvID {
			t.Errorf("stored token %+v %v", stored, err)
		}
		f.wantPoll(resp.DeviceCode, 400, "invalid_grant")

		// The refresh token works (the TV has the refresh grant).
		rr := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.tvBasic()...)
		if rr.StatusCode != http.StatusOK {
			t.Errorf("refresh: %d %s", rr.StatusCode, rr.body)
		}

		// Consent recorded: the app is listed under Authorized apps.
		cons, err := f.store.GetConsent(context.Background(), f.user.ID, f.tvID)
		if err != nil || cons.Scope != "openid user.read" {
			t.Errorf("consent %+v %v", cons, err)
		}
		if apps := f.get("/account/apps"); !strings.Contains(apps.body, "Living-room TV") {
			t.Error("the TV is not under Authorized apps")
		}
		// Audited.
		events, _, err := f.store.ListAuditEvents(context.Background(), models.AuditFilter{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range events {
			if e.Action == "device.approved" && e.Target == f.tvID && e.Details["scope"] == "openid user.read" && e.ActorID != nil && *e.ActorID == f.user.ID {
				found = true
			}
		}
		if !found {
			t.Error("no device.approved audit event")
		}
	})
}

func TestRule31_ConcurrentPollsRedeemOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newDeviceFixture(t, h)
		resp := f.tvCode("")
		f.signIn()
		f.approve(resp.UserCode)
		const n = 20
		codes := make([]int, n)
		bodies := make([]map[string]any, n)
		oauthtest.Concurrently(n, func(i int) error {
			req := url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {resp.DeviceCode}}
			r := f.doConcurrent(http.MethodPost, "/oauth/token", req, f.tvBasic()...)
			codes[i] = r.StatusCode
			return json.Unmarshal([]byte(r.body), &bodies[i])
		})
		wins := 0
		for i, c := range codes {
			switch {
			case c == http.StatusOK:
				wins++
			case c == http.StatusBadRequest && bodies[i]["error"] == "invalid_grant":
			default:
				t.Errorf("poll %d: %d %v", i, c, bodies[i])
			}
		}
		if wins != 1 {
			t.Fatalf("%d polls got tokens, want exactly 1", wins)
		}
		var tokens int64
		f.store.DB().Raw("SELECT COUNT(*) FROM tokens WHERE client_id = ?", f.tvID).Scan(&tokens)
		if tokens != 2 {
			t.Errorf("%d tokens stored, want one access and one refresh token", tokens)
		}
	})
}

// doConcurrent is do without the cookie jar (safe from several
// goroutines; the token endpoint needs no cookies).
func (h *harness) doConcurrent(method, path string, form url.Values, headers ...string) *response {
	req, _ := http.NewRequest(method, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.srv.App.Test(req, -1)
	if err != nil {
		return &response{Response: &http.Response{StatusCode: 599}, body: err.Error()}
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return &response{Response: res, body: b.String()}
}

// The device flow as golang.org/x/oauth2 runs it (DeviceAuth, then
// DeviceAccessToken polling at the interval), against the server on a
// loopback port: a public client (the usual device), and a confidential
// one, which must authenticate at the device authorization endpoint too
// (RFC 8628 §3.1; x/oauth2 sends no credentials there by itself, so the
// secret goes in as a parameter).
func TestRule31_GolangOAuth2DeviceFlow(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	f.set("device_poll_interval", "1s")
	addr, cancel, done := f.serve()
	defer func() { cancel(); <-done }()
	endpoint := oauth2.Endpoint{DeviceAuthURL: "http://" + addr + "/oauth/device/code", TokenURL: "http://" + addr + "/oauth/token"}
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)

	cli := &oauth2.Config{ClientID: f.cliID, Scopes: []string{"openid", "user.read"}, Endpoint: endpoint}
	cli.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	da, err := cli.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !userCodeRE.MatchString(da.UserCode) || da.Interval != 1 || da.VerificationURIComplete == "" || da.Expiry.IsZero() {
		t.Errorf("device auth %+v", da)
	}
	go func() {
		tok, err := cli.DeviceAccessToken(ctx, da)
		ch <- result{tok, err}
	}()
	time.Sleep(1500 * time.Millisecond) // at least one authorization_pending
	f.signIn()
	f.approve(da.UserCode)
	res := <-ch
	if res.err != nil {
		t.Fatalf("DeviceAccessToken: %v", res.err)
	}
	if res.tok.AccessToken == "" || res.tok.RefreshToken != "" || res.tok.Extra("id_token") == nil || res.tok.Extra("scope") != "openid user.read" {
		t.Errorf("token %+v (no refresh token: the client lacks the refresh grant)", res.tok)
	}

	tv := &oauth2.Config{ClientID: f.tvID, ClientSecret: f.tvSec, Endpoint: endpoint}
	tv.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if _, err := tv.DeviceAuth(ctx); err == nil {
		t.Error("a confidential client got a device code without its secret")
	}
	da2, err := tv.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", f.tvSec))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		tok, err := tv.DeviceAccessToken(ctx, da2)
		ch <- result{tok, err}
	}()
	f.deny(da2.UserCode)
	res = <-ch
	var re *oauth2.RetrieveError
	if !errors.As(res.err, &re) || re.ErrorCode != "access_denied" {
		t.Fatalf("after deny: %v", res.err)
	}
}

// --- The /device page -------------------------------------------------

func TestDevicePage_SignedOutVisitorsSignInFirst(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	r := f.get("/device?user_code=BCDF-GHJK")
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/device?user_code=BCDF-GHJK") {
		t.Fatalf("GET: %d %s", r.StatusCode, loc)
	}
	// The sign-in page says what it is for.
	if lp := f.get(loc); !strings.Contains(lp.body, "Sign in to connect your device") {
		t.Errorf("sign-in page for /device: %.300s", lp.body)
	}
	if lp := f.get("/login"); strings.Contains(lp.body, "connect your device") {
		t.Error("the plain sign-in page talks about devices")
	}
	// A form posted after the session ended is refused, not acted on.
	if r := f.do(http.MethodPost, "/device", url.Values{"user_code": {"BCDF-GHJK"}}); r.StatusCode == http.StatusOK || r.StatusCode == http.StatusSeeOther {
		t.Errorf("signed-out POST: %d", r.StatusCode)
	}
	// And the page is in the navigation once signed in.
	f.signIn()
	if d := f.get("/dashboard"); !strings.Contains(d.body, `href="/device"`) {
		t.Error("no link to /device in the navigation")
	}
	p := f.get("/device")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "Connect a device") || !strings.Contains(p.body, `name="csrf_token"`) {
		t.Errorf("page: %d", p.StatusCode)
	}
}

func TestDevicePage_WrongAndMalformedCodes(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	for _, tc := range []struct {
		typed, want string
	}{
		{"", "Enter the code shown on your device"},
		{"hello", "look like a device code"},
		{"BCDF-GHJ1", "look like a device code"},
		{"BCDF-GHJK", "Check the code on your device and try again"},
	} {
		if tc.typed == strings.ReplaceAll(resp.UserCode, "-", "") {
			continue // 1 in 2^34
		}
		r := f.enterCode(tc.typed)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, tc.want) {
			t.Errorf("%q: %d, want 400 with %q: %.300s", tc.typed, r.StatusCode, tc.want, r.body)
		}
		if strings.Contains(r.body, `name="decision"`) {
			t.Errorf("%q: consent form shown", tc.typed)
		}
	}
	// A tampered decision (a wrong code in the consent form) is refused too.
	r := f.post("/device", "/device", url.Values{"user_code": {"BCDF-GHJK"}, "decision": {"allow"}})
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("decision with a wrong code: %d", r.StatusCode)
	}
	// Without the CSRF token nothing happens.
	r = f.do(http.MethodPost, "/device", url.Values{"user_code": {resp.UserCode}, "decision": {"allow"}})
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", r.StatusCode)
	}
	f.wantPoll(resp.DeviceCode, 400, "authorization_pending")
	// Typed in any case, with spaces instead of the dash: accepted.
	c := f.enterCode(" " + strings.ToLower(strings.ReplaceAll(resp.UserCode, "-", " ")) + " ")
	if c.StatusCode != http.StatusOK || !strings.Contains(c.body, "Living-room TV") {
		t.Errorf("normalized code: %d", c.StatusCode)
	}
}

func TestRule31_UserCodeEntryIsRateLimited(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	wrong := "BCDF-GHJK"
	if strings.ReplaceAll(resp.UserCode, "-", "") == "BCDFGHJK" {
		wrong = "ZXWV-TSRQ"
	}
	// Ten failures for the account are answered...
	for i := range 10 {
		if r := f.enterCode(wrong); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("failure %d: %d", i+1, r.StatusCode)
		}
	}
	// ...and then every attempt gets 429 with Retry-After, a right code too.
	for _, code := range []string{wrong, resp.UserCode} {
		r := f.enterCode(code)
		if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many incorrect codes") {
			t.Fatalf("%s after 10 failures: %d", code, r.StatusCode)
		}
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 600 {
			t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
	}
	// The consent form's decision is throttled the same way.
	if r := f.post("/device", "/device", url.Values{"user_code": {resp.UserCode}, "decision": {"allow"}}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("decision while throttled: %d", r.StatusCode)
	}
	f.wantPoll(resp.DeviceCode, 400, "authorization_pending")

	// Other accounts from the same address are not locked out...
	as := func(name string) {
		t.Helper()
		f.createUser(name, alicePW, models.RoleUser)
		f.clearCookies()
		if r := f.login(name, alicePW); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s login: %d", name, r.StatusCode)
		}
	}
	as("bob")
	if r := f.enterCode(resp.UserCode); r.StatusCode != http.StatusOK {
		t.Fatalf("bob: %d", r.StatusCode)
	}
	// ...until the address reaches 30 failures (10 each for alice, bob
	// and carol).
	for _, name := range []string{"bob", "carol"} {
		if name != "bob" {
			as(name)
		}
		for i := range 10 {
			if r := f.enterCode(wrong); r.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s's failure %d: %d", name, i+1, r.StatusCode)
			}
		}
	}
	as("dave")
	if r := f.enterCode(resp.UserCode); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 30 failures from the address: %d", r.StatusCode)
	}

	// After the window, attempts are answered again.
	f.wait(10*time.Minute + time.Second)
	fresh := f.tvCode("")
	if r := f.enterCode(fresh.UserCode); r.StatusCode != http.StatusOK {
		t.Fatalf("after the window: %d", r.StatusCode)
	}
}

// Anyone can make valid user codes at will (a public client needs no
// secret): entering one must not wipe out the account's wrong guesses.
func TestRule31_ValidCodesDoNotResetTheAccountCount(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	f.signIn()
	wrong := "ZXWV-TSRQ"
	for round := 0; round < 3; round++ {
		for i := 0; i < 3; i++ {
			if r := f.enterCode(wrong); r.StatusCode != http.StatusBadRequest {
				t.Fatalf("round %d failure %d: %d", round, i+1, r.StatusCode)
			}
		}
		if r := f.enterCode(f.tvCode("").UserCode); r.StatusCode != http.StatusOK {
			t.Fatalf("round %d own valid code: %d", round, r.StatusCode)
		}
	}
	if r := f.enterCode(wrong); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("tenth failure: %d", r.StatusCode)
	}
	// Ten wrong codes in all: the account is now throttled.
	if r := f.enterCode(f.tvCode("").UserCode); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 10 wrong codes around valid ones: %d", r.StatusCode)
	}
}

// Each device authorization stores a pending row: one address may ask
// for DeviceCodesPerAddress within the window, then gets 429.
func TestDeviceAuthorizationRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	for i := 0; i < handlers.DeviceCodesPerAddress; i++ {
		f.tvCode("")
	}
	r, m := f.authorizeDevice(url.Values{}, f.tvBasic()...)
	wantOAuthError(t, r, m, http.StatusTooManyRequests, "too_many_requests")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	var n int64
	if err := f.store.DB().Model(&models.DeviceCode{}).Count(&n).Error; err != nil || n != handlers.DeviceCodesPerAddress {
		t.Errorf("%d device codes stored, want %d", n, handlers.DeviceCodesPerAddress)
	}
	f.wait(10*time.Minute + time.Second)
	f.tvCode("")
}

func TestDevicePage_DenyShowsAccessDenied(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	f.deny(resp.UserCode)
	r := f.get("/device?done=1")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Access denied") || !strings.Contains(r.body, "Living-room TV") {
		t.Fatalf("deny result: %d %.300s", r.StatusCode, r.body)
	}
	// A second answer (the form replayed from another tab) changes nothing.
	c := f.post("/device", "/device", url.Values{"user_code": {resp.UserCode}, "decision": {"allow"}})
	if c.StatusCode != http.StatusBadRequest || !strings.Contains(c.body, "already used") {
		t.Errorf("second answer: %d", c.StatusCode)
	}
	f.wantPoll(resp.DeviceCode, 400, "access_denied")
}

func TestDevicePage_ConsentKeepsAuthorizationCodeFlowApart(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	f.signIn()
	c := f.enterCode(resp.UserCode)
	if strings.Contains(c.body, `name="id"`) || !strings.Contains(c.body, `action="/device"`) || !strings.Contains(c.body, "Code on your device") {
		t.Error("device consent form is not the device variant")
	}
	if !strings.Contains(c.body, url.QueryEscape("/device?user_code="+resp.UserCode)) {
		t.Error(`"Not you?" does not come back to the device code`)
	}
	a := f.authorize(f.authzParams())
	if !strings.Contains(a.body, `action="/consent"`) || !strings.Contains(a.body, `name="id"`) || strings.Contains(a.body, "Code on your device") {
		t.Error("authorization consent form changed")
	}
}

func TestDevicePage_ClientLosesTheGrant(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	resp := f.tvCode("")
	if err := f.store.UpdateClient(context.Background(), f.tvID, func(c *models.Client) error {
		c.GrantTypes = []string{oauth.GrantRefreshToken}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.signIn()
	r := f.enterCode(resp.UserCode)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "can no longer be approved") {
		t.Errorf("client without the grant: %d %.300s", r.StatusCode, r.body)
	}
}

func TestDeviceGrantOfferedInTheDashboard(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	f.createUser("dev", alicePW, models.RoleDeveloper)
	if r := f.login("dev", alicePW); r.StatusCode != http.StatusSeeOther {
		t.Fatal(r.StatusCode)
	}
	r := f.get("/dashboard/clients/new")
	if !strings.Contains(r.body, `value="`+oauth.GrantDeviceCode+`"`) {
		t.Error("the device grant is not offered on the client form")
	}
}

// toStrings reads a JSON array of strings ("aud" may be one).
func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestRule31_MetadataAdvertisesTheDeviceEndpoint(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		r := f.get(p)
		m := jsonBody(t, r)
		if m["device_authorization_endpoint"] != f.srv.Config.Issuer+"/oauth/device/code" {
			t.Errorf("%s: device_authorization_endpoint = %v", p, m["device_authorization_endpoint"])
		}
		if !slices.Contains(toStrings(m["grant_types_supported"]), oauth.GrantDeviceCode) {
			t.Errorf("%s: grant_types_supported = %v", p, m["grant_types_supported"])
		}
	}
}
