package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Client authentication methods (RFC 7591 token_endpoint_auth_method,
// SPEC.md §7.4).
const (
	AuthSecretBasic   = oauth.AuthSecretBasic   // the secret in HTTP Basic: the default for confidential clients
	AuthSecretPost    = oauth.AuthSecretPost    // the secret in the request body
	AuthSecretJWT     = oauth.AuthSecretJWT     // a JWT signed with the secret (HS256, RFC 7523)
	AuthPrivateKeyJWT = oauth.AuthPrivateKeyJWT // a JWT signed with the client's private key (RFC 7523)
	AuthNone          = oauth.AuthNone          // public clients: the client ID alone
)

// AuthMethods are the client authentication methods, in the order the
// form offers them (the core's list).
var AuthMethods = oauth.AuthMethods

// ID token signing algorithms a client may choose
// (id_token_signed_response_alg): RS256 is the default.
const (
	AlgRS256 = oauth.AlgRS256
	AlgES256 = oauth.AlgES256
)

// IDTokenAlgs are the ID token signing algorithms a client may choose.
var IDTokenAlgs = oauth.IDTokenSigningAlgs

// Limits of the authentication fields.
const (
	// MaxJWKSBytes and MaxJWKSKeys bound a pasted JWK Set (its keys
	// follow oauth.ParsePublicJWKSWith).
	MaxJWKSBytes = 16 << 10
	MaxJWKSKeys  = 10
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
	keySecret    string
	privateFetch bool
	now          func() time.Time
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

// WithPrivateFetch says that the server fetches from private addresses
// and over plain http (GATEHOUSE_ALLOW_PRIVATE_FETCH=1): a jwks_uri may
// then be http (CheckJWKSURI).
func WithPrivateFetch(on bool) Option { return func(o *options) { o.privateFetch = on } }

func (o options) server() Server {
	return Server{KeySecret: o.keySecret != "", PrivateFetch: o.privateFetch}
}

// normalizeAuth trims the authentication fields and drops empty and
// repeated client IDs from MayAct. The method stays "" when not given
// (a client stored before it existed keeps the old behaviour); an empty
// ID token algorithm is RS256.
func (in *Input) normalizeAuth() {
	in.TokenEndpointAuthMethod = strings.TrimSpace(in.TokenEndpointAuthMethod)
	in.JWKS = oauth.SingleJWKAsSet(strings.TrimSpace(strings.ReplaceAll(in.JWKS, "\r\n", "\n")))
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
		case in.JWKS != "" && oauth.HoldsPrivateKey([]byte(in.JWKS)):
			errs[FieldJWKS] = PrivateKeyMessage(CheckJWKS(in.JWKS))
		case in.JWKS != "" && in.JWKSURI != "":
			errs[FieldJWKS] = "Give either the public keys (JWK Set) or the JWKS URL, not both."
		case in.JWKS == "" && in.JWKSURI == "":
			errs[FieldJWKS] = "Private key JWT needs the client's public keys: paste its JWK Set, or give the URL where it publishes it."
		case in.JWKS != "":
			if msg := CheckJWKS(in.JWKS); msg != "" {
				errs[FieldJWKS] = msg
			}
		default:
			// The scheme that this server fetches is CheckRefs's.
			if msg := CheckJWKSURI(in.JWKSURI, true); msg != "" {
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
				errs[FieldMayAct] = fmt.Sprintf("%s is not a client ID: list client IDs, one per line or separated by commas.", quoteURI(id))
				break
			}
		}
	}
}

// CheckJWKSURI returns why raw is not a usable jwks_uri, as a field
// message, or "": oauth.CheckJWKSURI with the rule of the fetcher
// (app/jwks): https, and plain http only when the server fetches from
// private addresses (privateFetch: GATEHOUSE_ALLOW_PRIVATE_FETCH=1, for
// tests and development).
func CheckJWKSURI(raw string, privateFetch bool) string {
	scheme := oauth.JWKSURIHTTPS
	if privateFetch {
		scheme = oauth.JWKSURIAnyHTTP
	}
	if err := oauth.CheckJWKSURI(raw, scheme); err != nil {
		msg := oauth.JWKSSentence(err)
		if !privateFetch && strings.HasPrefix(raw, "http:") {
			msg = strings.TrimSuffix(msg, ".") + ": this server fetches keys over https only (plain http only when it runs with GATEHOUSE_ALLOW_PRIVATE_FETCH=1, for tests)."
		}
		return msg
	}
	return ""
}

// Server is what of the server the checks of CheckRefs depend on.
type Server struct {
	// KeySecret: a key secret (GATEHOUSE_KEY_SECRET) is configured.
	KeySecret bool
	// PrivateFetch: the server fetches from private addresses and over
	// plain http (GATEHOUSE_ALLOW_PRIVATE_FETCH=1).
	PrivateFetch bool
}

// CheckJWKS returns why raw is not a usable JWK Set of a client's public
// keys, as a field message, or "": oauth.ParsePublicJWKSWith's rules (the
// same as for registered and metadata-document clients and trusted
// issuers) within MaxJWKSBytes and MaxJWKSKeys.
func CheckJWKS(raw string) string {
	if _, err := oauth.ParsePublicJWKSWith([]byte(raw), oauth.JWKSRules{MaxBytes: MaxJWKSBytes, MaxKeys: MaxJWKSKeys}); err != nil {
		return oauth.JWKSSentence(err)
	}
	return ""
}

// MsgPrivateKey is the error of a key field that holds a private key the
// JWK Set rules did not name (oauth.HoldsPrivateKey: a PEM private key,
// or one in text that is not a JWK Set).
const MsgPrivateKey = "This is a private key: paste only the public keys (a JWK Set without \"d\" and the other private members), and consider this private key exposed. It was not kept in the form."

// PrivateKeyMessage is the message of a key field holding a private key
// (oauth.HoldsPrivateKey): the JWK Set rules' own when they name it.
func PrivateKeyMessage(msg string) string {
	if strings.Contains(msg, "is a private key") || strings.Contains(msg, "is a symmetric key") {
		return msg + " It was not kept in the form."
	}
	return MsgPrivateKey
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
// the input alone, for the client clientID ("" for a new one): a
// jwks_uri's scheme is one the server fetches (CheckJWKSURI),
// client_secret_jwt needs a key secret (hasKeySecret) to keep the secret
// encrypted, and the clients of MayAct must exist (and not be the client
// itself, which may always act with its own tokens).
func CheckRefs(ctx context.Context, st ClientGetter, clientID string, in Input, srv Server) (Errors, error) {
	errs := Errors{}
	if in.TokenEndpointAuthMethod == AuthPrivateKeyJWT && in.JWKS == "" && in.JWKSURI != "" {
		if msg := CheckJWKSURI(in.JWKSURI, srv.PrivateFetch); msg != "" {
			errs[FieldJWKSURI] = msg
		}
	}
	if in.TokenEndpointAuthMethod == AuthSecretJWT && !in.Public && !srv.KeySecret {
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
	ErrNoSecret    = errors.New("the client has no secret: public and private_key_jwt clients have none")
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
