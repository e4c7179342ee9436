package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits of a JWK Set of public keys (a client's jwks, a trusted
// issuer's).
const (
	// MaxJWKSKeys bounds the keys of one set (JWKSRules.MaxKeys may
	// bound them tighter).
	MaxJWKSKeys = 100
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
)

// JWKSRules are what may differ between the places a JWK Set is
// registered; the rules of the keys themselves never do.
type JWKSRules struct {
	// MaxBytes bounds the JSON text (0: no bound here; the caller's
	// request or file limit applies).
	MaxBytes int
	// MaxKeys bounds the keys (0: MaxJWKSKeys).
	MaxKeys int
	// KeyIDs requires a kid on every key of a set of several: a trusted
	// issuer's assertions must name the key that signed them, where a
	// client's may leave it to trying each key.
	KeyIDs bool
}

// ParsePublicJWKS parses a JWK Set (RFC 7517 §5) of public signing keys
// that someone registers (a client's jwks, pasted in the dashboard or
// the command line, in a registration or metadata document; a trusted
// issuer's): ParsePublicJWKSWith with no rule beyond the keys' own.
func ParsePublicJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	return ParsePublicJWKSWith(data, JWKSRules{})
}

// ParsePublicJWKSWith is the one rule set of registered JWK Sets, with
// the limits of r: RSA of at least MinRSABits, EC on P-256 (ES256) and
// Ed25519 (EdDSA), with use sig or none and an alg, when given, that the
// key verifies. A private key, a symmetric key, a key of another type or
// curve, a key meant for encryption or declaring another alg refuses
// the set; so do duplicate kids and more keys than allowed. The error
// names the key (its position and kid) and says what to do, for a field
// message (JWKSSentence) or an error_description; it never quotes key
// material.
func ParsePublicJWKSWith(data []byte, r JWKSRules) (*jose.JSONWebKeySet, error) {
	return parseJWKS(data, r, false)
}

// ParsePublishedJWKS parses a JWK Set published at a jwks_uri, where a
// party keeps keys for other uses too (encryption keys, other curves,
// algorithms Gatehouse does not verify): those are left out (RFC 7517 §5:
// keys not understood are ignored). A private or symmetric key still
// refuses the whole set (it would be a leak), and so does a set with no
// usable key left.
func ParsePublishedJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	return parseJWKS(data, JWKSRules{}, true)
}

// JWKSSentence is an error of ParsePublicJWKSWith as a sentence for a
// form field or the command line: capitalised, with a full stop.
func JWKSSentence(err error) string {
	msg := err.Error()
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:] + "."
}

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// parseJWKS is ParsePublicJWKSWith, or, with skip, ParsePublishedJWKS.
func parseJWKS(data []byte, r JWKSRules, skip bool) (*jose.JSONWebKeySet, error) {
	maxKeys := r.MaxKeys
	if maxKeys <= 0 {
		maxKeys = MaxJWKSKeys
	}
	if r.MaxBytes > 0 && len(data) > r.MaxBytes {
		return nil, fmt.Errorf("the JWK Set is larger than %d KiB: paste only the public keys", r.MaxBytes>>10)
	}
	var anyJSON any
	if err := json.Unmarshal(data, &anyJSON); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && syntax.Offset < int64(len(data)) {
			return nil, fmt.Errorf(`the JWK Set is not valid JSON (at character %d): a JWK Set is {"keys": [...]}`, syntax.Offset)
		}
		return nil, errors.New(`the JWK Set is not valid JSON (it ends too early): give it whole, {"keys": [...]}`)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || top == nil {
		return nil, errors.New(`the JWK Set must be a JSON object with a "keys" array: {"keys": [...]}`)
	}
	rawKeys, ok := top["keys"]
	if !ok {
		if _, kty := top["kty"]; kty {
			return nil, errors.New(`the JWK Set has no "keys" array: this is a single JWK; put it in {"keys": [...]}`)
		}
		return nil, errors.New(`the JWK Set has no "keys" array: {"keys": [...]}`)
	}
	var keys []json.RawMessage
	if json.Unmarshal(rawKeys, &keys) != nil || keys == nil {
		return nil, errors.New(`the JWK Set must be a JSON object with a "keys" array: {"keys": [...]}`)
	}
	switch {
	case len(keys) == 0:
		return nil, errors.New("the JWK Set has no keys: add the public key that signs the assertions")
	case len(keys) > maxKeys:
		return nil, fmt.Errorf("the JWK Set has %d keys: register at most %d", len(keys), maxKeys)
	}
	set := &jose.JSONWebKeySet{}
	kids := map[string]bool{}
	skipped := ""
	for i, rk := range keys {
		name := fmt.Sprintf("key %d", i+1)
		var members map[string]json.RawMessage
		if json.Unmarshal(rk, &members) != nil || members == nil {
			return nil, fmt.Errorf("%s is not a JSON object", name)
		}
		var kid, kty, use string
		if v, ok := members["kid"]; ok {
			if json.Unmarshal(v, &kid) != nil {
				return nil, fmt.Errorf("%s: kid must be a string", name)
			}
			if kid != "" {
				name = fmt.Sprintf("key %d (kid %q)", i+1, truncate(kid, 64))
			}
		}
		_ = json.Unmarshal(members["kty"], &kty)
		_ = json.Unmarshal(members["use"], &use)
		// Leaks refuse the set either way.
		if kty == "oct" {
			return nil, fmt.Errorf("%s is a symmetric key: register public keys only (a client sharing a secret uses client_secret_jwt)", name)
		}
		for _, p := range privateMembers {
			if _, ok := members[p]; ok {
				return nil, fmt.Errorf("%s is a private key (it has %q): register the public key only, and consider this private key exposed", name, p)
			}
		}
		k, why := usableJWK(rk, kty, use)
		if why != "" {
			if skip {
				skipped = name + " " + why
				continue
			}
			return nil, errors.New(name + " " + why)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return nil, fmt.Errorf("two keys have kid %q: give each key its own kid", truncate(k.KeyID, 64))
			}
			kids[k.KeyID] = true
		}
		set.Keys = append(set.Keys, *k)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key can verify signatures (RSA of %d bits or more, EC P-256, Ed25519): %s", MinRSABits, skipped)
	}
	if r.KeyIDs && len(set.Keys) > 1 && len(kids) < len(set.Keys) {
		return nil, errors.New("with several keys, give each one a kid: assertions name the key that signed them with it")
	}
	return set, nil
}

// usableJWK parses a public JWK (of type kty, for use) that verifies one
// of the assertion algorithms, or says why it is not one, as the end of
// a sentence naming the key.
func usableJWK(rk json.RawMessage, kty, use string) (*jose.JSONWebKey, string) {
	switch {
	case kty == "":
		return nil, "has no kty: say which type of key it is (RSA, EC or OKP)"
	case kty != "RSA" && kty != "EC" && kty != "OKP":
		return nil, fmt.Sprintf("has the unsupported kty %q: use an RSA, EC (P-256) or Ed25519 (OKP) key", truncate(kty, 20))
	case use != "" && use != "sig":
		return nil, fmt.Sprintf("has use %q: keys that verify signatures have use \"sig\", or none", truncate(use, 20))
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(rk); err != nil {
		return nil, fmt.Sprintf("is not a valid %s public key: check that it is copied whole", kty)
	}
	if !k.IsPublic() || !k.Valid() {
		return nil, "is not a valid public key: use an RSA, EC (P-256) or Ed25519 (OKP) key"
	}
	var algs []string
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < MinRSABits {
			return nil, fmt.Sprintf("is an RSA key of %d bits: use at least %d", pk.N.BitLen(), MinRSABits)
		}
		algs = []string{"RS256", "PS256"}
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return nil, fmt.Sprintf("is on the curve %s: ES256 keys are on P-256", pk.Curve.Params().Name)
		}
		algs = []string{"ES256"}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	default:
		return nil, "is not a supported public key: use an RSA, EC (P-256) or Ed25519 (OKP) key"
	}
	if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
		return nil, fmt.Sprintf("has alg %s, which Gatehouse does not accept for this key: use %s, or leave alg out", algName(k.Algorithm), strings.Join(algs, " or "))
	}
	return &k, ""
}

// algName is an alg for a message: as it is when it looks like one,
// quoted otherwise.
func algName(alg string) string {
	if len(alg) <= 20 && !strings.ContainsFunc(alg, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+')
	}) {
		return alg
	}
	return fmt.Sprintf("%q", truncate(alg, 20))
}

// MaxJWKSURILength bounds a jwks_uri.
const MaxJWKSURILength = 2000

// JWKSURIScheme is what CheckJWKSURI accepts besides https.
type JWKSURIScheme int

// What CheckJWKSURI accepts besides https.
const (
	// JWKSURIHTTPS: https only (a client registering itself or
	// publishing a metadata document).
	JWKSURIHTTPS JWKSURIScheme = iota
	// JWKSURILoopbackHTTP: http too on a loopback host, for development
	// (a client or trusted issuer an admin registers; it is fetched only
	// where private addresses may be, GATEHOUSE_ALLOW_PRIVATE_FETCH).
	JWKSURILoopbackHTTP
	// JWKSURIAnyHTTP: any http URL (fetching under
	// GATEHOUSE_ALLOW_PRIVATE_FETCH; the address is checked as it is
	// fetched).
	JWKSURIAnyHTTP
)

// CheckJWKSURI is the one rule set of a jwks_uri: an absolute URL of at
// most MaxJWKSURILength characters, without spaces, credentials or a
// fragment, https (or http as scheme allows). The error is a field
// message's fragment (JWKSSentence).
func CheckJWKSURI(raw string, scheme JWKSURIScheme) error {
	if len(raw) > MaxJWKSURILength {
		return fmt.Errorf("the JWKS URL is longer than %d characters", MaxJWKSURILength)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return errors.New("the JWKS URL must not contain spaces")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return errors.New("the JWKS URL must be an absolute URL such as https://app.example.com/.well-known/jwks.json")
	case u.User != nil:
		return errors.New("the JWKS URL must not contain a user name or password (credentials)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("the JWKS URL must not contain a fragment (#...)")
	case u.Scheme == "https":
	case u.Scheme == "http" && (scheme == JWKSURIAnyHTTP || scheme == JWKSURILoopbackHTTP && IsLoopbackHost(u.Hostname())):
	case scheme == JWKSURILoopbackHTTP:
		return errors.New("the JWKS URL must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)")
	case scheme == JWKSURIAnyHTTP:
		return errors.New("the JWKS URL must use https or http")
	default:
		return errors.New("the JWKS URL must use https")
	}
	return nil
}

// SingleJWKAsSet is text, a JWK Set as someone pasted it, with a single
// JWK (a JSON object with "kty" and no "keys") put in a set of one:
// {"keys": [text]}. Anything else comes back as it is, for
// ParsePublicJWKSWith to judge.
func SingleJWKAsSet(text string) string {
	var top map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &top) != nil {
		return text
	}
	if _, keys := top["keys"]; keys {
		return text
	}
	if _, kty := top["kty"]; !kty {
		return text
	}
	return `{"keys": [` + text + `]}`
}

// HoldsPrivateKey reports whether data, pasted as a JWK Set, holds
// private or symmetric key material, whatever else is wrong with it: a
// JWK with a private member (at the top or in "keys"), a PEM private key,
// or text that is not JSON but has a JWK's private member. A form that
// refuses it must not show it back.
func HoldsPrivateKey(data []byte) bool {
	if strings.Contains(string(data), "PRIVATE KEY-----") {
		return true
	}
	var objs []map[string]json.RawMessage
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		// Not JSON (cut short, say): look for a private member's name.
		return privateMemberRE.Match(data)
	}
	objs = append(objs, top)
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(data, &set) == nil {
		objs = append(objs, set.Keys...)
	}
	for _, o := range objs {
		for _, m := range privateMembers {
			if _, ok := o[m]; ok {
				return true
			}
		}
	}
	return false
}

// privateMemberRE finds a JWK private member in text that is not JSON.
var privateMemberRE = regexp.MustCompile(`"(?:d|p|q|dp|dq|qi|oth|k|priv)"\s*:`)
