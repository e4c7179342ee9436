package oauthtest

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// copyTrusted is a copy of ti whose map and list are its own.
func copyTrusted(ti oauth.TrustedIssuer) oauth.TrustedIssuer {
	ti.Subjects = maps.Clone(ti.Subjects)
	ti.Scopes = slices.Clone(ti.Scopes)
	return ti
}

// CreateTrustedIssuer implements Seeder.
func (m *MemModel) CreateTrustedIssuer(_ context.Context, ti oauth.TrustedIssuer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trusted == nil {
		m.trusted = map[string]oauth.TrustedIssuer{}
	}
	if _, ok := m.trusted[ti.Issuer]; ok {
		return alreadyExists(fmt.Sprintf("trusted issuer %q", ti.Issuer))
	}
	m.trusted[ti.Issuer] = copyTrusted(ti)
	return nil
}

// GetTrustedIssuer implements oauth.TrustModel.
func (m *MemModel) GetTrustedIssuer(_ context.Context, issuer string) (*oauth.TrustedIssuer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ti, ok := m.trusted[issuer]
	if !ok {
		return nil, notFound(fmt.Sprintf("trusted issuer %q", issuer))
	}
	cp := copyTrusted(ti)
	return &cp, nil
}
