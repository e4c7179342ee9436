package models

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// Trusted issuers of the JWT bearer grant (RFC 7523 §2.1), registered by
// admins (app/trust validates them). An issuer is keyed by its iss; it
// is created and deleted, never edited (delete and register it again).

func (ti *TrustedIssuer) normalize() {
	ti.CreatedAt = ts(ti.CreatedAt)
	ti.UpdatedAt = ts(ti.UpdatedAt)
	if ti.Subjects == nil {
		ti.Subjects = map[string]string{}
	}
	if ti.Scopes == nil {
		ti.Scopes = []string{}
	}
}

// ListTrustedIssuers returns every trusted issuer ordered by issuer.
func (s *Store) ListTrustedIssuers(ctx context.Context) ([]TrustedIssuer, error) {
	var out []TrustedIssuer
	if err := s.conn(ctx).Order("issuer").Find(&out).Error; err != nil {
		return nil, wrapErr(err, "trusted issuers")
	}
	for i := range out {
		out[i].normalize()
	}
	return out, nil
}

// CreateTrustedIssuer inserts ti and sets its ID; CreatedAt and UpdatedAt
// are set to now when zero. A registered issuer gives ErrAlreadyExists.
func (s *Store) CreateTrustedIssuer(ctx context.Context, ti *TrustedIssuer) error {
	ti.CreatedAt = s.orNow(ti.CreatedAt)
	ti.UpdatedAt = s.orNow(ti.UpdatedAt)
	ti.normalize()
	return wrapErr(s.conn(ctx).Create(ti).Error, fmt.Sprintf("trusted issuer %q", ti.Issuer))
}

// GetTrustedIssuer returns the trusted issuer whose iss is issuer
// (compared exactly), or ErrNotFound.
func (s *Store) GetTrustedIssuer(ctx context.Context, issuer string) (*TrustedIssuer, error) {
	var ti TrustedIssuer
	if err := s.conn(ctx).Where("issuer = ?", issuer).Take(&ti).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("trusted issuer %q", issuer))
	}
	ti.normalize()
	return &ti, nil
}

// GetTrustedIssuerByID returns the trusted issuer with that ID, or
// ErrNotFound.
func (s *Store) GetTrustedIssuerByID(ctx context.Context, id int64) (*TrustedIssuer, error) {
	var ti TrustedIssuer
	if err := s.conn(ctx).Where("id = ?", id).Take(&ti).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("trusted issuer %d", id))
	}
	ti.normalize()
	return &ti, nil
}

// DeleteTrustedIssuer deletes the trusted issuer issuer, or returns
// ErrNotFound. Tokens issued from its assertions are not revoked.
func (s *Store) DeleteTrustedIssuer(ctx context.Context, issuer string) error {
	entity := fmt.Sprintf("trusted issuer %q", issuer)
	res := s.conn(ctx).Where("issuer = ?", issuer).Delete(&TrustedIssuer{})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 0 {
		return notFound(entity)
	}
	return nil
}

// GetTrustedIssuer implements oauth.TrustModel.
func (m OAuthModel) GetTrustedIssuer(ctx context.Context, issuer string) (*oauth.TrustedIssuer, error) {
	ti, err := m.S.GetTrustedIssuer(ctx, issuer)
	if err != nil {
		return nil, err
	}
	subjects := make(map[string]string, len(ti.Subjects))
	for k, v := range ti.Subjects {
		subjects[k] = v
	}
	return &oauth.TrustedIssuer{Issuer: ti.Issuer, Name: ti.Name, JWKS: ti.JWKS, JWKSURI: ti.JWKSURI, Subjects: subjects,
		Scopes: append([]string(nil), ti.Scopes...), MaxLifetime: time.Duration(ti.MaxLifetimeSeconds) * time.Second}, nil
}
