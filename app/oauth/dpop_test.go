package oauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
)

// Tests of DPoP (dpop.go; RFC 9449, SPEC.md §7.4, rule 48).

const (
	dpopTokenURL    = "https://gatehouse.test/oauth/token"
	dpopResourceURL = "https://gatehouse.test/api/user"
)

// dpopCore is a core with a confidential client-credentials client, a
// public code client, a confidential code client and alice.
type dpopCore struct {
	*oauthtest.Core
	cc, ccSec     string
	pub           string
	conf, confSec string
	alice         *oauth.User
}

func newDPoPCore(t *testing.T, pol func(*oauth.Policy), options ...func(*oauth.Options)) *dpopCore {
	p := oauthtest.DefaultPolicy
	if pol != nil {
		pol(&p)
	}
	c := &dpopCore{Core: oauthtest.NewCore(t, nil, append([]func(*oauth.Options){func(o *oauth.Options) { o.Policy = p }}, options...)...)}
	c.cc, c.ccSec = c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}})
	c.pub, _ = c.Client(oauth.Client{Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	c.conf, c.confSec = c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantTokenExchange}})
	c.alice = c.User("alice", "pw")
	return c
}

// token sends a token request with these DPoP header values (none: no
// header) for POST to the token endpoint.
func (c *dpopCore) token(id, sec string, form url.Values, proofs ...string) (*oauth.TokenResponse, error) {
	c.T.Helper()
	r := c.ClientRequest(id, sec, form)
	if len(proofs) > 0 {
		r.DPoP = &oauth.DPoPRequest{Proofs: proofs, Method: http.MethodPost, URL: dpopTokenURL}
	}
	return c.Server.Token(context.Background(), r)
}

// proof is k's proof for the token endpoint at the core's time.
func (c *dpopCore) proof(k *oauthtest.DPoPKey) string {
	return k.Proof(http.MethodPost, dpopTokenURL, oauthtest.ProofOptions{Now: c.Now()})
}

// wantDPoP checks that resp is a DPoP token bound to k, stored so.
func (c *dpopCore) wantDPoP(resp *oauth.TokenResponse, err error, k *oauthtest.DPoPKey) {
	c.T.Helper()
	if err != nil {
		c.T.Fatalf("refused: %v", err)
	}
	if resp.TokenType != oauth.TokenTypeDPoP {
		c.T.Fatalf("token_type %q, want DPoP", resp.TokenType)
	}
	if got := c.StoredToken(resp.AccessToken).Jkt; got != k.JKT() {
		c.T.Fatalf("stored jkt %q, want %q", got, k.JKT())
	}
}

// A valid proof of each allowed algorithm binds the access token:
// token_type DPoP, its key's thumbprint stored; without a proof the token
// is a Bearer token as before.
func TestDPoPProofBindsTheAccessToken(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k := oauthtest.NewDPoPKey(t, alg)
			resp, err := c.token(c.cc, c.ccSec, ccForm(""), c.proof(k))
			c.wantDPoP(resp, err, k)
		})
	}
	resp, err := c.token(c.cc, c.ccSec, ccForm(""))
	if err != nil || resp.TokenType != "Bearer" || c.StoredToken(resp.AccessToken).Jkt != "" {
		t.Fatalf("without a proof: %+v, %v", resp, err)
	}
}

// Every refusal of a proof at the token endpoint is invalid_dpop_proof
// saying why, and no token is issued.
func TestDPoPProofRefusals(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	other := oauthtest.NewDPoPKey(t, jose.ES256)
	pubJWK := func(key *oauthtest.DPoPKey) map[string]any {
		b, err := (&jose.JSONWebKey{Key: key.Key.Public()}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	privJWK := func(key *oauthtest.DPoPKey) map[string]any {
		b, err := (&jose.JSONWebKey{Key: key.Key}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	claims := func() map[string]any {
		return map[string]any{"jti": "j-" + time.Now().String(), "htm": "POST", "htu": dpopTokenURL, "iat": c.Now().Unix()}
	}
	with := func(kv ...any) oauthtest.ProofOptions {
		m := claims()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return oauthtest.ProofOptions{Claims: m}
	}
	// An HS256 proof keyed with the bytes of the public key in its
	// header (alg confusion).
	hs256 := func() string {
		pub := pubJWK(k)
		keyBytes, _ := json.Marshal(pub)
		return oauthtest.RawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": pub}, claims(), func(in []byte) []byte {
			m := hmac.New(sha256.New, keyBytes)
			m.Write(in)
			return m.Sum(nil)
		})
	}
	// A proof whose payload was swapped after signing.
	tampered := func() string {
		a := strings.Split(c.proof(k), ".")
		b := strings.Split(k.Proof("POST", dpopTokenURL, with("htm", "POST", "jti", "other")), ".")
		return a[0] + "." + b[1] + "." + a[2]
	}
	// The header's jwk is another key than the one that signed.
	wrongKey := func() string {
		p := strings.Split(c.proof(k), ".")
		o := strings.Split(c.proof(other), ".")
		return o[0] + "." + p[1] + "." + p[2]
	}
	cases := []struct {
		name   string
		proofs func() []string
		desc   string
	}{
		{"two DPoP headers", func() []string { return []string{c.proof(k), c.proof(k)} }, "exactly one DPoP header"},
		{"an empty DPoP header", func() []string { return []string{" "} }, "the DPoP header is empty"},
		{"not a JWS", func() []string { return []string{"abc.def"} }, "not a compact JWS"},
		{"typ JWT", func() []string {
			return []string{k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), Typ: "JWT"})}
		}, `typ must be "dpop+jwt"`},
		{"alg none", func() []string {
			return []string{oauthtest.RawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": pubJWK(k)}, claims(), nil)}
		}, `alg "none" is not allowed`},
		{"alg HS256 keyed with the public key", func() []string { return []string{hs256()} }, `alg "HS256" is not allowed`},
		{"no jwk", func() []string {
			return []string{oauthtest.RawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "ES256"}, claims(), nil)}
		}, "has no jwk"},
		{"a private jwk in the header", func() []string {
			return []string{oauthtest.RawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": privJWK(k)}, claims(), nil)}
		}, "must be a public key"},
		{"a symmetric jwk in the header", func() []string {
			return []string{oauthtest.RawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}, claims(), nil)}
		}, "must be a public key"},
		{"payload swapped after signing", func() []string { return []string{tampered()} }, "signature does not verify"},
		{"signed by another key than its jwk", func() []string { return []string{wrongKey()} }, "signature does not verify"},
		{"htm GET at a POST endpoint", func() []string { return []string{k.Proof("GET", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now()})} },
			`htm "GET" is not the method`},
		{"htm in lower case", func() []string { return []string{k.Proof("post", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now()})} },
			`htm "post"`},
		{"htu of another endpoint", func() []string {
			return []string{k.Proof("POST", "https://gatehouse.test/oauth/revoke", oauthtest.ProofOptions{Now: c.Now()})}
		}, "is not the URL of this request"},
		{"htu of another host", func() []string {
			return []string{k.Proof("POST", "https://evil.example/oauth/token", oauthtest.ProofOptions{Now: c.Now()})}
		}, "is not the URL of this request"},
		{"htu over http", func() []string {
			return []string{k.Proof("POST", "http://gatehouse.test/oauth/token", oauthtest.ProofOptions{Now: c.Now()})}
		}, "is not the URL of this request"},
		{"iat 61 s old", func() []string {
			return []string{k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{IAT: c.Now().Add(-61 * time.Second)})}
		}, "too long ago"},
		{"iat 61 s ahead", func() []string {
			return []string{k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{IAT: c.Now().Add(61 * time.Second)})}
		}, "in the future"},
		{"no jti", func() []string { return []string{k.Proof("POST", dpopTokenURL, with("jti", nil))} }, "has no jti"},
		{"no htm", func() []string { return []string{k.Proof("POST", dpopTokenURL, with("htm", nil))} }, "has no htm"},
		{"no htu", func() []string { return []string{k.Proof("POST", dpopTokenURL, with("htu", nil))} }, "has no htu"},
		{"no iat", func() []string { return []string{k.Proof("POST", dpopTokenURL, with("iat", nil))} }, "has no iat"},
		{"iat a string", func() []string { return []string{k.Proof("POST", dpopTokenURL, with("iat", "yesterday"))} }, "not a JSON object"},
		{"a jti of 300 characters", func() []string { return []string{k.Proof("POST", dpopTokenURL, with("jti", strings.Repeat("j", 300)))} }, "jti is too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.token(c.cc, c.ccSec, ccForm(""), tc.proofs()...)
			if resp != nil {
				t.Fatalf("answered %+v", resp)
			}
			oauthtest.WantError(t, err, "invalid_dpop_proof", tc.desc)
			if e := oauth.AsError(err); e.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", e.Status)
			}
		})
	}
}

// htu is compared without query and fragment, after normalising case,
// default ports and percent-encoding (RFC 9449 §4.3); iat within 60 s
// either way is accepted.
func TestDPoPHTUNormalisationAndIATWindow(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	for _, htu := range []string{"HTTPS://GateHouse.TEST:443/oauth/token", "https://gatehouse.test/oauth/token?x=1#frag", "https://gatehouse.test/oauth/%74oken"} {
		resp, err := c.token(c.cc, c.ccSec, ccForm(""), k.Proof("POST", htu, oauthtest.ProofOptions{Now: c.Now()}))
		if err != nil || resp.TokenType != "DPoP" {
			t.Errorf("htu %s: %+v, %v", htu, resp, err)
		}
	}
	for _, d := range []time.Duration{-59 * time.Second, 59 * time.Second} {
		resp, err := c.token(c.cc, c.ccSec, ccForm(""), k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{IAT: c.Now().Add(d)}))
		if err != nil || resp.TokenType != "DPoP" {
			t.Errorf("iat %v from now: %+v, %v", d, resp, err)
		}
	}
}

// A proof is single use (its jti is remembered, per key, until it could
// no longer be accepted); a new proof of the same key works.
func TestDPoPReplayedProofRefused(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	p := c.proof(k)
	resp, err := c.token(c.cc, c.ccSec, ccForm(""), p)
	c.wantDPoP(resp, err, k)
	_, err = c.token(c.cc, c.ccSec, ccForm(""), p)
	oauthtest.WantError(t, err, "invalid_dpop_proof", "already used")
	// The same jti from another key is another proof.
	other := oauthtest.NewDPoPKey(t, jose.ES256)
	resp, err = c.token(c.cc, c.ccSec, ccForm(""), other.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), JTI: "shared"}))
	c.wantDPoP(resp, err, other)
	_, err = c.token(c.cc, c.ccSec, ccForm(""), other.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), JTI: "shared"}))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "already used")
	resp, err = c.token(c.cc, c.ccSec, ccForm(""), k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), JTI: "shared"}))
	c.wantDPoP(resp, err, k)
}

// With dpop_nonce on, a proof needs a nonce the server made in the
// current or the previous minute: none, a stale or a made-up one is
// use_dpop_nonce; DPoPNonce hands out nonces where they are required.
func TestDPoPServerNonces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mode := range []string{oauth.DPoPNonceToken, oauth.DPoPNonceAll} {
		t.Run(mode, func(t *testing.T) {
			c := newDPoPCore(t, func(p *oauth.Policy) { p.DPoPNonce = mode })
			k := oauthtest.NewDPoPKey(t, jose.ES256)
			nonce, err := c.Server.DPoPNonce(ctx, false)
			if err != nil || nonce == "" {
				t.Fatalf("DPoPNonce at the token endpoint: %q, %v", nonce, err)
			}
			atResource, _ := c.Server.DPoPNonce(ctx, true)
			if (atResource != "") != (mode == oauth.DPoPNonceAll) {
				t.Fatalf("DPoPNonce at resources under %s: %q", mode, atResource)
			}
			with := func(n string) string {
				return k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), Nonce: n})
			}
			_, err = c.token(c.cc, c.ccSec, ccForm(""), with(""))
			oauthtest.WantError(t, err, "use_dpop_nonce", "requires a nonce")
			if e := oauth.AsError(err); e.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", e.Status)
			}
			_, err = c.token(c.cc, c.ccSec, ccForm(""), with("made-up"))
			oauthtest.WantError(t, err, "use_dpop_nonce", "stale or was not issued by this server")
			// A nonce of this server with its last byte changed.
			raw, _ := base64.RawURLEncoding.DecodeString(nonce)
			raw[len(raw)-1] ^= 1
			_, err = c.token(c.cc, c.ccSec, ccForm(""), with(base64.RawURLEncoding.EncodeToString(raw)))
			oauthtest.WantError(t, err, "use_dpop_nonce", "stale")
			resp, err := c.token(c.cc, c.ccSec, ccForm(""), with(nonce))
			c.wantDPoP(resp, err, k)
			c.Advance(oauth.DPoPNonceStep)
			resp, err = c.token(c.cc, c.ccSec, ccForm(""), with(nonce))
			c.wantDPoP(resp, err, k) // the previous step's nonce still works
			c.Advance(oauth.DPoPNonceStep)
			_, err = c.token(c.cc, c.ccSec, ccForm(""), with(nonce))
			oauthtest.WantError(t, err, "use_dpop_nonce", "stale")
			// Another server's key makes other nonces.
			other := newDPoPCore(t, func(p *oauth.Policy) { p.DPoPNonce = mode })
			foreign, _ := other.Server.DPoPNonce(ctx, false)
			_, err = c.token(c.cc, c.ccSec, ccForm(""), with(foreign))
			oauthtest.WantError(t, err, "use_dpop_nonce", "stale")
		})
	}
	c := newDPoPCore(t, nil)
	if n, err := c.Server.DPoPNonce(ctx, false); n != "" || err != nil {
		t.Fatalf("dpop_nonce off hands out %q, %v", n, err)
	}
}

// Nonces of a shared key (Options.DPoPNonceKey) are good on every server
// using it.
func TestDPoPNonceKeyShared(t *testing.T) {
	t.Parallel()
	key := func(context.Context) ([]byte, error) { return []byte(strings.Repeat("k", 32)), nil }
	pol := func(p *oauth.Policy) { p.DPoPNonce = oauth.DPoPNonceToken }
	a := newDPoPCore(t, pol, func(o *oauth.Options) { o.DPoPNonceKey = key })
	b := newDPoPCore(t, pol, func(o *oauth.Options) { o.DPoPNonceKey = key })
	nonce, err := a.Server.DPoPNonce(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	resp, err := b.token(b.cc, b.ccSec, ccForm(""), k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: b.Now(), Nonce: nonce}))
	b.wantDPoP(resp, err, k)
}

// A client registered with dpop_bound_access_tokens must send a proof.
func TestDPoPBoundAccessTokensClient(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}, DPoPBoundAccessTokens: true})
	_, err := c.token(id, sec, ccForm(""))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "this client must use DPoP")
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	resp, err := c.token(id, sec, ccForm(""), c.proof(k))
	c.wantDPoP(resp, err, k)
}

// A public client's refresh token is bound to the proof's key: a refresh
// needs a proof of that key, and the new pair is bound to it again. A
// confidential client's refresh token is not bound: its refresh binds the
// new access token to whatever key it proves then (or none).
func TestDPoPRefreshTokens(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	other := oauthtest.NewDPoPKey(t, jose.ES256)

	code := c.Code(c.alice, oauthtest.PKCERequest(c.pub, "openid offline_access user.read"))
	resp, err := c.token(c.pub, "", exchange(code), c.proof(k))
	c.wantDPoP(resp, err, k)
	if got := c.StoredToken(resp.RefreshToken).Jkt; got != k.JKT() {
		t.Fatalf("public client's refresh token bound to %q, want %q", got, k.JKT())
	}
	_, err = c.token(c.pub, "", refreshForm(resp.RefreshToken))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "the refresh token is bound to a DPoP key")
	_, err = c.token(c.pub, "", refreshForm(resp.RefreshToken), c.proof(other))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "another key than the one the refresh token is bound to")
	again, err := c.token(c.pub, "", refreshForm(resp.RefreshToken), c.proof(k))
	c.wantDPoP(again, err, k)
	if got := c.StoredToken(again.RefreshToken).Jkt; got != k.JKT() {
		t.Fatalf("rotated refresh token bound to %q", got)
	}

	code = c.Code(c.alice, oauthtest.Change(oauthtest.PKCERequest(c.conf, "openid offline_access user.read")))
	resp, err = c.token(c.conf, c.confSec, exchange(code), c.proof(k))
	c.wantDPoP(resp, err, k)
	if got := c.StoredToken(resp.RefreshToken).Jkt; got != "" {
		t.Fatalf("confidential client's refresh token bound to %q", got)
	}
	moved, err := c.token(c.conf, c.confSec, refreshForm(resp.RefreshToken), c.proof(other))
	c.wantDPoP(moved, err, other)
	bearer, err := c.token(c.conf, c.confSec, refreshForm(moved.RefreshToken))
	if err != nil || bearer.TokenType != "Bearer" {
		t.Fatalf("refresh without a proof: %+v, %v", bearer, err)
	}
}

// A code whose authorization request carried dpop_jkt is redeemed only
// with a proof of that key (RFC 9449 §10).
func TestDPoPCodeBoundByDPoPJkt(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	other := oauthtest.NewDPoPKey(t, jose.ES256)
	seed := func() string {
		plain := oauth.RandomGenerator{}.AuthorizationCode()
		err := c.Model.SaveAuthorizationCode(context.Background(), &oauth.AuthorizationCode{Hash: secret.Digest(plain), ClientID: c.pub,
			UserID: c.alice.ID, Scope: "openid", CodeChallenge: oauthtest.VerifierChallenge, CodeChallengeMethod: "S256",
			FamilyID: "fam-" + plain[len(plain)-8:], DPoPJkt: k.JKT(), AuthTime: c.Now(), ExpiresAt: c.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	_, err := c.token(c.pub, "", exchange(seed()))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "the authorization code (dpop_jkt) is bound to a DPoP key")
	_, err = c.token(c.pub, "", exchange(seed()), c.proof(other))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "another key")
	resp, err := c.token(c.pub, "", exchange(seed()), c.proof(k))
	c.wantDPoP(resp, err, k)
}

// Every grant of the token endpoint binds the access token it issues.
func TestDPoPEveryGrantBinds(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, func(p *oauth.Policy) { p.AllowPasswordGrant = true })
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	pw, pwSec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantPassword}})
	resp, err := c.token(pw, pwSec, form("grant_type", "password", "username", "alice", "password", "pw", "scope", "user.read"), c.proof(k))
	c.wantDPoP(resp, err, k)

	dev, devSec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantDeviceCode}})
	da := c.DeviceAuthorization(dev, devSec, "user.read")
	c.DecideDevice(da.UserCode, c.alice, true)
	resp, err = c.token(dev, devSec, deviceForm(da.DeviceCode), c.proof(k))
	c.wantDPoP(resp, err, k)

	pair := c.CodeTokens(c.conf, c.confSec, c.alice, "openid user.read")
	resp, err = c.token(c.conf, c.confSec, exchangeForm(pair.AccessToken), c.proof(k))
	c.wantDPoP(resp, err, k)

	// A bound subject token is exchanged only with a proof of its key:
	// not for a Bearer token, nor for one bound to another key.
	other := oauthtest.NewDPoPKey(t, jose.ES256)
	_, err = c.token(c.conf, c.confSec, exchangeForm(resp.AccessToken))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "the subject_token is bound to a DPoP key")
	_, err = c.token(c.conf, c.confSec, exchangeForm(resp.AccessToken), c.proof(other))
	oauthtest.WantError(t, err, "invalid_dpop_proof", "another key than the one the subject_token is bound to")
	again, err := c.token(c.conf, c.confSec, exchangeForm(resp.AccessToken), c.proof(k))
	c.wantDPoP(again, err, k)
}

// JWT access tokens of a bound token carry cnf.jkt (RFC 9449 §6.1);
// introspection answers token_type DPoP and cnf.jkt (§6.2).
func TestDPoPJWTAndIntrospection(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, func(p *oauth.Policy) { p.AccessTokenFormat = oauth.AccessTokenFormatJWT }, oauthtest.WithSigner)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	resp, err := c.token(c.cc, c.ccSec, ccForm(""), c.proof(k))
	c.wantDPoP(resp, err, k)
	var claims struct {
		Cnf *oauth.Confirmation `json:"cnf"`
	}
	c.Claims(resp.AccessToken, oauth.TypeAccessToken, &claims)
	if claims.Cnf == nil || claims.Cnf.JKT != k.JKT() {
		t.Fatalf("cnf %+v, want jkt %s", claims.Cnf, k.JKT())
	}
	in, err := c.Server.Introspect(context.Background(), c.ClientRequest(c.conf, c.confSec, form("token", resp.AccessToken)))
	if err != nil || !in.Active || in.TokenType != "DPoP" || in.Cnf == nil || in.Cnf.JKT != k.JKT() {
		t.Fatalf("introspection %+v, %v", in, err)
	}
	bearer, _ := c.token(c.cc, c.ccSec, ccForm(""))
	claims.Cnf = nil
	c.Claims(bearer.AccessToken, oauth.TypeAccessToken, &claims)
	in, _ = c.Server.Introspect(context.Background(), c.ClientRequest(c.conf, c.confSec, form("token", bearer.AccessToken)))
	if claims.Cnf != nil || in.TokenType != "Bearer" || in.Cnf != nil {
		t.Fatalf("a Bearer token has cnf %+v, introspection %+v", claims.Cnf, in)
	}
}

// At resources (CheckDPoP) a bound token needs the DPoP scheme and a
// proof of its key with the ath of the token; refusals are 401 DPoP
// challenges. An unbound token is a Bearer token.
func TestDPoPAtResources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newDPoPCore(t, nil)
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	other := oauthtest.NewDPoPKey(t, jose.ES256)
	resp, err := c.token(c.cc, c.ccSec, ccForm(""), c.proof(k))
	c.wantDPoP(resp, err, k)
	tok := resp.AccessToken
	bearerResp, _ := c.token(c.cc, c.ccSec, ccForm(""))
	check := func(token string, dpop bool, proofs ...string) error {
		a, err := c.Server.AuthenticateAccessToken(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		var r *oauth.DPoPRequest
		if len(proofs) > 0 {
			r = &oauth.DPoPRequest{Proofs: proofs, Method: "GET", URL: dpopResourceURL}
		}
		return c.Server.CheckDPoP(ctx, a, dpop, token, r)
	}
	good := func(key *oauthtest.DPoPKey, o oauthtest.ProofOptions) string {
		o.Now = c.Now()
		if o.AccessToken == "" && o.ATH == "" {
			o.AccessToken = tok
		}
		return key.Proof("GET", dpopResourceURL, o)
	}
	if err := check(tok, true, good(k, oauthtest.ProofOptions{})); err != nil {
		t.Fatalf("a bound token with its proof: %v", err)
	}
	replayed := good(k, oauthtest.ProofOptions{})
	if err := check(tok, true, replayed); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		err    func() error
		code   string
		inDesc string
	}{
		{"bound token as Bearer", func() error { return check(tok, false) }, "invalid_token", "send it with Authorization: DPoP"},
		{"bound token as Bearer with a proof", func() error { return check(tok, false, good(k, oauthtest.ProofOptions{})) }, "invalid_token", "bound to a DPoP key"},
		{"DPoP scheme without a proof", func() error { return check(tok, true) }, "invalid_dpop_proof", "needs a DPoP proof"},
		{"a proof of another key", func() error { return check(tok, true, good(other, oauthtest.ProofOptions{})) }, "invalid_dpop_proof", "another key"},
		{"a replayed proof", func() error { return check(tok, true, replayed) }, "invalid_dpop_proof", "already used"},
		{"no ath", func() error {
			return check(tok, true, k.Proof("GET", dpopResourceURL, oauthtest.ProofOptions{Now: c.Now()}))
		}, "invalid_dpop_proof", "has no ath"},
		{"ath of another token", func() error {
			return check(tok, true, good(k, oauthtest.ProofOptions{AccessToken: bearerResp.AccessToken}))
		},
			"invalid_dpop_proof", "ath does not match"},
		{"htm POST for a GET", func() error {
			return check(tok, true, k.Proof("POST", dpopResourceURL, oauthtest.ProofOptions{Now: c.Now(), AccessToken: tok}))
		}, "invalid_dpop_proof", "htm"},
		{"htu of the token endpoint", func() error {
			return check(tok, true, k.Proof("GET", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), AccessToken: tok}))
		}, "invalid_dpop_proof", "htu"},
		{"unbound token with the DPoP scheme", func() error {
			return check(bearerResp.AccessToken, true, good(k, oauthtest.ProofOptions{AccessToken: bearerResp.AccessToken}))
		},
			"invalid_token", "not bound to a DPoP key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			oauthtest.WantError(t, err, tc.code, tc.inDesc)
			var dc *oauth.DPoPChallenge
			if !errors.As(err, &dc) || dc.Err.Status != http.StatusUnauthorized {
				t.Fatalf("%v is not a 401 DPoP challenge", err)
			}
		})
	}
	if err := check(bearerResp.AccessToken, false); err != nil {
		t.Fatalf("an unbound Bearer token: %v", err)
	}
}

// With dpop_nonce all, resources need a nonce too (401 use_dpop_nonce);
// with token, they do not.
func TestDPoPNonceAtResources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mode := range []string{oauth.DPoPNonceToken, oauth.DPoPNonceAll} {
		t.Run(mode, func(t *testing.T) {
			c := newDPoPCore(t, func(p *oauth.Policy) { p.DPoPNonce = mode })
			k := oauthtest.NewDPoPKey(t, jose.ES256)
			n, _ := c.Server.DPoPNonce(ctx, false)
			resp, err := c.token(c.cc, c.ccSec, ccForm(""), k.Proof("POST", dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), Nonce: n}))
			c.wantDPoP(resp, err, k)
			a, _ := c.Server.AuthenticateAccessToken(ctx, resp.AccessToken)
			use := func(nonce string) error {
				p := k.Proof("GET", dpopResourceURL, oauthtest.ProofOptions{Now: c.Now(), AccessToken: resp.AccessToken, Nonce: nonce})
				return c.Server.CheckDPoP(ctx, a, true, resp.AccessToken, &oauth.DPoPRequest{Proofs: []string{p}, Method: "GET", URL: dpopResourceURL})
			}
			err = use("")
			if mode == oauth.DPoPNonceToken {
				if err != nil {
					t.Fatalf("nonce required at resources under token: %v", err)
				}
				return
			}
			oauthtest.WantError(t, err, "use_dpop_nonce", "requires a nonce")
			if e := oauth.AsError(err); e.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", e.Status)
			}
			rn, _ := c.Server.DPoPNonce(ctx, true)
			if err := use(rn); err != nil {
				t.Fatalf("with a nonce: %v", err)
			}
		})
	}
}

// The metadata lists the proof algorithms, never none or an HMAC.
func TestDPoPMetadata(t *testing.T) {
	t.Parallel()
	c := newDPoPCore(t, nil)
	m, err := c.Server.Metadata(context.Background(), oauth.Endpoints{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(m.DPoPSigningAlgValuesSupported, " ")
	if got != "ES256 EdDSA PS256 RS256" {
		t.Fatalf("dpop_signing_alg_values_supported %q", got)
	}
}

// ExtractAccessToken tells the DPoP scheme from Bearer; ExtractBearer
// ignores DPoP tokens.
func TestExtractAccessTokenSchemes(t *testing.T) {
	t.Parallel()
	tok, dpop, err := oauth.ExtractAccessToken(oauth.BearerSource{Authorization: "DPoP abc"}, false)
	if tok != "abc" || !dpop || err != nil {
		t.Fatalf("DPoP scheme: %q %v %v", tok, dpop, err)
	}
	tok, dpop, err = oauth.ExtractAccessToken(oauth.BearerSource{Authorization: "bearer abc"}, false)
	if tok != "abc" || dpop || err != nil {
		t.Fatalf("Bearer scheme: %q %v %v", tok, dpop, err)
	}
	if _, _, err := oauth.ExtractAccessToken(oauth.BearerSource{Authorization: "DPoP abc", Query: []string{"x"}}, true); oauthtest.Code(err) != "invalid_request" {
		t.Fatalf("DPoP header and query token: %v", err)
	}
	if tok, err := oauth.ExtractBearer(oauth.BearerSource{Authorization: "DPoP abc"}, false); tok != "" || err != nil {
		t.Fatalf("ExtractBearer of a DPoP token: %q %v", tok, err)
	}
}

// The proof is checked before the client authenticates: a client
// authenticating with an assertion that is told use_dpop_nonce can send
// the same request again with the nonce (its assertion's jti was not
// spent on the refusal).
func TestDPoPNonceRetryKeepsAssertion(t *testing.T) {
	t.Parallel()
	keys := &testKeys{}
	c := newDPoPCore(t, func(p *oauth.Policy) { p.DPoPNonce = oauth.DPoPNonceToken }, func(o *oauth.Options) {
		o.Keys = keys
		o.TokenEndpoint = dpopTokenURL
	})
	key := newECKey(t, "ec-1")
	id, _ := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}, TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT,
		JWKS: jwksJSON(t, key)})
	form := ccForm("")
	form.Set("client_assertion_type", oauth.ClientAssertionTypeJWT)
	form.Set("client_assertion", sign(t, key.alg, key.priv, key.kid, claimsFor(id, dpopTokenURL, c.Now())))
	send := func(proof string) (*oauth.TokenResponse, error) {
		r := &oauth.ClientRequest{Form: form, DPoP: &oauth.DPoPRequest{Proofs: []string{proof}, Method: http.MethodPost, URL: dpopTokenURL}}
		return c.Server.Token(context.Background(), r)
	}
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	_, err := send(c.proof(k))
	oauthtest.WantError(t, err, "use_dpop_nonce", "nonce")
	nonce, err := c.Server.DPoPNonce(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := send(k.Proof(http.MethodPost, dpopTokenURL, oauthtest.ProofOptions{Now: c.Now(), Nonce: nonce}))
	c.wantDPoP(resp, err, k)
}
