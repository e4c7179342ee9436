package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/models"
)

// RSABits is the size of generated RSA keys.
const RSABits = 2048

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
