package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Client authentication methods (RFC 7591 token_endpoint_auth_method,
// SPEC.md §7.4).
const (
	AuthSecretBasic   = oauth.AuthSecretBasic // the secret in HTTP Basic: the default for confidential clients
	AuthSecretPost    = oauth.AuthSecretPost  // the secret in the request body
	AuthSecretJWT     = "client_secret_jwt"   // a JWT signed with the secret (HS256, RFC 7523)
	AuthPrivateKeyJWT = "private_key_jwt"     // a JWT signed with the client's private key (RFC 7523)
	AuthNone          = oauth.AuthNone        // public clients: the client ID alone
)

// AuthMethods are the client authentication methods, in the order the
// form offers them.
var AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthSecretJWT, AuthPrivateKeyJWT, AuthNone}

// ID token signing algorithms a client may choose
// (id_token_signed_response_alg): RS256 is the default.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// IDTokenAlgs are the ID token signing algorithms a client may choose.
var IDTokenAlgs = []string{AlgRS256, AlgES256}

// Limits of the authentication fields.
const (
	// MaxJWKSBytes and MaxJWKSKeys bound a pasted JWK Set.
	MaxJWKSBytes = 16 << 10
	MaxJWKSKeys  = 10
	// MinRSABits is the smallest RSA key accepted in a JWK Set.
	MinRSABits = 2048
	// MaxMayAct bounds the client IDs a client may act for.
	MaxMayAct = 20
)

// NeedsSecret reports whether a client with this method (and type) has a
// client secret: every confidential method but private_key_jwt.
func NeedsSecret(public bool, method string) bool {
	return !public && method != AuthPrivateKeyJWT
}

// AuthMethodOf is the method a client authenticates with, as the form
// shows it: a client stored before the method could be chosen ("") is
// client_secret_basic (it accepts client_secret_post too) or none.
func AuthMethodOf(public bool, method string) string {
	switch {
	case method != "":
		return method
	case public:
		return AuthNone
	}
	return AuthSecretBasic
}

// Option is an optional setting of Create, CreateAs, Update, Edit and
// RotateSecret.
type Option func(*options)

type options struct {
	keySecret string
	now       func() time.Time
}

func newOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithKeySecret gives the server's key secret (GATEHOUSE_KEY_SECRET,
// config.KeySecret). Without it client_secret_jwt is refused: that
// secret is the HMAC key of the client's assertions, so it must be kept
// (encrypted under the key secret), not only hashed.
func WithKeySecret(keySecret string) Option { return func(o *options) { o.keySecret = keySecret } }

// WithClock sets the clock that dates new secrets (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// normalizeAuth trims the authentication fields and drops empty and
// repeated client IDs from MayAct. The method stays "" when not given
// (a client stored before it existed keeps the old behaviour); an empty
// ID token algorithm is RS256.
func (in *Input) normalizeAuth() {
	in.TokenEndpointAuthMethod = strings.TrimSpace(in.TokenEndpointAuthMethod)
	in.JWKS = strings.TrimSpace(strings.ReplaceAll(in.JWKS, "\r\n", "\n"))
	in.JWKSURI = strings.TrimSpace(in.JWKSURI)
	in.IDTokenSignedResponseAlg = strings.TrimSpace(in.IDTokenSignedResponseAlg)
	if in.IDTokenSignedResponseAlg == "" {
		in.IDTokenSignedResponseAlg = AlgRS256
	}
	in.MayAct = dedupe(in.MayAct)
}

// validateAuth adds the problems with the authentication fields to errs:
// the method and the client type agree (none ⇔ public), private_key_jwt
// has its keys (jwks XOR jwks_uri) and no other method has any, the ID
// token algorithm is RS256 or ES256, and may_act lists plausible client
// IDs (that they exist is CheckRefs's).
func (in *Input) validateAuth(errs Errors) {
	m := in.TokenEndpointAuthMethod
	switch {
	case m != "" && !slices.Contains(AuthMethods, m):
		errs[FieldTokenEndpointAuthMethod] = fmt.Sprintf("%q is not a client authentication method: use client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or none.", m)
	case in.Public && m != "" && m != AuthNone:
		errs[FieldTokenEndpointAuthMethod] = fmt.Sprintf("A public client authenticates with none (its client ID alone): %s is for confidential clients, which can keep a secret or a private key.", m)
	case !in.Public && m == AuthNone:
		errs[FieldTokenEndpointAuthMethod] = "none is the method of public clients: make the client public, or choose how it proves who it is (client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt)."
	}

	if m == AuthPrivateKeyJWT {
		switch {
		case in.JWKS != "" && in.JWKSURI != "":
			errs[FieldJWKS] = "Give either the public keys (JWK Set) or the JWKS URL, not both."
		case in.JWKS == "" && in.JWKSURI == "":
			errs[FieldJWKS] = "Private key JWT needs the client's public keys: paste its JWK Set, or give the URL where it publishes it."
		case in.JWKS != "":
			if msg := CheckJWKS(in.JWKS); msg != "" {
				errs[FieldJWKS] = msg
			}
		default:
			if msg := CheckJWKSURI(in.JWKSURI); msg != "" {
				errs[FieldJWKSURI] = msg
			}
		}
	} else if in.JWKS != "" || in.JWKSURI != "" {
		field := FieldJWKS
		if in.JWKS == "" {
			field = FieldJWKSURI
		}
		errs[field] = "Public keys are used only with private_key_jwt: choose that method, or remove them."
	}

	if !slices.Contains(IDTokenAlgs, in.IDTokenSignedResponseAlg) {
		errs[FieldIDTokenSignedResponseAlg] = fmt.Sprintf("%q is not an ID token signing algorithm Gatehouse offers: choose RS256 or ES256.", in.IDTokenSignedResponseAlg)
	}

	if len(in.MayAct) > MaxMayAct {
		errs[FieldMayAct] = fmt.Sprintf("List at most %d clients.", MaxMayAct)
	} else {
		for _, id := range in.MayAct {
			if len(id) > MaxURLLength || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
				errs[FieldMayAct] = fmt.Sprintf("%s is not a client ID: list client IDs, one per line.", quoteURI(id))
				break
			}
		}
	}
}

// CheckJWKSURI returns why raw is not a usable jwks_uri, or "": an
// absolute https URL (http only on a loopback host, for development)
// without credentials or a fragment.
func CheckJWKSURI(raw string) string {
	if len(raw) > MaxURLLength {
		return fmt.Sprintf("The JWKS URL is longer than %d characters.", MaxURLLength)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return "The JWKS URL must not contain spaces."
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "The JWKS URL must be an absolute URL such as https://app.example.com/.well-known/jwks.json."
	}
	switch {
	case u.User != nil:
		return "The JWKS URL must not contain a user name or password."
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "The JWKS URL must not contain a fragment (#...)."
	case u.Scheme == "https":
	case u.Scheme == "http" && oauth.IsLoopbackHost(u.Hostname()):
	default:
		return "The JWKS URL must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)."
	}
	return ""
}

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// CheckJWKS returns why raw is not a usable JWK Set of a client's public
// keys, or "": valid JSON of at most MaxJWKSBytes, {"keys": [...]} with 1
// to MaxJWKSKeys keys, each a public signing key Gatehouse can verify
// assertions with (RSA of at least 2048 bits, EC P-256 or Ed25519; alg,
// when given, RS256, PS256, ES256 or EdDSA to match; use, when given,
// sig), no private or symmetric key, no key ID twice.
func CheckJWKS(raw string) string {
	if len(raw) > MaxJWKSBytes {
		return fmt.Sprintf("The JWK Set is larger than %d KB: paste only the public keys the client signs with.", MaxJWKSBytes>>10)
	}
	var anyJSON any
	if err := json.Unmarshal([]byte(raw), &anyJSON); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && syntax.Offset < int64(len(raw)) {
			return fmt.Sprintf("The JWK Set is not valid JSON (at character %d): paste it as the client publishes it, {\"keys\": [...]}.", syntax.Offset)
		}
		return "The JWK Set is not valid JSON (it ends too early): paste it whole, {\"keys\": [...]}."
	}
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return "The JWK Set must be a JSON object with a \"keys\" array: {\"keys\": [...]}."
	}
	if set.Keys == nil {
		return "The JWK Set has no \"keys\" array: paste the whole set, {\"keys\": [...]}, not a single key."
	}
	keys := *set.Keys
	switch {
	case len(keys) == 0:
		return "The JWK Set has no keys: add the public key the client signs its assertions with."
	case len(keys) > MaxJWKSKeys:
		return fmt.Sprintf("The JWK Set has %d keys: register at most %d.", len(keys), MaxJWKSKeys)
	}
	kids := map[string]bool{}
	for i, rawKey := range keys {
		name := fmt.Sprintf("Key %d", i+1)
		var members map[string]json.RawMessage
		if err := json.Unmarshal(rawKey, &members); err != nil {
			return name + " is not a JSON object."
		}
		var kid string
		if v, ok := members["kid"]; ok {
			if json.Unmarshal(v, &kid) != nil {
				return name + ": kid must be a string."
			}
			name = fmt.Sprintf("Key %d (kid %q)", i+1, kid)
		}
		var kty string
		_ = json.Unmarshal(members["kty"], &kty)
		if kty == "oct" {
			return name + " is a symmetric (oct) key: private_key_jwt uses public keys only; for a shared secret choose client_secret_jwt."
		}
		for _, p := range privateMembers {
			if _, ok := members[p]; ok {
				return fmt.Sprintf("%s contains private key material (%q): paste only the public keys, and keep the private key with the client.", name, p)
			}
		}
		if msg := checkJWK(rawKey, kty); msg != "" {
			return name + " " + msg
		}
		if kid != "" {
			if kids[kid] {
				return fmt.Sprintf("Two keys have the key ID %q: give each key its own kid.", kid)
			}
			kids[kid] = true
		}
	}
	return ""
}

// checkJWK returns why a public JWK (with type kty) cannot verify client
// assertions, as the end of a sentence naming it, or "".
func checkJWK(rawKey json.RawMessage, kty string) string {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(rawKey); err != nil {
		switch kty {
		case "":
			return "has no kty: say which type of key it is (RSA, EC or OKP)."
		case "RSA", "EC", "OKP":
			return fmt.Sprintf("is not a valid %s public key: check that it is copied whole.", kty)
		}
		return fmt.Sprintf("has the key type %q: use an RSA, EC (P-256) or Ed25519 (OKP) key.", kty)
	}
	if !k.Valid() || !k.IsPublic() {
		return "is not a usable public key: use an RSA, EC (P-256) or Ed25519 (OKP) key."
	}
	var algs []string
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < MinRSABits {
			return fmt.Sprintf("is an RSA key of %d bits: use at least %d.", pub.N.BitLen(), MinRSABits)
		}
		algs = []string{"RS256", "PS256"}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return fmt.Sprintf("is on the curve %s: Gatehouse verifies ES256, whose keys are on P-256.", pub.Curve.Params().Name)
		}
		algs = []string{"ES256"}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	default:
		return "is not a key type Gatehouse verifies: use an RSA, EC (P-256) or Ed25519 (OKP) key."
	}
	if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
		return fmt.Sprintf("has alg %q, which Gatehouse does not accept for this key: use %s, or leave alg out.", k.Algorithm, strings.Join(algs, " or "))
	}
	if k.Use != "" && k.Use != "sig" {
		return fmt.Sprintf("has use %q: client assertions need a signing key (use \"sig\"), or leave use out.", k.Use)
	}
	return ""
}

// JWKSSummary describes a JWK Set for an audit event: its key IDs, or
// how many keys it has ("" for none).
func JWKSSummary(raw string) string {
	if raw == "" {
		return ""
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if json.Unmarshal([]byte(raw), &set) != nil {
		return "(not a JWK Set)"
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Kid != "" {
			kids = append(kids, k.Kid)
		}
	}
	s := fmt.Sprintf("%d keys", len(set.Keys))
	if len(set.Keys) == 1 {
		s = "1 key"
	}
	if len(kids) > 0 {
		s += " (kid " + strings.Join(kids, ", ") + ")"
	}
	return s
}

// ClientGetter finds clients, for CheckRefs.
type ClientGetter interface {
	GetClient(ctx context.Context, clientID string) (*models.Client, error)
}

// CheckRefs checks what of the input depends on the server rather than on
// the input alone, for the client clientID ("" for a new one):
// client_secret_jwt needs a key secret (hasKeySecret) to keep the secret
// encrypted, and the clients of MayAct must exist (and not be the client
// itself, which may always act with its own tokens).
func CheckRefs(ctx context.Context, st ClientGetter, clientID string, in Input, hasKeySecret bool) (Errors, error) {
	errs := Errors{}
	if in.TokenEndpointAuthMethod == AuthSecretJWT && !in.Public && !hasKeySecret {
		errs[FieldTokenEndpointAuthMethod] = "client_secret_jwt needs the server's key secret (GATEHOUSE_KEY_SECRET) to keep the client secret encrypted, and none is configured: " +
			"ask the operator to set one, or choose private_key_jwt, which needs no secret at all."
	}
	var unknown []string
	for _, id := range in.MayAct {
		if id == clientID {
			errs[FieldMayAct] = "A client may always act with its own tokens: leave its own client ID out."
			break
		}
		if _, err := st.GetClient(ctx, id); errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, quoteURI(id))
		} else if err != nil {
			return nil, err
		}
	}
	if len(unknown) > 0 && errs[FieldMayAct] == "" {
		if len(unknown) == 1 {
			errs[FieldMayAct] = unknown[0] + " is not a client on this server: list the client IDs of registered clients."
		} else {
			errs[FieldMayAct] = strings.Join(unknown[:len(unknown)-1], ", ") + " and " + unknown[len(unknown)-1] +
				" are not clients on this server: list the client IDs of registered clients."
		}
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return errs, nil
}

// newSecret gives x a new client secret, sealed when its method is
// client_secret_jwt (keySecret must then be set), and returns it in plain
// text to be shown once.
func newSecret(x *models.Client, keySecret string, now time.Time) string {
	plain, hash, hint := oauth.NewClientSecret()
	at := now.UTC()
	x.SecretHash, x.SecretHint, x.SecretRotatedAt = hash, hint, &at
	x.SecretSealed = nil
	if x.TokenEndpointAuthMethod == AuthSecretJWT {
		x.SecretSealed = secret.NewClientSecretSealer(keySecret).Seal(x.ClientID, plain)
	}
	return plain
}

// dropSecret deletes x's secret (public and private_key_jwt clients have
// none).
func dropSecret(x *models.Client) {
	x.SecretHash, x.SecretHint, x.SecretRotatedAt, x.SecretSealed = nil, "", nil, nil
}

// SecretChange is what a save did to a client's secret.
type SecretChange int

// What a save did to a client's secret.
const (
	SecretKept    SecretChange = iota
	SecretIssued               // a first secret: the client became confidential or left private_key_jwt
	SecretRotated              // replaced: the client switched to client_secret_jwt, whose secret must be kept sealed
	SecretDeleted              // the client became public or uses private_key_jwt
)

// String is the change as an audit event records it ("" for none).
func (s SecretChange) String() string {
	return [...]string{"", "issued", "rotated", "deleted"}[s]
}

// fitSecret makes x's secret fit its (saved) type and method: none for
// public and private_key_jwt clients; one for the others, issued when
// missing; for client_secret_jwt one that is sealed, which a secret kept
// only as a hash is not, so switching to it replaces the secret; no
// sealed copy for any other method. It returns the change and the new
// secret in plain text ("" when none was made).
func fitSecret(x *models.Client, keySecret string, now time.Time) (SecretChange, string) {
	if !NeedsSecret(x.Public, x.TokenEndpointAuthMethod) {
		if len(x.SecretHash) == 0 && len(x.SecretSealed) == 0 {
			return SecretKept, ""
		}
		dropSecret(x)
		return SecretDeleted, ""
	}
	switch {
	case len(x.SecretHash) == 0:
		return SecretIssued, newSecret(x, keySecret, now)
	case x.TokenEndpointAuthMethod == AuthSecretJWT && len(x.SecretSealed) == 0:
		return SecretRotated, newSecret(x, keySecret, now)
	case x.TokenEndpointAuthMethod != AuthSecretJWT && x.SecretSealed != nil:
		x.SecretSealed = nil
	}
	return SecretKept, ""
}

// Errors of RotateSecret.
var (
	ErrNoSecret     = errors.New("the client has no secret: public and private_key_jwt clients have none")
	ErrNoKeySecret = errors.New("client_secret_jwt needs the key secret (GATEHOUSE_KEY_SECRET) to keep the secret encrypted")
)

// RotateSecret replaces the secret of the client clientID with a new one,
// returned in plain text to be shown once; the old one stops working at
// once. A client_secret_jwt client's secret is sealed (WithKeySecret;
// ErrNoKeySecret without). Public and private_key_jwt clients have no
// secret (ErrNoSecret); an unknown client is store.ErrNotFound.
func RotateSecret(ctx context.Context, st UpdateStore, clientID string, opts ...Option) (string, error) {
	o := newOptions(opts)
	plain := ""
	err := st.UpdateClient(ctx, clientID, func(x *models.Client) error {
		if !NeedsSecret(x.Public, x.TokenEndpointAuthMethod) {
			return ErrNoSecret
		}
		if x.TokenEndpointAuthMethod == AuthSecretJWT && o.keySecret == "" {
			return ErrNoKeySecret
		}
		plain = newSecret(x, o.keySecret, o.now())
		return nil
	})
	return plain, err
}
