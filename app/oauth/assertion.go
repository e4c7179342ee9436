package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/app/store"
)

// KeySource gives the public keys of a party that signs assertions (a
// client using private_key_jwt, a trusted issuer of the JWT bearer
// grant): either its pasted JWK Set (jwks, JSON text) or the keys found at
// its jwks_uri. refresh asks for the keys again because a kid was unknown;
// the source may answer from its cache when it fetched them very recently
// (it rate-limits refetches). Errors are the party's problem (a JWKS that
// does not parse, a URL that does not answer): their text is shown to the
// client, so it must not carry anything secret. The core does no HTTP:
// app/jwks implements it.
type KeySource interface {
	PublicKeys(ctx context.Context, jwks, jwksURI string, refresh bool) (*jose.JSONWebKeySet, error)
}

// Signing algorithms of assertions. Asymmetric assertions (private_key_jwt,
// JWT bearer grant) may use AssertionPublicKeyAlgs; client_secret_jwt
// uses AssertionSecretAlgs. none is never accepted, nor an HMAC algorithm
// with public key material (alg confusion).
var (
	AssertionPublicKeyAlgs = []string{string(jose.RS256), string(jose.PS256), string(jose.ES256), string(jose.EdDSA)}
	AssertionSecretAlgs    = []string{string(jose.HS256)}
)

// Assertion limits (RFC 7523 §3; SPEC.md §7.4).
const (
	// AssertionMaxLifetime: exp at most this far ahead of now (and of
	// iat when given).
	AssertionMaxLifetime = 5 * time.Minute
	// AssertionSkew is the clock skew allowed on exp, nbf and iat.
	AssertionSkew = 60 * time.Second
	// maxAssertionBytes bounds the compact JWS read.
	maxAssertionBytes = 16 << 10
	// maxJTILength bounds the jti.
	maxJTILength = 256
)

// AssertionPolicy says what VerifyAssertion accepts.
type AssertionPolicy struct {
	// Namespace is the replay namespace of the jti (ReplayClientAssertion,
	// ReplayJWTBearer).
	Namespace string
	// Issuer is the iss required (a client ID; a trusted issuer). It is
	// also the issuer under which the jti is single use.
	Issuer string
	// Subject is the sub required; "" accepts any non-empty sub (the JWT
	// bearer grant maps it afterwards).
	Subject string
	// Audiences are the aud values accepted: the assertion's aud (a string
	// or an array) must contain one of them.
	Audiences []string
	// Secret, when not nil, is the HMAC key: only AssertionSecretAlgs are
	// accepted (client_secret_jwt). Otherwise the keys come from
	// JWKS/JWKSURI through the server's KeySource and only
	// AssertionPublicKeyAlgs are accepted.
	Secret  []byte
	JWKS    string
	JWKSURI string
	// MaxLifetime bounds exp ahead of now and of iat; 0 means
	// AssertionMaxLifetime (client assertions). The JWT bearer grant
	// sets its trusted issuer's.
	MaxLifetime time.Duration
	// JTIOptional accepts an assertion without jti (RFC 7523 §3 makes it
	// optional; golang.org/x/oauth2/jwt sends none): its signed content
	// (header and claims, not the signature, which ECDSA lets anyone
	// re-randomise) is then what is single use until exp.
	JTIOptional bool
}

// AssertionClaims are the verified claims of an assertion.
type AssertionClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	ID       string
	Expiry   time.Time
	IssuedAt *time.Time
	// KeyID is the kid of the key that verified it ("" for HMAC or a key
	// without kid); Alg its algorithm.
	KeyID string
	Alg   string
	// Extra holds every claim (for the JWT bearer grant's mapping rules).
	Extra map[string]any
}

// AssertionError is an assertion refused for Reason, a sentence that
// names the cause (expired, wrong aud, replayed jti, ...). Callers map it
// to invalid_client (client authentication) or invalid_grant (the JWT
// bearer grant). Any other error from VerifyAssertion is a server failure.
type AssertionError struct{ Reason string }

func (e *AssertionError) Error() string { return e.Reason }

func refuseAssertion(format string, args ...any) error {
	return &AssertionError{Reason: fmt.Sprintf(format, args...)}
}

// AssertionReason returns the reason of an *AssertionError in err, or "".
func AssertionReason(err error) string {
	var ae *AssertionError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

// PeekAssertion reads iss and sub of a compact JWS without verifying
// anything, to find out whose keys should verify it. It fails only when
// raw is not a JWT at all.
func PeekAssertion(raw string) (iss, sub string, err error) {
	tok, err := parseAssertion(raw, allAssertionAlgs)
	if err != nil {
		return "", "", err
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return "", "", refuseAssertion("the assertion's claims are not a JSON object with the registered claims' types")
	}
	return c.Issuer, c.Subject, nil
}

var allAssertionAlgs = append(slices.Clone(AssertionPublicKeyAlgs), AssertionSecretAlgs...)

func toJoseAlgs(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// parseAssertion parses a compact JWS restricted to algs, with a reason
// for every refusal.
func parseAssertion(raw string, algs []string) (*jwt.JSONWebToken, error) {
	if raw == "" {
		return nil, refuseAssertion("the assertion is empty")
	}
	if len(raw) > maxAssertionBytes {
		return nil, refuseAssertion("the assertion is longer than %d bytes", maxAssertionBytes)
	}
	if strings.Count(raw, ".") != 2 {
		return nil, refuseAssertion("the assertion is not a signed JWT in compact serialization (header.payload.signature)")
	}
	// Read the header first, for a precise answer on the algorithm.
	tok, err := jwt.ParseSigned(raw, toJoseAlgs(allAssertionAlgs))
	if err != nil {
		alg := headerAlg(raw)
		switch {
		case strings.EqualFold(alg, "none"):
			return nil, refuseAssertion("the assertion is unsigned (alg none), which is never accepted")
		case alg == "Ed25519":
			return nil, refuseAssertion("the assertion's algorithm Ed25519 (RFC 9864) is not supported yet: sign with Ed25519 keys as alg EdDSA (allowed: %s)", strings.Join(algs, ", "))
		case alg != "":
			return nil, refuseAssertion("the assertion's algorithm %s is not allowed (allowed: %s)", truncate(alg, 20), strings.Join(algs, ", "))
		}
		return nil, refuseAssertion("the assertion is not a well-formed signed JWT")
	}
	if len(tok.Headers) != 1 {
		return nil, refuseAssertion("the assertion must have exactly one signature")
	}
	if alg := tok.Headers[0].Algorithm; !slices.Contains(algs, alg) {
		return nil, refuseAssertion("the assertion's algorithm %s is not allowed here (allowed: %s)", alg, strings.Join(algs, ", "))
	}
	return tok, nil
}

// headerAlg reads the alg of a compact JWS's header, "" when it cannot.
func headerAlg(raw string) string {
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var v struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Alg
}

// VerifyAssertion verifies a signed JWT assertion (RFC 7523 §3) under p:
// the algorithm is on the allow-list for the kind of key; the signature
// verifies with the key named by kid (an unknown kid asks the KeySource
// once more, with refresh) or, without kid, with one of the keys fit for
// the algorithm; iss, sub and aud are as required; exp is present, not
// passed and at most AssertionMaxLifetime ahead; nbf and iat are not in
// the future (AssertionSkew allowed); jti is present and used for the
// first time (it is then remembered until exp). Refusals are
// *AssertionError with the cause; other errors are server failures.
func (s *Server) VerifyAssertion(ctx context.Context, raw string, p AssertionPolicy) (*AssertionClaims, error) {
	algs := AssertionPublicKeyAlgs
	if p.Secret != nil {
		algs = AssertionSecretAlgs
	}
	tok, err := parseAssertion(raw, algs)
	if err != nil {
		return nil, err
	}
	h := tok.Headers[0]
	var claims jwt.Claims
	extra := map[string]any{}
	if p.Secret != nil {
		if err := tok.Claims(p.Secret, &claims, &extra); err != nil {
			return nil, refuseAssertion("the assertion's signature does not verify with the client secret")
		}
	} else {
		keys, err := s.assertionKeys(ctx, h, p)
		if err != nil {
			return nil, err
		}
		verified := false
		for i := range keys {
			if tok.Claims(keys[i].Key, &claims, &extra) == nil {
				verified = true
				break
			}
		}
		if !verified {
			if len(keys) > 1 {
				return nil, refuseAssertion("the assertion's signature does not verify with any of the %d keys without kid fit for %s", len(keys), h.Algorithm)
			}
			return nil, refuseAssertion("the assertion's signature does not verify with the key %s", keyName(&keys[0]))
		}
	}
	return s.checkAssertionClaims(ctx, raw, &claims, extra, h, p)
}

// keyName names a key in messages: its kid, or "without kid".
func keyName(k *jose.JSONWebKey) string {
	if k.KeyID == "" {
		return "(without kid) that matches its algorithm"
	}
	return fmt.Sprintf("with kid %q", truncate(k.KeyID, 64))
}

// assertionKeys finds the keys that may verify an assertion with header
// h: the one with its kid (refreshing the key source once when the kid is
// unknown), or, with no kid, every key fit for the algorithm (tried in
// turn: a set being rotated holds two keys of one type without kid).
func (s *Server) assertionKeys(ctx context.Context, h jose.Header, p AssertionPolicy) ([]jose.JSONWebKey, error) {
	if p.JWKS == "" && p.JWKSURI == "" {
		return nil, refuseAssertion("no public keys are registered (neither jwks nor jwks_uri)")
	}
	if s.keys == nil {
		return nil, serverError(errors.New("oauth: no KeySource configured"))
	}
	for _, refresh := range []bool{false, true} {
		if refresh && p.JWKSURI == "" {
			break // pasted keys do not change by asking again
		}
		set, err := s.keys.PublicKeys(ctx, p.JWKS, p.JWKSURI, refresh)
		if err != nil {
			if ctx.Err() != nil {
				return nil, serverError(err)
			}
			// The cause stays in the log: a jwks_uri may be named by
			// anyone (a metadata document, dynamic registration), and the
			// fetcher's errors name internal addresses.
			s.log.Warn("public keys of an assertion could not be obtained", "jwks_uri", p.JWKSURI, "err", err)
			return nil, refuseAssertion("the public keys could not be obtained (jwks_uri did not answer with a usable JWK Set)")
		}
		cands := fitKeys(set, h)
		if len(cands) == 1 || (len(cands) > 0 && h.KeyID == "") {
			return cands, nil
		}
		if len(cands) > 1 {
			return nil, refuseAssertion("several keys have kid %q", truncate(h.KeyID, 64))
		}
	}
	if h.KeyID != "" {
		return nil, refuseAssertion("no public key has kid %q fit for %s (unknown kid, even after fetching the keys again)", truncate(h.KeyID, 64), h.Algorithm)
	}
	return nil, refuseAssertion("no public key is fit for the assertion's algorithm %s", h.Algorithm)
}

// fitKeys lists the keys of set that can verify alg of h: with its kid
// when h names one, of the matching type (and curve), meant for
// signatures (use sig or none) and with no other alg declared.
func fitKeys(set *jose.JSONWebKeySet, h jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	if set == nil {
		return nil
	}
	for _, k := range set.Keys {
		if h.KeyID != "" && k.KeyID != h.KeyID {
			continue
		}
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if keyFitsAlg(k.Key, h.Algorithm) {
			out = append(out, k)
		}
	}
	return out
}

// keyFitsAlg reports whether key is a public key of the kind alg needs.
func keyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256) || alg == string(jose.PS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

// checkAssertionClaims checks the claims of a verified assertion and
// records its jti.
func (s *Server) checkAssertionClaims(ctx context.Context, raw string, c *jwt.Claims, extra map[string]any, h jose.Header, p AssertionPolicy) (*AssertionClaims, error) {
	now := s.now()
	switch {
	case c.Issuer == "":
		return nil, refuseAssertion("the assertion has no iss")
	case p.Issuer != "" && c.Issuer != p.Issuer:
		return nil, refuseAssertion("the assertion's iss %q is not %q", truncate(c.Issuer, 100), truncate(p.Issuer, 200))
	case c.Subject == "":
		return nil, refuseAssertion("the assertion has no sub")
	case p.Subject != "" && c.Subject != p.Subject:
		return nil, refuseAssertion("the assertion's sub %q is not %q", truncate(c.Subject, 100), truncate(p.Subject, 200))
	}
	if len(c.Audience) == 0 {
		return nil, refuseAssertion("the assertion has no aud")
	}
	audOK := false
	for _, a := range p.Audiences {
		if a != "" && c.Audience.Contains(a) {
			audOK = true
			break
		}
	}
	if !audOK {
		return nil, refuseAssertion("the assertion's aud %s names neither the issuer %s, the token endpoint nor the endpoint receiving it", audString(c.Audience), p.Audiences[0])
	}
	if c.Expiry == nil {
		return nil, refuseAssertion("the assertion has no exp")
	}
	exp := c.Expiry.Time()
	if now.After(exp.Add(AssertionSkew)) {
		return nil, refuseAssertion("the assertion expired at %s", exp.UTC().Format(time.RFC3339))
	}
	maxLife := p.MaxLifetime
	if maxLife <= 0 {
		maxLife = AssertionMaxLifetime
	}
	if exp.After(now.Add(maxLife + AssertionSkew)) {
		return nil, refuseAssertion("the assertion's exp is more than %s ahead (assertions live at most %s)", maxLife, maxLife)
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(AssertionSkew)) {
		return nil, refuseAssertion("the assertion is not valid before %s (nbf)", c.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	var iat *time.Time
	if c.IssuedAt != nil {
		t := c.IssuedAt.Time()
		iat = &t
		if t.After(now.Add(AssertionSkew)) {
			return nil, refuseAssertion("the assertion is issued in the future (iat %s)", t.UTC().Format(time.RFC3339))
		}
		if exp.Sub(t) > maxLife+AssertionSkew {
			return nil, refuseAssertion("the assertion lives longer than %s (from iat to exp)", maxLife)
		}
	}
	once := c.ID
	switch {
	case c.ID == "" && !p.JTIOptional:
		return nil, refuseAssertion("the assertion has no jti")
	case c.ID == "":
		signed := raw[:strings.LastIndexByte(raw, '.')]
		sum := sha256.Sum256([]byte(signed))
		once = "content:" + hex.EncodeToString(sum[:])
	case len(c.ID) > maxJTILength:
		return nil, refuseAssertion("the assertion's jti is longer than %d characters", maxJTILength)
	}
	// Remembered past exp by the skew: the assertion is accepted that long.
	err := s.model.UseOnce(ctx, ReplayKey(p.Namespace, c.Issuer, once), exp.Add(AssertionSkew), now)
	switch {
	case errors.Is(err, store.ErrAlreadyExists) && c.ID == "":
		return nil, refuseAssertion("the assertion (without jti) was used before (replayed assertion)")
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, refuseAssertion("the assertion's jti %q was used before (replayed assertion)", truncate(c.ID, 64))
	case err != nil:
		return nil, serverError(err)
	}
	return &AssertionClaims{Issuer: c.Issuer, Subject: c.Subject, Audience: []string(c.Audience), ID: c.ID,
		Expiry: exp, IssuedAt: iat, KeyID: h.KeyID, Alg: h.Algorithm, Extra: extra}, nil
}

// audString shows an aud claim in a message.
func audString(a jwt.Audience) string {
	parts := make([]string, 0, len(a))
	for i, x := range a {
		if i == 3 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%q", truncate(x, 100)))
	}
	return strings.Join(parts, ", ")
}
