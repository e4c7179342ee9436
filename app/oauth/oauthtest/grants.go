package oauthtest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// Helpers for the tests of the token endpoint and its grants (token.go,
// grant_*.go): shortcuts for the flows that lead to a token request,
// checks of the answers, and a limiter that records what it is told.

// AtHash is the at_hash of an access token in an RS256 ID token (OIDC
// Core §3.1.3.6), computed here independently of the core.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Verifier and VerifierChallenge are the PKCE code verifier of
// PKCERequest and its S256 challenge: RFC 7636 Appendix B's example,
// so that the challenge is not computed by the code under test.
const (
	Verifier          = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	VerifierChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// PKCERequest is a code request of client id for scope, with a state and
// the PKCE challenge of Verifier (redirect_uri omitted: the client's only
// one). CodeTokens makes it.
func PKCERequest(id, scope string) url.Values {
	return url.Values{"client_id": {id}, "response_type": {"code"}, "state": {"st"}, "scope": {scope},
		"code_challenge": {VerifierChallenge}, "code_challenge_method": {"S256"}}
}

// CodeTokens runs the authorization code flow for u with client id
// (secret "" for a public client; one registered redirect URI):
// PKCERequest(id, scope), then the code exchange with Verifier. It
// returns the token response.
func (c *Core) CodeTokens(id, secret string, u *oauth.User, scope string) *oauth.TokenResponse {
	c.T.Helper()
	code := c.Code(u, PKCERequest(id, scope))
	resp, err := c.Token(id, secret, url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code}, "code_verifier": {Verifier}})
	if err != nil {
		c.T.Fatalf("code exchange: %v", err)
	}
	return resp
}

// DeviceAuthorization starts a device authorization of client id for
// scope (RFC 8628 §3.1).
func (c *Core) DeviceAuthorization(id, secret, scope string) *oauth.DeviceAuthorizationResponse {
	c.T.Helper()
	form := url.Values{}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, err := c.Server.DeviceAuthorization(context.Background(), c.ClientRequest(id, secret, form))
	if err != nil {
		c.T.Fatalf("device authorization: %v", err)
	}
	return resp
}

// DecideDevice has u approve (or deny) the device authorization of
// userCode on the /device page, signed in now.
func (c *Core) DecideDevice(userCode string, u *oauth.User, approve bool) {
	c.T.Helper()
	ctx := context.Background()
	req, err := c.Server.LookupUserCode(ctx, userCode)
	if err != nil {
		c.T.Fatalf("user code %s: %v", userCode, err)
	}
	if approve {
		err = c.Server.ApproveDevice(ctx, req, u, c.Now())
	} else {
		err = c.Server.DenyDevice(ctx, req, u)
	}
	if err != nil {
		c.T.Fatal(err)
	}
}

// OneWinner sends n token requests at once (try in n goroutines released
// together) and fails the test unless exactly one gets tokens and every
// other is refused with invalid_grant. It returns the winner's response.
func OneWinner(t testing.TB, n int, try func() (*oauth.TokenResponse, error)) *oauth.TokenResponse {
	t.Helper()
	resps := make([]*oauth.TokenResponse, n)
	errs := Concurrently(n, func(i int) error {
		var err error
		resps[i], err = try()
		return err
	})
	var winner *oauth.TokenResponse
	for i := range n {
		switch {
		case errs[i] == nil && winner == nil:
			winner = resps[i]
		case errs[i] == nil:
			t.Fatalf("two of %d concurrent requests got tokens", n)
		case Code(errs[i]) != "invalid_grant":
			t.Fatalf("a concurrent request: %v", errs[i])
		}
	}
	if winner == nil {
		t.Fatalf("none of %d concurrent requests got tokens", n)
	}
	return winner
}

// WantTokens checks a token request's answer against the error code a
// test expects: with code set, no response and the error WantError wants
// (code, its description containing fragment); with code "", no error.
// It reports whether there is a response to check further.
func WantTokens(t testing.TB, resp *oauth.TokenResponse, err error, code, fragment string) bool {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return true
	}
	if resp != nil {
		t.Fatalf("answered %+v, want %s", resp, code)
	}
	WantError(t, err, code, fragment)
	return false
}

// WantError fails the test unless err is an OAuth error with code whose
// description contains fragment.
func WantError(t testing.TB, err error, code, fragment string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s (%q)", code, fragment)
	}
	e := oauth.AsError(err)
	if e.Code != code || !strings.Contains(e.Description, fragment) {
		t.Fatalf("got %v, want %s mentioning %q", err, code, fragment)
	}
}

// FakeLimiter is an oauth.Limiter for tests: it refuses every attempt
// while its wait is set (SetWait), fails with Err when that is set, and
// records each call as "begin|blocked|fail|succeeded account address".
type FakeLimiter struct {
	// Err, when set, is returned by every call.
	Err error

	mu    sync.Mutex
	wait  time.Duration
	calls []string
}

var _ oauth.Limiter = (*FakeLimiter)(nil)

// SetWait makes the limiter refuse attempts for d (0: allow them).
func (l *FakeLimiter) SetWait(d time.Duration) {
	l.mu.Lock()
	l.wait = d
	l.mu.Unlock()
}

// Calls returns the calls recorded so far.
func (l *FakeLimiter) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func (l *FakeLimiter) record(call, account, address string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call+" "+account+" "+address)
	return l.wait
}

// Begin implements oauth.Limiter.
func (l *FakeLimiter) Begin(_ context.Context, account, address string) (oauth.Attempt, time.Duration, error) {
	wait := l.record("begin", account, address)
	if l.Err != nil {
		return nil, 0, l.Err
	}
	if wait > 0 {
		return nil, wait, nil
	}
	return fakeAttempt{l, account, address}, 0, nil
}

// Blocked implements oauth.Limiter.
func (l *FakeLimiter) Blocked(_ context.Context, account, address string) (time.Duration, error) {
	wait := l.record("blocked", account, address)
	return wait, l.Err
}

// Fail implements oauth.Limiter.
func (l *FakeLimiter) Fail(_ context.Context, account, address string) error {
	l.record("fail", account, address)
	return l.Err
}

type fakeAttempt struct {
	l                *FakeLimiter
	account, address string
}

func (a fakeAttempt) Succeeded(context.Context) error {
	a.l.record("succeeded", a.account, a.address)
	return a.l.Err
}
