package oauthtest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
)

// testTrustedIssuer: a registered issuer is found by its exact iss with
// every field; an unknown one (or another spelling) is ErrNotFound; a
// second registration of an issuer is ErrAlreadyExists; callers get
// copies.
func testTrustedIssuer(t *testing.T, f Fixture) {
	ctx := t.Context()
	iss := "https://ci-" + name("") + ".example"
	want := oauth.TrustedIssuer{Issuer: iss, Name: "CI", JWKS: `{"keys":[]}`, Subjects: map[string]string{"repo:acme/app": "deploy", "svc-1": "alice"},
		Scopes: []string{"openid", "profile"}, MaxLifetime: 30 * time.Minute}
	if _, err := f.Model.GetTrustedIssuer(ctx, iss); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown issuer: %v, want ErrNotFound", err)
	}
	ok(t, f.Seed.CreateTrustedIssuer(ctx, want))
	if err := f.Seed.CreateTrustedIssuer(ctx, oauth.TrustedIssuer{Issuer: iss, JWKSURI: "https://x.example/jwks", MaxLifetime: time.Hour}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second registration: %v, want ErrAlreadyExists", err)
	}
	got, err := f.Model.GetTrustedIssuer(ctx, iss)
	ok(t, err)
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetTrustedIssuer = %+v, want %+v", *got, want)
	}
	got.Subjects["evil"] = "admin"
	got.Scopes[0] = "admin"
	again, err := f.Model.GetTrustedIssuer(ctx, iss)
	ok(t, err)
	if !reflect.DeepEqual(*again, want) {
		t.Fatalf("changing a returned issuer changed the stored one: %+v", *again)
	}
	for _, other := range []string{iss + "/", "HTTPS://" + iss[len("https://"):], ""} {
		if _, err := f.Model.GetTrustedIssuer(ctx, other); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTrustedIssuer(%q) = %v, want ErrNotFound (exact match only)", other, err)
		}
	}
}
