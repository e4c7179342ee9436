package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

const secretA = "0123456789abcdef0123456789abcdef-A"
const secretB = "0123456789abcdef0123456789abcdef-B"

// clock is a settable clock shared by the managers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eachBackend runs fn on a fresh SQLite database and, when configured, a
// fresh PostgreSQL schema; url opens further connections to the same one.
func eachBackend(t *testing.T, fn func(t *testing.T, url string, st *models.Store)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			url := b.URL(t)
			fn(t, url, models.New(dbtest.Open(t, url)))
		})
	}
}

func newManager(st *models.Store, c *clock, secret string) *Manager {
	return New(Options{Store: st, Secret: secret, Now: c.Now, Log: slog.New(slog.DiscardHandler)})
}

func mustEnsure(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
}

func sign(t *testing.T, m *Manager, claims any, typ string) string {
	t.Helper()
	tok, err := m.Sign(context.Background(), claims, typ)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// header decodes a compact JWS's protected header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// jwks fetches and parses the JWK Set.
func jwks(t *testing.T, m *Manager) (jose.JSONWebKeySet, []map[string]any) {
	t.Helper()
	doc, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, doc)
	}
	var raw struct{ Keys []map[string]any }
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	return set, raw.Keys
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// verifyWithJWKS checks tok the way a relying party does: its kid found in
// the published JWKS, its signature verified with that key.
func verifyWithJWKS(t *testing.T, m *Manager, tok string) error {
	t.Helper()
	set, _ := jwks(t, m)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return err
	}
	found := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(found) != 1 {
		return errors.New("kid not in the JWKS")
	}
	_, err = jws.Verify(found[0].Key)
	return err
}

func TestRetention(t *testing.T) {
	def, ok := settings.Lookup("access_token_lifetime")
	if !ok {
		t.Fatal("no access_token_lifetime setting")
	}
	if got, want := Retention(), def.Max+Margin; got != want || got < 24*time.Hour || MaxTokenLifetime() != def.Max {
		t.Fatalf("Retention = %v, want %v", got, want)
	}
}

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

// TestRotation: new keys sign at once; the old ones stay published (and
// their tokens valid) until Retention has passed, then leave the JWKS and
// are pruned.
func TestRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, st *models.Store) {
		ctx := context.Background()
		c := newClock()
		m := newManager(st, c, "")
		mustEnsure(t, m)
		old := sign(t, m, map[string]string{"sub": "1"}, "JWT")
		oldKID := header(t, old)["kid"].(string)
		before, _ := jwks(t, m)

		rotatedAt := c.Now()
		rot, err := m.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rot.New) != 2 || rot.New[0].Alg != RS256 || rot.New[1].Alg != ES256 || rot.New[0].Status != StatusCurrent {
			t.Fatalf("new keys = %+v", rot.New)
		}
		if len(rot.Retired) != 2 {
			t.Fatalf("retired = %+v", rot.Retired)
		}
		for _, k := range rot.Retired {
			if k.Status != StatusRetired || !k.RetiredAt.Equal(rotatedAt) || !k.ExpiresAt.Equal(rotatedAt.Add(Retention())) {
				t.Errorf("retired key %+v", k)
			}
		}
		fresh := sign(t, m, map[string]string{"sub": "1"}, "JWT")
		newKID := header(t, fresh)["kid"].(string)
		if newKID == oldKID || newKID != rot.New[0].KID {
			t.Fatalf("after Rotate the token is signed by %s (old %s, new %s)", newKID, oldKID, rot.New[0].KID)
		}
		set, _ := jwks(t, m)
		got := kids(set)
		want := []string{rot.New[0].KID, rot.New[1].KID, before.Keys[0].KeyID, before.Keys[1].KeyID}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("JWKS after rotation = %v, want %v", got, want)
		}
		for _, tok := range []string{old, fresh} {
			if _, err := m.Verify(ctx, tok, "JWT"); err != nil {
				t.Fatalf("Verify after rotation: %v", err)
			}
			if err := verifyWithJWKS(t, m, tok); err != nil {
				t.Fatalf("JWKS check after rotation: %v", err)
			}
		}

		// A token signed just before the rotation with the longest
		// lifetime the setting allows expires before the old key leaves.
		def, _ := settings.Lookup("access_token_lifetime")
		c.Add(def.Max)
		if _, err := m.Verify(ctx, old, "JWT"); err != nil {
			t.Fatalf("old key gone while its tokens may live: %v", err)
		}
		c.Add(Margin - time.Second)
		if set, _ := jwks(t, m); len(set.Keys) != 4 {
			t.Fatalf("old keys left the JWKS early: %v", kids(set))
		}
		c.Add(time.Second)
		set, _ = jwks(t, m)
		if strings.Join(kids(set), " ") != rot.New[0].KID+" "+rot.New[1].KID {
			t.Fatalf("JWKS after expiry = %v", kids(set))
		}
		if _, err := m.Verify(ctx, old, "JWT"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("token of an expired key verifies: %v", err)
		}
		list, _ := m.List(ctx)
		if len(list) != 4 || list[2].Status != StatusExpired || list[2].Published() {
			t.Fatalf("List = %+v", list)
		}
		if n, err := m.Prune(ctx); err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v", n, err)
		}
		if list, _ := m.List(ctx); len(list) != 2 || list[0].KID != rot.New[0].KID {
			t.Fatalf("List after Prune = %+v", list)
		}
		if _, err := m.Verify(ctx, fresh, "JWT"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRotateTwice: a second rotation retires the keys of the first; keys
// retired earlier keep their own expiry.
func TestRotateTwice(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	m := newManager(st, c, "")
	mustEnsure(t, m)
	first := c.Now()
	r1, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	r2, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Retired) != 2 || r2.Retired[0].KID != r1.New[0].KID && r2.Retired[1].KID != r1.New[0].KID {
		t.Fatalf("second rotation retired %+v", r2.Retired)
	}
	list, _ := m.List(ctx)
	if len(list) != 6 {
		t.Fatalf("%d keys", len(list))
	}
	for _, k := range list[2:] {
		if k.Status != StatusRetired {
			t.Errorf("%s is %s", k.KID, k.Status)
		}
	}
	if set, _ := jwks(t, m); len(set.Keys) != 6 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	c.Add(Retention() - time.Hour) // the first keys expire, the second set not yet
	set, _ := jwks(t, m)
	if len(set.Keys) != 4 || set.Keys[2].KeyID != r1.New[0].KID {
		t.Fatalf("JWKS = %v", kids(set))
	}
	_ = first
}

// TestEncryptedAtRest: with a secret, the stored bytes are not the DER
// key; without the secret, or with another, start-up fails with a clear
// error; Rotate still replaces such keys.
func TestEncryptedAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, st *models.Store) {
		ctx := context.Background()
		c := newClock()
		m := newManager(st, c, secretA)
		mustEnsure(t, m)
		tok := sign(t, m, map[string]string{"sub": "1"}, "JWT")
		rows, err := st.ListSigningKeys(ctx)
		if err != nil || len(rows) != 2 {
			t.Fatalf("rows: %v %v", rows, err)
		}
		for _, r := range rows {
			if !r.Encrypted {
				t.Fatalf("key %s stored unencrypted", r.KID)
			}
			if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err == nil {
				t.Fatalf("key %s: the stored bytes are a PKCS#8 key", r.KID)
			}
			der, err := m.decrypt(r.KID, r.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(r.PrivateKey, der[len(der)-64:]) {
				t.Fatalf("key %s: the stored bytes contain the DER key", r.KID)
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
				t.Fatalf("key %s: decrypted bytes are not PKCS#8: %v", r.KID, err)
			}
			if strings.Contains(r.PublicJWK, `"d"`) {
				t.Fatalf("public JWK holds the private exponent")
			}
		}

		// The same secret on another instance works.
		m2 := newManager(st, c, secretA)
		mustEnsure(t, m2)
		if _, err := m2.Verify(ctx, tok, "JWT"); err != nil {
			t.Fatal(err)
		}
		if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] != header(t, tok)["kid"] {
			t.Fatal("another instance signs with another key")
		}

		// No secret: a clear error, no panic.
		err = newManager(st, c, "").Ensure(ctx)
		if !errors.Is(err, ErrSecretRequired) || !strings.Contains(err.Error(), "GATEHOUSE_KEY_SECRET") || !strings.Contains(err.Error(), rows[0].KID) {
			t.Fatalf("Ensure without the secret: %v", err)
		}
		// A wrong secret: a clear error naming the way out.
		err = newManager(st, c, secretB).Ensure(ctx)
		if !errors.Is(err, ErrWrongSecret) || !strings.Contains(err.Error(), "gatehouse keys rotate") {
			t.Fatalf("Ensure with a wrong secret: %v", err)
		}
		if strings.Contains(err.Error(), secretB) || strings.Contains(err.Error(), secretA) {
			t.Fatal("the error shows a secret")
		}

		// The lost-secret recovery: rotate with the new secret, then
		// start. Old tokens stay valid (public parts need no secret).
		mb := newManager(st, c, secretB)
		if _, err := mb.Rotate(ctx); err != nil {
			t.Fatalf("Rotate with another secret: %v", err)
		}
		mustEnsure(t, mb)
		if _, err := mb.Verify(ctx, tok, "JWT"); err != nil {
			t.Fatalf("old token after recovery: %v", err)
		}
		if _, err := mb.Sign(ctx, map[string]string{}, "JWT"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEncryptionBindsRow: a ciphertext moved to another key's row, or
// altered, does not decrypt.
func TestEncryptionBindsRow(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	m := newManager(st, c, secretA)
	mustEnsure(t, m)
	rows, _ := st.ListSigningKeys(ctx)
	if _, err := m.decrypt(rows[1].KID, rows[0].PrivateKey); err == nil {
		t.Fatal("a ciphertext decrypts under another key ID")
	}
	cur := rows[0]
	if cur.Alg != RS256 {
		cur = rows[1]
	}
	if err := st.UpdateSigningKey(ctx, cur.KID, func(k *models.SigningKey) error {
		k.PrivateKey[len(k.PrivateKey)-1] ^= 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := newManager(st, c, secretA).Ensure(ctx); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("altered ciphertext: %v", err)
	}
}

// TestPlaintextKeyWithSecret: keys stored before a secret was configured
// keep working; keys made afterwards are encrypted.
func TestPlaintextKeyWithSecret(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	plain := newManager(st, c, "")
	mustEnsure(t, plain)
	tok := sign(t, plain, map[string]string{}, "JWT")
	rows, _ := st.ListSigningKeys(ctx)
	for _, r := range rows {
		if r.Encrypted {
			t.Fatal("key encrypted without a secret")
		}
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err != nil {
			t.Fatalf("unencrypted key is not PKCS#8: %v", err)
		}
	}
	enc := newManager(st, c, secretA)
	mustEnsure(t, enc)
	if h := header(t, sign(t, enc, map[string]string{}, "JWT")); h["kid"] != header(t, tok)["kid"] {
		t.Fatal("plaintext key not used once a secret is set")
	}
	if _, err := enc.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ := enc.List(ctx)
	if !list[0].Encrypted || !list[1].Encrypted || list[2].Encrypted {
		t.Fatalf("after rotation: %+v", list)
	}
	if _, err := enc.Verify(ctx, tok, "JWT"); err != nil {
		t.Fatal(err)
	}
}

// TestStoredKeyChecks: a row whose public key does not match its kid, or
// whose private key does not suit its algorithm, fails loading.
func TestStoredKeyChecks(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	m := newManager(st, c, "")
	mustEnsure(t, m)
	rows, _ := st.ListSigningKeys(ctx)
	rs, es := rows[0], rows[1]
	if rs.Alg != RS256 {
		rs, es = es, rs
	}
	err := st.UpdateSigningKey(ctx, rs.KID, func(k *models.SigningKey) error { k.PublicJWK = es.PublicJWK; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := newManager(st, c, "").Ensure(ctx); err == nil || !strings.Contains(err.Error(), "does not match the key ID") {
		t.Fatalf("swapped public key: %v", err)
	}
	_ = st.UpdateSigningKey(ctx, rs.KID, func(k *models.SigningKey) error {
		k.PublicJWK, k.PrivateKey = rs.PublicJWK, es.PrivateKey
		return nil
	})
	if err := newManager(st, c, "").Ensure(ctx); err == nil || !strings.Contains(err.Error(), "not a key for RS256") {
		t.Fatalf("EC private key under RS256: %v", err)
	}
}

// TestTwoManagersAgree: two instances starting at once on one database
// make one set of keys, verify each other's tokens, and see each other's
// rotations (at once for unknown kids, within the TTL for signing).
func TestTwoManagersAgree(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string, st1 *models.Store) {
		ctx := context.Background()
		st2 := models.New(dbtest.Open(t, url))
		c := newClock()
		m1, m2 := newManager(st1, c, secretA), newManager(st2, c, secretA)
		// Both instances find no keys and generate before either inserts.
		var barrier sync.WaitGroup
		barrier.Add(2)
		for _, m := range []*Manager{m1, m2} {
			m.generate = func(alg string) (crypto.Signer, error) {
				if alg == RS256 {
					barrier.Done()
					barrier.Wait()
				}
				return generate(alg)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, m := range []*Manager{m1, m2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = m.Ensure(ctx)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("concurrent Ensure: %v", errs)
		}
		m1.generate, m2.generate = generate, generate
		rows, _ := st1.ListSigningKeys(ctx)
		if len(rows) != 2 {
			t.Fatalf("two instances starting at once made %d keys, want 2", len(rows))
		}
		t1, t2 := sign(t, m1, map[string]string{}, "JWT"), sign(t, m2, map[string]string{}, "JWT")
		if header(t, t1)["kid"] != header(t, t2)["kid"] {
			t.Fatal("the instances sign with different keys")
		}
		j1, _ := m1.JWKS(ctx)
		j2, _ := m2.JWKS(ctx)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("JWKS differ:\n%s\n%s", j1, j2)
		}

		rot, err := m1.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t3 := sign(t, m1, map[string]string{}, "JWT")
		// m2 has not reloaded yet, but an unknown kid makes it look.
		if _, err := m2.Verify(ctx, t3, "JWT"); err != nil {
			t.Fatalf("other instance rejects a token of the new key: %v", err)
		}
		m2.Invalidate()
		if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] != rot.New[0].KID {
			t.Fatalf("other instance signs with %v after reload, want %s", h["kid"], rot.New[0].KID)
		}
		for _, tok := range []string{t1, t2, t3} {
			for _, m := range []*Manager{m1, m2} {
				if _, err := m.Verify(ctx, tok, "JWT"); err != nil {
					t.Fatal(err)
				}
			}
		}

		// Rotations at once on both instances leave one current key per
		// algorithm.
		for _, m := range []*Manager{m1, m2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Rotate(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		list, _ := m1.List(ctx)
		current := 0
		for _, k := range list {
			if k.Status == StatusCurrent {
				current++
			}
		}
		if current != 2 || len(list) != 8 {
			t.Fatalf("after concurrent rotations: %d current of %d", current, len(list))
		}
	})
}

// TestCacheTTL: another instance's rotation is seen after the TTL without
// any hint.
func TestCacheTTL(t *testing.T) {
	url := dbtest.SQLiteURL(t)
	st1, st2 := models.New(dbtest.Open(t, url)), models.New(dbtest.Open(t, url))
	c := newClock()
	m1 := newManager(st1, c, "")
	m2 := New(Options{Store: st2, Now: c.Now, CacheTTL: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	mustEnsure(t, m1)
	// Keys made beforehand, so that the rotation is quicker than the TTL.
	made := map[string]crypto.Signer{}
	for _, alg := range KeyAlgorithms {
		made[alg], _ = generate(alg)
	}
	m1.generate = func(alg string) (crypto.Signer, error) { return made[alg], nil }
	mustEnsure(t, m2)
	rot, err := m1.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] == rot.New[0].KID {
		t.Fatal("reloaded before the TTL (the test needs a cached set)")
	}
	time.Sleep(60 * time.Millisecond)
	if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] != rot.New[0].KID {
		t.Fatalf("not reloaded after the TTL: %v", h["kid"])
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

// TestReloadFailureKeepsKeys: when the database cannot be read, the keys
// loaded before go on working.
func TestReloadFailureKeepsKeys(t *testing.T) {
	url := dbtest.SQLiteURL(t)
	st := models.New(dbtest.Open(t, url))
	var logs bytes.Buffer
	m := New(Options{Store: st, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	mustEnsure(t, m)
	tok := sign(t, m, map[string]string{}, "JWT")
	sqlDB, _ := st.DB().DB()
	sqlDB.Close()
	m.Invalidate()
	if _, err := m.Sign(context.Background(), map[string]string{}, "JWT"); err != nil {
		t.Fatalf("Sign with the database gone: %v", err)
	}
	if _, err := m.Verify(context.Background(), tok, "JWT"); err != nil {
		t.Fatalf("Verify with the database gone: %v", err)
	}
	if !strings.Contains(logs.String(), "reload failed") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
	// A manager that never loaded reports the error.
	if _, err := New(Options{Store: st}).JWKS(context.Background()); err == nil {
		t.Fatal("JWKS without a database")
	}
	if algs := New(Options{Store: st}).Algorithms(); len(algs) != 1 || algs[0] != RS256 {
		t.Fatalf("Algorithms without a database = %v", algs)
	}
}

// TestConcurrentUse exercises the cache under -race: signing, verifying
// and publishing while keys rotate and caches are dropped.
func TestConcurrentUse(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	m := New(Options{Store: st, CacheTTL: time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	mustEnsure(t, m)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Sign(ctx, map[string]int{"i": i}, "JWT")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := m.Verify(ctx, tok, "JWT"); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.JWKS(ctx); err != nil {
					t.Error(err)
					return
				}
				_ = m.Algorithms()
			}
		}()
	}
	for i := 0; i < 3; i++ {
		if _, err := m.Rotate(ctx); err != nil {
			t.Error(err)
		}
		m.Invalidate()
	}
	close(stop)
	wg.Wait()
}

// TestVersionCounter: with Options.Version (the cache_state counter that
// triggers bump on every change to signing_keys), another instance's
// rotation is seen on the next use, without waiting for the TTL.
func TestVersionCounter(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string, st1 *models.Store) {
		ctx := context.Background()
		st2 := models.New(dbtest.Open(t, url))
		c := newClock()
		m1 := newManager(st1, c, "")
		version := func(ctx context.Context) (int64, error) {
			v, err := st2.CacheVersions(ctx)
			return v.Keys, err
		}
		m2 := New(Options{Store: st2, Now: c.Now, CacheTTL: time.Hour, Version: version, Log: slog.New(slog.DiscardHandler)})
		mustEnsure(t, m1)
		mustEnsure(t, m2)
		before := header(t, sign(t, m2, map[string]string{}, "JWT"))["kid"]
		// Pruning nothing writes nothing: the counter stays.
		v1, _ := version(ctx)
		if _, err := m1.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if v2, _ := version(ctx); v2 != v1 {
			t.Fatalf("an empty Prune moved the counter %d -> %d", v1, v2)
		}
		rot, err := m1.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		after := header(t, sign(t, m2, map[string]string{}, "JWT"))["kid"]
		if after == before || after != rot.New[0].KID {
			t.Fatalf("kid after another instance rotated: %v (before %v, new %s)", after, before, rot.New[0].KID)
		}
	})
}

// TestGeneratedKIDTaken: a generated key that is already stored (only a
// test key pool can do that) is generated again.
func TestGeneratedKIDTaken(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	m := newManager(st, newClock(), "")
	first, _ := generateFresh(RS256)
	second, _ := generateFresh(RS256)
	calls := 0
	m.generate = func(alg string) (crypto.Signer, error) {
		if alg != RS256 {
			return generateFresh(alg)
		}
		calls++
		if calls <= 2 { // Ensure, then Rotate's first try: the same key
			return first, nil
		}
		return second, nil
	}
	mustEnsure(t, m)
	rot, err := m.Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate with a taken kid: %v", err)
	}
	if want, _ := thumbprint(second.Public()); rot.New[0].KID != want || calls != 3 {
		t.Fatalf("new key %s after %d generations", rot.New[0].KID, calls)
	}
	// Always the same key: Rotate gives up with an error.
	m.generate = func(alg string) (crypto.Signer, error) {
		if alg == RS256 {
			return second, nil
		}
		return generateFresh(alg)
	}
	if _, err := m.Rotate(ctx); !errors.Is(err, errKIDTaken) {
		t.Fatalf("Rotate that can only draw a stored key: %v", err)
	}
}

func TestTestKeyPool(t *testing.T) {
	defer testPool.on.Store(false)
	UseTestKeyPool()
	seen := map[string]int{}
	for i := 0; i < testPoolSize+3; i++ {
		k, err := generate(RS256)
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := thumbprint(k.Public())
		seen[kid]++
	}
	if len(seen) != testPoolSize {
		t.Fatalf("%d distinct keys from the pool, want %d", len(seen), testPoolSize)
	}
	// Rotations on one database never store a key twice.
	st := models.New(dbtest.SQLite(t))
	m := newManager(st, newClock(), "")
	mustEnsure(t, m)
	for i := 0; i < testPoolSize-2; i++ {
		if _, err := m.Rotate(context.Background()); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
}
