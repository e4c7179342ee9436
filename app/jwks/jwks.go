// Package jwks is where the core gets other parties' public keys
// (oauth.KeySource): the JWK Set a client pasted (its jwks), or the one at
// its jwks_uri, fetched through the SSRF-safe outbound client and cached
// in memory.
//
// Rules:
//   - a JWK Set holds public signing keys only: a private key (someone
//     pasted or published the wrong half), a symmetric key, an RSA key
//     shorter than 2048 bits or an unsupported key type refuses the whole
//     set with the reason (ParsePublic);
//   - jwks_uri must be https (http too when Options.AllowHTTP, for tests),
//     the response 200 and at most MaxBytes;
//   - a fetched set is kept for its Cache-Control max-age bounded to
//     [MinTTL, MaxTTL] (DefaultTTL without one); a refresh (an unknown
//     kid) fetches again at most once per RefreshInterval per URL, and a
//     failed fetch is not retried within RefreshInterval either;
//   - when a fetch fails but keys fetched before are still held (up to
//     MaxTTL past their expiry), those keys are used;
//   - pasted sets are parsed once and kept by content.
package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
)

// Defaults of Options.
const (
	DefaultMinTTL          = 5 * time.Minute
	DefaultMaxTTL          = 24 * time.Hour
	DefaultTTL             = time.Hour
	DefaultRefreshInterval = 10 * time.Second
	DefaultMaxBytes        = 64 << 10
	// MaxKeys bounds the keys of one set.
	MaxKeys = 100
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
	// maxEntries bounds the cache (URLs and pasted sets); when full it
	// is emptied.
	maxEntries = 10000
)

// Options configure a Source.
type Options struct {
	// HTTP fetches jwks_uri (its own rules apply too: no redirects,
	// timeouts, address checks). nil: jwks_uri is not fetched.
	HTTP *outbound.Client
	// AllowHTTP allows http jwks_uri (tests, with
	// GATEHOUSE_ALLOW_PRIVATE_FETCH); otherwise https only.
	AllowHTTP bool
	// MinTTL, MaxTTL, DefaultTTL, RefreshInterval and MaxBytes default to
	// the Default constants.
	MinTTL, MaxTTL, DefaultTTL, RefreshInterval time.Duration
	MaxBytes                                    int64
	// Now defaults to time.Now.
	Now func() time.Time
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Source implements oauth.KeySource. It is safe for concurrent use.
type Source struct {
	o      Options
	http   *outbound.Client
	mu     sync.Mutex
	remote map[string]*remoteEntry
	pasted map[[32]byte]*jose.JSONWebKeySet
}

var _ oauth.KeySource = (*Source)(nil)

// remoteEntry is a jwks_uri's state; its mutex serialises fetches of the
// URL, so that concurrent requests fetch it once.
type remoteEntry struct {
	mu        sync.Mutex
	set       *jose.JSONWebKeySet // last good keys, nil before any
	expires   time.Time           // when set goes stale
	attempted time.Time           // when a fetch was last tried
	err       error               // of the last fetch, nil when it worked
}

// New returns a Source.
func New(o Options) *Source {
	if o.MinTTL <= 0 {
		o.MinTTL = DefaultMinTTL
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = DefaultTTL
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Source{o: o, remote: map[string]*remoteEntry{}, pasted: map[[32]byte]*jose.JSONWebKeySet{}}
	if o.HTTP != nil {
		s.http = o.HTTP.WithMaxResponseBytes(o.MaxBytes)
	}
	return s
}

// PublicKeys implements oauth.KeySource: the pasted set when jwks is not
// empty, else the set at jwksURI.
func (s *Source) PublicKeys(ctx context.Context, jwks, jwksURI string, refresh bool) (*jose.JSONWebKeySet, error) {
	if strings.TrimSpace(jwks) != "" {
		return s.pastedSet(jwks)
	}
	if jwksURI == "" {
		return nil, errors.New("no jwks and no jwks_uri")
	}
	return s.remoteSet(ctx, jwksURI, refresh)
}

// pastedSet parses a pasted set once and keeps it by content.
func (s *Source) pastedSet(jwks string) (*jose.JSONWebKeySet, error) {
	key := sha256.Sum256([]byte(jwks))
	s.mu.Lock()
	set, ok := s.pasted[key]
	s.mu.Unlock()
	if ok {
		return set, nil
	}
	set, err := ParsePublic([]byte(jwks))
	if err != nil {
		return nil, fmt.Errorf("the registered jwks: %w", err)
	}
	s.mu.Lock()
	if len(s.pasted) >= maxEntries {
		clear(s.pasted)
	}
	s.pasted[key] = set
	s.mu.Unlock()
	return set, nil
}

// CheckURI reports why u cannot be a jwks_uri ("" scheme rules only; the
// address is checked when it is fetched).
func CheckURI(u string, allowHTTP bool) error {
	p, err := url.Parse(u)
	if err != nil || !p.IsAbs() || p.Host == "" {
		return errors.New("jwks_uri must be an absolute URL")
	}
	if p.User != nil {
		return errors.New("jwks_uri must not contain credentials")
	}
	if p.Fragment != "" {
		return errors.New("jwks_uri must not contain a fragment")
	}
	if p.Scheme != "https" && !(allowHTTP && p.Scheme == "http") {
		return errors.New("jwks_uri must be an https URL")
	}
	return nil
}

// remoteSet serves the keys of jwksURI from the cache or fetches them.
func (s *Source) remoteSet(ctx context.Context, jwksURI string, refresh bool) (*jose.JSONWebKeySet, error) {
	if err := CheckURI(jwksURI, s.o.AllowHTTP); err != nil {
		return nil, err
	}
	s.mu.Lock()
	e, ok := s.remote[jwksURI]
	if !ok {
		if len(s.remote) >= maxEntries {
			clear(s.remote)
		}
		e = &remoteEntry{}
		s.remote[jwksURI] = e
	}
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := s.o.Now()
	if e.set != nil && now.Before(e.expires) && !refresh {
		return e.set, nil
	}
	if !e.attempted.IsZero() && now.Sub(e.attempted) < s.o.RefreshInterval {
		// Fetched (or tried) a moment ago: answer with what that gave.
		if e.set != nil {
			return e.set, nil
		}
		return nil, e.err
	}
	e.attempted = now
	set, ttl, err := s.fetch(ctx, jwksURI)
	if err != nil {
		e.err = err
		if e.set != nil && now.Before(e.expires.Add(s.o.MaxTTL)) {
			s.o.Log.WarnContext(ctx, "jwks: fetch failed; using the keys fetched before", "jwks_uri", jwksURI, "err", err)
			return e.set, nil
		}
		e.set = nil
		return nil, err
	}
	e.set, e.expires, e.err = set, now.Add(ttl), nil
	return set, nil
}

// fetch GETs and parses jwksURI; ttl is how long its answer may be kept.
func (s *Source) fetch(ctx context.Context, jwksURI string) (*jose.JSONWebKeySet, time.Duration, error) {
	if s.http == nil {
		return nil, 0, errors.New("jwks_uri cannot be fetched (no outbound client)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURI, nil)
	if err != nil {
		return nil, 0, errors.New("jwks_uri is not a valid URL")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := s.http.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrResponseTooLarge) {
			return nil, 0, fmt.Errorf("the jwks_uri answer is larger than %d bytes", s.o.MaxBytes)
		}
		return nil, 0, fmt.Errorf("fetching jwks_uri failed: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("jwks_uri answered HTTP %d", res.StatusCode)
	}
	set, err := ParsePublic(res.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("the JWK Set at jwks_uri: %w", err)
	}
	return set, s.ttl(res.Header), nil
}

// ttl is the Cache-Control max-age of h bounded to [MinTTL, MaxTTL]
// (DefaultTTL without one; MinTTL for no-store and no-cache).
func (s *Source) ttl(h http.Header) time.Duration {
	ttl := s.o.DefaultTTL
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return s.o.MinTTL
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
				ttl = time.Duration(min(n, int64(s.o.MaxTTL/time.Second))) * time.Second
			}
		}
	}
	return max(s.o.MinTTL, min(ttl, s.o.MaxTTL))
}

// ParsePublic parses a JWK Set (RFC 7517 §5) of public signing keys: RSA
// of at least MinRSABits, EC on P-256, P-384 or P-521, and Ed25519. A
// private key, a symmetric key, a key of another type or a key meant for
// encryption (use enc) refuses the set with the reason; so do duplicate
// kids and more than MaxKeys keys. The reason never quotes key material.
func ParsePublic(data []byte) (*jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.New("not a JSON object with a keys array")
	}
	if raw.Keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	if len(raw.Keys) == 0 {
		return nil, errors.New("the set has no keys")
	}
	if len(raw.Keys) > MaxKeys {
		return nil, fmt.Errorf("more than %d keys", MaxKeys)
	}
	set := &jose.JSONWebKeySet{}
	kids := map[string]bool{}
	for i, rk := range raw.Keys {
		name := fmt.Sprintf("key %d", i+1)
		var probe struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			D   string `json:"d"`
			K   string `json:"k"`
			Use string `json:"use"`
		}
		if err := json.Unmarshal(rk, &probe); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object", name)
		}
		if probe.Kid != "" {
			name = fmt.Sprintf("key %q", trunc(probe.Kid, 64))
		}
		switch {
		case probe.Kty == "oct" || probe.K != "":
			return nil, fmt.Errorf("%s is a symmetric key: a JWK Set here holds public keys only", name)
		case probe.D != "":
			return nil, fmt.Errorf("%s is a private key: register the public key only (and consider this private key exposed)", name)
		case probe.Kty != "RSA" && probe.Kty != "EC" && probe.Kty != "OKP":
			return nil, fmt.Errorf("%s has unsupported kty %q (RSA, EC or OKP)", name, trunc(probe.Kty, 20))
		case probe.Use != "" && probe.Use != "sig":
			return nil, fmt.Errorf("%s has use %q: keys that verify signatures have use sig or none", name, trunc(probe.Use, 20))
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rk); err != nil {
			return nil, fmt.Errorf("%s is not a valid JWK: %s", name, strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))
		}
		if !k.IsPublic() || !k.Valid() {
			return nil, fmt.Errorf("%s is not a valid public key", name)
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < MinRSABits {
				return nil, fmt.Errorf("%s is an RSA key of %d bits (at least %d)", name, pk.N.BitLen(), MinRSABits)
			}
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() && pk.Curve != elliptic.P384() && pk.Curve != elliptic.P521() {
				return nil, fmt.Errorf("%s is on an unsupported curve", name)
			}
		case ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("%s is not a supported public key (RSA, EC, Ed25519)", name)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return nil, fmt.Errorf("two keys have kid %q", trunc(k.KeyID, 64))
			}
			kids[k.KeyID] = true
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
