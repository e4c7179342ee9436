package oauth_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of client authentication by JWT client assertions
// (clientauth.go: client_secret_jwt and private_key_jwt, RFC 7523 §2.2
// and §3, OIDC Core §9; rule 46) and of the methods a client registered.

const tokenEndpoint = testIssuer + "/oauth/token"

// jwtFixture is a core with a private_key_jwt client (pasted keys), a
// private_key_jwt client with a jwks_uri, a client_secret_jwt client and
// a client_secret_basic one.
type jwtFixture struct {
	c      *oauthtest.Core
	keys   *testKeys
	lim    *oauthtest.FakeLimiter
	pkj    string // private_key_jwt, pasted JWKS
	pkjKey signingKey
	uri    string // private_key_jwt, jwks_uri
	uriKey signingKey
	csj    string // client_secret_jwt
	csjSec string
	basic  string // client_secret_basic
	basSec string
	legacy string // method "" (a client made before the field)
	legSec string
	public string
}

var machineGrants = []string{oauth.GrantClientCredentials, oauth.GrantDeviceCode}

func newJWTFixture(t *testing.T) *jwtFixture {
	f := &jwtFixture{keys: &testKeys{}, lim: &oauthtest.FakeLimiter{}}
	f.c = oauthtest.NewCore(t, nil, func(o *oauth.Options) {
		o.Keys = f.keys
		o.TokenEndpoint = tokenEndpoint
		o.ClientThrottle = f.lim
	})
	f.pkjKey = newRSAKey(t, "rsa-1", jose.RS256)
	f.pkj = f.client(oauth.Client{TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: jwksJSON(t, f.pkjKey)})
	f.uriKey = newECKey(t, "ec-1")
	f.keys.set("https://client.example/jwks", &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.uriKey.jwk()}})
	f.uri = f.client(oauth.Client{TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKSURI: "https://client.example/jwks"})
	f.csj, f.csjSec = f.clientWithSecret(oauth.Client{TokenEndpointAuthMethod: oauth.AuthSecretJWT}, true)
	f.basic, f.basSec = f.clientWithSecret(oauth.Client{TokenEndpointAuthMethod: oauth.AuthSecretBasic}, false)
	f.legacy, f.legSec = f.clientWithSecret(oauth.Client{}, false)
	f.public = f.client(oauth.Client{Public: true, TokenEndpointAuthMethod: oauth.AuthNone})
	return f
}

// client registers a client with the machine grants and returns its ID.
func (f *jwtFixture) client(cl oauth.Client) string {
	id, _ := f.clientWithSecret(cl, false)
	return id
}

// clientWithSecret registers a client; keyed stores its secret as the
// HMAC key (client_secret_jwt).
func (f *jwtFixture) clientWithSecret(cl oauth.Client, keyed bool) (string, string) {
	f.c.T.Helper()
	cred := oauth.NewCredentials(cl.Public)
	cl.ID, cl.SecretHash, cl.Name, cl.GrantTypes = cred.ClientID, cred.SecretHash, "App", machineGrants
	if jwtMethodName(cl.TokenEndpointAuthMethod) {
		cl.SecretHash = nil // assertion clients: no secret digest needed
	}
	if keyed {
		cl.SecretKey = []byte(cred.Secret)
	}
	if err := f.c.Model.CreateClient(context.Background(), &cl); err != nil {
		f.c.T.Fatal(err)
	}
	return cred.ClientID, cred.Secret
}

func jwtMethodName(m string) bool { return m == oauth.AuthPrivateKeyJWT || m == oauth.AuthSecretJWT }

// assertion signs a client assertion for id with the key, the claims
// changed by kv (see claimsFor).
func (f *jwtFixture) assertion(k signingKey, id string, kv ...any) string {
	return sign(f.c.T, k.alg, k.priv, k.kid, claimsFor(id, testIssuer, f.c.Now(), kv...))
}

// hs256 signs a client_secret_jwt assertion with secret.
func (f *jwtFixture) hs256(id, secret string, kv ...any) string {
	return sign(f.c.T, jose.HS256, []byte(secret), "", claimsFor(id, testIssuer, f.c.Now(), kv...))
}

// assertionForm is a client_credentials request with the assertion.
func assertionForm(raw string, kv ...string) url.Values {
	v := form("grant_type", oauth.GrantClientCredentials, "client_assertion_type", oauth.ClientAssertionTypeJWT, "client_assertion", raw)
	return oauthtest.Change(v, kv...)
}

// authenticate runs AuthenticateClient on form (and Authorization) at
// endpoint.
func (f *jwtFixture) authenticate(endpoint, authorization string, v url.Values) (*oauth.AuthenticatedClient, error) {
	return f.c.Server.AuthenticateClient(context.Background(), &oauth.ClientRequest{Form: v, Authorization: authorization, RemoteAddr: "192.0.2.9", Endpoint: endpoint})
}

// Rule 46: a valid assertion authenticates — every allowed algorithm
// with private_key_jwt (pasted keys and jwks_uri), HS256 with
// client_secret_jwt — and issues tokens at the token endpoint; the
// client_id in the body is optional.
func TestRule46_ValidAssertionsAuthenticate(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	ps, ed := newRSAKey(t, "ps", jose.PS256), newEdKey(t, "ed")
	multi := f.client(oauth.Client{TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: jwksJSON(t, f.pkjKey, ps, ed, f.uriKey)})
	cases := []struct {
		name, id, raw, method string
		extra                 []string
	}{
		{"RS256 pasted", f.pkj, f.assertion(f.pkjKey, f.pkj), oauth.AuthPrivateKeyJWT, nil},
		{"RS256 with client_id", f.pkj, f.assertion(f.pkjKey, f.pkj), oauth.AuthPrivateKeyJWT, []string{"client_id", f.pkj}},
		{"ES256 jwks_uri", f.uri, f.assertion(f.uriKey, f.uri), oauth.AuthPrivateKeyJWT, nil},
		{"PS256", multi, f.assertion(ps, multi), oauth.AuthPrivateKeyJWT, nil},
		{"EdDSA", multi, f.assertion(ed, multi), oauth.AuthPrivateKeyJWT, nil},
		{"ES256 among others", multi, f.assertion(f.uriKey, multi), oauth.AuthPrivateKeyJWT, nil},
		{"HS256 client_secret_jwt", f.csj, f.hs256(f.csj, f.csjSec), oauth.AuthSecretJWT, nil},
		{"aud the token endpoint", f.pkj, f.assertion(f.pkjKey, f.pkj, "aud", tokenEndpoint), oauth.AuthPrivateKeyJWT, nil},
		{"aud an array with the issuer", f.pkj, f.assertion(f.pkjKey, f.pkj, "aud", []string{"https://other.example", testIssuer}), oauth.AuthPrivateKeyJWT, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := post(f.c, "", assertionForm(tc.raw, tc.extra...))
			if err != nil {
				t.Fatal(err)
			}
			if resp.AccessToken == "" {
				t.Fatal("no access token")
			}
			ac, err := f.authenticate(tokenEndpoint, "", assertionForm(f.reSign(tc.raw, tc.id)))
			if err != nil || ac.ID != tc.id || ac.Method != tc.method {
				t.Fatalf("AuthenticateClient = %+v, %v", ac, err)
			}
		})
	}
	if calls := f.lim.Calls(); len(calls) != 0 {
		t.Fatalf("successes touched the throttle: %v", calls)
	}
}

// reSign makes a fresh assertion (new jti) like raw for id: the same key
// as the case used, found by client.
func (f *jwtFixture) reSign(raw, id string) string {
	alg := headerAlgOf(raw)
	switch {
	case alg == "HS256":
		return f.hs256(id, f.csjSec)
	case id == f.uri:
		return f.assertion(f.uriKey, id)
	case id == f.pkj:
		return f.assertion(f.pkjKey, id)
	}
	// multi: the RSA key it also holds.
	return f.assertion(f.pkjKey, id)
}

func headerAlgOf(raw string) string {
	tok, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA, jose.HS256})
	if err != nil {
		return ""
	}
	return tok.Signatures[0].Header.Algorithm
}

// Rule 46: every refused assertion is 401 invalid_client naming the cause
// (never the generic "client authentication is required"), and counts as
// a failed authentication of its client.
func TestRule46_RefusedAssertions(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	other := newRSAKey(t, "rsa-1", jose.RS256) // not the client's key, same kid
	pubJWK, _ := f.pkjKey.jwk().MarshalJSON()
	replayed := f.assertion(f.pkjKey, f.pkj)
	if _, err := post(f.c, "", assertionForm(replayed)); err != nil {
		t.Fatal(err)
	}
	now := f.c.Now()
	cases := []struct {
		name, raw, want, account string
		extra                    []string
	}{
		{"replayed jti", replayed, "was used before", f.pkj, nil},
		{"wrong aud", f.assertion(f.pkjKey, f.pkj, "aud", "https://elsewhere.example"), "aud", f.pkj, nil},
		{"aud another endpoint", f.assertion(f.pkjKey, f.pkj, "aud", testIssuer+"/oauth/introspect"), "names neither", f.pkj, nil},
		{"expired", f.assertion(f.pkjKey, f.pkj, "exp", now.Add(-5*time.Minute).Unix(), "iat", now.Add(-6*time.Minute).Unix()), "expired", f.pkj, nil},
		{"exp too far ahead", f.assertion(f.pkjKey, f.pkj, "exp", now.Add(time.Hour).Unix()), "more than 5m0s ahead", f.pkj, nil},
		{"no jti", f.assertion(f.pkjKey, f.pkj, "jti", nil), "no jti", f.pkj, nil},
		{"no exp", f.assertion(f.pkjKey, f.pkj, "exp", nil), "no exp", f.pkj, nil},
		{"wrong signature", sign(t, jose.RS256, other.priv, "rsa-1", claimsFor(f.pkj, testIssuer, now)), "signature does not verify", f.pkj, nil},
		{"key of another client", f.assertion(f.uriKey, f.pkj), "unknown kid", f.pkj, nil},
		{"another client's key for its own id", f.assertion(f.pkjKey, f.uri), "unknown kid", f.uri, nil},
		{"unknown kid", sign(t, jose.RS256, f.pkjKey.priv, "rsa-9", claimsFor(f.pkj, testIssuer, now)), "unknown kid", f.pkj, nil},
		{"alg none", unsigned(claimsFor(f.pkj, testIssuer, now)), "alg none", "", nil},
		{"HS256 with the public key", sign(t, jose.HS256, pubJWK, "rsa-1", claimsFor(f.pkj, testIssuer, now)), "HS256 is not allowed", f.pkj, nil},
		{"HS256 with the public key, client_secret_jwt-style", sign(t, jose.HS256, pubJWK, "", claimsFor(f.uri, testIssuer, now)), "HS256 is not allowed", f.uri, nil},
		{"RS256 for a client_secret_jwt client", f.assertion(f.pkjKey, f.csj), "RS256 is not allowed", f.csj, nil},
		{"HS256 with a wrong secret", f.hs256(f.csj, f.basSec), "does not verify with the client secret", f.csj, nil},
		{"iss differs from sub", f.assertion(f.pkjKey, f.pkj, "iss", "someone-else"), "iss \"someone-else\" and sub", f.pkj, nil},
		{"client_id differs", f.assertion(f.pkjKey, f.pkj), "client_id in the body differs", f.uri, []string{"client_id", f.uri}},
		{"unknown client", f.assertion(f.pkjKey, "nobody"), "unknown client", "nobody", nil},
		{"secret client sends an assertion", f.hs256(f.basic, f.basSec), "it uses client_secret_basic", f.basic, nil},
		{"legacy client sends an assertion", f.hs256(f.legacy, f.legSec), "client_secret_basic or client_secret_post", f.legacy, nil},
		{"public client sends an assertion", f.assertion(f.pkjKey, f.public), "public client", f.public, nil},
		{"not a JWT", "not-a-jwt", "cannot be read", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.lim.Calls())
			_, err := post(f.c, "", assertionForm(tc.raw, tc.extra...))
			oauthtest.WantError(t, err, "invalid_client", tc.want)
			wantStatus(t, err, 401)
			if strings.Contains(oauth.AsError(err).Description, "client authentication is required") {
				t.Fatal("generic description")
			}
			calls := f.lim.Calls()[before:]
			if tc.account == "" {
				if len(calls) != 0 {
					t.Fatalf("throttle calls %v for a request naming no client", calls)
				}
				return
			}
			if len(calls) != 2 || calls[1] != "fail "+tc.account+" 192.0.2.1" {
				t.Fatalf("throttle calls %v, want blocked+fail for %s", calls, tc.account)
			}
		})
	}
}

// A client_secret_jwt client whose secret is not stored (made before, or
// sealed under another key secret) is told to rotate it.
func TestClientSecretJWTWithoutStoredSecret(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	id, sec := f.clientWithSecret(oauth.Client{TokenEndpointAuthMethod: oauth.AuthSecretJWT}, false)
	_, err := post(f.c, "", assertionForm(f.hs256(id, sec)))
	oauthtest.WantError(t, err, "invalid_client", "rotate the client secret")

	// A secret shorter than HS256's key size (an imported one) cannot
	// sign: the client is told so, not "bad signature".
	short := "pkj-short"
	if err := f.c.Model.CreateClient(context.Background(), &oauth.Client{ID: short, Name: "Short", GrantTypes: machineGrants,
		TokenEndpointAuthMethod: oauth.AuthSecretJWT, SecretKey: []byte("sixteen-byte-key")}); err != nil {
		t.Fatal(err)
	}
	_, err = post(f.c, "", assertionForm(sign(t, jose.HS256, []byte(strings.Repeat("k", 32)), "", claimsFor(short, testIssuer, f.c.Now()))))
	oauthtest.WantError(t, err, "invalid_client", "at least 32 bytes")
}

// A client presenting another method than the one it registered gets
// invalid_client naming the method expected; two methods at once are
// invalid_request.
func TestClientAuthMethodMismatch(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	cc := func(kv ...string) url.Values {
		return oauthtest.Change(form("grant_type", oauth.GrantClientCredentials), kv...)
	}
	cases := []struct {
		name, authorization string
		form                url.Values
		code, want          string
	}{
		{"client_secret_jwt client sends its secret in Basic", oauthtest.BasicAuth(f.csj, f.csjSec), cc(), "invalid_client", "authenticates with client_secret_jwt (a signed client_assertion), not with its client secret"},
		{"client_secret_jwt client sends its secret in the body", "", cc("client_id", f.csj, "client_secret", f.csjSec), "invalid_client", "authenticates with client_secret_jwt"},
		{"private_key_jwt client sends a secret", oauthtest.BasicAuth(f.pkj, "anything"), cc(), "invalid_client", "authenticates with private_key_jwt"},
		{"private_key_jwt client sends client_id alone", "", cc("client_id", f.pkj), "invalid_client", "send client_assertion_type " + oauth.ClientAssertionTypeJWT},
		{"Basic and an assertion", oauthtest.BasicAuth(f.basic, f.basSec), assertionForm(f.assertion(f.pkjKey, f.pkj)), "invalid_request", "not both Basic and client_assertion"},
		{"client_secret and an assertion", "", assertionForm(f.assertion(f.pkjKey, f.pkj), "client_secret", "x"), "invalid_request", "not both client_secret and client_assertion"},
		{"assertion without its type", "", cc("client_assertion", f.assertion(f.pkjKey, f.pkj)), "invalid_request", "needs client_assertion_type"},
		{"type without assertion", "", cc("client_assertion_type", oauth.ClientAssertionTypeJWT), "invalid_request", "without a client_assertion"},
		{"another assertion type", "", assertionForm(f.assertion(f.pkjKey, f.pkj), "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), "invalid_client", "is not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := post(f.c, tc.authorization, tc.form)
			oauthtest.WantError(t, err, tc.code, tc.want)
		})
	}
}

// client_secret_basic and client_secret_post are interchangeable, for a
// client registered with either one and for clients made before the field
// (""): the secret is the same and libraries probe both.
func TestSecretMethodsInterchangeable(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	post2, postSec := f.clientWithSecret(oauth.Client{TokenEndpointAuthMethod: oauth.AuthSecretPost}, false)
	for _, cl := range []struct{ id, sec string }{{f.basic, f.basSec}, {post2, postSec}, {f.legacy, f.legSec}} {
		if _, err := post(f.c, oauthtest.BasicAuth(cl.id, cl.sec), form("grant_type", oauth.GrantClientCredentials)); err != nil {
			t.Fatalf("%s Basic: %v", cl.id, err)
		}
		if _, err := post(f.c, "", form("grant_type", oauth.GrantClientCredentials, "client_id", cl.id, "client_secret", cl.sec)); err != nil {
			t.Fatalf("%s post: %v", cl.id, err)
		}
	}
	// A public client: client_id alone, as before.
	if ac, err := f.authenticate("", "", form("client_id", f.public)); err != nil || ac.Method != oauth.AuthNone {
		t.Fatalf("public: %+v %v", ac, err)
	}
}

// The same authentication at every client-authenticated endpoint:
// introspection, revocation and device authorization accept assertions
// whose aud is the issuer, the token endpoint or themselves; each refuses
// a replayed one.
func TestRule46_AssertionsAtEveryEndpoint(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	ctx := context.Background()
	tok, err := post(f.c, "", assertionForm(f.assertion(f.pkjKey, f.pkj)))
	if err != nil {
		t.Fatal(err)
	}
	endpoints := []struct {
		name, url string
		call      func(r *oauth.ClientRequest) error
	}{
		{"introspect", testIssuer + "/oauth/introspect", func(r *oauth.ClientRequest) error {
			r.Form.Set("token", tok.AccessToken)
			in, err := f.c.Server.Introspect(ctx, r)
			if err == nil && !in.Active {
				t.Errorf("introspection: token inactive")
			}
			return err
		}},
		{"revoke", testIssuer + "/oauth/revoke", func(r *oauth.ClientRequest) error {
			r.Form.Set("token", "gat_unknown")
			return f.c.Server.Revoke(ctx, r)
		}},
		{"device authorization", testIssuer + "/oauth/device/code", func(r *oauth.ClientRequest) error {
			_, err := f.c.Server.DeviceAuthorization(ctx, r)
			return err
		}},
	}
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			for _, aud := range []string{testIssuer, tokenEndpoint, ep.url} {
				for _, cl := range []struct {
					id  string
					raw func(kv ...any) string
				}{
					{f.pkj, func(kv ...any) string { return f.assertion(f.pkjKey, f.pkj, kv...) }},
					{f.csj, func(kv ...any) string { return f.hs256(f.csj, f.csjSec, kv...) }},
				} {
					raw := cl.raw("aud", aud)
					v := form("client_assertion_type", oauth.ClientAssertionTypeJWT, "client_assertion", raw)
					if err := ep.call(&oauth.ClientRequest{Form: v, RemoteAddr: "192.0.2.1", Endpoint: ep.url}); err != nil {
						t.Fatalf("%s aud %s: %v", cl.id, aud, err)
					}
					v = form("client_assertion_type", oauth.ClientAssertionTypeJWT, "client_assertion", raw)
					err := ep.call(&oauth.ClientRequest{Form: v, RemoteAddr: "192.0.2.1", Endpoint: ep.url})
					oauthtest.WantError(t, err, "invalid_client", "replayed")
				}
			}
			// Another endpoint's URL is not an aud here.
			raw := f.assertion(f.pkjKey, f.pkj, "aud", testIssuer+"/oauth/userinfo")
			v := form("client_assertion_type", oauth.ClientAssertionTypeJWT, "client_assertion", raw)
			oauthtest.WantError(t, ep.call(&oauth.ClientRequest{Form: v, RemoteAddr: "192.0.2.1", Endpoint: ep.url}), "invalid_client", "names neither")
			// A jwt client sending a secret is refused here too.
			v = form("client_id", f.csj, "client_secret", f.csjSec)
			oauthtest.WantError(t, ep.call(&oauth.ClientRequest{Form: v, RemoteAddr: "192.0.2.1", Endpoint: ep.url}), "invalid_client", "client_secret_jwt")
		})
	}
}
