package storetest

import (
	"testing"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// testTrustedIssuerCRUD: trusted issuers (JWT bearer grant) are keyed by
// their exact iss, listed by it, and deleted by it; the subjects map and
// the scopes list round-trip through the JSON columns.
func testTrustedIssuerCRUD(t *testing.T, s *models.Store) {
	ctx := t.Context()
	list, err := s.ListTrustedIssuers(ctx)
	ok(t, err)
	eq(t, "none registered", len(list), 0)

	ti := &models.TrustedIssuer{Issuer: "https://token.actions.example.com", Name: "CI", JWKSURI: "https://token.actions.example.com/jwks",
		Subjects: map[string]string{"repo:acme/app:ref:refs/heads/main": "deploy", "ünïcode": "alice"}, Scopes: []string{"deploy", "openid"},
		MaxLifetimeSeconds: 600}
	ok(t, s.CreateTrustedIssuer(ctx, ti))
	if ti.ID == 0 {
		t.Fatal("CreateTrustedIssuer set no ID")
	}
	got, err := s.GetTrustedIssuer(ctx, ti.Issuer)
	ok(t, err)
	eq(t, "trusted issuer", *got, *ti)
	got, err = s.GetTrustedIssuerByID(ctx, ti.ID)
	ok(t, err)
	eq(t, "trusted issuer by ID", *got, *ti)
	isErr(t, s.CreateTrustedIssuer(ctx, &models.TrustedIssuer{Issuer: ti.Issuer, JWKS: `{"keys":[]}`, MaxLifetimeSeconds: 60}), store.ErrAlreadyExists)

	// No subjects or scopes: empty, not nil, both ways.
	bare := &models.TrustedIssuer{Issuer: "a-plain-string-issuer", JWKS: `{"keys":[]}`, MaxLifetimeSeconds: 3600}
	ok(t, s.CreateTrustedIssuer(ctx, bare))
	got, err = s.GetTrustedIssuer(ctx, bare.Issuer)
	ok(t, err)
	eq(t, "bare issuer", *got, *bare)
	if got.Subjects == nil || got.Scopes == nil {
		t.Errorf("empty subjects/scopes read back as nil: %#v %#v", got.Subjects, got.Scopes)
	}

	list, err = s.ListTrustedIssuers(ctx)
	ok(t, err)
	eq(t, "by issuer", pluck(list, func(x models.TrustedIssuer) string { return x.Issuer }), []string{"a-plain-string-issuer", "https://token.actions.example.com"})

	_, err = s.GetTrustedIssuer(ctx, "https://token.actions.example.com/")
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetTrustedIssuerByID(ctx, 999999)
	isErr(t, err, store.ErrNotFound)
	isErr(t, s.DeleteTrustedIssuer(ctx, "https://nope.example.com"), store.ErrNotFound)
	ok(t, s.DeleteTrustedIssuer(ctx, ti.Issuer))
	_, err = s.GetTrustedIssuer(ctx, ti.Issuer)
	isErr(t, err, store.ErrNotFound)
	isErr(t, s.DeleteTrustedIssuer(ctx, ti.Issuer), store.ErrNotFound)
	// Registering it again after the deletion works.
	ok(t, s.CreateTrustedIssuer(ctx, &models.TrustedIssuer{Issuer: ti.Issuer, JWKSURI: ti.JWKSURI, MaxLifetimeSeconds: 60}))
}
