// Package jwks is where the core gets other parties' public keys
// (oauth.KeySource): the JWK Set a client pasted (its jwks), or the one at
// its jwks_uri, fetched through the SSRF-safe outbound client and cached
// in memory.
//
// Rules:
//   - a JWK Set holds public signing keys only: a private key (someone
//     pasted or published the wrong half) or a symmetric key refuses the
//     whole set with the reason; in a pasted set so does any key that
//     cannot verify assertions (an RSA key shorter than 2048 bits, another
//     curve than P-256, an encryption key: oauth.ParsePublicJWKS), while a
//     published set at a jwks_uri may hold such keys for other uses, and
//     they are left out (oauth.ParsePublishedJWKS);
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
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	set, err := oauth.ParsePublicJWKS([]byte(jwks))
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

// remoteSet serves the keys of jwksURI from the cache or fetches them.
func (s *Source) remoteSet(ctx context.Context, jwksURI string, refresh bool) (*jose.JSONWebKeySet, error) {
	scheme := oauth.JWKSURIHTTPS
	if s.o.AllowHTTP {
		scheme = oauth.JWKSURIAnyHTTP
	}
	if err := oauth.CheckJWKSURI(jwksURI, scheme); err != nil {
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
	// The fetch serves every request waiting for this URL and its outcome
	// is remembered: it must not end with the first caller's request (a
	// client hanging up would otherwise make the URL fail for everyone
	// for RefreshInterval). The outbound client's timeout bounds it.
	set, ttl, err := s.fetch(context.WithoutCancel(ctx), jwksURI)
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
	set, err := oauth.ParsePublishedJWKS(res.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("the JWK Set at jwks_uri: %w", err)
	}
	return set, s.ttl(res.Header), nil
}

// ttl is how long the keys of a response with headers h are kept
// (outbound.CacheAge within [MinTTL, MaxTTL], DefaultTTL without caching
// headers).
func (s *Source) ttl(h http.Header) time.Duration {
	return outbound.CacheAge(h, s.o.Now(), s.o.DefaultTTL, s.o.MinTTL, s.o.MaxTTL)
}
