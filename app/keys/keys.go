// Package keys manages Gatehouse's JOSE signing keys: an RS256 key (the one
// that signs ID tokens and JWT access tokens) and an ES256 key, generated on
// first start and kept in the database so that every instance on one
// database signs with the same keys; their public parts are published as a
// JWK Set. Private keys are stored as PKCS#8 DER, encrypted with AES-256-GCM
// under a key derived (HKDF-SHA256) from the configured key secret, when
// there is one.
//
// Rotation makes new keys current and retires the previous ones, which
// stay published until every token they signed has expired (Retention).
//
// A Manager keeps the parsed keys in memory and reloads them after a short
// TTL, at once after its own Rotate, after Invalidate, and (rate-limited)
// when asked to verify a token whose key it does not know, so that a
// rotation on another instance is seen quickly.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

// Signing algorithms of the keys Gatehouse makes.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// KeyAlgorithms lists the algorithms of the keys Ensure and Rotate make,
// in the order they are published: RS256 (required by OpenID Connect)
// first.
var KeyAlgorithms = []string{RS256, ES256}

// RSABits is the size of generated RSA keys.
const RSABits = 2048

// DefaultCacheTTL is how long a Manager uses its parsed keys before reading
// the database again.
const DefaultCacheTTL = 30 * time.Second

// Margin is added to the longest token lifetime to get the Retention of a
// retired key. It covers the clocks of instances and verifiers being apart
// and the cache TTL of instances that have not seen a rotation yet (they
// go on signing with the retired key until they reload).
const Margin = 5 * time.Minute

// unknownKIDReloadEvery limits the reloads that tokens with unknown key IDs
// cause (anyone can send such tokens).
const unknownKIDReloadEvery = 5 * time.Second

// reloadRetry is how soon a failed reload is tried again while the keys
// loaded before are used.
const reloadRetry = 5 * time.Second

// signedLifetimes are the settings that bound the lifetime of the tokens
// the keys sign: ID tokens and JWT access tokens live access_token_lifetime.
var signedLifetimes = []string{"access_token_lifetime"}

// MaxTokenLifetime is the longest lifetime a token signed by the keys can
// have: the largest value the lifetime settings accept (not the value in
// force, since a setting can be raised after a token was signed).
func MaxTokenLifetime() time.Duration {
	var longest time.Duration
	for _, key := range signedLifetimes {
		def, ok := settings.Lookup(key)
		if !ok {
			panic("keys: no setting " + key) // TestRetention keeps this from shipping
		}
		longest = max(longest, def.Max)
	}
	return longest
}

// Retention is how long a retired key stays published: MaxTokenLifetime
// plus Margin.
func Retention() time.Duration { return MaxTokenLifetime() + Margin }

// Errors. Problems with a token wrap ErrInvalidToken.
var (
	// ErrInvalidToken is a token that is malformed, has the wrong typ, was
	// not signed by a published key, or whose signature does not verify.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNoKey means there is no current key of the algorithm asked for
	// (Ensure makes them).
	ErrNoKey = errors.New("no current signing key")
	// ErrSecretRequired means a key is stored encrypted but no key secret
	// is configured.
	ErrSecretRequired = errors.New("signing key is encrypted but no key secret is configured")
	// ErrWrongSecret means a key cannot be decrypted with the configured
	// key secret.
	ErrWrongSecret = errors.New("signing key cannot be decrypted with the configured key secret")
)

// keyError is an error for people running the server, matching kind with
// errors.Is.
type keyError struct {
	kind error
	msg  string
}

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return e.kind }

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

// Encrypting reports whether new keys are stored encrypted (a key secret
// is configured).
func (m *Manager) Encrypting() bool { return m.sealer != nil }

// ---- key set ---------------------------------------------------------

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

// publishedUntil says whether r is published at now, and until when (zero
// while it is current).
func publishedUntil(r *models.SigningKey, now time.Time) (time.Time, bool) {
	if r.RetiredAt == nil {
		return time.Time{}, true
	}
	until := r.RetiredAt.Add(Retention())
	if r.ExpiresAt != nil {
		until = *r.ExpiresAt
	}
	return until, now.Before(until)
}

func supported(alg string) bool { return alg == RS256 || alg == ES256 }

// olderLast orders keys newest first, and keys made together (by one
// rotation) in KeyAlgorithms order.
func olderLast(ca, cb time.Time, algA, algB string) int {
	if c := cb.Compare(ca); c != 0 {
		return c
	}
	return algRank(algA) - algRank(algB)
}

func algRank(alg string) int {
	if i := slices.Index(KeyAlgorithms, alg); i >= 0 {
		return i
	}
	return len(KeyAlgorithms)
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

// parsePrivate decrypts and parses a current key, reusing prev's parse of
// the same stored bytes.
func (m *Manager) parsePrivate(r *models.SigningKey, prev *keySet) (*privateKey, error) {
	if prev != nil {
		if pk := prev.current[r.Alg]; pk != nil && pk.kid == r.KID && string(pk.stored) == string(r.PrivateKey) {
			return pk, nil
		}
	}
	der := r.PrivateKey
	if r.Encrypted {
		if m.sealer == nil {
			return nil, &keyError{ErrSecretRequired, fmt.Sprintf("signing key %s (%s) is stored encrypted, but no key secret is configured: "+
				"set GATEHOUSE_KEY_SECRET (or --key-secret, or key_secret in the config file) to the secret it was stored with", r.KID, r.Alg)}
		}
		var err error
		if der, err = m.decrypt(r.KID, r.PrivateKey); err != nil {
			return nil, &keyError{ErrWrongSecret, fmt.Sprintf("signing key %s (%s) cannot be decrypted with the configured key secret (GATEHOUSE_KEY_SECRET): "+
				"it was stored with another one. Configure that secret, or run \"gatehouse keys rotate\" to make new keys (tokens signed with the old ones stay valid)", r.KID, r.Alg)}
		}
		defer clear(der)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: private key: %w", r.KID, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: private key of type %T", r.KID, k)
	}
	if err := checkKeyAlg(signer.Public(), r.Alg); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.KID, err)
	}
	if kid, err := thumbprint(signer.Public()); err != nil || kid != r.KID {
		return nil, fmt.Errorf("signing key %s: the private key does not match the key ID", r.KID)
	}
	return &privateKey{kid: r.KID, alg: r.Alg, key: signer, stored: r.PrivateKey}, nil
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

// ---- encryption at rest ------------------------------------------------

// Stored encrypted keys are sealed (app/secret.Sealer, purpose
// "signing-key": version || nonce || AES-256-GCM(PKCS#8 DER)), with the key
// ID as additional data so that a ciphertext cannot be moved to another row.

func additionalData(kid string) []byte { return []byte("gatehouse signing key " + kid) }

func (m *Manager) encrypt(kid string, der []byte) []byte {
	return m.sealer.Seal(der, additionalData(kid))
}

func (m *Manager) decrypt(kid string, stored []byte) ([]byte, error) {
	return m.sealer.Open(stored, additionalData(kid))
}

// ---- making keys -----------------------------------------------------

func generate(alg string) (crypto.Signer, error) {
	if alg == RS256 && testPool.on.Load() {
		return testPool.get()
	}
	return generateFresh(alg)
}

func generateFresh(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, RSABits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("cannot generate %s keys", alg)
}

// testPool hands out RSA keys from a small set generated once per
// process (see UseTestKeyPool).
var testPool keyPool

type keyPool struct {
	on   atomic.Bool
	mu   sync.Mutex
	keys []crypto.Signer
	next int
}

// testPoolSize is the number of RSA keys the test pool holds.
const testPoolSize = 16

// UseTestKeyPool is for test suites that start many servers: RSA keys then
// come from a pool of a few keys generated once per process, instead of
// being generated for every database (finding RSA primes dominates such
// suites). The same key may then serve several databases; a key drawn
// twice for one database is drawn again. Never call it outside tests.
func UseTestKeyPool() { testPool.on.Store(true) }

func (p *keyPool) get() (crypto.Signer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) < testPoolSize {
		k, err := generateFresh(RS256)
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
		return k, nil
	}
	p.next++
	return p.keys[p.next%testPoolSize], nil
}

// newKey generates a key for alg and returns the row to store.
func (m *Manager) newKey(alg string, now time.Time) (*models.SigningKey, error) {
	priv, err := m.generate(alg)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pub, err := (&jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	row := &models.SigningKey{KID: kid, Alg: alg, PrivateKey: der, PublicJWK: string(pub), CreatedAt: now}
	if m.sealer != nil {
		row.PrivateKey, row.Encrypted = m.encrypt(kid, der), true
		clear(der)
	}
	return row, nil
}

// Ensure makes sure there is a current key of every algorithm in
// KeyAlgorithms, generating the missing ones, then loads the keys: it fails
// when a current key cannot be decrypted or parsed. Call it at start-up.
// Instances starting at once on one database make one set of keys between
// them.
func (m *Manager) Ensure(ctx context.Context) error {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if missing := missingAlgs(rows); len(missing) > 0 {
		// Generate outside the transaction (RSA takes a while), then
		// insert under the lock only what is still missing.
		now := m.now()
		err := m.withNewKeys(ctx, missing, now, func(tx *models.Store, rows []models.SigningKey, made map[string]*models.SigningKey) error {
			for _, alg := range missingAlgs(rows) {
				if err := tx.CreateSigningKey(ctx, made[alg]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
	}
	if _, err := m.Prune(ctx); err != nil {
		return err
	}
	m.Invalidate()
	_, err = m.keys(ctx)
	return err
}

// errKIDTaken says that a generated key is already stored (only a test
// key pool makes that happen): generate again.
var errKIDTaken = errors.New("generated key ID already stored")

// withNewKeys generates a key for each of algs, then runs fn in a
// transaction holding LockSigningKeys with the stored keys and the new
// ones (by algorithm). A generated key that is already stored is
// generated again (it takes more than one draw from a test key pool).
func (m *Manager) withNewKeys(ctx context.Context, algs []string, now time.Time,
	fn func(tx *models.Store, rows []models.SigningKey, made map[string]*models.SigningKey) error) error {
	for attempt := 0; ; attempt++ {
		made := map[string]*models.SigningKey{}
		for _, alg := range algs {
			k, err := m.newKey(alg, now)
			if err != nil {
				return err
			}
			made[alg] = k
		}
		err := m.store.Tx(ctx, func(tx *models.Store) error {
			if err := tx.LockSigningKeys(ctx); err != nil {
				return err
			}
			rows, err := tx.ListSigningKeys(ctx)
			if err != nil {
				return err
			}
			for _, r := range rows {
				for _, k := range made {
					if k.KID == r.KID {
						return errKIDTaken
					}
				}
			}
			return fn(tx, rows, made)
		})
		if !errors.Is(err, errKIDTaken) || attempt > testPoolSize {
			return err
		}
	}
}

// missingAlgs lists the algorithms of KeyAlgorithms without a current key in
// rows.
func missingAlgs(rows []models.SigningKey) []string {
	var missing []string
	for _, alg := range KeyAlgorithms {
		found := false
		for _, r := range rows {
			if r.Alg == alg && r.RetiredAt == nil {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, alg)
		}
	}
	return missing
}

// Rotation is what Rotate did.
type Rotation struct {
	// New are the new current keys, RS256 first.
	New []Key
	// Retired are the keys retired now; they stay published until their
	// ExpiresAt.
	Retired []Key
}

// AuditDetails describes the rotation for the audit log (keys.rotate):
// the new and the retired key IDs, space-separated.
func (r *Rotation) AuditDetails() map[string]string {
	var made, retired []string
	for _, k := range r.New {
		made = append(made, k.KID)
	}
	for _, k := range r.Retired {
		retired = append(retired, k.KID)
	}
	return map[string]string{"new": strings.Join(made, " "), "retired": strings.Join(retired, " ")}
}

// Rotate makes new current keys (one per algorithm) and retires every
// current one: a retired key stops signing at once but stays published for
// Retention, until every token it signed has expired. It does not need to
// decrypt the old keys, so it also replaces keys whose secret was lost.
// Other instances pick the new keys up on their next request (Version) or
// within the cache TTL.
func (m *Manager) Rotate(ctx context.Context) (*Rotation, error) {
	now := m.now()
	expires := now.Add(Retention())
	res := &Rotation{}
	err := m.withNewKeys(ctx, KeyAlgorithms, now, func(tx *models.Store, rows []models.SigningKey, made map[string]*models.SigningKey) error {
		res.Retired, res.New = nil, nil
		for _, r := range rows {
			if r.RetiredAt != nil {
				continue
			}
			err := tx.UpdateSigningKey(ctx, r.KID, func(k *models.SigningKey) error {
				k.RetiredAt, k.ExpiresAt = &now, &expires
				return nil
			})
			if err != nil {
				return err
			}
			r.RetiredAt, r.ExpiresAt = &now, &expires
			res.Retired = append(res.Retired, keyInfo(&r, now))
		}
		for _, alg := range KeyAlgorithms {
			if err := tx.CreateSigningKey(ctx, made[alg]); err != nil {
				return err
			}
			res.New = append(res.New, keyInfo(made[alg], now))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}
	m.Invalidate()
	if _, err := m.Prune(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// WithdrawRetired unpublishes every retired key at once, for keys that
// may have leaked: tokens they signed stop verifying wherever the JWKS is
// fetched again (and Gatehouse itself checks its tokens by digest, so
// forged ones were never accepted here). It returns the key IDs withdrawn.
// Rotate first, so that the current keys are retired too.
func (m *Manager) WithdrawRetired(ctx context.Context) ([]string, error) {
	now := m.now()
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var kids []string
	for _, r := range rows {
		if r.RetiredAt == nil || (r.ExpiresAt != nil && !r.ExpiresAt.After(now)) {
			continue
		}
		err := m.store.UpdateSigningKey(ctx, r.KID, func(k *models.SigningKey) error {
			k.ExpiresAt = &now
			return nil
		})
		if err != nil {
			return kids, fmt.Errorf("withdraw signing key %s: %w", r.KID, err)
		}
		kids = append(kids, r.KID)
	}
	m.Invalidate()
	_, err = m.Prune(ctx)
	return kids, err
}

// Prune deletes the retired keys whose tokens have all expired (they are
// no longer published) and returns how many it deleted. Ensure and Rotate
// call it; a background sweeper may too.
func (m *Manager) Prune(ctx context.Context) (int64, error) {
	n, err := m.store.DeleteExpiredSigningKeys(ctx, m.now())
	if err != nil {
		return 0, fmt.Errorf("signing keys: %w", err)
	}
	if n > 0 {
		m.Invalidate()
	}
	return n, nil
}

// ---- listing ---------------------------------------------------------

// Key statuses.
const (
	StatusCurrent = "current" // signs new tokens, published
	StatusRetired = "retired" // no longer signs, published until ExpiresAt
	StatusExpired = "expired" // retired and past ExpiresAt: not published, deleted by Prune
)

// Key describes a stored key (never its private part).
type Key struct {
	KID       string
	Alg       string
	Status    string // StatusCurrent, StatusRetired or StatusExpired
	Encrypted bool   // the private part is encrypted at rest
	CreatedAt time.Time
	RetiredAt *time.Time
	ExpiresAt *time.Time // published until (retired keys)
}

// Published reports whether the key is in the JWKS.
func (k Key) Published() bool { return k.Status != StatusExpired }

func keyInfo(r *models.SigningKey, now time.Time) Key {
	k := Key{KID: r.KID, Alg: r.Alg, Encrypted: r.Encrypted, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, ExpiresAt: r.ExpiresAt, Status: StatusCurrent}
	if r.RetiredAt != nil {
		k.Status = StatusRetired
		if until, published := publishedUntil(r, now); !published {
			k.Status = StatusExpired
		} else if k.ExpiresAt == nil {
			k.ExpiresAt = &until
		}
	}
	return k
}

// List returns every stored key, read from the database: current keys
// first (RS256 first), then the others newest first.
func (m *Manager) List(ctx context.Context) ([]Key, error) {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	now := m.now()
	var current, other []Key
	for _, alg := range KeyAlgorithms {
		for i := range rows {
			if rows[i].Alg == alg && rows[i].RetiredAt == nil {
				current = append(current, keyInfo(&rows[i], now))
			}
		}
	}
	for i := range rows {
		if rows[i].RetiredAt != nil || !slices.Contains(KeyAlgorithms, rows[i].Alg) {
			other = append(other, keyInfo(&rows[i], now))
		}
	}
	slices.SortStableFunc(other, func(a, b Key) int { return olderLast(a.CreatedAt, b.CreatedAt, a.Alg, b.Alg) })
	return append(current, other...), nil
}

// ---- oauth.Signer ----------------------------------------------------

// JWKS returns the JWK Set document of the published keys: public parts
// only, each with "kid", "alg" and "use":"sig"; current keys first.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	s, err := m.keys(ctx)
	if err != nil {
		return nil, err
	}
	return s.jwks, nil
}

// Sign returns the compact JWS of claims (as JSON) with header "typ" typ
// and "kid", signed with the current RS256 key.
func (m *Manager) Sign(ctx context.Context, claims any, typ string) (string, error) {
	return m.SignWith(ctx, RS256, claims, typ)
}

// SignWith is Sign with the current key of another algorithm (ES256).
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
