package oauthtest

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// DefaultPolicy is the Policy of Gatehouse's default settings (app maps
// the settings into it; a test in app checks that they agree).
var DefaultPolicy = oauth.Policy{
	EnforceState: true, RequireExactRedirectURI: true, RequirePKCE: "public", RememberConsent: true,
	AccessTokenFormat: "opaque", AccessTokenLifetime: time.Hour, RefreshTokenLifetime: 720 * time.Hour,
	AuthorizationCodeLifetime: 5 * time.Minute, DeviceCodeLifetime: 10 * time.Minute, DevicePollInterval: 5 * time.Second,
	DPoPNonce: "off",
}

// BuiltinScopes are the scopes every Gatehouse has out of the box (none
// of them is a machine scope).
var BuiltinScopes = []oauth.Scope{
	{ID: "email"}, {ID: "offline_access"}, {ID: "openid"}, {ID: "profile"},
	{ID: "user.read", ResourcePath: "/api/user", Method: "GET", Default: true, Resource: oauth.BuiltinResourcePath},
}

// Core is the protocol core over a MemModel, for tests of grants and
// endpoints without HTTP: requests are url.Values, answers the core's.
// Its clock stands still until the test moves it (Advance), its password
// checker compares plaintext (PlainPasswords), and it records the
// security events the core reports.
type Core struct {
	T      *testing.T
	Model  *MemModel
	Server *oauth.Server

	mu     sync.Mutex
	now    time.Time
	events []oauth.SecurityEvent
}

// NewCore returns a Core with the built-in scopes plus scopes, under
// DefaultPolicy; options may change the core's Options (Policy, Signer,
// throttles, ...) before it is built.
func NewCore(t *testing.T, scopes []oauth.Scope, options ...func(*oauth.Options)) *Core {
	t.Helper()
	c := &Core{T: t, Model: NewMemModel(), now: time.Now().UTC().Truncate(time.Second)}
	for _, sc := range append(append([]oauth.Scope(nil), BuiltinScopes...), scopes...) {
		if err := c.Model.CreateScope(context.Background(), sc); err != nil {
			t.Fatal(err)
		}
	}
	o := oauth.Options{
		Issuer: "https://gatehouse.test", Model: c.Model, Policy: DefaultPolicy, Now: c.Now, Passwords: PlainPasswords{},
		OnSecurityEvent: func(_ context.Context, ev oauth.SecurityEvent) {
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		},
	}
	for _, opt := range options {
		opt(&o)
	}
	c.Server = oauth.New(o)
	return c
}

// Now is the core's clock.
func (c *Core) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the core's clock forward by d.
func (c *Core) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Events returns the security events reported so far.
func (c *Core) Events() []oauth.SecurityEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]oauth.SecurityEvent(nil), c.events...)
}

// Client registers a client (confidential unless cl.Public): it fills in
// the ID and, for a confidential client, a new secret, which it returns.
func (c *Core) Client(cl oauth.Client) (id, secret string) {
	c.T.Helper()
	cred := oauth.NewCredentials(cl.Public)
	cl.ID, cl.SecretHash = cred.ClientID, cred.SecretHash
	if cl.Name == "" {
		cl.Name = "Test app"
	}
	if err := c.Model.CreateClient(context.Background(), &cl); err != nil {
		c.T.Fatal(err)
	}
	return cred.ClientID, cred.Secret
}

// User registers a user whose password is pw (PlainPasswords).
func (c *Core) User(username, pw string) *oauth.User {
	c.T.Helper()
	u := &oauth.User{Subject: "sub-" + username, Username: username, Name: strings.ToUpper(username[:1]) + username[1:],
		Email: username + "@example.com", EmailVerified: true, Role: "user", PasswordHash: PlainPasswords{}.Hash(pw)}
	if err := c.Model.CreateUser(context.Background(), u); err != nil {
		c.T.Fatal(err)
	}
	return u
}

// Token sends a token request, the client authenticated with HTTP Basic
// (secret "" and a public client: client_id in the form instead).
func (c *Core) Token(id, secret string, form url.Values) (*oauth.TokenResponse, error) {
	c.T.Helper()
	return c.Server.Token(context.Background(), c.ClientRequest(id, secret, form))
}

// ClientRequest is a client-authenticated request with form: HTTP Basic
// when secret is set, otherwise client_id in the form.
func (c *Core) ClientRequest(id, secret string, form url.Values) *oauth.ClientRequest {
	r := &oauth.ClientRequest{Form: url.Values{}, RemoteAddr: "192.0.2.1"}
	for k, v := range form {
		r.Form[k] = append([]string(nil), v...)
	}
	if secret != "" {
		r.Authorization = BasicAuth(id, secret)
	} else if r.Form.Get("client_id") == "" {
		r.Form.Set("client_id", id)
	}
	return r
}

// BasicAuth is the HTTP Basic Authorization header value of client
// credentials (RFC 6749 §2.3.1: each form-encoded, then base64).
func BasicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// Change sets in v each pair of name and value of kv, an empty value
// deleting the parameter, and returns v.
func Change(v url.Values, kv ...string) url.Values {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// Code runs an authorization request for u through the core (parse,
// then approve as if the user consented) and returns the code.
func (c *Core) Code(u *oauth.User, params url.Values) string {
	c.T.Helper()
	req, err := c.Server.ParseAuthorizeRequest(context.Background(), params)
	if err != nil {
		c.T.Fatalf("authorization request refused: %v", err)
	}
	resp, err := c.Server.Approve(context.Background(), req, oauth.Visitor{User: u, AuthTime: c.Now()}, true)
	if err != nil {
		c.T.Fatal(err)
	}
	code := resp.Params.Get("code")
	if code == "" {
		c.T.Fatalf("no code in %v", resp.Params)
	}
	return code
}

// Code returns the OAuth error code of err ("" for nil).
func Code(err error) string {
	if err == nil {
		return ""
	}
	return oauth.AsError(err).Code
}

// PlainPasswords is an oauth.PasswordChecker over "plain:" + password
// hashes: fast, for tests only.
type PlainPasswords struct{}

// Hash returns the stored form of pw.
func (PlainPasswords) Hash(pw string) string { return "plain:" + pw }

// Verify implements oauth.PasswordChecker.
func (PlainPasswords) Verify(pw, hash string) (bool, error) { return hash == "plain:"+pw, nil }

// VerifyDummy implements oauth.PasswordChecker.
func (PlainPasswords) VerifyDummy(string) {}
