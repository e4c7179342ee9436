package keys

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

// Margin is added to the longest token lifetime to get the Retention of a
// retired key. It covers the clocks of instances and verifiers being apart
// and the cache TTL of instances that have not seen a rotation yet (they
// go on signing with the retired key until they reload).
const Margin = 5 * time.Minute

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
