package oauth_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of the resource owner password credentials grant
// (grant_password.go; RFC 6749 §4.3, rule 29).

// countingPasswords is PlainPasswords that counts its checks.
type countingPasswords struct {
	oauthtest.PlainPasswords
	mu            sync.Mutex
	verify, dummy int
}

func (p *countingPasswords) Verify(pw, hash string) (bool, error) {
	p.mu.Lock()
	p.verify++
	p.mu.Unlock()
	return p.PlainPasswords.Verify(pw, hash)
}

func (p *countingPasswords) VerifyDummy(pw string) {
	p.mu.Lock()
	p.dummy++
	p.mu.Unlock()
}

// noUserLookup is a MemModel on which looking a user up by name fails the
// test: the request must be refused before.
type noUserLookup struct {
	*oauthtest.MemModel
	t *testing.T
}

func (m noUserLookup) GetUserByUsername(ctx context.Context, name string) (*oauth.User, error) {
	m.t.Errorf("user %.20q looked up", name)
	return m.MemModel.GetUserByUsername(ctx, name)
}

// passwordCore is a core with the password grant allowed, a client that
// may use it (and the refresh grant), alice and the disabled dora.
type passwordCore struct {
	*oauthtest.Core
	id, secret string
	alice      *oauth.User
	throttle   *oauthtest.FakeLimiter
	passwords  *countingPasswords
}

func newPasswordCore(t *testing.T, options ...func(*oauth.Options)) *passwordCore {
	p := &passwordCore{throttle: &oauthtest.FakeLimiter{}, passwords: &countingPasswords{}}
	options = append([]func(*oauth.Options){oauthtest.WithPolicy(func(pol *oauth.Policy) { pol.AllowPasswordGrant = true }),
		func(o *oauth.Options) { o.LoginThrottle, o.Passwords = p.throttle, p.passwords }}, options...)
	p.Core = oauthtest.NewCore(t, nil, options...)
	p.id, p.secret = p.Client(oauth.Client{GrantTypes: []string{oauth.GrantPassword, oauth.GrantRefreshToken}, Scopes: []string{"user.read", "email"}})
	p.alice = p.User("alice", "correct horse")
	dora := p.User("dora", "dora's password")
	if err := p.Model.UpdateUser(dora.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return p
}

// Rule 29: the password grant checks the user's password like the
// sign-in form: throttled per username and address, an unknown user and
// a wrong password get the same invalid_grant after the same work, a
// disabled account says so only to whoever knows its password, and every
// password checked is reported as a sign-in (login.success,
// login.failure, login.throttled). Requests refused before a password is
// checked are neither counted nor reported.
func TestRule29_PasswordGrant(t *testing.T) {
	t.Parallel()
	const bad = "invalid username or password"
	cases := []struct {
		name               string
		username, password string
		scope              string
		wait               time.Duration // the throttle's answer
		code, desc         string
		event              string   // the sign-in reported ("" none)
		throttle           []string // the throttle calls, for 192.0.2.1
		verify, dummy      int      // password checks
	}{
		{name: "right password", username: "alice", password: "correct horse", event: oauth.SecuritySignIn,
			throttle: []string{"begin alice", "succeeded alice"}, verify: 1},
		{name: "username in another case, with spaces", username: "  ALICE ", password: "correct horse", event: oauth.SecuritySignIn,
			throttle: []string{"begin alice", "succeeded alice"}, verify: 1},
		{name: "a scope it may have", username: "alice", password: "correct horse", scope: "email", event: oauth.SecuritySignIn,
			throttle: []string{"begin alice", "succeeded alice"}, verify: 1},
		{name: "wrong password", username: "alice", password: "wrong", code: "invalid_grant", desc: bad, event: oauth.SecuritySignInFailed,
			throttle: []string{"begin alice"}, verify: 1},
		{name: "password in another case", username: "alice", password: "Correct horse", code: "invalid_grant", desc: bad, event: oauth.SecuritySignInFailed,
			throttle: []string{"begin alice"}, verify: 1},
		{name: "unknown user: the same answer, a dummy check", username: "nobody", password: "correct horse", code: "invalid_grant", desc: bad,
			event: oauth.SecuritySignInFailed, throttle: []string{"begin nobody"}, dummy: 1},
		{name: "disabled account, right password", username: "dora", password: "dora's password", code: "invalid_grant", desc: "this account is disabled",
			event: oauth.SecuritySignInFailed, throttle: []string{"begin dora", "succeeded dora"}, verify: 1},
		{name: "disabled account, wrong password: nothing told", username: "dora", password: "wrong", code: "invalid_grant", desc: bad,
			event: oauth.SecuritySignInFailed, throttle: []string{"begin dora"}, verify: 1},
		{name: "throttled: 429, no password checked", username: "alice", password: "correct horse", wait: 90 * time.Second,
			code: "too_many_requests", desc: "too many failed sign-in attempts", event: oauth.SecuritySignInThrottled, throttle: []string{"begin alice"}},
		{name: "no username", password: "correct horse", code: "invalid_request", desc: "username and password are required"},
		{name: "no password", username: "alice", code: "invalid_request", desc: "username and password are required"},
		{name: "blank username", username: "   ", password: "x", code: "invalid_request", desc: "username and password are required"},
		{name: "unknown scope: refused before the password", username: "alice", password: "correct horse", scope: "nope", code: "invalid_scope", desc: `unknown scope "nope"`},
		{name: "a scope the client may not have", username: "alice", password: "correct horse", scope: "profile", code: "invalid_scope", desc: "not allowed for this client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newPasswordCore(t)
			c.throttle.SetWait(tc.wait)
			f := form("grant_type", "password", "username", tc.username, "password", tc.password)
			if tc.scope != "" {
				f.Set("scope", tc.scope)
			}
			resp, err := c.Token(c.id, c.secret, f)
			var calls []string
			for _, call := range c.throttle.Calls() {
				calls = append(calls, strings.TrimSuffix(call, " 192.0.2.1"))
			}
			if !slices.Equal(calls, tc.throttle) {
				t.Errorf("throttle calls %q, want %q", calls, tc.throttle)
			}
			if c.passwords.verify != tc.verify || c.passwords.dummy != tc.dummy {
				t.Errorf("%d checks and %d dummy checks, want %d and %d", c.passwords.verify, c.passwords.dummy, tc.verify, tc.dummy)
			}
			ev := c.Events()
			switch {
			case tc.event == "" && len(ev) != 0:
				t.Errorf("events %+v, want none", ev)
			case tc.event != "":
				want := oauth.SecurityEvent{Kind: tc.event, Grant: oauth.GrantPassword, ClientID: c.id, RemoteAddr: "192.0.2.1",
					Username: strings.ToLower(strings.TrimSpace(tc.username))}
				if len(ev) != 1 || ev[0].UserID != nil != (tc.event == oauth.SecuritySignIn) {
					t.Fatalf("events %+v, want one %s", ev, tc.event)
				}
				got := ev[0]
				if got.UserID != nil && *got.UserID != c.alice.ID {
					t.Errorf("sign-in of user %d", *got.UserID)
				}
				got.UserID = nil
				if got != want {
					t.Errorf("event %+v, want %+v", got, want)
				}
			}
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				if tc.code == "too_many_requests" {
					wantStatus(t, err, http.StatusTooManyRequests)
					if got := oauth.AsError(err).RetryAfter; got != 90 {
						t.Errorf("Retry-After %d", got)
					}
				}
				return
			}
			want := "user.read"
			if tc.scope != "" {
				want = tc.scope + " user.read"
			}
			st := c.StoredToken(resp.AccessToken)
			if resp.Scope != want || resp.RefreshToken == "" || *st.UserID != c.alice.ID || st.AuthTime == nil || !st.AuthTime.Equal(c.Now()) {
				t.Fatalf("response %+v, stored %+v", resp, st)
			}
		})
	}
}

// The password grant answers a refresh token only to clients that may
// use the refresh grant; it needs a PasswordChecker.
func TestPasswordGrantTokens(t *testing.T) {
	t.Parallel()
	c := newPasswordCore(t)
	noRefresh, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantPassword}})
	resp, err := c.Token(noRefresh, sec, form("grant_type", "password", "username", "alice", "password", "correct horse"))
	if err != nil || resp.RefreshToken != "" || resp.AccessToken == "" {
		t.Fatalf("client without the refresh grant: %+v %v", resp, err)
	}
	c = newPasswordCore(t, func(o *oauth.Options) { o.Passwords = nil })
	_, err = c.Token(c.id, c.secret, form("grant_type", "password", "username", "alice", "password", "correct horse"))
	oauthtest.WantError(t, err, "server_error", "")
}

// A username longer than any account's (MaxUsernameBytes after
// trimming) is invalid_request "username is too long", refused before the
// throttle counts anything, the user is looked up, or a sign-in is
// reported: nothing an attacker sends grows either.
func TestPasswordGrantRefusesLongUsernames(t *testing.T) {
	t.Parallel()
	c := newPasswordCore(t, func(o *oauth.Options) { o.Model = noUserLookup{o.Model.(*oauthtest.MemModel), t} })
	for _, name := range []string{strings.Repeat("a", oauth.MaxUsernameBytes+1), strings.Repeat("é", 33), "  " + strings.Repeat("B", 900_000)} {
		_, err := c.Token(c.id, c.secret, form("grant_type", "password", "username", name, "password", "some password"))
		if e := oauth.AsError(err); e.Code != "invalid_request" || e.Description != "username is too long" {
			t.Fatalf("%d bytes: %v", len(name), err)
		}
	}
	if calls := c.throttle.Calls(); len(calls) != 0 || len(c.Events()) != 0 {
		t.Errorf("refused usernames reached the throttle (%q) or the audit log (%+v)", calls, c.Events())
	}
	// The longest username there can be is checked like any other.
	c = newPasswordCore(t)
	_, err := c.Token(c.id, c.secret, form("grant_type", "password", "username", " "+strings.Repeat("a", oauth.MaxUsernameBytes)+" ", "password", "x"))
	if oauthtest.Code(err) != "invalid_grant" || len(c.throttle.Calls()) != 1 || len(c.Events()) != 1 {
		t.Fatalf("%d bytes: %v", oauth.MaxUsernameBytes, err)
	}
}
