package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// fakeStore has the users alice and deploy, the seeded scopes and a
// deploy scope; it registers issuers in memory.
type fakeStore struct {
	mu      sync.Mutex
	issuers map[string]*models.TrustedIssuer
	fail    error
}

func (f *fakeStore) GetUserByUsername(_ context.Context, u string) (*models.User, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	if u == "alice" || u == "deploy" {
		return &models.User{Username: u}, nil
	}
	return nil, fmt.Errorf("user %q: %w", u, store.ErrNotFound)
}

func (f *fakeStore) ListScopes(context.Context) ([]models.Scope, error) {
	var out []models.Scope
	for _, id := range []string{"deploy", "email", "offline_access", "openid", "profile", "user.read"} {
		out = append(out, models.Scope{ScopeID: id})
	}
	return out, nil
}

func (f *fakeStore) CreateTrustedIssuer(_ context.Context, ti *models.TrustedIssuer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.issuers == nil {
		f.issuers = map[string]*models.TrustedIssuer{}
	}
	if _, ok := f.issuers[ti.Issuer]; ok {
		return fmt.Errorf("trusted issuer: %w", store.ErrAlreadyExists)
	}
	f.issuers[ti.Issuer] = ti
	return nil
}

func keySet(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	keysOnce         sync.Once
	rsaKey, rsaSmall *rsa.PrivateKey
	ecKey, ec384     *ecdsa.PrivateKey
	edPub            ed25519.PublicKey
	keyErr           error
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		if rsaKey, keyErr = rsa.GenerateKey(rand.Reader, 2048); keyErr != nil {
			return
		}
		if rsaSmall, keyErr = rsa.GenerateKey(rand.Reader, 1024); keyErr != nil {
			return
		}
		if ecKey, keyErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); keyErr != nil {
			return
		}
		if ec384, keyErr = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); keyErr != nil {
			return
		}
		edPub, _, keyErr = ed25519.GenerateKey(rand.Reader)
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
}

func valid(t *testing.T) Input {
	testKeys(t)
	return Input{Issuer: " https://ci.example.com ", Name: " CI ", JWKS: keySet(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"}),
		Subjects: []string{" repo:acme/app=Deploy ", "", "svc-1 = alice"}, Scopes: []string{"openid", " deploy ", "openid"}}
}

func TestCheckValid(t *testing.T) {
	t.Parallel()
	ti, errs, err := Check(t.Context(), &fakeStore{}, valid(t))
	if err != nil || len(errs) != 0 {
		t.Fatalf("valid input refused: %v %v", errs, err)
	}
	if ti.Issuer != "https://ci.example.com" || ti.Name != "CI" || ti.JWKSURI != "" || ti.MaxLifetimeSeconds != 3600 {
		t.Errorf("checked %+v", ti)
	}
	if got := strings.Join(SubjectLines(ti), ","); got != "repo:acme/app=deploy,svc-1=alice" {
		t.Errorf("subjects %q", got)
	}
	if got := strings.Join(ti.Scopes, ","); got != "deploy,openid" {
		t.Errorf("scopes %q", got)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(ti.JWKS), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "k1" {
		t.Errorf("stored JWKS %s: %v", ti.JWKS, err)
	}
}

func TestCheckRules(t *testing.T) {
	t.Parallel()
	testKeys(t)
	rsaPub := jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "r"}
	cases := []struct {
		name  string
		mod   func(*Input)
		field string // "" when valid
		want  string // a fragment of the message
	}{
		{"plain string issuer", func(in *Input) { in.Issuer = "my-ci" }, "", ""},
		{"no issuer", func(in *Input) { in.Issuer = "  " }, FieldIssuer, "Enter the issuer"},
		{"issuer too long", func(in *Input) { in.Issuer = strings.Repeat("a", 256) }, FieldIssuer, "at most 255"},
		{"issuer 255", func(in *Input) { in.Issuer = strings.Repeat("é", 255) }, "", ""},
		{"issuer two lines", func(in *Input) { in.Issuer = "a\nb" }, FieldIssuer, "one line"},
		{"issuer invalid UTF-8", func(in *Input) { in.Issuer = "a\xffb" }, FieldIssuer, "one line"},
		{"name too long", func(in *Input) { in.Name = strings.Repeat("n", 101) }, FieldName, "at most 100"},
		{"no name", func(in *Input) { in.Name = "" }, "", ""},
		{"no keys", func(in *Input) { in.JWKS = "" }, FieldJWKS, MsgNoKeys},
		{"both keys", func(in *Input) { in.JWKSURI = "https://ci.example.com/jwks" }, FieldJWKS, MsgBothKeys},
		{"jwks uri", func(in *Input) { in.JWKS, in.JWKSURI = "", "https://ci.example.com/.well-known/jwks" }, "", ""},
		{"jwks uri loopback http", func(in *Input) { in.JWKS, in.JWKSURI = "", "http://127.0.0.1:8080/jwks" }, FieldJWKSURI, "GATEHOUSE_ALLOW_PRIVATE_FETCH=1"},
		{"jwks uri http, private fetch", func(in *Input) { in.JWKS, in.JWKSURI, in.PrivateFetch = "", "http://ci.internal/jwks", true }, "", ""},
		{"jwks uri http", func(in *Input) { in.JWKS, in.JWKSURI = "", "http://ci.example.com/jwks" }, FieldJWKSURI, "must use https"},
		{"jwks uri relative", func(in *Input) { in.JWKS, in.JWKSURI = "", "/jwks" }, FieldJWKSURI, "absolute URL"},
		{"jwks uri userinfo", func(in *Input) { in.JWKS, in.JWKSURI = "", "https://u:p@ci.example.com/jwks" }, FieldJWKSURI, "user name"},
		{"jwks uri fragment", func(in *Input) { in.JWKS, in.JWKSURI = "", "https://ci.example.com/jwks#x" }, FieldJWKSURI, "fragment"},
		{"jwks uri ftp", func(in *Input) { in.JWKS, in.JWKSURI = "", "ftp://ci.example.com/jwks" }, FieldJWKSURI, "must use https"},
		{"jwks not JSON", func(in *Input) { in.JWKS = "{keys" }, FieldJWKS, "not valid JSON"},
		{"jwks single key", func(in *Input) { b, _ := json.Marshal(rsaPub); in.JWKS = string(b) }, "", ""}, // a set of one
		{"jwks private and a URL", func(in *Input) {
			in.JWKS, in.JWKSURI = keySet(t, jose.JSONWebKey{Key: ecKey, KeyID: "p"}), "https://ci.example.com/jwks"
		}, FieldJWKS, "is a private key"},
		{"jwks empty", func(in *Input) { in.JWKS = `{"keys":[]}` }, FieldJWKS, "no keys"},
		{"jwks private RSA", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: rsaKey, KeyID: "p"}) }, FieldJWKS, "is a private key"},
		{"jwks private EC", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: ecKey, KeyID: "p"}) }, FieldJWKS, "is a private key"},
		{"jwks symmetric", func(in *Input) {
			in.JWKS = keySet(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "h"})
		}, FieldJWKS, "is a symmetric key"},
		{"jwks small RSA", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: &rsaSmall.PublicKey}) }, FieldJWKS, "1024 bits"},
		{"jwks P-384", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: &ec384.PublicKey}) }, FieldJWKS, "P-256"},
		{"jwks P-256", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: &ecKey.PublicKey}) }, "", ""},
		{"jwks Ed25519", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: edPub}) }, "", ""},
		{"jwks enc key", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, Use: "enc"}) }, FieldJWKS, `"enc"`},
		{"jwks HS256 alg", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, Algorithm: "HS256"}) }, FieldJWKS, "alg HS256"},
		{"jwks RS384 alg", func(in *Input) { in.JWKS = keySet(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, Algorithm: "RS384"}) }, FieldJWKS, "alg RS384"},
		{"jwks duplicate kid", func(in *Input) { in.JWKS = keySet(t, rsaPub, jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "r"}) }, FieldJWKS, `Two keys have kid "r"`},
		{"jwks several without kid", func(in *Input) { in.JWKS = keySet(t, rsaPub, jose.JSONWebKey{Key: &ecKey.PublicKey}) }, FieldJWKS, "give each one a kid"},
		{"jwks two keys", func(in *Input) { in.JWKS = keySet(t, rsaPub, jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "e"}) }, "", ""},
		{"jwks too big", func(in *Input) { in.JWKS = `{"keys":[],"x":"` + strings.Repeat("a", MaxJWKSBytes) + `"}` }, FieldJWKS, "KiB"},
		{"no subjects", func(in *Input) { in.Subjects = []string{" ", ""} }, FieldSubjects, "at least one subject"},
		{"subject without =", func(in *Input) { in.Subjects = []string{"alice"} }, FieldSubjects, "SUB=USERNAME"},
		{"subject empty sub", func(in *Input) { in.Subjects = []string{"=alice"} }, FieldSubjects, "no subject"},
		{"subject empty user", func(in *Input) { in.Subjects = []string{"s="} }, FieldSubjects, "no username"},
		{"subject with = inside", func(in *Input) { in.Subjects = []string{"a=b=alice"} }, "", ""},
		{"subject wildcard", func(in *Input) { in.Subjects = []string{"*=alice"} }, FieldSubjects, "no wildcard"},
		{"subject twice", func(in *Input) { in.Subjects = []string{"s=alice", "s=deploy"} }, FieldSubjects, "mapped twice"},
		{"two subjects one user", func(in *Input) { in.Subjects = []string{"s1=alice", "s2=alice"} }, "", ""},
		{"unknown user", func(in *Input) { in.Subjects = []string{"s=bob", "t=alice", "u=carol"} }, FieldSubjects, `No user "bob" or "carol"`},
		{"invalid username", func(in *Input) { in.Subjects = []string{"s=A B"} }, FieldSubjects, `No user "a b"`},
		{"subject too long", func(in *Input) { in.Subjects = []string{strings.Repeat("s", 256) + "=alice"} }, FieldSubjects, "at most 255"},
		{"subject control", func(in *Input) { in.Subjects = []string{"a\tb=alice"} }, FieldSubjects, "one line"},
		{"too many subjects", func(in *Input) {
			in.Subjects = nil
			for i := range MaxSubjects + 1 {
				in.Subjects = append(in.Subjects, fmt.Sprintf("s%d=alice", i))
			}
		}, FieldSubjects, "At most 100"},
		{"no scopes", func(in *Input) { in.Scopes = nil }, FieldScopes, "at least one scope"},
		{"unknown scope", func(in *Input) { in.Scopes = []string{"openid", "admin"} }, FieldScopes, `No scope "admin"`},
		{"offline_access", func(in *Input) { in.Scopes = []string{"offline_access", "openid"} }, FieldScopes, "never issues refresh tokens"},
		{"lifetime 10m", func(in *Input) { in.MaxLifetime = "10m" }, "", ""},
		{"lifetime 24h", func(in *Input) { in.MaxLifetime = "24h" }, "", ""},
		{"lifetime 1m", func(in *Input) { in.MaxLifetime = "1m" }, "", ""},
		{"lifetime 59s", func(in *Input) { in.MaxLifetime = "59s" }, FieldMaxLifetime, "1m to 24h"},
		{"lifetime 25h", func(in *Input) { in.MaxLifetime = "25h" }, FieldMaxLifetime, "1m to 24h"},
		{"lifetime negative", func(in *Input) { in.MaxLifetime = "-1h" }, FieldMaxLifetime, "1m to 24h"},
		{"lifetime no unit", func(in *Input) { in.MaxLifetime = "3600" }, FieldMaxLifetime, "Add a unit"},
		{"lifetime junk", func(in *Input) { in.MaxLifetime = "soon" }, FieldMaxLifetime, "not a duration"},
		{"lifetime fraction", func(in *Input) { in.MaxLifetime = "90.5s" }, FieldMaxLifetime, "whole seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := valid(t)
			tc.mod(&in)
			_, errs, err := Check(t.Context(), &fakeStore{}, in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[tc.field], tc.want) {
				t.Fatalf("errors %v, want only %s containing %q", errs, tc.field, tc.want)
			}
		})
	}
}

func TestCheckLookupFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("database down")
	if _, _, err := Check(t.Context(), &fakeStore{fail: boom}, valid(t)); !errors.Is(err, boom) {
		t.Fatalf("err %v, want the lookup's", err)
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	ti, errs, err := Create(t.Context(), st, valid(t))
	if err != nil || errs != nil || ti.Issuer != "https://ci.example.com" {
		t.Fatalf("Create: %+v %v %v", ti, errs, err)
	}
	_, errs, err = Create(t.Context(), st, valid(t))
	if !errors.Is(err, ErrInvalid) || errs[FieldIssuer] != MsgRegistered {
		t.Fatalf("second Create: %v %v", errs, err)
	}
	in := valid(t)
	in.Scopes = nil
	if _, errs, err = Create(t.Context(), st, in); !errors.Is(err, ErrInvalid) || errs[FieldScopes] == "" {
		t.Fatalf("invalid Create: %v %v", errs, err)
	}
	d := Details(ti)
	if d["subjects"] != "repo:acme/app=deploy svc-1=alice" || d["scopes"] != "deploy openid" || d["max_lifetime"] != "1h0m0s" || d["keys"] != "jwks" {
		t.Errorf("Details %v", d)
	}
	if KeysLabel(ti) != "JWK Set, 1 key" {
		t.Errorf("KeysLabel %q", KeysLabel(ti))
	}
}
