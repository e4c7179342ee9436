package clients

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

const testKeySecret = "a key secret of at least thirty-two bytes!"

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaSmall *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ec384Key *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		rsaSmall, _ = rsa.GenerateKey(rand.Reader, 1024)
		ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ec384Key, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, edKey, _ = ed25519.GenerateKey(rand.Reader)
	})
}

// jwk is the JSON of key with kid, alg and use.
func jwk(t *testing.T, key any, kid, alg, use string) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func set(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }

// TestCheckJWKS: every rule of a pasted JWK Set refuses it with a
// sentence saying what to do.
func TestCheckJWKS(t *testing.T) {
	t.Parallel()
	testKeys(t)
	rsaPub := jwk(t, rsaKey.Public(), "r1", "RS256", "sig")
	many := make([]string, MaxJWKSKeys+1)
	for i := range many {
		many[i] = jwk(t, ecKey.Public(), "k"+strings.Repeat("x", i), "", "")
	}
	cases := []struct {
		name, raw, want string
	}{
		{"RSA", set(rsaPub), ""},
		{"RSA PS256", set(jwk(t, rsaKey.Public(), "", "PS256", "")), ""},
		{"EC P-256, no alg", set(jwk(t, ecKey.Public(), "e1", "", "")), ""},
		{"Ed25519", set(jwk(t, edKey.Public(), "d1", "EdDSA", "sig")), ""},
		{"three keys", set(rsaPub, jwk(t, ecKey.Public(), "e1", "ES256", ""), jwk(t, edKey.Public(), "", "", "")), ""},
		{"ten keys", set(many[:MaxJWKSKeys]...), ""},
		{"not JSON", `{"keys": [`, "not valid JSON (it ends too early)"},
		{"not JSON at all", `keys`, "not valid JSON (at character 1)"},
		{"array", `[` + rsaPub + `]`, `a JSON object with a "keys" array`},
		{"two objects", set(rsaPub) + ` {}`, "not valid JSON (at character"},
		{"keys not an array", `{"keys": {}}`, `a JSON object with a "keys" array`},
		{"single key", rsaPub, `no "keys" array`},
		{"no keys", `{"keys": []}`, "has no keys"},
		{"eleven keys", set(many...), "has 11 keys: register at most 10"},
		{"too large", set(rsaPub) + strings.Repeat(" ", MaxJWKSBytes), "larger than 16 KiB"},
		{"key not an object", `{"keys": ["x"]}`, "Key 1 is not a JSON object"},
		{"kid not a string", `{"keys": [{"kty":"EC","kid":1}]}`, "kid must be a string"},
		{"RSA private key", set(jwk(t, rsaKey, "r1", "", "")), `Key 1 (kid "r1") is a private key (it has "d")`},
		{"EC private key", set(rsaPub, jwk(t, ecKey, "", "", "")), `Key 2 is a private key (it has "d")`},
		{"Ed25519 private key", set(jwk(t, edKey, "", "", "")), `is a private key (it has "d")`},
		{"symmetric key", set(jwk(t, []byte("0123456789abcdef0123456789abcdef"), "s", "HS256", "")), "is a symmetric key: register public keys only"},
		{"no kty", `{"keys": [{"n":"abc","e":"AQAB"}]}`, "has no kty"},
		{"unknown kty", `{"keys": [{"kty":"XYZ"}]}`, `has the unsupported kty "XYZ"`},
		{"broken RSA", `{"keys": [{"kty":"RSA","n":"!!"}]}`, "is not a valid RSA public key"},
		{"small RSA", set(jwk(t, rsaSmall.Public(), "", "", "")), "RSA key of 1024 bits: use at least 2048"},
		{"P-384", set(jwk(t, ec384Key.Public(), "", "", "")), "on the curve P-384"},
		{"RSA with HS256", set(jwk(t, rsaKey.Public(), "", "HS256", "")), `alg HS256, which Gatehouse does not accept for this key: use RS256 or PS256`},
		{"RSA with none", set(jwk(t, rsaKey.Public(), "", "none", "")), `alg none,`},
		{"EC with RS256", set(jwk(t, ecKey.Public(), "", "RS256", "")), "use ES256"},
		{"encryption key", set(jwk(t, rsaKey.Public(), "", "", "enc")), `use "enc": keys that verify signatures have use "sig"`},
		{"same kid twice", set(rsaPub, jwk(t, ecKey.Public(), "r1", "", "")), `Two keys have kid "r1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckJWKS(tc.raw)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("CheckJWKS = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckJWKSURI(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://app.example.com/jwks.json":       "",
		"http://127.0.0.1:8080/jwks":              "GATEHOUSE_ALLOW_PRIVATE_FETCH=1",
		"http://localhost/jwks":                   "must use https",
		"http://app.example.com/jwks":             "must use https",
		"ftp://app.example.com/jwks":              "must use https",
		"/jwks":                                   "absolute URL",
		"https://u:p@app.example.com/jwks":        "user name or password",
		"https://app.example.com/jwks#a":          "fragment",
		"https://app.example.com/a b":             "spaces",
		"https://app.example.com/" + long(2000):   "longer than 2000",
		"https://app.example.com/jwks?tenant=a&x": "",
	} {
		if got := CheckJWKSURI(raw, false); want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("CheckJWKSURI(%.40q) = %q, want %q", raw, got, want)
		}
	}
	// The fetcher's rule (app/jwks): with private fetches, any http URL.
	for raw, want := range map[string]string{
		"http://localhost:9/jwks.json": "",
		"http://keys.example.com/jwks": "",
		"ftp://app.example.com/jwks":   "must use https or http",
	} {
		if got := CheckJWKSURI(raw, true); want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("CheckJWKSURI(%.40q, private fetch) = %q, want %q", raw, got, want)
		}
	}
}

func long(n int) string { return strings.Repeat("x", n) }

// Every rule of the authentication fields refuses the input with a
// sentence on its field, and only on it.
func TestValidateAuth(t *testing.T) {
	t.Parallel()
	testKeys(t)
	keys := set(jwk(t, ecKey.Public(), "e1", "ES256", "sig"))
	const (
		m   = FieldTokenEndpointAuthMethod
		ks  = FieldJWKS
		ku  = FieldJWKSURI
		alg = FieldIDTokenSignedResponseAlg
		ma  = FieldMayAct
	)
	cases := []struct {
		name  string
		mod   func(*Input)
		field string
		want  string
	}{
		{"legacy method", func(in *Input) { in.TokenEndpointAuthMethod = "" }, "", ""},
		{"basic", func(in *Input) { in.TokenEndpointAuthMethod = AuthSecretBasic }, "", ""},
		{"post", func(in *Input) { in.TokenEndpointAuthMethod = AuthSecretPost }, "", ""},
		{"secret jwt", func(in *Input) { in.TokenEndpointAuthMethod = AuthSecretJWT }, "", ""},
		{"private key jwt with jwks", func(in *Input) { in.TokenEndpointAuthMethod, in.JWKS = AuthPrivateKeyJWT, keys }, "", ""},
		{"private key jwt with jwks_uri", func(in *Input) {
			in.TokenEndpointAuthMethod, in.JWKSURI = AuthPrivateKeyJWT, "https://app.example.com/jwks"
		}, "", ""},
		{"public none", func(in *Input) { in.Public, in.TokenEndpointAuthMethod = true, AuthNone }, "", ""},
		{"public legacy", func(in *Input) { in.Public, in.TokenEndpointAuthMethod = true, "" }, "", ""},
		{"unknown method", func(in *Input) { in.TokenEndpointAuthMethod = "tls_client_auth" }, m, `"tls_client_auth" is not a client authentication method`},
		{"public with a secret method", func(in *Input) { in.Public, in.TokenEndpointAuthMethod = true, AuthSecretBasic }, m, "A public client authenticates with none"},
		{"public with private key jwt", func(in *Input) {
			in.Public, in.TokenEndpointAuthMethod, in.JWKS = true, AuthPrivateKeyJWT, keys
		}, m, "private_key_jwt is for confidential clients"},
		{"confidential none", func(in *Input) { in.TokenEndpointAuthMethod = AuthNone }, m, "none is the method of public clients"},
		{"private key jwt without keys", func(in *Input) { in.TokenEndpointAuthMethod = AuthPrivateKeyJWT }, ks, "needs the client's public keys"},
		{"private key jwt with both", func(in *Input) {
			in.TokenEndpointAuthMethod, in.JWKS, in.JWKSURI = AuthPrivateKeyJWT, keys, "https://app.example.com/jwks"
		}, ks, "either the public keys (JWK Set) or the JWKS URL, not both"},
		{"private key jwt with a bad set", func(in *Input) { in.TokenEndpointAuthMethod, in.JWKS = AuthPrivateKeyJWT, "{" }, ks, "not valid JSON"},
		{"private key jwt with a private key", func(in *Input) {
			in.TokenEndpointAuthMethod, in.JWKS = AuthPrivateKeyJWT, set(jwk(t, ecKey, "", "", ""))
		}, ks, "is a private key"},
		{"private key jwt with an ftp URL", func(in *Input) {
			in.TokenEndpointAuthMethod, in.JWKSURI = AuthPrivateKeyJWT, "ftp://app.example.com/jwks"
		}, ku, "must use https or http"},
		{"private key jwt with a private key and a URL", func(in *Input) {
			in.TokenEndpointAuthMethod, in.JWKS, in.JWKSURI = AuthPrivateKeyJWT, set(jwk(t, ecKey, "", "", "")), "https://app.example.com/jwks"
		}, ks, "is a private key"},
		{"jwks with basic", func(in *Input) { in.TokenEndpointAuthMethod, in.JWKS = AuthSecretBasic, keys }, ks, "used only with private_key_jwt"},
		{"jwks_uri with secret jwt", func(in *Input) {
			in.TokenEndpointAuthMethod, in.JWKSURI = AuthSecretJWT, "https://app.example.com/jwks"
		}, ku, "used only with private_key_jwt"},
		{"ES256", func(in *Input) { in.IDTokenSignedResponseAlg = "ES256" }, "", ""},
		{"HS256 ID tokens", func(in *Input) { in.IDTokenSignedResponseAlg = "HS256" }, alg, `"HS256" is not an ID token signing algorithm Gatehouse offers: choose RS256 or ES256.`},
		{"none ID tokens", func(in *Input) { in.IDTokenSignedResponseAlg = "none" }, alg, "choose RS256 or ES256"},
		{"lower-case es256", func(in *Input) { in.IDTokenSignedResponseAlg = "es256" }, alg, "choose RS256 or ES256"},
		{"DPoP and PAR", func(in *Input) { in.DPoPBoundAccessTokens, in.RequirePushedAuthorizationRequests = true, true }, "", ""},
		{"may act", func(in *Input) { in.MayAct = []string{"abc", "https://agent.example/client.json"} }, "", ""},
		{"may act with a space", func(in *Input) { in.MayAct = []string{"a b"} }, ma, `"a b" is not a client ID`},
		{"may act too many", func(in *Input) {
			in.MayAct = nil
			for i := range MaxMayAct + 1 {
				in.MayAct = append(in.MayAct, "c"+strings.Repeat("x", i))
			}
		}, ma, "at most 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			in.Normalize()
			tc.mod(&in)
			errs := in.Validate(known)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if !strings.Contains(errs[tc.field], tc.want) {
				t.Fatalf("errs[%s] = %q, want it to contain %q (all: %v)", tc.field, errs[tc.field], tc.want, errs)
			}
			if len(errs) != 1 {
				t.Errorf("more errors than expected: %v", errs)
			}
		})
	}
}

func TestNormalizeAuth(t *testing.T) {
	t.Parallel()
	in := Input{TokenEndpointAuthMethod: " private_key_jwt ", JWKS: " {\r\n} ", JWKSURI: " https://a.example/j ",
		MayAct: []string{" a ", "", "b", "a"}}
	in.Normalize()
	if in.TokenEndpointAuthMethod != AuthPrivateKeyJWT || in.JWKS != "{\n}" || in.JWKSURI != "https://a.example/j" ||
		in.IDTokenSignedResponseAlg != AlgRS256 || !slices.Equal(in.MayAct, []string{"a", "b"}) {
		t.Fatalf("normalized %+v", in)
	}
	// An unchosen method stays unchosen: a stored client keeps its
	// behaviour when other fields are edited.
	in = Input{}
	in.Normalize()
	if in.TokenEndpointAuthMethod != "" {
		t.Fatalf("method %q", in.TokenEndpointAuthMethod)
	}
}

func TestCheckRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{"agent": {ClientID: "agent"}, "bot": {ClientID: "bot"}}}
	in := Input{MayAct: []string{"agent", "bot"}, TokenEndpointAuthMethod: AuthSecretBasic}
	if errs, err := CheckRefs(ctx, st, "self", in, Server{}); err != nil || errs != nil {
		t.Fatalf("existing clients refused: %v %v", errs, err)
	}
	for _, tc := range []struct {
		name     string
		in       Input
		keySet   bool
		field    string
		want     string
		clientID string
	}{
		{"unknown client", Input{MayAct: []string{"agent", "ghost"}}, false, FieldMayAct, `"ghost" is not a client on this server`, "self"},
		{"unknown clients", Input{MayAct: []string{"ghost", "spook"}}, false, FieldMayAct, `"ghost" and "spook" are not clients on this server`, "self"},
		{"itself", Input{MayAct: []string{"agent"}}, false, FieldMayAct, "leave its own client ID out", "agent"},
		{"secret jwt without key secret", Input{TokenEndpointAuthMethod: AuthSecretJWT}, false, FieldTokenEndpointAuthMethod, "needs the server's key secret (GATEHOUSE_KEY_SECRET)", ""},
		{"secret jwt with key secret", Input{TokenEndpointAuthMethod: AuthSecretJWT}, true, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, err := CheckRefs(ctx, st, tc.clientID, tc.in, Server{KeySecret: tc.keySet})
			if err != nil {
				t.Fatal(err)
			}
			if tc.field == "" {
				if errs != nil {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if !strings.Contains(errs[tc.field], tc.want) || len(errs) != 1 {
				t.Fatalf("errs = %v, want %s: %q", errs, tc.field, tc.want)
			}
		})
	}
}

// openSealed opens a client's sealed secret as the token endpoint does.
func openSealed(t *testing.T, c *models.Client) string {
	t.Helper()
	plain, err := secret.NewClientSecretSealer(testKeySecret).Open(c.ClientID, c.SecretSealed)
	if err != nil {
		t.Fatalf("sealed secret of %s: %v", c.ClientID, err)
	}
	return string(plain)
}

func TestCreateAuthMethods(t *testing.T) {
	t.Parallel()
	testKeys(t)
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	withMethod := func(m string) Input {
		in := valid()
		in.TokenEndpointAuthMethod = m
		return in
	}

	// No method: client_secret_basic, or none for public clients.
	c, plain, errs, err := Create(ctx, st, valid(), nil)
	if err != nil || c.TokenEndpointAuthMethod != AuthSecretBasic || plain == "" || c.SecretSealed != nil || c.IDTokenSignedResponseAlg != AlgRS256 {
		t.Fatalf("default: %+v %v %v", c, errs, err)
	}
	pub := valid()
	pub.Public = true
	if c, _, _, _ := Create(ctx, st, pub, nil); c.TokenEndpointAuthMethod != AuthNone || c.SecretHash != nil {
		t.Fatalf("public: %+v", c)
	}

	// client_secret_jwt: refused without a key secret, sealed with one.
	if _, _, errs, err := Create(ctx, st, withMethod(AuthSecretJWT), nil); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(errs[FieldTokenEndpointAuthMethod], "GATEHOUSE_KEY_SECRET") {
		t.Fatalf("client_secret_jwt without a key secret: %v %v", errs, err)
	}
	c, plain, errs, err = Create(ctx, st, withMethod(AuthSecretJWT), nil, WithKeySecret(testKeySecret))
	if err != nil {
		t.Fatal(err, errs)
	}
	if openSealed(t, c) != plain || !bytes.Equal(c.SecretHash, secret.Digest(plain)) {
		t.Fatal("the sealed secret is not the one shown")
	}
	if _, err := secret.NewClientSecretSealer(testKeySecret).Open("another-client", c.SecretSealed); err == nil {
		t.Fatal("the sealed secret opens for another client ID")
	}

	// private_key_jwt: no secret at all.
	pk := withMethod(AuthPrivateKeyJWT)
	pk.JWKS = set(jwk(t, rsaKey.Public(), "r1", "RS256", "sig"))
	c, plain, errs, err = Create(ctx, st, pk, nil)
	if err != nil || plain != "" || c.SecretHash != nil || c.SecretHint != "" || c.JWKS != pk.JWKS {
		t.Fatalf("private_key_jwt: %+v %q %v %v", c, plain, errs, err)
	}

	// The other fields are stored.
	full := valid()
	full.IDTokenSignedResponseAlg, full.DPoPBoundAccessTokens, full.RequirePushedAuthorizationRequests = AlgES256, true, true
	full.MayAct = []string{c.ClientID}
	c2, _, errs, err := Create(ctx, st, full, nil)
	if err != nil || c2.IDTokenSignedResponseAlg != AlgES256 || !c2.DPoPBoundAccessTokens || !c2.RequirePushedAuthorizationRequests ||
		!slices.Equal(c2.MayAct, []string{c.ClientID}) {
		t.Fatalf("stored %+v %v %v", c2, errs, err)
	}
	full.MayAct = []string{"ghost"}
	n := len(st.clients)
	if _, _, errs, err := Create(ctx, st, full, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(errs[FieldMayAct], `"ghost" is not a client`) || len(st.clients) != n {
		t.Fatalf("unknown may_act: %v %v", errs, err)
	}
}

// Saving a client makes its secret fit its method: switching to
// client_secret_jwt replaces the hashed secret with a new, sealed one;
// leaving it drops the sealed copy; private_key_jwt and public clients
// keep none; leaving them issues one.
func TestEditSecretFollowsMethod(t *testing.T) {
	t.Parallel()
	testKeys(t)
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := []Option{WithKeySecret(testKeySecret), WithClock(func() time.Time { return now })}
	c, first, _, err := Create(ctx, st, valid(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	id := c.ClientID
	setMethod := func(m string, mods ...func(*Input)) func(*Input) {
		return func(in *Input) {
			in.TokenEndpointAuthMethod, in.Public = m, m == AuthNone
			in.JWKS, in.JWKSURI = "", ""
			for _, f := range mods {
				f(in)
			}
		}
	}
	get := func() *models.Client { return st.clients[id] }

	// basic -> post keeps the secret.
	s, errs, err := Edit(ctx, st, Operator, id, setMethod(AuthSecretPost), opts...)
	if err != nil || s.Secret != SecretKept || s.NewSecret != "" || !bytes.Equal(get().SecretHash, secret.Digest(first)) {
		t.Fatalf("to post: %+v %v %v", s, errs, err)
	}
	// Without a key secret, client_secret_jwt is refused and nothing changes.
	if _, errs, err := Edit(ctx, st, Operator, id, setMethod(AuthSecretJWT)); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(errs[FieldTokenEndpointAuthMethod], "GATEHOUSE_KEY_SECRET") || get().TokenEndpointAuthMethod != AuthSecretPost {
		t.Fatalf("jwt without key secret: %v %v", errs, err)
	}
	// -> client_secret_jwt: a new secret, sealed; the old one is gone.
	s, errs, err = Edit(ctx, st, Operator, id, setMethod(AuthSecretJWT), opts...)
	if err != nil || s.Secret != SecretRotated || s.NewSecret == "" || s.NewSecret == first {
		t.Fatalf("to jwt: %+v %v %v", s, errs, err)
	}
	if openSealed(t, get()) != s.NewSecret || !bytes.Equal(get().SecretHash, secret.Digest(s.NewSecret)) || !get().SecretRotatedAt.Equal(now) {
		t.Fatal("the jwt secret is not sealed and hashed")
	}
	jwtSecret := s.NewSecret
	// Editing something else keeps the sealed secret.
	s, _, err = Edit(ctx, st, Operator, id, func(in *Input) { in.Name = "Renamed" }, opts...)
	if err != nil || s.Secret != SecretKept || openSealed(t, get()) != jwtSecret {
		t.Fatalf("rename: %+v %v", s, err)
	}
	// Rotation seals the new secret.
	rotated, err := RotateSecret(ctx, st, id, opts...)
	if err != nil || rotated == jwtSecret || openSealed(t, get()) != rotated || !bytes.Equal(get().SecretHash, secret.Digest(rotated)) {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := RotateSecret(ctx, st, id); !errors.Is(err, ErrNoKeySecret) {
		t.Fatalf("rotate without key secret: %v", err)
	}
	// -> basic: the same secret, no sealed copy.
	s, _, err = Edit(ctx, st, Operator, id, setMethod(AuthSecretBasic), opts...)
	if err != nil || s.Secret != SecretKept || get().SecretSealed != nil || !bytes.Equal(get().SecretHash, secret.Digest(rotated)) {
		t.Fatalf("to basic: %+v %v", s, err)
	}
	// -> private_key_jwt: no secret.
	keys := set(jwk(t, edKey.Public(), "d1", "", ""))
	s, _, err = Edit(ctx, st, Operator, id, setMethod(AuthPrivateKeyJWT, func(in *Input) { in.JWKS = keys }), opts...)
	if err != nil || s.Secret != SecretDeleted || get().SecretHash != nil || get().SecretHint != "" || get().JWKS != keys {
		t.Fatalf("to private_key_jwt: %+v %v", s, err)
	}
	if _, err := RotateSecret(ctx, st, id, opts...); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("rotate private_key_jwt: %v", err)
	}
	// -> client_secret_jwt from no secret: issued, sealed.
	s, _, err = Edit(ctx, st, Operator, id, setMethod(AuthSecretJWT), opts...)
	if err != nil || s.Secret != SecretIssued || openSealed(t, get()) != s.NewSecret || get().JWKS != "" {
		t.Fatalf("to jwt from keys: %+v %v", s, err)
	}
	// -> none (public): no secret at all.
	s, _, err = Edit(ctx, st, Operator, id, setMethod(AuthNone), opts...)
	if err != nil || s.Secret != SecretDeleted || get().SecretHash != nil || get().SecretSealed != nil || !get().Public {
		t.Fatalf("to public: %+v %v", s, err)
	}
	if _, err := RotateSecret(ctx, st, id, opts...); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("rotate public: %v", err)
	}
	// -> basic: issued.
	s, _, err = Edit(ctx, st, Operator, id, setMethod(AuthSecretBasic), opts...)
	if err != nil || s.Secret != SecretIssued || !bytes.Equal(get().SecretHash, secret.Digest(s.NewSecret)) || get().Public {
		t.Fatalf("to basic from public: %+v %v", s, err)
	}
	if _, err := RotateSecret(ctx, st, "nope", opts...); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotate unknown: %v", err)
	}
}

// A client stored before the method existed keeps "" (secret in Basic or
// in the body) when other fields are edited.
func TestEditKeepsLegacyMethod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	plain, hash, hint := "gcs_x", secret.Digest("gcs_x"), "cs_x"
	st := &trustStore{clients: map[string]*models.Client{"old": {ClientID: "old", Name: "Old", SecretHash: hash, SecretHint: hint,
		RedirectURIs: []string{"https://old.example/cb"}}}}
	s, errs, err := Edit(ctx, st, Operator, "old", func(in *Input) { in.DPoPBoundAccessTokens = true })
	if err != nil {
		t.Fatal(err, errs)
	}
	got := st.clients["old"]
	if got.TokenEndpointAuthMethod != "" || !bytes.Equal(got.SecretHash, secret.Digest(plain)) || !got.DPoPBoundAccessTokens ||
		!slices.Equal(Changes(s.Before, s.After), []string{FieldDPoPBoundAccessTokens}) {
		t.Fatalf("stored %+v, changes %v", got, Changes(s.Before, s.After))
	}
	if AuthMethodText(s.After) != "client_secret_basic or client_secret_post" {
		t.Errorf("AuthMethodText = %q", AuthMethodText(s.After))
	}
}

func TestChangesAndAuditOfAuthFields(t *testing.T) {
	t.Parallel()
	testKeys(t)
	before := valid()
	before.Normalize()
	after := before
	after.TokenEndpointAuthMethod = AuthPrivateKeyJWT
	after.JWKS = set(jwk(t, rsaKey.Public(), "r1", "", ""), jwk(t, edKey.Public(), "d1", "", ""))
	after.IDTokenSignedResponseAlg = AlgES256
	after.DPoPBoundAccessTokens = true
	after.RequirePushedAuthorizationRequests = true
	after.MayAct = []string{"agent", "bot"}
	want := []string{FieldTokenEndpointAuthMethod, FieldJWKS, FieldIDTokenSignedResponseAlg, FieldDPoPBoundAccessTokens,
		FieldRequirePushedAuthorizationRequests, FieldMayAct}
	if got := Changes(before, after); !slices.Equal(got, want) {
		t.Fatalf("Changes = %v", got)
	}
	d := AuditDetails(before, after)
	for k, v := range map[string]string{
		FieldTokenEndpointAuthMethod:            "client_secret_basic or client_secret_post -> private_key_jwt",
		FieldJWKS:                               " -> 2 keys (kid r1, d1)",
		FieldIDTokenSignedResponseAlg:           "RS256 -> ES256",
		FieldDPoPBoundAccessTokens:              "false -> true",
		FieldRequirePushedAuthorizationRequests: "false -> true",
		FieldMayAct:                             " -> agent bot",
		"changed":                               strings.Join(want, ","),
	} {
		if d[k] != v {
			t.Errorf("details[%s] = %q, want %q", k, d[k], v)
		}
	}
	// may_act is a set; the JWKS URL is recorded with its values.
	b2, a2 := after, after
	a2.MayAct = []string{"bot", "agent"}
	a2.JWKS, a2.JWKSURI = "", "https://app.example.com/jwks"
	if got := Changes(b2, a2); !slices.Equal(got, []string{FieldJWKS, FieldJWKSURI}) {
		t.Fatalf("Changes = %v", got)
	}
	if d := AuditDetails(b2, a2); d[FieldJWKSURI] != " -> https://app.example.com/jwks" || d[FieldJWKS] != "2 keys (kid r1, d1) -> " {
		t.Errorf("details = %v", d)
	}
}

// An http jwks_uri is refused unless the server fetches over http
// (GATEHOUSE_ALLOW_PRIVATE_FETCH=1): the form follows the fetcher's rule.
func TestCheckRefsJWKSURIScheme(t *testing.T) {
	t.Parallel()
	st := &trustStore{clients: map[string]*models.Client{}}
	in := Input{TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKSURI: "http://localhost:9/jwks.json"}
	errs, err := CheckRefs(t.Context(), st, "", in, Server{})
	if err != nil || !strings.Contains(errs[FieldJWKSURI], "must use https") {
		t.Fatalf("http jwks_uri without private fetch: %v %v", errs, err)
	}
	if errs, err := CheckRefs(t.Context(), st, "", in, Server{PrivateFetch: true}); err != nil || errs[FieldJWKSURI] != "" {
		t.Fatalf("http jwks_uri with private fetch: %v %v", errs, err)
	}
	in.JWKSURI = "https://app.example.com/jwks"
	if errs, err := CheckRefs(t.Context(), st, "", in, Server{}); err != nil || errs[FieldJWKSURI] != "" {
		t.Fatalf("https jwks_uri: %v %v", errs, err)
	}
}
