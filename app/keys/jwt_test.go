package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, st *models.Store) {
		ctx := context.Background()
		m := newManager(st, newClock(), "")
		mustEnsure(t, m)
		claims := map[string]any{"iss": "https://gh.example", "sub": "42", "nonce": "n-0S6"}
		tok := sign(t, m, claims, oauth.TypeIDToken)

		h := header(t, tok)
		if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == "" {
			t.Fatalf("header = %v", h)
		}
		payload, err := m.Verify(ctx, tok, oauth.TypeIDToken)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		var got map[string]any
		if err := json.Unmarshal(payload, &got); err != nil || got["sub"] != "42" || got["nonce"] != "n-0S6" {
			t.Fatalf("payload = %s (%v)", payload, err)
		}
		// A relying party finds the kid in the JWKS and verifies with it.
		if err := verifyWithJWKS(t, m, tok); err != nil {
			t.Fatalf("token does not verify with the JWKS: %v", err)
		}

		at := sign(t, m, map[string]any{"sub": "42"}, oauth.TypeAccessToken)
		if h := header(t, at); h["typ"] != "at+jwt" || h["kid"] != header(t, tok)["kid"] {
			t.Fatalf("access token header = %v", h)
		}
		if _, err := m.Verify(ctx, at, oauth.TypeAccessToken); err != nil {
			t.Fatalf("Verify at+jwt: %v", err)
		}

		// The ES256 key signs too, when asked.
		es, err := m.SignWith(ctx, ES256, claims, oauth.TypeIDToken)
		if err != nil {
			t.Fatal(err)
		}
		if h := header(t, es); h["alg"] != "ES256" {
			t.Fatalf("ES256 header = %v", h)
		}
		if _, err := m.Verify(ctx, es, oauth.TypeIDToken); err != nil {
			t.Fatalf("Verify ES256: %v", err)
		}
		if err := verifyWithJWKS(t, m, es); err != nil {
			t.Fatalf("ES256 token does not verify with the JWKS: %v", err)
		}
		if _, err := m.SignWith(ctx, "HS256", claims, "JWT"); !errors.Is(err, ErrNoKey) {
			t.Fatalf("SignWith HS256: %v", err)
		}

		if algs := m.Algorithms(); len(algs) != 2 || algs[0] != "RS256" || algs[1] != "ES256" {
			t.Fatalf("Algorithms = %v", algs)
		}

		// The JWKS: public parts only, use/alg/kid on each, RS256 first.
		set, raw := jwks(t, m)
		if len(set.Keys) != 2 {
			t.Fatalf("JWKS has %d keys: %v", len(set.Keys), kids(set))
		}
		for i, want := range []struct{ kty, alg string }{{"RSA", "RS256"}, {"EC", "ES256"}} {
			k := raw[i]
			if k["kty"] != want.kty || k["alg"] != want.alg || k["use"] != "sig" || k["kid"] == "" {
				t.Errorf("key %d = %v", i, k)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("key %d publishes the private member %q", i, private)
				}
			}
			if !set.Keys[i].IsPublic() {
				t.Errorf("key %d is not public", i)
			}
			// The kid is the RFC 7638 thumbprint: stable and checkable.
			tp, _ := set.Keys[i].Thumbprint(crypto.SHA256)
			if base64.RawURLEncoding.EncodeToString(tp) != set.Keys[i].KeyID {
				t.Errorf("key %d: kid is not the JWK thumbprint", i)
			}
		}
		if set.Keys[0].KeyID != h["kid"] {
			t.Errorf("first key %s is not the signing key %s", set.Keys[0].KeyID, h["kid"])
		}

		// Ensure again (a restart) keeps the keys.
		m2 := newManager(st, newClock(), "")
		mustEnsure(t, m2)
		if h2 := header(t, sign(t, m2, claims, "JWT")); h2["kid"] != h["kid"] {
			t.Fatalf("restart changed the kid: %v -> %v", h["kid"], h2["kid"])
		}
		rows, _ := st.ListSigningKeys(ctx)
		if len(rows) != 2 {
			t.Fatalf("%d keys stored after two starts, want 2", len(rows))
		}
	})
}

// forge signs payload with key under header fields of the caller's choice.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, typ string, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyRejects(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	m := newManager(st, newClock(), "")
	mustEnsure(t, m)
	tok := sign(t, m, map[string]string{"sub": "1"}, "JWT")
	kid := header(t, tok)["kid"].(string)
	parts := strings.Split(tok, ".")
	esKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := jwks(t, m)
	esKID := set.Keys[1].KeyID

	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"2"}`))
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[len(sig)/2] ^= 1
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`)) + "." + parts[1] + "."
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2]

	cases := []struct {
		name, token, typ, want string
	}{
		{"wrong typ", tok, "at+jwt", "typ"},
		{"access token as ID token", sign(t, m, map[string]string{"sub": "1"}, "at+jwt"), "JWT", "typ"},
		{"no typ", forge(t, jose.ES256, esKey, esKID, "", []byte(`{}`)), "JWT", "typ"},
		{"tampered payload", parts[0] + "." + otherPayload + "." + parts[2], "JWT", "bad signature"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig), "JWT", "bad signature"},
		{"unknown kid", forge(t, jose.ES256, esKey, "not-a-published-kid", "JWT", []byte(`{}`)), "JWT", "unknown kid"},
		{"published kid, foreign key", forge(t, jose.ES256, esKey, esKID, "JWT", []byte(`{}`)), "JWT", "bad signature"},
		{"alg of another key", forge(t, jose.ES256, esKey, kid, "JWT", []byte(`{}`)), "JWT", "alg"},
		{"no kid", forge(t, jose.ES256, esKey, "", "JWT", []byte(`{}`)), "JWT", "no kid"},
		{"alg none", unsigned, "JWT", "not a JWS"},
		{"alg HS256", hs, "JWT", "not a JWS"},
		{"garbage", "not.a.jwt", "JWT", "not a JWS"},
		{"empty", "", "JWT", "not a JWS"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, "JWT", "not a JWS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Verify(ctx, tc.token, tc.typ)
			if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want ErrInvalidToken mentioning %q", err, tc.want)
			}
		})
	}

	// typ compares as a media type.
	for _, typ := range []string{"jwt", "application/JWT", "application/jwt"} {
		if _, err := m.Verify(ctx, tok, typ); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	at := forge(t, jose.ES256, esKey, esKID, "application/at+jwt", []byte(`{}`))
	if _, err := m.Verify(ctx, at, "at+jwt"); err == nil || strings.Contains(err.Error(), "typ") {
		t.Errorf("application/at+jwt should pass the typ check: %v", err)
	}
}

// TestUnknownKIDReloadsRateLimited: tokens with unknown kids reload the
// keys at most once per interval.
func TestUnknownKIDReloadsRateLimited(t *testing.T) {
	url := dbtest.SQLiteURL(t)
	st1, st2 := models.New(dbtest.Open(t, url)), models.New(dbtest.Open(t, url))
	c := newClock()
	m1, m2 := newManager(st1, c, ""), newManager(st2, c, "")
	mustEnsure(t, m1)
	mustEnsure(t, m2)
	esKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	junk := forge(t, jose.ES256, esKey, "junk", "JWT", []byte(`{}`))
	if _, err := m2.Verify(context.Background(), junk, "JWT"); !errors.Is(err, ErrInvalidToken) {
		t.Fatal(err)
	}
	// That reload used the allowance: a rotation now is not seen by an
	// unknown kid until the interval has passed.
	if _, err := m1.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := sign(t, m1, map[string]string{}, "JWT")
	if _, err := m2.Verify(context.Background(), fresh, "JWT"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("second unknown-kid reload within the interval: %v", err)
	}
	m2.lastMiss.Store(time.Now().Add(-unknownKIDReloadEvery).UnixNano())
	if _, err := m2.Verify(context.Background(), fresh, "JWT"); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}
