package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of the token endpoint itself (Server.Token, token.go) and of
// client authentication as it answers there (clientauth.go): what is
// refused before a grant sees the request. The grants' own rules are in
// grant_*_test.go.

// form builds url.Values from pairs; a repeated name is sent twice.
func form(pairs ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return v
}

// post sends a token request as it arrived: this form and Authorization
// header, from 192.0.2.1.
func post(c *oauthtest.Core, authorization string, f url.Values) (*oauth.TokenResponse, error) {
	return c.Server.Token(context.Background(), &oauth.ClientRequest{Form: f, Authorization: authorization, RemoteAddr: "192.0.2.1"})
}

// wantStatus fails unless err carries HTTP status want.
func wantStatus(t *testing.T, err error, want int) {
	t.Helper()
	if got := oauth.AsError(err).Status; got != want {
		t.Fatalf("status %d, want %d (%v)", got, want, err)
	}
}

// Refused before the grant: repeated parameters (RFC 6749 §3.2), a
// missing grant_type, an unknown one and one the settings switch off —
// all before the client is authenticated, so that a disabled or unknown
// grant answers the same whoever asks.
func TestTokenEndpointRefusesBeforeTheGrant(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil)
	id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials, oauth.GrantPassword}})
	long := strings.Repeat("x", 200)
	cases := []struct {
		name, authorization string
		form                url.Values
		code, desc          string
	}{
		{"grant_type twice", oauthtest.BasicAuth(id, sec), form("grant_type", "client_credentials", "grant_type", "client_credentials"),
			"invalid_request", "the grant_type parameter was sent more than once"},
		{"scope twice", oauthtest.BasicAuth(id, sec), form("grant_type", "client_credentials", "scope", "a", "scope", "a"),
			"invalid_request", "the scope parameter was sent more than once"},
		{"client_secret twice, before authentication", "", form("grant_type", "client_credentials", "client_id", id, "client_secret", sec, "client_secret", sec),
			"invalid_request", "the client_secret parameter was sent more than once"},
		{"the first repeated parameter is named", oauthtest.BasicAuth(id, sec), form("grant_type", "client_credentials", "scope", "a", "scope", "b", "code", "x", "code", "y"),
			"invalid_request", "the code parameter"},
		{"a repeated name is cut short", oauthtest.BasicAuth(id, sec), form("grant_type", "client_credentials", long, "1", long, "2"),
			"invalid_request", "the " + long[:32] + "… parameter"},
		{"no grant_type", oauthtest.BasicAuth(id, sec), form("scope", "a"), "invalid_request", "the request has no grant_type"},
		{"empty grant_type", oauthtest.BasicAuth(id, sec), form("grant_type", ""), "invalid_request", "the request has no grant_type"},
		{"unknown grant_type", oauthtest.BasicAuth(id, sec), form("grant_type", "urn:example:nope"), "unsupported_grant_type", `grant_type "urn:example:nope" is not supported`},
		{"implicit is no token endpoint grant", oauthtest.BasicAuth(id, sec), form("grant_type", "implicit"), "unsupported_grant_type", "is not supported"},
		{"grant_type is matched exactly", oauthtest.BasicAuth(id, sec), form("grant_type", "Client_Credentials"), "unsupported_grant_type", "is not supported"},
		{"a long grant_type is cut short", oauthtest.BasicAuth(id, sec), form("grant_type", long), "unsupported_grant_type", long[:64] + "…"},
		{"unknown grant_type without client authentication", "", form("grant_type", "urn:example:nope"), "unsupported_grant_type", "is not supported"},
		{"password grant off (rule 29)", oauthtest.BasicAuth(id, sec), form("grant_type", "password", "username", "alice", "password", "pw"),
			"unsupported_grant_type", `grant_type "password" is disabled on this server`},
		{"password grant off, wrong secret: still unsupported", oauthtest.BasicAuth(id, "wrong"), form("grant_type", "password", "username", "alice", "password", "pw"),
			"unsupported_grant_type", "disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := post(c, tc.authorization, tc.form)
			if resp != nil {
				t.Fatalf("answered %+v", resp)
			}
			oauthtest.WantError(t, err, tc.code, tc.desc)
			wantStatus(t, err, http.StatusBadRequest)
			if tc.code == "unsupported_grant_type" && strings.Contains(oauth.AsError(err).Description, long) {
				t.Fatal("the whole grant_type echoed back")
			}
		})
	}
}

// Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1;
// rules 19, 20): client_secret_basic, client_secret_post, or none for
// public clients; one method only; an unknown client and a wrong secret
// get the same answer. Every request here asks the refresh grant for an
// unknown token, so invalid_grant means the client got through.
func TestRule20_ClientAuthenticationAtTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil)
	id, sec := c.Client(oauth.Client{})
	pub, _ := c.Client(oauth.Client{Public: true})
	other, _ := c.Client(oauth.Client{})
	const through = "the refresh token is invalid"
	refresh := func(pairs ...string) url.Values {
		return form(append([]string{"grant_type", "refresh_token", "refresh_token", "grt_unknown"}, pairs...)...)
	}
	cases := []struct {
		name, authorization string
		form                url.Values
		method              string // the method that authenticated; "" when refused
		code, desc          string
	}{
		{"Basic", oauthtest.BasicAuth(id, sec), refresh(), oauth.AuthSecretBasic, "invalid_grant", through},
		{"Basic, scheme in lower case", "basic " + strings.TrimPrefix(oauthtest.BasicAuth(id, sec), "Basic "), refresh(), oauth.AuthSecretBasic, "invalid_grant", through},
		{"Basic with the same client_id in the body", oauthtest.BasicAuth(id, sec), refresh("client_id", id), oauth.AuthSecretBasic, "invalid_grant", through},
		{"Basic with another client_id in the body", oauthtest.BasicAuth(id, sec), refresh("client_id", other), "", "invalid_request", "client_id in the body differs from the Authorization header"},
		{"client_secret_post", "", refresh("client_id", id, "client_secret", sec), oauth.AuthSecretPost, "invalid_grant", through},
		{"two methods: Basic and client_secret", oauthtest.BasicAuth(id, sec), refresh("client_secret", sec), "", "invalid_request", "use one client authentication method"},
		{"two methods, the body's secret empty", oauthtest.BasicAuth(id, sec), refresh("client_secret", ""), "", "invalid_request", "use one client authentication method"},
		{"malformed Basic header", "Basic !!!", refresh("client_id", id, "client_secret", sec), "", "invalid_client", "not valid HTTP Basic"},
		{"another scheme", "Bearer gat_x", refresh(), "", "invalid_client", "not valid HTTP Basic"},
		{"no credentials at all", "", refresh(), "", "invalid_client", "client authentication is required"},
		{"confidential client with client_id alone", "", refresh("client_id", id), "", "invalid_client", "this client must authenticate with its client secret"},
		{"wrong secret, Basic", oauthtest.BasicAuth(id, "wrong"), refresh(), "", "invalid_client", "unknown client or bad credentials"},
		{"wrong secret, post", "", refresh("client_id", id, "client_secret", "wrong"), "", "invalid_client", "unknown client or bad credentials"},
		{"empty secret, post", "", refresh("client_id", id, "client_secret", ""), "", "invalid_client", "unknown client or bad credentials"},
		{"another client's secret", oauthtest.BasicAuth(other, sec), refresh(), "", "invalid_client", "unknown client or bad credentials"},
		{"unknown client: as a wrong secret", oauthtest.BasicAuth("no-such-client", sec), refresh(), "", "invalid_client", "unknown client or bad credentials"},
		{"client_id longer than any", "", refresh("client_id", strings.Repeat("c", 129), "client_secret", "x"), "", "invalid_client", "unknown client or bad credentials"},
		{"public client, client_id alone (none)", "", refresh("client_id", pub), oauth.AuthNone, "invalid_grant", through},
		{"public client, Basic with an empty secret is none", oauthtest.BasicAuth(pub, ""), refresh(), oauth.AuthNone, "invalid_grant", through},
		{"public client presenting a secret, Basic", oauthtest.BasicAuth(pub, "s"), refresh(), "", "invalid_client", "public clients do not use a client secret"},
		{"public client presenting a secret, post", "", refresh("client_id", pub, "client_secret", "s"), "", "invalid_client", "public clients do not use a client secret"},
		{"public client, empty client_secret in the body", "", refresh("client_id", pub, "client_secret", ""), "", "invalid_client", "public clients do not use a client secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &oauth.ClientRequest{Form: tc.form, Authorization: tc.authorization, RemoteAddr: "192.0.2.1"}
			_, err := c.Server.Token(context.Background(), r)
			oauthtest.WantError(t, err, tc.code, tc.desc)
			switch tc.code {
			case "invalid_client":
				wantStatus(t, err, http.StatusUnauthorized)
				// Rule 19: WWW-Authenticate answers a client that used
				// the Authorization header, and only such a client.
				wantBasic := strings.HasPrefix(strings.ToLower(tc.authorization), "basic ")
				if got := oauth.InvalidClientWithBasic(err, r); got != wantBasic {
					t.Fatalf("InvalidClientWithBasic = %v, want %v", got, wantBasic)
				}
			default:
				wantStatus(t, err, http.StatusBadRequest)
				if oauth.InvalidClientWithBasic(err, r) {
					t.Fatal("InvalidClientWithBasic for an error that is not invalid_client")
				}
			}
			if tc.method != "" {
				a, aerr := c.Server.AuthenticateClient(context.Background(), r)
				if aerr != nil || a.Method != tc.method {
					t.Fatalf("AuthenticateClient: %+v %v, want method %s", a, aerr, tc.method)
				}
			}
		})
	}
}

// Rule 21: failed client authentications are counted per client and
// per address, and once the limiter says wait, the answer is 429 with
// Retry-After in whole seconds (rounded up). Only failures are throttled:
// a client presenting its secret, or a public client, is never locked
// out by someone else's failures under its (public) client ID. Requests
// refused before a client is named are not counted.
func TestRule21_FailedClientAuthenticationThrottled(t *testing.T) {
	t.Parallel()
	lim := &oauthtest.FakeLimiter{}
	c := oauthtest.NewCore(t, nil, func(o *oauth.Options) { o.ClientThrottle = lim })
	id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}})
	pub, _ := c.Client(oauth.Client{Public: true})
	cc := form("grant_type", "client_credentials")
	refresh := form("grant_type", "refresh_token", "refresh_token", "grt_unknown")

	counted := []struct {
		name, authorization string
		form                url.Values
		account             string
	}{
		{"wrong secret", oauthtest.BasicAuth(id, "wrong"), cc, id},
		{"unknown client", oauthtest.BasicAuth("guess", "x"), cc, "guess"},
		{"confidential client without secret", "", form("grant_type", "client_credentials", "client_id", id), id},
		{"public client with a secret", oauthtest.BasicAuth(pub, "x"), refresh, pub},
	}
	for _, tc := range counted {
		t.Run("counted: "+tc.name, func(t *testing.T) {
			before := len(lim.Calls())
			_, err := post(c, tc.authorization, tc.form)
			oauthtest.WantError(t, err, "invalid_client", "")
			want := []string{"blocked " + tc.account + " 192.0.2.1", "fail " + tc.account + " 192.0.2.1"}
			if got := lim.Calls()[before:]; !slices.Equal(got, want) {
				t.Fatalf("limiter calls %q, want %q", got, want)
			}
		})
	}
	notCounted := []struct {
		name, authorization string
		form                url.Values
	}{
		{"no credentials", "", cc},
		{"malformed Basic", "Basic !!!", cc},
		{"two methods", oauthtest.BasicAuth(id, sec), form("grant_type", "client_credentials", "client_secret", sec)},
		{"the right secret", oauthtest.BasicAuth(id, sec), cc},
		{"a public client (none)", "", form("grant_type", "refresh_token", "refresh_token", "grt_unknown", "client_id", pub)},
	}
	for _, tc := range notCounted {
		t.Run("not counted: "+tc.name, func(t *testing.T) {
			before := len(lim.Calls())
			_, _ = post(c, tc.authorization, tc.form)
			if got := lim.Calls()[before:]; len(got) != 0 {
				t.Fatalf("limiter told %q", got)
			}
		})
	}

	t.Run("over the limit: 429 with Retry-After rounded up", func(t *testing.T) {
		for wait, want := range map[time.Duration]int{1500 * time.Millisecond: 2, 10 * time.Millisecond: 1, time.Minute: 60} {
			lim.SetWait(wait)
			before := len(lim.Calls())
			_, err := post(c, oauthtest.BasicAuth(id, "wrong"), cc)
			oauthtest.WantError(t, err, "too_many_requests", "too many failed client authentications")
			wantStatus(t, err, http.StatusTooManyRequests)
			if got := oauth.AsError(err).RetryAfter; got != want {
				t.Fatalf("wait %v: Retry-After %d, want %d", wait, got, want)
			}
			if got := lim.Calls()[before:]; !slices.Equal(got, []string{"blocked " + id + " 192.0.2.1"}) {
				t.Fatalf("a refused attempt was counted again: %q", got)
			}
		}
	})
	t.Run("while blocked, the right secret and public clients get through", func(t *testing.T) {
		lim.SetWait(time.Hour)
		if resp, err := post(c, oauthtest.BasicAuth(id, sec), cc); err != nil || resp.AccessToken == "" {
			t.Fatalf("right secret while blocked: %+v %v", resp, err)
		}
		_, err := post(c, "", form("grant_type", "refresh_token", "refresh_token", "grt_unknown", "client_id", pub))
		oauthtest.WantError(t, err, "invalid_grant", "the refresh token is invalid")
	})
	t.Run("the request's own throttle counts instead of the server's", func(t *testing.T) {
		lim.SetWait(0)
		own := &oauthtest.FakeLimiter{}
		before := len(lim.Calls())
		r := &oauth.ClientRequest{Form: cc, Authorization: oauthtest.BasicAuth(id, "wrong"), RemoteAddr: "198.51.100.7", ClientThrottle: own}
		_, err := c.Server.Token(context.Background(), r)
		oauthtest.WantError(t, err, "invalid_client", "")
		if got := own.Calls(); !slices.Equal(got, []string{"blocked " + id + " 198.51.100.7", "fail " + id + " 198.51.100.7"}) {
			t.Fatalf("request throttle told %q", got)
		}
		if got := lim.Calls()[before:]; len(got) != 0 {
			t.Fatalf("server throttle told %q", got)
		}
	})
	t.Run("a limiter failure is server_error", func(t *testing.T) {
		lim.Err = errors.New("redis down")
		defer func() { lim.Err = nil }()
		_, err := post(c, oauthtest.BasicAuth(id, "wrong"), cc)
		oauthtest.WantError(t, err, "server_error", "")
		wantStatus(t, err, http.StatusInternalServerError)
	})
}

// Rule 32: a client may use only its grant types (an empty list means
// authorization_code and refresh_token), checked once it is
// authenticated: unauthorized_client, whatever the grant.
func TestRule32_ClientMayUseOnlyItsGrantTypes(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil, oauthtest.WithPolicy(func(p *oauth.Policy) { p.AllowPasswordGrant = true }))
	dflt, dfltSec := c.Client(oauth.Client{})
	codeOnly, codeSec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantAuthorizationCode}})
	machine, machineSec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}})
	cases := []struct {
		name, id, secret string
		form             url.Values
		code, desc       string
	}{
		{"default list: no client_credentials", dflt, dfltSec, form("grant_type", "client_credentials"), "unauthorized_client", "may not use the client_credentials grant"},
		{"default list: no password", dflt, dfltSec, form("grant_type", "password", "username", "a", "password", "b"), "unauthorized_client", "may not use the password grant"},
		{"default list: no device grant", dflt, dfltSec, form("grant_type", oauth.GrantDeviceCode, "device_code", "x"), "unauthorized_client", "may not use the " + oauth.GrantDeviceCode + " grant"},
		{"default list: no token exchange", dflt, dfltSec, form("grant_type", oauth.GrantTokenExchange), "unauthorized_client", "token-exchange grant"},
		{"default list: refresh_token allowed", dflt, dfltSec, form("grant_type", "refresh_token", "refresh_token", "x"), "invalid_grant", "the refresh token is invalid"},
		{"code only: no refresh_token", codeOnly, codeSec, form("grant_type", "refresh_token", "refresh_token", "x"), "unauthorized_client", "may not use the refresh_token grant"},
		{"client_credentials only: no code", machine, machineSec, form("grant_type", "authorization_code", "code", "x"), "unauthorized_client", "may not use the authorization_code grant"},
		{"client_credentials only: its grant", machine, machineSec, form("grant_type", "client_credentials"), "", ""},
		{"authentication comes first", machine, "wrong", form("grant_type", "authorization_code", "code", "x"), "invalid_client", "unknown client or bad credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Token(tc.id, tc.secret, tc.form)
			if tc.code == "" {
				if err != nil || resp.AccessToken == "" {
					t.Fatalf("refused: %+v %v", resp, err)
				}
				return
			}
			oauthtest.WantError(t, err, tc.code, tc.desc)
			if tc.code == "unauthorized_client" {
				wantStatus(t, err, http.StatusBadRequest)
			}
		})
	}
}

// switchPolicy is a PolicySource whose policy a test changes between
// requests, and which counts how often it is read.
type switchPolicy struct {
	password atomic.Bool
	fail     atomic.Bool
	reads    atomic.Int32
}

func (s *switchPolicy) Policy(context.Context) (oauth.Policy, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return oauth.Policy{}, errors.New("settings table unreadable")
	}
	p := oauthtest.DefaultPolicy
	p.AllowPasswordGrant = s.password.Load()
	return p, nil
}

// The policy is read once per request, so that a change of the settings
// applies on the next request; a policy that cannot be read is
// server_error.
func TestTokenEndpointReadsThePolicyPerRequest(t *testing.T) {
	t.Parallel()
	pol := &switchPolicy{}
	c := oauthtest.NewCore(t, nil, func(o *oauth.Options) { o.Policy = pol })
	id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantPassword}})
	c.User("alice", "pw")
	pw := form("grant_type", "password", "username", "alice", "password", "pw")
	_, err := c.Token(id, sec, pw)
	oauthtest.WantError(t, err, "unsupported_grant_type", "disabled")
	pol.password.Store(true)
	pol.reads.Store(0)
	if resp, err := c.Token(id, sec, pw); err != nil || resp.AccessToken == "" {
		t.Fatalf("after the setting changed: %+v %v", resp, err)
	}
	if n := pol.reads.Load(); n != 1 {
		t.Errorf("policy read %d times in one request", n)
	}
	pol.fail.Store(true)
	_, err = c.Token(id, sec, pw)
	oauthtest.WantError(t, err, "server_error", "the server could not complete the request")
}

// failingModel fails every client lookup with an internal error.
type failingModel struct{ *oauthtest.MemModel }

var errDatabase = errors.New(`pq: relation "clients" does not exist`)

func (failingModel) GetClient(context.Context, string) (*oauth.Client, error) {
	return nil, errDatabase
}

// An internal failure is server_error (500) that says nothing of its
// cause; the cause stays reachable for the log.
func TestTokenEndpointHidesInternalErrors(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil, func(o *oauth.Options) { o.Model = failingModel{o.Model.(*oauthtest.MemModel)} })
	_, err := c.Token("some-client", "secret", form("grant_type", "client_credentials"))
	oauthtest.WantError(t, err, "server_error", "the server could not complete the request")
	wantStatus(t, err, http.StatusInternalServerError)
	if strings.Contains(oauth.AsError(err).Description, "pq") || !errors.Is(err, errDatabase) {
		t.Fatalf("cause shown or lost: %v", err)
	}
}

// A successful answer (RFC 6749 §5.1): a Bearer access token of 256
// random bits behind its prefix, expiring after access_token_lifetime,
// stored as its digest with the client, user, scope and grant it belongs
// to (rule 22).
func TestTokenResponseShape(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil, oauthtest.WithPolicy(func(p *oauth.Policy) { p.AccessTokenLifetime = 10 * time.Minute }))
	id, sec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}})
	u := c.User("alice", "pw")
	resp := c.CodeTokens(id, sec, u, "openid user.read")
	if resp.TokenType != "Bearer" || resp.ExpiresIn != 600 || resp.Scope != "openid user.read" || resp.IssuedTokenType != "" || resp.IDToken != "" {
		t.Fatalf("response %+v", resp)
	}
	for _, tok := range []struct{ plain, prefix, kind string }{
		{resp.AccessToken, oauth.AccessTokenPrefix, oauth.KindAccess}, {resp.RefreshToken, oauth.RefreshTokenPrefix, oauth.KindRefresh},
	} {
		if !strings.HasPrefix(tok.plain, tok.prefix) || len(tok.plain) != len(tok.prefix)+43 {
			t.Errorf("%s token %q: want %s and 43 base64url characters (256 bits)", tok.kind, tok.plain, tok.prefix)
		}
		st := c.StoredToken(tok.plain)
		if st.Kind != tok.kind || st.ClientID != id || st.UserID == nil || *st.UserID != u.ID || st.Scope != "openid user.read" || !st.IssuedAt.Equal(c.Now()) {
			t.Errorf("stored %s token %+v", tok.kind, st)
		}
	}
	if a, r := c.StoredToken(resp.AccessToken), c.StoredToken(resp.RefreshToken); a.FamilyID == "" || a.FamilyID != r.FamilyID ||
		!a.ExpiresAt.Equal(c.Now().Add(10*time.Minute)) || !r.ExpiresAt.Equal(c.Now().Add(oauthtest.DefaultPolicy.RefreshTokenLifetime)) {
		t.Errorf("family or expiry: access %+v refresh %+v", a, r)
	}
}

// RFC 9068: with access_token_format jwt and a signer, access tokens are
// JWTs ("typ" at+jwt) for their resources (aud: the built-in {issuer}/api
// of user.read; the issuer for a token of scopes in no resource), sub the user's
// subject or, without a user, the client ID; each with its own jti. The
// stored digest is the JWT's. Without a signer the format falls back to
// opaque.
func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	jwtPolicy := oauthtest.WithPolicy(func(p *oauth.Policy) { p.AccessTokenFormat = oauth.AccessTokenFormatJWT })
	c := oauthtest.NewCore(t, []oauth.Scope{{ID: "jobs.run", Machine: true}}, jwtPolicy, oauthtest.WithSigner)
	id, sec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantClientCredentials}, Scopes: []string{"user.read", "jobs.run"}})
	u := c.User("alice", "pw")
	cases := []struct {
		name  string
		resp  func() *oauth.TokenResponse
		sub   string
		scope string
		aud   string
	}{
		// user.read belongs to the built-in resource: that is the aud.
		{"user token", func() *oauth.TokenResponse { return c.CodeTokens(id, sec, u, "user.read") }, u.Subject, "user.read",
			"https://gatehouse.test/api"},
		{"client-credentials token", func() *oauth.TokenResponse {
			resp, err := c.Token(id, sec, form("grant_type", "client_credentials"))
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, id, "jobs.run", "https://gatehouse.test"},
	}
	jtis := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.resp()
			var cl oauth.AccessTokenClaims
			c.Claims(resp.AccessToken, oauth.TypeAccessToken, &cl)
			now := c.Now().Unix()
			if cl.Issuer != "https://gatehouse.test" || !slices.Equal(cl.Audience, oauth.Audience{tc.aud}) || cl.Subject != tc.sub || cl.ClientID != id ||
				cl.Scope != tc.scope || cl.IssuedAt != now || cl.Expiry != now+3600 || cl.JTI == "" || jtis[cl.JTI] {
				t.Fatalf("claims %+v", cl)
			}
			jtis[cl.JTI] = true
			if st := c.StoredToken(resp.AccessToken); st.Kind != oauth.KindAccess || st.Scope != tc.scope {
				t.Fatalf("stored %+v", st)
			}
		})
	}
	t.Run("no signer: opaque", func(t *testing.T) {
		c := oauthtest.NewCore(t, nil, jwtPolicy)
		id, sec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}})
		if resp := c.CodeTokens(id, sec, c.User("bob", "pw"), "user.read"); !strings.HasPrefix(resp.AccessToken, oauth.AccessTokenPrefix) {
			t.Fatalf("access token %q", resp.AccessToken)
		}
	})
}
