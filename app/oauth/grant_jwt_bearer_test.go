package oauth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
)

// Tests of the JWT bearer grant (grant_jwt_bearer.go; RFC 7523 §2.1, §3).

const (
	bearerIss   = "https://ci.example.com"
	bearerToken = testIssuer + "/oauth/token"
)

// bearerFixture is a core with a trusted issuer (one EC key, kid ci-1)
// mapping repo:acme/app to deploy, ghost to a user that does not exist
// and off to a disabled user, allowing openid, email and user.read for
// 10 minutes; a confidential client with the grant; and other clients.
type bearerFixture struct {
	c          *oauthtest.Core
	key, other signingKey
	id, sec    string
	deploy     *oauth.User
	narrowID   string // a client allowed only user.read
	narrowSec  string
	noGrantID  string
	noGrantSec string
	publicID   string
}

func newBearerFixture(t *testing.T) *bearerFixture {
	t.Helper()
	c, _ := newAssertionCore(t)
	f := &bearerFixture{c: c, key: newECKey(t, "ci-1"), other: newECKey(t, "ci-1")}
	f.deploy = c.User("deploy", "pw")
	off := &oauth.User{Subject: "sub-off", Username: "off", Role: "user", Disabled: true}
	if err := c.Model.CreateUser(context.Background(), off); err != nil {
		t.Fatal(err)
	}
	if err := c.Model.CreateTrustedIssuer(context.Background(), oauth.TrustedIssuer{Issuer: bearerIss, JWKS: jwksJSON(t, f.key),
		Subjects: map[string]string{"repo:acme/app": "deploy", "ghost": "nobody", "off": "off"},
		Scopes:   []string{"email", "openid", "user.read"}, MaxLifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	grants := []string{oauth.GrantJWTBearer, oauth.GrantRefreshToken}
	f.id, f.sec = c.Client(oauth.Client{GrantTypes: grants})
	f.narrowID, f.narrowSec = c.Client(oauth.Client{GrantTypes: grants, Scopes: []string{"user.read", "profile"}})
	f.noGrantID, f.noGrantSec = c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}})
	f.publicID, _ = c.Client(oauth.Client{Public: true, GrantTypes: grants})
	return f
}

// claims are a valid assertion's claims now, kv replacing them (nil
// deletes).
func (f *bearerFixture) claims(kv ...any) map[string]any {
	now := f.c.Now()
	c := map[string]any{"iss": bearerIss, "sub": "repo:acme/app", "aud": testIssuer, "jti": base64.RawURLEncoding.EncodeToString(randBytes(12)),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// assertion is the claims signed with the issuer's key.
func (f *bearerFixture) assertion(t *testing.T, kv ...any) string {
	t.Helper()
	return sign(t, f.key.alg, f.key.priv, f.key.kid, f.claims(kv...))
}

func bearerForm(assertion string, kv ...string) url.Values {
	v := url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {assertion}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// An assertion of a trusted issuer gets an access token for the mapped
// user, with the issuer's scopes the client may have, and nothing else:
// no refresh token (even for a client with the refresh grant), no ID
// token (even with openid); aud may be the issuer or the token endpoint.
func TestJWTBearerIssuesAccessTokenForMappedUser(t *testing.T) {
	t.Parallel()
	f := newBearerFixture(t)
	for _, aud := range []any{testIssuer, bearerToken, []string{"https://elsewhere.example", bearerToken}} {
		resp, err := f.c.Token(f.id, f.sec, bearerForm(f.assertion(t, "aud", aud)))
		if err != nil {
			t.Fatalf("aud %v: %v", aud, err)
		}
		if resp.RefreshToken != "" || resp.IDToken != "" || resp.TokenType != "Bearer" || resp.Scope != "email openid user.read" {
			t.Fatalf("aud %v: answered %+v", aud, resp)
		}
		tok, err := f.c.Model.GetToken(context.Background(), secret.Digest(resp.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		if tok.UserID == nil || *tok.UserID != f.deploy.ID || tok.ClientID != f.id || tok.Kind != oauth.KindAccess {
			t.Fatalf("stored %+v", tok)
		}
	}
	var accepted int
	for _, ev := range f.c.Events() {
		if ev.Kind == oauth.SecurityAssertionAccepted {
			accepted++
			if ev.Issuer != bearerIss || ev.Subject != "repo:acme/app" || ev.Username != "deploy" || ev.ClientID != f.id || ev.UserID == nil || *ev.UserID != f.deploy.ID {
				t.Errorf("event %+v", ev)
			}
		}
	}
	if accepted != 3 {
		t.Errorf("%d accepted events, want 3", accepted)
	}
}

// Scopes: the parameter, else the assertion's scope claim (as
// golang.org/x/oauth2/jwt sends it), else every issuer scope the client
// may have; never outside the issuer's scopes, the claim or the
// client's.
func TestJWTBearerScopes(t *testing.T) {
	t.Parallel()
	f := newBearerFixture(t)
	cases := []struct {
		name, id, sec string
		claims        []any
		scope         string
		want          string // granted scope
		code, wantErr string
	}{
		{"parameter", f.id, f.sec, nil, "user.read", "user.read", "", ""},
		{"claim", f.id, f.sec, []any{"scope", "openid email"}, "", "email openid", "", ""},
		{"parameter within claim", f.id, f.sec, []any{"scope", "openid email"}, "email", "email", "", ""},
		{"parameter wider than claim", f.id, f.sec, []any{"scope", "email"}, "email openid", "", "invalid_scope", "wider than the assertion's scope claim"},
		{"claim not a string", f.id, f.sec, []any{"scope", []string{"email"}}, "", "", "invalid_grant", "scope claim is not a space-separated string"},
		{"outside the issuer's", f.id, f.sec, nil, "openid profile", "", "invalid_scope", `scope "profile" is not allowed for assertions of this issuer`},
		{"offline_access", f.id, f.sec, nil, "offline_access", "", "invalid_scope", `"offline_access" is not allowed for assertions of this issuer`},
		{"claim outside the issuer's", f.id, f.sec, []any{"scope", "profile"}, "", "", "invalid_scope", `"profile" is not allowed for assertions`},
		{"unknown scope", f.id, f.sec, nil, "nope", "", "invalid_scope", `"nope" is not allowed for assertions`},
		{"narrow client: default", f.narrowID, f.narrowSec, nil, "", "user.read", "", ""},
		{"narrow client: not its scope", f.narrowID, f.narrowSec, nil, "email", "", "invalid_scope", `"email" is not allowed for this client`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := bearerForm(f.assertion(t, tc.claims...))
			if tc.scope != "" {
				form.Set("scope", tc.scope)
			}
			resp, err := f.c.Token(tc.id, tc.sec, form)
			if tc.code != "" {
				if resp != nil {
					t.Fatalf("answered %+v", resp)
				}
				oauthtest.WantError(t, err, tc.code, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if resp.Scope != tc.want {
				t.Fatalf("scope %q, want %q", resp.Scope, tc.want)
			}
		})
	}
	// A client none of whose scopes the issuer allows gets nothing.
	id, sec := f.c.Client(oauth.Client{GrantTypes: []string{oauth.GrantJWTBearer}, Scopes: []string{"profile"}})
	_, err := f.c.Token(id, sec, bearerForm(f.assertion(t)))
	oauthtest.WantError(t, err, "invalid_scope", "none of this issuer's scopes (email openid user.read) is allowed for this client")
}

// Every refusal names its cause; nothing is issued.
func TestJWTBearerRefusals(t *testing.T) {
	t.Parallel()
	f := newBearerFixture(t)
	now := f.c.Now()
	replayed := f.assertion(t)
	if _, err := f.c.Token(f.id, f.sec, bearerForm(replayed)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	rsa := newRSAKey(t, "ci-1", jose.RS256)
	hsKey := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name    string
		id, sec string
		form    url.Values
		code    string
		wantErr string
		noEvent bool // refused before the issuer is known
	}{
		{"no assertion", f.id, f.sec, url.Values{"grant_type": {oauth.GrantJWTBearer}}, "invalid_request", "the request has no assertion", true},
		{"not a JWT", f.id, f.sec, bearerForm("not-a-jwt"), "invalid_grant", "not a signed JWT", true},
		{"unknown issuer", f.id, f.sec, bearerForm(f.assertion(t, "iss", "https://evil.example")), "invalid_grant", `issuer "https://evil.example" is not trusted`, true},
		{"issuer in another spelling", f.id, f.sec, bearerForm(f.assertion(t, "iss", bearerIss+"/")), "invalid_grant", "is not trusted", true},
		{"no iss", f.id, f.sec, bearerForm(f.assertion(t, "iss", nil)), "invalid_grant", "has no iss", true},
		{"bad signature (another key, same kid)", f.id, f.sec, bearerForm(sign(t, f.other.alg, f.other.priv, "ci-1", f.claims())), "invalid_grant", "signature does not verify", false},
		{"RSA key the issuer does not have", f.id, f.sec, bearerForm(sign(t, rsa.alg, rsa.priv, "ci-1", f.claims())), "invalid_grant", "no public key has kid", false},
		{"HS256", f.id, f.sec, bearerForm(sign(t, jose.HS256, hsKey, "ci-1", f.claims())), "invalid_grant", "algorithm HS256 is not allowed", false},
		{"expired", f.id, f.sec, bearerForm(f.assertion(t, "iat", now.Add(-10*time.Minute).Unix(), "exp", now.Add(-2*time.Minute).Unix())), "invalid_grant", "expired at", false},
		{"no exp", f.id, f.sec, bearerForm(f.assertion(t, "exp", nil)), "invalid_grant", "has no exp", false},
		{"exp too far ahead", f.id, f.sec, bearerForm(f.assertion(t, "iat", nil, "exp", now.Add(12*time.Minute).Unix())), "invalid_grant", "more than 10m0s ahead", false},
		{"lifetime too long", f.id, f.sec, bearerForm(f.assertion(t, "iat", now.Add(-9*time.Minute).Unix(), "exp", now.Add(3*time.Minute).Unix())), "invalid_grant", "lives longer than 10m0s", false},
		{"issued in the future", f.id, f.sec, bearerForm(f.assertion(t, "iat", now.Add(5*time.Minute).Unix(), "exp", now.Add(6*time.Minute).Unix())), "invalid_grant", "issued in the future", false},
		{"not yet valid", f.id, f.sec, bearerForm(f.assertion(t, "nbf", now.Add(3*time.Minute).Unix())), "invalid_grant", "not valid before", false},
		{"replayed jti", f.id, f.sec, bearerForm(replayed), "invalid_grant", "was used before (replayed assertion)", false},
		{"wrong aud", f.id, f.sec, bearerForm(f.assertion(t, "aud", "https://other.example")), "invalid_grant", "names neither the issuer", false},
		{"no aud", f.id, f.sec, bearerForm(f.assertion(t, "aud", nil)), "invalid_grant", "has no aud", false},
		{"unmapped sub", f.id, f.sec, bearerForm(f.assertion(t, "sub", "repo:acme/other")), "invalid_grant", `sub "repo:acme/other" is not mapped to a user`, false},
		{"user gone", f.id, f.sec, bearerForm(f.assertion(t, "sub", "ghost")), "invalid_grant", "mapped to no longer exists", false},
		{"disabled user", f.id, f.sec, bearerForm(f.assertion(t, "sub", "off")), "invalid_grant", "mapped to is disabled", false},
		{"no sub", f.id, f.sec, bearerForm(f.assertion(t, "sub", nil)), "invalid_grant", "has no sub", false},
		{"client without the grant", f.noGrantID, f.noGrantSec, bearerForm(f.assertion(t)), "unauthorized_client", "may not use the " + oauth.GrantJWTBearer + " grant", true},
		{"public client", f.publicID, "", bearerForm(f.assertion(t)), "unauthorized_client", "public clients cannot use the JWT bearer grant", true},
		{"no client authentication", "", "", bearerForm(f.assertion(t)), "invalid_client", "client authentication is required", true},
		{"wrong client secret", f.id, "gcs_wrong", bearerForm(f.assertion(t)), "invalid_client", "bad credentials", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.c.Events())
			resp, err := f.c.Token(tc.id, tc.sec, tc.form)
			if resp != nil {
				t.Fatalf("answered %+v", resp)
			}
			oauthtest.WantError(t, err, tc.code, tc.wantErr)
			evs := f.c.Events()[before:]
			if tc.noEvent {
				for _, ev := range evs {
					if strings.HasPrefix(ev.Kind, "trust.") {
						t.Errorf("event for a request refused before the issuer was known: %+v", ev)
					}
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != oauth.SecurityAssertionRefused || evs[0].Issuer != bearerIss || evs[0].ClientID != f.id ||
				!strings.Contains(evs[0].Reason, tc.wantErr) {
				t.Errorf("events %+v, want one %s naming the cause", evs, oauth.SecurityAssertionRefused)
			}
		})
	}
}

// The issuer's own lifetime is the bound: an hour-long assertion (what
// golang.org/x/oauth2/jwt signs) passes for an issuer allowing an hour
// and fails for one allowing 10 minutes; a deleted or changed trust
// takes effect on the next request.
func TestJWTBearerIssuerLifetimeAndKeysFromURI(t *testing.T) {
	t.Parallel()
	c, keys := newAssertionCore(t)
	c.User("deploy", "pw")
	key := newRSAKey(t, "k2", jose.RS256)
	keys.set("https://hour.example/jwks", &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.jwk()}})
	ctx := context.Background()
	if err := c.Model.CreateTrustedIssuer(ctx, oauth.TrustedIssuer{Issuer: "https://hour.example", JWKSURI: "https://hour.example/jwks",
		Subjects: map[string]string{"bot": "deploy"}, Scopes: []string{"user.read"}, MaxLifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantJWTBearer}})
	now := c.Now()
	hour := func() string {
		return sign(t, key.alg, key.priv, key.kid, map[string]any{"iss": "https://hour.example", "sub": "bot", "aud": bearerToken,
			"jti": base64.RawURLEncoding.EncodeToString(randBytes(12)), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}
	resp, err := c.Token(id, sec, bearerForm(hour()))
	if err != nil || resp.Scope != "user.read" {
		t.Fatalf("hour-long assertion: %+v %v", resp, err)
	}
	over := sign(t, key.alg, key.priv, key.kid, map[string]any{"iss": "https://hour.example", "sub": "bot", "aud": bearerToken,
		"jti": "x", "iat": now.Unix(), "exp": now.Add(time.Hour + 2*time.Minute).Unix()})
	_, err = c.Token(id, sec, bearerForm(over))
	oauthtest.WantError(t, err, "invalid_grant", "more than 1h0m0s ahead")
}

// An assertion without jti (golang.org/x/oauth2/jwt sends none) is
// accepted once: its signed content is then the single-use identifier,
// so neither the same bytes nor the same claims under a fresh ECDSA
// signature get a second token; other content (a new iat) does.
func TestJWTBearerWithoutJTIIsSingleUse(t *testing.T) {
	t.Parallel()
	f := newBearerFixture(t)
	claims := f.claims("jti", nil)
	first := sign(t, f.key.alg, f.key.priv, f.key.kid, claims)
	if _, err := f.c.Token(f.id, f.sec, bearerForm(first)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	resigned := sign(t, f.key.alg, f.key.priv, f.key.kid, claims)
	if resigned == first {
		t.Fatal("ECDSA signatures should differ")
	}
	for name, a := range map[string]string{"same bytes": first, "same claims, new signature": resigned} {
		t.Run(name, func(t *testing.T) {
			_, err := f.c.Token(f.id, f.sec, bearerForm(a))
			oauthtest.WantError(t, err, "invalid_grant", "the assertion (without jti) was used before (replayed assertion)")
		})
	}
	f.c.Advance(time.Second)
	if _, err := f.c.Token(f.id, f.sec, bearerForm(f.assertion(t, "jti", nil))); err != nil {
		t.Fatalf("a new assertion without jti: %v", err)
	}
	// Client assertions still need their jti (AssertionPolicy.JTIOptional
	// is the bearer grant's alone).
	if _, err := f.c.Server.VerifyAssertion(context.Background(), f.assertion(t, "jti", nil, "iss", bearerIss),
		oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: bearerIss, Audiences: []string{testIssuer}, JWKS: jwksJSON(t, f.key)}); oauth.AssertionReason(err) != "the assertion has no jti" {
		t.Fatalf("client assertion without jti: %v", err)
	}
}

// The grant binds like every other grant (RFC 9449 §5): with a proof the
// access token is a DPoP token bound to the proof's key.
func TestJWTBearerBindsDPoP(t *testing.T) {
	t.Parallel()
	f := newBearerFixture(t)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	r := f.c.ClientRequest(f.id, f.sec, bearerForm(f.assertion(t)))
	r.DPoP = &oauth.DPoPRequest{Proofs: []string{k.Proof(http.MethodPost, bearerToken, oauthtest.ProofOptions{Now: f.c.Now()})},
		Method: http.MethodPost, URL: bearerToken}
	resp, err := f.c.Server.Token(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.c.Model.GetToken(context.Background(), secret.Digest(resp.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != oauth.TokenTypeDPoP || tok.Jkt != k.JKT() {
		t.Fatalf("token_type %q, stored jkt %q, want DPoP bound to %s", resp.TokenType, tok.Jkt, k.JKT())
	}
}
