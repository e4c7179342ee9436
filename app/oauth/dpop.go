package oauth

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// DPoP (RFC 9449): proofs of possession of a key, sent in the DPoP header
// of token and resource requests. A token request with a valid proof gets
// an access token bound to the proof's key (token_type DPoP, cnf.jkt);
// resources then demand a proof of that key with every use.
//
// Choices this file makes (SPEC.md §7.4, docs/dpop.md):
//   - Algorithms: RS256, PS256, ES256 and EdDSA; never none nor an HMAC.
//   - iat may be up to DPoPProofWindow (60 s) before or after the server's
//     clock; the proof's jti is remembered (ReplayModel, shared by every
//     instance) until iat + DPoPProofWindow, the last moment the proof
//     would be accepted, so that each proof is used once.
//   - htu is compared with the URL of the endpoint as this server names it
//     (the configured issuer plus the path: never the Host header), both
//     without query and fragment and normalised (RFC 3986 §6.2.2, §6.2.3).
//   - Server nonces (setting dpop_nonce: off, token, all) are stateless:
//     an HMAC of a time step under a server key, valid during the step it
//     was made in and the next (DPoPNonceStep each, so 1 to 2 minutes).

// DPoP header "typ" of proofs (RFC 9449 §4.2).
const TypeDPoPProof = "dpop+jwt"

// DPoPProofWindow is how far a proof's iat may be from the server's
// clock, either way.
const DPoPProofWindow = 60 * time.Second

// DPoPNonceStep is the time step of server nonces: a nonce is accepted in
// the step it was made in and the one after.
const DPoPNonceStep = time.Minute

// maxDPoPProof bounds the size of a proof (a header value).
const maxDPoPProof = 8 << 10

// maxDPoPJTI bounds the length of a proof's jti.
const maxDPoPJTI = 256

// Token types of token responses (RFC 6749 §7.1, RFC 9449 §5).
const (
	TokenTypeDPoP = "DPoP"
)

// Values of the dpop_nonce setting (Policy.DPoPNonce): whether proofs must
// carry a server nonce (RFC 9449 §8, §9).
const (
	DPoPNonceOff   = "off"   // never ("" too)
	DPoPNonceToken = "token" // at the token endpoint
	DPoPNonceAll   = "all"   // at the token endpoint and at resources
)

// DPoPSigningAlgs are the proof algorithms accepted (metadata
// dpop_signing_alg_values_supported, and the algs of DPoP challenges).
var DPoPSigningAlgs = []string{string(jose.ES256), string(jose.EdDSA), string(jose.PS256), string(jose.RS256)}

var dpopJoseAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256}

// DPoP errors (RFC 9449 §5, §7.1, §8). At the token endpoint they are 400;
// at resources (CheckDPoP) 401 with a DPoP challenge.
var (
	ErrInvalidDPoPProof = newError("invalid_dpop_proof", http.StatusBadRequest)
	ErrUseDPoPNonce     = newError("use_dpop_nonce", http.StatusBadRequest)
)

// DPoPRequest is what a proof is checked against: the values of the DPoP
// header as received (none: no proof), and the method and absolute URL of
// the request as this server names it (built from the configured issuer).
type DPoPRequest struct {
	Proofs []string
	Method string
	URL    string
}

// Present reports whether the request carries a DPoP header.
func (r *DPoPRequest) Present() bool { return r != nil && len(r.Proofs) > 0 }

// dpopHeader is the part of a proof's header read before go-jose checks
// it, to tell the client precisely what is wrong.
type dpopHeader struct {
	Typ string          `json:"typ"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
}

// dpopClaims are a proof's claims (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string      `json:"jti"`
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	ATH   string      `json:"ath"`
	Nonce string      `json:"nonce"`
}

// verifyDPoP checks the proof of r (RFC 9449 §4.3) and returns the JWK
// SHA-256 thumbprint (RFC 7638) of its key, base64url. accessToken is the
// token presented with it at a resource ("" at the token endpoint): the
// proof's ath must be its hash. nonce: the proof must carry a current
// server nonce. The proof's jti is used up. Failures are
// invalid_dpop_proof (or use_dpop_nonce) saying why.
func (s *Server) verifyDPoP(ctx context.Context, r DPoPRequest, accessToken string, nonce bool) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", ErrInvalidDPoPProof.WithDescription(format, args...)
	}
	if len(r.Proofs) != 1 {
		return bad("send exactly one DPoP header (%d were sent)", len(r.Proofs))
	}
	proof := strings.TrimSpace(r.Proofs[0])
	if proof == "" {
		return bad("the DPoP header is empty")
	}
	if len(proof) > maxDPoPProof {
		return bad("the DPoP proof is too large (at most %d bytes)", maxDPoPProof)
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return bad("the DPoP proof is not a compact JWS (header.payload.signature)")
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(parts[0])
	var h dpopHeader
	if err != nil || json.Unmarshal(rawHeader, &h) != nil {
		return bad("the DPoP proof's header is not base64url-encoded JSON")
	}
	if !strings.EqualFold(h.Typ, TypeDPoPProof) {
		return bad("the DPoP proof's typ must be %q, not %q", TypeDPoPProof, truncate(h.Typ, 32))
	}
	if !dpopAlgAllowed(h.Alg) {
		return bad("the DPoP proof's alg %q is not allowed: use one of %s", truncate(h.Alg, 16), strings.Join(DPoPSigningAlgs, ", "))
	}
	if len(h.JWK) == 0 || string(h.JWK) == "null" {
		return bad("the DPoP proof's header has no jwk (the public key that signed it)")
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(h.JWK); err != nil {
		return bad("the jwk in the DPoP proof's header is not a valid JWK")
	}
	if !key.IsPublic() {
		return bad("the jwk in the DPoP proof's header must be a public key, not a private or symmetric one")
	}
	jws, err := jose.ParseSignedCompact(proof, dpopJoseAlgs)
	if err != nil || len(jws.Signatures) != 1 || jws.Signatures[0].Protected.JSONWebKey == nil {
		return bad("the DPoP proof could not be parsed as a JWS signed by the jwk in its header")
	}
	jwk := jws.Signatures[0].Protected.JSONWebKey
	payload, err := jws.Verify(jwk)
	if err != nil {
		return bad("the DPoP proof's signature does not verify with the jwk in its header")
	}
	var c dpopClaims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return bad("the DPoP proof's payload is not a JSON object of claims")
	}
	switch {
	case c.JTI == "":
		return bad("the DPoP proof has no jti")
	case len(c.JTI) > maxDPoPJTI:
		return bad("the DPoP proof's jti is too long (at most %d characters)", maxDPoPJTI)
	case c.HTM == "":
		return bad("the DPoP proof has no htm")
	case c.HTU == "":
		return bad("the DPoP proof has no htu")
	case c.IAT == "":
		return bad("the DPoP proof has no iat")
	}
	if c.HTM != r.Method {
		return bad("the DPoP proof's htm %q is not the method of this request (%s)", truncate(c.HTM, 16), r.Method)
	}
	if r.URL == "" {
		return bad("the URL of this request is unknown, so the DPoP proof's htu cannot be checked")
	}
	want, werr := NormalizeHTU(r.URL)
	if werr != nil {
		return bad("the URL of this request cannot be checked against the DPoP proof's htu: %v", werr)
	}
	got, gerr := NormalizeHTU(c.HTU)
	if gerr != nil || got != want {
		return bad("the DPoP proof's htu %q is not the URL of this request (%s)", truncate(c.HTU, 200), want)
	}
	iatF, ierr := c.IAT.Float64()
	if ierr != nil {
		return bad("the DPoP proof's iat is not a number")
	}
	iat := time.Unix(int64(iatF), 0)
	now := s.now()
	if iat.Before(now.Add(-DPoPProofWindow)) {
		return bad("the DPoP proof was made too long ago (iat more than %d s in the past): make a new proof for each request", int(DPoPProofWindow/time.Second))
	}
	if iat.After(now.Add(DPoPProofWindow)) {
		return bad("the DPoP proof's iat is more than %d s in the future: check the client's clock", int(DPoPProofWindow/time.Second))
	}
	if accessToken != "" {
		if c.ATH == "" {
			return bad("the DPoP proof has no ath (the hash of the access token it accompanies)")
		}
		if !secret.EqualString(c.ATH, DPoPAccessTokenHash(accessToken)) {
			return bad("the DPoP proof's ath does not match the access token")
		}
	}
	if nonce {
		if c.Nonce == "" {
			return "", ErrUseDPoPNonce.WithDescription("this server requires a nonce in DPoP proofs: retry with the one in the DPoP-Nonce header")
		}
		ok, nerr := s.checkDPoPNonce(ctx, c.Nonce)
		if nerr != nil {
			return "", nerr
		}
		if !ok {
			return "", ErrUseDPoPNonce.WithDescription("the DPoP proof's nonce is stale or was not issued by this server: retry with the one in the DPoP-Nonce header")
		}
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return bad("the thumbprint of the DPoP proof's jwk cannot be computed")
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	if err := s.model.UseOnce(ctx, ReplayKey(ReplayDPoP, jkt, c.JTI), iat.Add(DPoPProofWindow), now); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return bad("the DPoP proof was already used (its jti was seen before): make a new proof for each request")
		}
		return "", serverError(err)
	}
	return jkt, nil
}

// dpopAlgAllowed reports whether alg is one of DPoPSigningAlgs.
func dpopAlgAllowed(alg string) bool {
	for _, a := range DPoPSigningAlgs {
		if a == alg {
			return true
		}
	}
	return false
}

// DPoPAccessTokenHash is the ath of a proof sent with accessToken:
// base64url of its SHA-256 (RFC 9449 §4.2).
func DPoPAccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NormalizeHTU is the form in which an htu and a request URL are compared
// (RFC 9449 §4.3): absolute http(s) URLs without query and fragment, scheme
// and host in lower case, the default port dropped, an empty path as "/",
// and percent-encoding normalised (RFC 3986 §6.2.2, §6.2.3).
func NormalizeHTU(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", errors.New("not an absolute http or https URL")
	}
	if u.Host == "" || u.User != nil {
		return "", errors.New("no host, or user information in it")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	p := (&url.URL{Path: u.Path}).EscapedPath()
	if p == "" {
		p = "/"
	}
	return scheme + "://" + host + p, nil
}

// Confirmation is the cnf claim of a sender-constrained token (RFC 7800,
// RFC 9449 §6): jkt names the DPoP key.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// confirmation is the cnf of a token bound to jkt (nil for none).
func confirmation(jkt string) *Confirmation {
	if jkt == "" {
		return nil
	}
	return &Confirmation{JKT: jkt}
}

// dpopNonceRequired reports whether proofs need a server nonce under pol,
// at the token endpoint or (resource) at resources.
func dpopNonceRequired(pol Policy, resource bool) bool {
	switch pol.DPoPNonce {
	case DPoPNonceAll:
		return true
	case DPoPNonceToken:
		return !resource
	}
	return false
}

// DPoPNonce returns a fresh server nonce for the DPoP-Nonce response
// header when the dpop_nonce setting in force requires nonces at the
// token endpoint, or (resource) at resources; "" when it does not.
func (s *Server) DPoPNonce(ctx context.Context, resource bool) (string, error) {
	pol, err := s.loadPolicy(ctx)
	if err != nil {
		return "", err
	}
	if !dpopNonceRequired(pol, resource) {
		return "", nil
	}
	return s.makeDPoPNonce(ctx, s.now())
}

// makeDPoPNonce is the nonce of the time step of now: the step number
// and an HMAC-SHA256 of it under the nonce key, base64url.
func (s *Server) makeDPoPNonce(ctx context.Context, now time.Time) (string, error) {
	key, err := s.dpopNonceKey(ctx)
	if err != nil {
		return "", serverError(err)
	}
	step := uint64(now.Unix() / int64(DPoPNonceStep/time.Second))
	return base64.RawURLEncoding.EncodeToString(dpopNonceMAC(key, step)), nil
}

// dpopNonceMAC is step (8 bytes, big-endian) followed by the first 16
// bytes of its HMAC.
func dpopNonceMAC(key []byte, step uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], step)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gatehouse dpop nonce\x00"))
	m.Write(b[:])
	return append(b[:], m.Sum(nil)[:16]...)
}

// checkDPoPNonce reports whether nonce is one this server made in the
// current time step or the previous one.
func (s *Server) checkDPoPNonce(ctx context.Context, nonce string) (bool, error) {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != 24 {
		return false, nil
	}
	key, err := s.dpopNonceKey(ctx)
	if err != nil {
		return false, serverError(err)
	}
	step := binary.BigEndian.Uint64(raw[:8])
	cur := uint64(s.now().Unix() / int64(DPoPNonceStep/time.Second))
	if step != cur && step+1 != cur {
		return false, nil
	}
	return hmac.Equal(raw, dpopNonceMAC(key, step)), nil
}

// dpopNonceKey is the key of server nonces: Options.DPoPNonceKey's (every
// instance shares it), or a random key of this process.
func (s *Server) dpopNonceKey(ctx context.Context) ([]byte, error) {
	if s.nonceKey != nil {
		return s.nonceKey(ctx)
	}
	s.localNonceKey.Do(func() { s.localNonce = secret.Random(32) })
	return s.localNonce, nil
}

// localNonceKeyState is the fallback nonce key of a Server without
// Options.DPoPNonceKey (tests, embedding with one instance).
type localNonceKeyState struct {
	localNonceKey sync.Once
	localNonce    []byte
}

// dpopProofAtTokenEndpoint checks the proof of a token request, if any,
// and returns the key the tokens are to be bound to ("" for none).
func (s *Server) dpopProofAtTokenEndpoint(ctx context.Context, r *DPoPRequest, pol Policy) (string, error) {
	if !r.Present() {
		return "", nil
	}
	return s.verifyDPoP(ctx, *r, "", dpopNonceRequired(pol, false))
}

// dpopRequired refuses a token request without a proof (jkt "") of a
// client registered with dpop_bound_access_tokens (RFC 9449 §5.2).
func dpopRequired(client *Client, jkt string) error {
	if jkt == "" && client.DPoPBoundAccessTokens {
		return ErrInvalidDPoPProof.WithDescription("this client must use DPoP (dpop_bound_access_tokens): send a DPoP proof with the token request")
	}
	return nil
}

// dpopKeyMatches checks at the token endpoint that the proof's key (jkt,
// "" for no proof) is the one a grant is bound to (bound, "" for none):
// what names the binding (a refresh token, an authorization code's
// dpop_jkt) is what.
func dpopKeyMatches(bound, jkt, what string) error {
	if bound == "" {
		return nil
	}
	if jkt == "" {
		return ErrInvalidDPoPProof.WithDescription("%s is bound to a DPoP key: send a DPoP proof made with that key", what)
	}
	if !secret.EqualString(bound, jkt) {
		return ErrInvalidDPoPProof.WithDescription("the DPoP proof is made with another key than the one %s is bound to", what)
	}
	return nil
}

// DPoPChallenge marks a resource's refusal that is answered with a DPoP
// challenge (WWW-Authenticate: DPoP, RFC 9449 §7.1) rather than a Bearer
// one: a DPoP-bound token, or a request made with the DPoP scheme.
type DPoPChallenge struct{ Err *Error }

// Error implements error.
func (e *DPoPChallenge) Error() string { return e.Err.Error() }

// Unwrap exposes the OAuth error.
func (e *DPoPChallenge) Unwrap() error { return e.Err }

// atResource turns a DPoP error into a resource's answer: 401 (RFC 9449
// §7.1) with a DPoP challenge.
func atResource(err error) error {
	e := AsError(err)
	if errors.Is(e, ErrServerError) {
		return e
	}
	c := *e
	if c.Code == ErrInvalidDPoPProof.Code || c.Code == ErrUseDPoPNonce.Code {
		c.Status = http.StatusUnauthorized
	}
	return &DPoPChallenge{Err: &c}
}

// CheckDPoP decides whether an authenticated access token may be used as
// presented at a resource (RFC 9449 §7): dpop reports whether it came with
// the DPoP scheme (Authorization: DPoP) rather than Bearer, token is the
// token itself and r the request's DPoP header, method and URL.
//
//   - A DPoP-bound token needs the DPoP scheme and a proof of its key,
//     with ath its hash (and a server nonce while dpop_nonce is all).
//   - A token not bound to a key is a Bearer token: sent with the DPoP
//     scheme it is invalid_token.
//
// Refusals are *DPoPChallenge (401).
func (s *Server) CheckDPoP(ctx context.Context, a *Access, dpop bool, token string, r *DPoPRequest) error {
	bound := a.Token.Jkt
	if bound == "" {
		if dpop {
			return atResource(ErrInvalidToken.WithDescription("the access token is not bound to a DPoP key: send it with the Bearer scheme"))
		}
		return nil
	}
	if !dpop {
		return atResource(ErrInvalidToken.WithDescription("the access token is bound to a DPoP key: send it with Authorization: DPoP and a DPoP proof"))
	}
	if !r.Present() {
		return atResource(ErrInvalidDPoPProof.WithDescription("a DPoP-bound access token needs a DPoP proof (DPoP header) with every request"))
	}
	pol, err := s.loadPolicy(ctx)
	if err != nil {
		return err
	}
	jkt, err := s.verifyDPoP(ctx, *r, token, dpopNonceRequired(pol, true))
	if err != nil {
		return atResource(err)
	}
	if !secret.EqualString(jkt, bound) {
		return atResource(ErrInvalidDPoPProof.WithDescription("the DPoP proof is made with another key than the one the access token is bound to"))
	}
	return nil
}
