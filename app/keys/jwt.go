package keys

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Sign returns the compact JWS of claims (as JSON) with header "typ" typ
// and "kid", signed with the current RS256 key.
func (m *Manager) Sign(ctx context.Context, claims any, typ string) (string, error) {
	return m.SignWith(ctx, RS256, claims, typ)
}

// SignWith is Sign with the current key of algorithm alg (RS256 or ES256;
// ErrNoKey for any other).
func (m *Manager) SignWith(ctx context.Context, alg string, claims any, typ string) (string, error) {
	s, err := m.keys(ctx)
	if err != nil {
		return "", err
	}
	pk := s.current[alg]
	if pk == nil {
		return "", fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign: claims: %w", err)
	}
	signer, err := pk.signer(typ)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// signer returns the (cached) jose.Signer of pk for typ.
func (pk *privateKey) signer(typ string) (jose.Signer, error) {
	if s, ok := pk.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(pk.alg), Key: jose.JSONWebKey{Key: pk.key, KeyID: pk.kid}}, opts)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	pk.signers.Store(typ, s)
	return s, nil
}

// acceptedAlgs are the "alg" values Verify parses at all.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Verify checks a compact JWS: header "typ" must be typ (compared as RFC
// 7515 §4.1.9 says: case-insensitively, "application/" optional), "kid"
// must name a published key, "alg" must be that key's algorithm, and the
// signature must verify. It returns the payload; the claims are not
// checked. Every failure wraps ErrInvalidToken.
func (m *Manager) Verify(ctx context.Context, token string, typ string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, acceptedAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWS signed with %s or %s", ErrInvalidToken, RS256, ES256)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	got, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !sameType(got, typ) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrInvalidToken, got, typ)
	}
	if h.KeyID == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	s, err := m.keys(ctx)
	if err != nil {
		return nil, err
	}
	pub := s.byKID[h.KeyID]
	if pub == nil && m.missReload() {
		// Perhaps another instance has just rotated.
		m.Invalidate()
		if s, err = m.keys(ctx); err != nil {
			return nil, err
		}
		pub = s.byKID[h.KeyID]
	}
	if pub == nil {
		return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, h.KeyID)
	}
	if !pub.expiresAt.IsZero() && !m.now().Before(pub.expiresAt) {
		return nil, fmt.Errorf("%w: key %q is no longer published", ErrInvalidToken, h.KeyID)
	}
	if h.Algorithm != pub.alg {
		return nil, fmt.Errorf("%w: alg %q, but key %q is %s", ErrInvalidToken, h.Algorithm, h.KeyID, pub.alg)
	}
	payload, err := jws.Verify(pub.jwk.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	return payload, nil
}

// unknownKIDReloadEvery limits the reloads that tokens with unknown key IDs
// cause (anyone can send such tokens).
const unknownKIDReloadEvery = 5 * time.Second

// missReload reports whether an unknown kid may cause a reload now (at
// most once every unknownKIDReloadEvery).
func (m *Manager) missReload() bool {
	now := time.Now().UnixNano()
	last := m.lastMiss.Load()
	if now-last < int64(unknownKIDReloadEvery) {
		return false
	}
	return m.lastMiss.CompareAndSwap(last, now)
}

// sameType compares "typ" values as media types (RFC 7515 §4.1.9):
// case-insensitively, a value without "/" meaning "application/" + value.
func sameType(got, want string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		if !strings.Contains(s, "/") {
			s = "application/" + s
		}
		return s
	}
	return norm(got) == norm(want)
}
