package oauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of the assertion verifier (assertion.go; RFC 7523 §3, rule 46).

// testKeys is a KeySource over fixed sets: pasted sets as given (parsed
// with go-jose), and jwks_uri → a set that tests may replace. It counts
// refreshes.
type testKeys struct {
	mu        sync.Mutex
	byURI     map[string]*jose.JSONWebKeySet
	refreshes int
	fail      error
}

func (k *testKeys) PublicKeys(_ context.Context, jwks, jwksURI string, refresh bool) (*jose.JSONWebKeySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return nil, k.fail
	}
	if jwks != "" {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(jwks), &set); err != nil {
			return nil, err
		}
		return &set, nil
	}
	if refresh {
		k.refreshes++
	}
	set, ok := k.byURI[jwksURI]
	if !ok {
		return nil, errors.New("jwks_uri answered HTTP 404")
	}
	return set, nil
}

func (k *testKeys) set(uri string, set *jose.JSONWebKeySet) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byURI == nil {
		k.byURI = map[string]*jose.JSONWebKeySet{}
	}
	k.byURI[uri] = set
}

// signingKey is a private key with its kid and algorithm.
type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func newRSAKey(t testing.TB, kid string, alg jose.SignatureAlgorithm) signingKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: alg, priv: k}
}

func newECKey(t testing.TB, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.ES256, priv: k}
}

func newEdKey(t testing.TB, kid string) signingKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.EdDSA, priv: k}
}

// jwk is the public JWK of k.
func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig"}
}

// jwksJSON is a JWK Set of the public halves of keys, as JSON text.
func jwksJSON(t testing.TB, keys ...signingKey) string {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sign makes a compact JWS of claims with the key (kid in the header when
// set).
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// claimsFor are the claims of a valid client assertion of client id at
// now, with extra entries replacing them (nil deletes).
func claimsFor(id, aud string, now time.Time, kv ...any) map[string]any {
	c := map[string]any{"iss": id, "sub": id, "aud": aud, "jti": base64.RawURLEncoding.EncodeToString(randBytes(12)),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

const testIssuer = "https://gatehouse.test"

func newAssertionCore(t *testing.T) (*oauthtest.Core, *testKeys) {
	keys := &testKeys{}
	c := oauthtest.NewCore(t, nil, func(o *oauth.Options) {
		o.Keys = keys
		o.TokenEndpoint = testIssuer + "/oauth/token"
	})
	return c, keys
}

// Every algorithm of the allow-list verifies with its key, from a pasted
// set or a jwks_uri; the claims come back.
func TestVerifyAssertion_AllowedAlgorithms(t *testing.T) {
	t.Parallel()
	c, keys := newAssertionCore(t)
	ks := []signingKey{newRSAKey(t, "rs", jose.RS256), newRSAKey(t, "ps", jose.PS256), newECKey(t, "es"), newEdKey(t, "ed")}
	keys.set("https://client.example/jwks", &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{ks[0].jwk(), ks[1].jwk(), ks[2].jwk(), ks[3].jwk()}})
	pasted := jwksJSON(t, ks...)
	for _, k := range ks {
		for _, src := range []oauth.AssertionPolicy{{JWKS: pasted}, {JWKSURI: "https://client.example/jwks"}} {
			p := src
			p.Namespace, p.Issuer, p.Subject, p.Audiences = oauth.ReplayClientAssertion, "cid", "cid", []string{testIssuer}
			raw := sign(t, k.alg, k.priv, k.kid, claimsFor("cid", testIssuer, c.Now()))
			got, err := c.Server.VerifyAssertion(context.Background(), raw, p)
			if err != nil {
				t.Fatalf("%s: %v", k.alg, err)
			}
			if got.Issuer != "cid" || got.Subject != "cid" || got.KeyID != k.kid || got.Alg != string(k.alg) || got.ID == "" {
				t.Fatalf("%s: claims %+v", k.alg, got)
			}
		}
	}
}

// Each refusal names its cause.
func TestVerifyAssertion_Refusals(t *testing.T) {
	t.Parallel()
	c, keys := newAssertionCore(t)
	rsKey := newRSAKey(t, "k1", jose.RS256)
	other := newRSAKey(t, "k1", jose.RS256) // another party's key, same kid
	ecKey := newECKey(t, "ec")
	pasted := jwksJSON(t, rsKey, ecKey)
	keys.set("https://client.example/jwks", &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsKey.jwk()}})
	now := c.Now()
	pol := oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: "cid", Subject: "cid",
		Audiences: []string{testIssuer, testIssuer + "/oauth/token"}, JWKS: pasted}
	good := func(kv ...any) string {
		return sign(t, jose.RS256, rsKey.priv, "k1", claimsFor("cid", testIssuer, now, kv...))
	}

	// The public key's bytes as an HMAC secret (alg confusion).
	pubDER, _ := json.Marshal(rsKey.jwk())
	rsaN := rsKey.priv.Public().(*rsa.PublicKey).N.Bytes()

	replayed := good()
	if _, err := c.Server.VerifyAssertion(context.Background(), replayed, pol); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, raw, want string
		pol             *oauth.AssertionPolicy
	}{
		{"replayed jti", replayed, "was used before", nil},
		{"wrong aud", good("aud", "https://elsewhere.example"), "aud", nil},
		{"aud array without us", good("aud", []string{"https://a.example", "https://b.example"}), "names neither", nil},
		{"no aud", good("aud", nil), "no aud", nil},
		{"expired", good("exp", now.Add(-2*time.Minute).Unix(), "iat", now.Add(-3*time.Minute).Unix()), "expired", nil},
		{"exp too far ahead", good("exp", now.Add(10*time.Minute).Unix(), "iat", nil), "more than 5m0s ahead", nil},
		{"lifetime too long", good("exp", now.Add(4*time.Minute).Unix(), "iat", now.Add(-5*time.Minute).Unix()), "lives longer", nil},
		{"no exp", good("exp", nil), "no exp", nil},
		{"nbf ahead", good("nbf", now.Add(3*time.Minute).Unix()), "not valid before", nil},
		{"iat ahead", good("iat", now.Add(3*time.Minute).Unix(), "exp", now.Add(4*time.Minute).Unix()), "issued in the future", nil},
		{"no jti", good("jti", nil), "no jti", nil},
		{"long jti", good("jti", strings.Repeat("j", 300)), "jti is longer", nil},
		{"iss differs", good("iss", "someone"), "iss", nil},
		{"sub differs", good("sub", "someone"), "sub", nil},
		{"no iss", good("iss", nil), "no iss", nil},
		{"wrong signature", sign(t, jose.RS256, other.priv, "k1", claimsFor("cid", testIssuer, now)), "signature does not verify", nil},
		{"tampered", tamper(good()), "signature does not verify", nil},
		{"unknown kid", sign(t, jose.RS256, rsKey.priv, "nope", claimsFor("cid", testIssuer, now)), "unknown kid", nil},
		{"alg none", unsigned(claimsFor("cid", testIssuer, now)), "alg none", nil},
		{"RS384 not allowed", sign(t, jose.RS384, rsKey.priv, "k1", claimsFor("cid", testIssuer, now)), "RS384 is not allowed", nil},
		{"HS256 with the public JWK as secret", sign(t, jose.HS256, pubDER, "k1", claimsFor("cid", testIssuer, now)), "HS256 is not allowed", nil},
		{"HS256 with the modulus as secret", sign(t, jose.HS256, rsaN, "k1", claimsFor("cid", testIssuer, now)), "HS256 is not allowed", nil},
		{"ES256 key under an RS256 header", sign(t, jose.ES256, ecKey.priv, "k1", claimsFor("cid", testIssuer, now)), "no public key has kid", nil},
		{"not a JWT", "abc", "compact serialization", nil},
		{"empty", "", "empty", nil},
		{"no keys", good(), "no public keys are registered", &oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: "cid", Audiences: []string{testIssuer}}},
		{"RS256 for client_secret_jwt", good(), "RS256 is not allowed", &oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: "cid", Audiences: []string{testIssuer}, Secret: []byte(strings.Repeat("s", 43))}},
		{"HS256 with another secret", sign(t, jose.HS256, []byte(strings.Repeat("x", 43)), "", claimsFor("cid", testIssuer, now)), "does not verify with the client secret",
			&oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: "cid", Audiences: []string{testIssuer}, Secret: []byte(strings.Repeat("s", 43))}},
	}
	for _, tc := range cases {
		p := pol
		if tc.pol != nil {
			p = *tc.pol
		}
		_, err := c.Server.VerifyAssertion(context.Background(), tc.raw, p)
		reason := oauth.AssertionReason(err)
		if reason == "" || !strings.Contains(reason, tc.want) {
			t.Errorf("%s: got %v, want a refusal with %q", tc.name, err, tc.want)
		}
	}
}

// tamper changes one claim of a compact JWS, keeping the signature.
func tamper(raw string) string {
	parts := strings.Split(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["jti"] = "forged"
	b, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// unsigned is an alg none JWT of claims.
func unsigned(claims any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// A kid the jwks_uri did not list asks the key source again (refresh)
// once; a key added there meanwhile verifies.
func TestVerifyAssertion_UnknownKidRefreshes(t *testing.T) {
	t.Parallel()
	c, keys := newAssertionCore(t)
	old, rotated := newRSAKey(t, "old", jose.RS256), newECKey(t, "new")
	keys.set("https://client.example/jwks", &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{old.jwk()}})
	pol := oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: "cid", Subject: "cid", Audiences: []string{testIssuer}, JWKSURI: "https://client.example/jwks"}
	raw := sign(t, jose.ES256, rotated.priv, "new", claimsFor("cid", testIssuer, c.Now()))
	if _, err := c.Server.VerifyAssertion(context.Background(), raw, pol); !strings.Contains(oauth.AssertionReason(err), "unknown kid") {
		t.Fatalf("before rotation: %v", err)
	}
	if keys.refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", keys.refreshes)
	}
	keys.set("https://client.example/jwks", &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{old.jwk(), rotated.jwk()}})
	raw = sign(t, jose.ES256, rotated.priv, "new", claimsFor("cid", testIssuer, c.Now()))
	if _, err := c.Server.VerifyAssertion(context.Background(), raw, pol); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if keys.refreshes != 1 { // this source does not cache: the first ask found it
		t.Fatalf("refreshes = %d, want still 1", keys.refreshes)
	}
	// A failing key source is a refusal, not a server error; the cause
	// (which may name internal addresses of the fetcher's refusal) stays
	// in the log.
	keys.fail = errors.New("dial tcp 10.0.0.7:443: refusing to connect to 10.0.0.7: private address")
	raw = sign(t, jose.ES256, rotated.priv, "new", claimsFor("cid", testIssuer, c.Now()))
	_, err := c.Server.VerifyAssertion(context.Background(), raw, pol)
	if reason := oauth.AssertionReason(err); !strings.Contains(reason, "could not be obtained") || strings.Contains(reason, "10.0.0.7") {
		t.Fatalf("failing source: %v", err)
	}
}

// A jti is single use until exp: the same jti under another issuer is
// another identifier; after exp (and the skew) the store forgets it, and
// the expired assertion is refused anyway.
func TestVerifyAssertion_JTIScope(t *testing.T) {
	t.Parallel()
	c, _ := newAssertionCore(t)
	k := newEdKey(t, "")
	pasted := jwksJSON(t, k)
	pol := func(iss string) oauth.AssertionPolicy {
		return oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: iss, Subject: iss, Audiences: []string{testIssuer}, JWKS: pasted}
	}
	for _, iss := range []string{"a", "b"} {
		raw := sign(t, jose.EdDSA, k.priv, "", claimsFor(iss, testIssuer, c.Now(), "jti", "same"))
		if _, err := c.Server.VerifyAssertion(context.Background(), raw, pol(iss)); err != nil {
			t.Fatalf("%s: %v", iss, err)
		}
	}
	// The JWT bearer namespace is separate from client assertions.
	p := pol("a")
	p.Namespace = oauth.ReplayJWTBearer
	raw := sign(t, jose.EdDSA, k.priv, "", claimsFor("a", testIssuer, c.Now(), "jti", "same"))
	if _, err := c.Server.VerifyAssertion(context.Background(), raw, p); err != nil {
		t.Fatalf("other namespace: %v", err)
	}
}

// PeekAssertion reads iss and sub without verifying.
func TestPeekAssertion(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "x")
	iss, sub, err := oauth.PeekAssertion(sign(t, jose.ES256, k.priv, "x", map[string]any{"iss": "i", "sub": "s"}))
	if err != nil || iss != "i" || sub != "s" {
		t.Fatalf("got %q %q %v", iss, sub, err)
	}
	if _, _, err := oauth.PeekAssertion("nope"); oauth.AssertionReason(err) == "" {
		t.Fatalf("not a JWT: %v", err)
	}
}

// alg Ed25519 (RFC 9864, what oauth4webapi sends for Ed25519 keys) is
// refused with a hint to use EdDSA.
func TestVerifyAssertion_Ed25519AlgName(t *testing.T) {
	t.Parallel()
	c, _ := newAssertionCore(t)
	k := newEdKey(t, "ed")
	raw := sign(t, jose.EdDSA, k.priv, "ed", claimsFor("cid", testIssuer, c.Now()))
	parts := strings.Split(raw, ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"Ed25519","kid":"ed"}`))
	_, err := c.Server.VerifyAssertion(context.Background(), strings.Join(parts, "."), oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion,
		Issuer: "cid", Audiences: []string{testIssuer}, JWKS: jwksJSON(t, k)})
	if !strings.Contains(oauth.AssertionReason(err), "sign with Ed25519 keys as alg EdDSA") {
		t.Fatalf("got %v", err)
	}
}

// A policy may allow a longer lifetime (a trusted issuer's); the default
// stays 5 minutes.
func TestVerifyAssertion_MaxLifetime(t *testing.T) {
	t.Parallel()
	c, _ := newAssertionCore(t)
	k := newECKey(t, "k")
	p := oauth.AssertionPolicy{Namespace: oauth.ReplayJWTBearer, Issuer: "https://idp.example", Audiences: []string{testIssuer}, JWKS: jwksJSON(t, k)}
	claims := func() map[string]any {
		return claimsFor("https://idp.example", testIssuer, c.Now(), "sub", "user-1", "exp", c.Now().Add(30*time.Minute).Unix())
	}
	if _, err := c.Server.VerifyAssertion(context.Background(), sign(t, jose.ES256, k.priv, "k", claims()), p); !strings.Contains(oauth.AssertionReason(err), "more than 5m0s ahead") {
		t.Fatalf("default: %v", err)
	}
	p.MaxLifetime = time.Hour
	got, err := c.Server.VerifyAssertion(context.Background(), sign(t, jose.ES256, k.priv, "k", claims()), p)
	if err != nil || got.Subject != "user-1" {
		t.Fatalf("an hour allowed: %+v %v", got, err)
	}
}

// Without kid, every key fit for the algorithm is tried: a set being
// rotated holds two EC keys without kid, and either verifies.
func TestVerifyAssertion_SeveralKeysWithoutKid(t *testing.T) {
	t.Parallel()
	c, _ := newAssertionCore(t)
	first, second, stranger := newECKey(t, ""), newECKey(t, ""), newECKey(t, "")
	pol := oauth.AssertionPolicy{Namespace: oauth.ReplayClientAssertion, Issuer: "cid", Subject: "cid", Audiences: []string{testIssuer},
		JWKS: jwksJSON(t, first, second)}
	for _, k := range []signingKey{first, second} {
		raw := sign(t, jose.ES256, k.priv, "", claimsFor("cid", testIssuer, c.Now()))
		if _, err := c.Server.VerifyAssertion(context.Background(), raw, pol); err != nil {
			t.Fatalf("signed with a key of the set: %v", err)
		}
	}
	raw := sign(t, jose.ES256, stranger.priv, "", claimsFor("cid", testIssuer, c.Now()))
	if _, err := c.Server.VerifyAssertion(context.Background(), raw, pol); !strings.Contains(oauth.AssertionReason(err), "any of the 2 keys") {
		t.Fatalf("signed with another key: %v", err)
	}
}
