package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// DefaultCacheTTL is how long a Manager uses its parsed keys before reading
// the database again.
const DefaultCacheTTL = 30 * time.Second

// reloadRetry is how soon a failed reload is tried again while the keys
// loaded before are used.
const reloadRetry = 5 * time.Second

// Options configure a Manager.
type Options struct {
	// Store holds the keys (table signing_keys).
	Store *models.Store
	// Secret encrypts private keys at rest; empty stores new keys
	// unencrypted.
	Secret string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives warnings about failed reloads (default slog.Default).
	Log *slog.Logger
	// CacheTTL is how long parsed keys are used before the database is
	// read again (default DefaultCacheTTL).
	CacheTTL time.Duration
	// Version, when set, returns a counter that moves whenever the
	// signing_keys table changes (cache.Versions' Keys): the keys are
	// reloaded as soon as it moves, so that every instance sees a
	// rotation on its next request. The TTL still applies; when Version
	// fails, the TTL alone decides.
	Version func(ctx context.Context) (int64, error)
}

// Manager signs and verifies JWTs with the keys in the database and
// publishes their public parts. It implements oauth.Signer and is safe for
// concurrent use.
type Manager struct {
	store    *models.Store
	sealer   *secret.Sealer // nil without a secret
	now      func() time.Time
	log      *slog.Logger
	ttl      time.Duration
	version  func(ctx context.Context) (int64, error)
	generate func(alg string) (crypto.Signer, error)

	reload   sync.Mutex // one reload at a time
	set      atomic.Pointer[keySet]
	epoch    atomic.Uint64 // bumped by Invalidate
	lastMiss atomic.Int64  // unix nanoseconds of the last unknown-kid reload
}

var _ oauth.Signer = (*Manager)(nil)

// New returns a Manager. It reads nothing yet: call Ensure at start-up.
func New(o Options) *Manager {
	m := &Manager{store: o.Store, now: o.Now, log: o.Log, ttl: o.CacheTTL, version: o.Version, generate: generate}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.ttl <= 0 {
		m.ttl = DefaultCacheTTL
	}
	if o.Secret != "" {
		m.sealer = secret.NewSealer(o.Secret, "signing-key")
	}
	return m
}

// keySet is the parsed keys as of one read of the database.
type keySet struct {
	fetched time.Time // when it was read (time.Now, monotonic)
	epoch   uint64    // Manager.epoch at the start of the read
	version int64     // Options.Version at the start of the read
	// staleAt is the first ExpiresAt of a published key after the read
	// (zero for none): the set must be rebuilt then.
	staleAt   time.Time
	current   map[string]*privateKey // by algorithm: the newest current key
	published []*publicKey           // in JWKS order
	byKID     map[string]*publicKey
	algs      []string
	jwks      []byte
}

// privateKey is a current key, parsed.
type privateKey struct {
	kid, alg string
	key      crypto.Signer
	stored   []byte   // the stored bytes, to reuse the parse on reload
	signers  sync.Map // typ -> jose.Signer
}

// publicKey is a published key.
type publicKey struct {
	kid, alg  string
	jwk       jose.JSONWebKey // public, with kid, alg and use
	createdAt time.Time
	expiresAt time.Time // zero while current
}

// keys returns the key set, reading the database when the cached one is
// stale. While another goroutine reloads, a stale set is used rather than
// waited for; when a reload fails, the previous set is used (and the
// failure logged) and the reload is tried again a few seconds later.
func (m *Manager) keys(ctx context.Context) (*keySet, error) {
	ver, verOK := m.currentVersion(ctx)
	s := m.set.Load()
	if s != nil && m.fresh(s, ver, verOK) {
		return s, nil
	}
	if s != nil {
		if !m.reload.TryLock() {
			return s, nil
		}
	} else {
		m.reload.Lock()
	}
	defer m.reload.Unlock()
	if s = m.set.Load(); s != nil && m.fresh(s, ver, verOK) {
		return s, nil
	}
	ns, err := m.load(ctx, s, ver)
	if err != nil {
		if s == nil || ctx.Err() != nil {
			return nil, err
		}
		m.log.ErrorContext(ctx, "signing keys: reload failed; using the keys loaded before", "err", err)
		retry := *s
		retry.fetched = time.Now().Add(reloadRetry - m.ttl)
		retry.version = ver
		m.set.Store(&retry)
		return s, nil
	}
	m.set.Store(ns)
	return ns, nil
}

// currentVersion reads Options.Version, when there is one.
func (m *Manager) currentVersion(ctx context.Context) (int64, bool) {
	if m.version == nil {
		return 0, false
	}
	v, err := m.version(ctx)
	if err != nil {
		return 0, false
	}
	return v, true
}

func (m *Manager) fresh(s *keySet, ver int64, verOK bool) bool {
	return s.epoch == m.epoch.Load() && time.Since(s.fetched) < m.ttl &&
		(!verOK || s.version == ver) &&
		(s.staleAt.IsZero() || m.now().Before(s.staleAt))
}

// Invalidate drops the cached keys: the next use reads the database. Call
// it when another instance is known to have changed the keys.
func (m *Manager) Invalidate() { m.epoch.Add(1) }

// load reads and parses the keys. Current keys are decrypted (parses in
// prev are reused when the stored bytes are the same); retired ones need
// only their public part.
func (m *Manager) load(ctx context.Context, prev *keySet, version int64) (*keySet, error) {
	epoch := m.epoch.Load()
	rows, err := m.store.ListSigningKeys(ctx) // newest first
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	now := m.now()
	s := &keySet{fetched: time.Now(), epoch: epoch, version: version, current: map[string]*privateKey{}, byKID: map[string]*publicKey{}}
	var retired []*publicKey
	for i := range rows {
		r := &rows[i]
		if !supported(r.Alg) {
			m.log.WarnContext(ctx, "signing keys: skipping a key with an unsupported algorithm", "kid", r.KID, "alg", r.Alg)
			continue
		}
		until, published := publishedUntil(r, now)
		if !published {
			continue
		}
		pub, err := parsePublic(r)
		if err != nil {
			return nil, err
		}
		pub.expiresAt = until
		if !until.IsZero() && (s.staleAt.IsZero() || until.Before(s.staleAt)) {
			s.staleAt = until
		}
		s.byKID[r.KID] = pub
		if r.RetiredAt != nil {
			retired = append(retired, pub)
			continue
		}
		if _, ok := s.current[r.Alg]; ok {
			// An older key that is still current (two instances made
			// keys at once before locking existed): published, unused.
			retired = append(retired, pub)
			continue
		}
		pk, err := m.parsePrivate(r, prev)
		if err != nil {
			return nil, err
		}
		s.current[r.Alg] = pk
	}
	for _, alg := range KeyAlgorithms {
		if pk := s.current[alg]; pk != nil {
			s.published = append(s.published, s.byKID[pk.kid])
			s.algs = append(s.algs, alg)
		}
	}
	slices.SortStableFunc(retired, func(a, b *publicKey) int { return olderLast(a.createdAt, b.createdAt, a.alg, b.alg) })
	s.published = append(s.published, retired...)
	for _, p := range retired {
		if !slices.Contains(s.algs, p.alg) {
			s.algs = append(s.algs, p.alg)
		}
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(s.published))}
	for i, p := range s.published {
		set.Keys[i] = p.jwk
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("signing keys: JWKS: %w", err)
	}
	return s, nil
}

// parsePublic reads a stored public JWK and checks that it is the key the
// row names.
func parsePublic(r *models.SigningKey) (*publicKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON([]byte(r.PublicJWK)); err != nil {
		return nil, fmt.Errorf("signing key %s: public key: %w", r.KID, err)
	}
	if !jwk.IsPublic() || !jwk.Valid() {
		return nil, fmt.Errorf("signing key %s: the stored public key is not a valid public JWK", r.KID)
	}
	if kid, err := thumbprint(jwk.Key); err != nil || kid != r.KID {
		return nil, fmt.Errorf("signing key %s: the stored public key does not match the key ID", r.KID)
	}
	if err := checkKeyAlg(jwk.Key, r.Alg); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.KID, err)
	}
	jwk.KeyID, jwk.Algorithm, jwk.Use = r.KID, r.Alg, "sig"
	return &publicKey{kid: r.KID, alg: r.Alg, jwk: jwk, createdAt: r.CreatedAt}, nil
}

// checkKeyAlg checks that pub suits alg: RSA of at least 2048 bits for
// RS256, P-256 for ES256.
func checkKeyAlg(pub crypto.PublicKey, alg string) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg == RS256 && k.N.BitLen() >= 2048 {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return nil
		}
	}
	return fmt.Errorf("a %T is not a key for %s", pub, alg)
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url: the key
// ID, stable for the life of the key.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// JWKS returns the JWK Set document of the published keys: public parts
// only, each with "kid", "alg" and "use":"sig"; current keys first.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	s, err := m.keys(ctx)
	if err != nil {
		return nil, err
	}
	return s.jwks, nil
}

// Algorithms lists the algorithms of the published keys, RS256 first.
// When the keys cannot be read it answers RS256 alone.
func (m *Manager) Algorithms() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := m.keys(ctx)
	if err != nil || len(s.algs) == 0 {
		return []string{RS256}
	}
	return append([]string(nil), s.algs...)
}
