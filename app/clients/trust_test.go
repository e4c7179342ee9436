package clients

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

var trustScopes = []models.Scope{
	{ScopeID: "openid"}, {ScopeID: "user.read", IsDefault: true},
	{ScopeID: "files.write", Machine: true}, {ScopeID: "billing.write", Machine: true},
}

var (
	developer = Actor{Role: models.RoleDeveloper}
	admin     = Actor{Role: models.RoleAdmin}
)

func input(grants []string, scopes ...string) Input {
	return Input{Name: "Svc", RedirectURIs: []string{"https://app.example.com/cb"}, GrantTypes: grants, Scopes: scopes}
}

var (
	code     = []string{"authorization_code", "refresh_token"}
	cc       = []string{"authorization_code", "client_credentials"}
	password = []string{"authorization_code", "password"}
)

// SPEC.md §7.1: only an admin gives a client the password grant, or
// client credentials together with machine scopes. A developer keeps and
// may remove what an admin gave, and cannot add to it.
func TestCheckTrust(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		before *Input
		in     Input
		field  string // "" when allowed
		want   string
	}{
		{"new client without trust", nil, input(cc, "openid", "user.read"), "", ""},
		{"new client with a machine scope but no client credentials", nil, input(code, "files.write"), "", ""},
		{"new client with the password grant", nil, input(password), FieldGrantTypes, "Only an admin can give a client the resource owner password grant"},
		{"new client with client credentials and a machine scope", nil, input(cc, "openid", "files.write"), FieldGrantTypes, `lists machine scopes ("files.write")`},
		{"new client with client credentials and an empty list", nil, input(cc), "", ""},
		{"adding the password grant", ptr(input(code)), input(password), FieldGrantTypes, "password grant"},
		{"keeping the password grant an admin gave", ptr(input(password)), input(password), "", ""},
		{"removing the password grant", ptr(input(password)), input(code), "", ""},
		{"adding a machine scope to a client-credentials client", ptr(input(cc, "files.write")), input(cc, "files.write", "billing.write"), FieldScopes, `untick "billing.write"`},
		{"adding client credentials to a client listing machine scopes", ptr(input(code, "files.write", "billing.write")), input(cc, "files.write", "billing.write"), FieldGrantTypes, `("billing.write" and "files.write")`},
		{"keeping machine scopes an admin gave, editing the name", ptr(input(cc, "files.write")), func() Input { in := input(cc, "files.write"); in.Name = "Renamed"; return in }(), "", ""},
		{"removing a machine scope", ptr(input(cc, "files.write", "billing.write")), input(cc, "files.write"), "", ""},
		{"removing client credentials", ptr(input(cc, "files.write")), input(code, "files.write"), "", ""},
		{"re-adding client credentials removed before", ptr(input(code, "files.write")), input(cc, "files.write"), FieldGrantTypes, "Only an admin can give client credentials"},
		{"non-machine scopes with client credentials", ptr(input(cc)), input(cc, "openid", "user.read"), "", ""},
		{"both at once", ptr(input(code)), input([]string{"client_credentials", "password"}, "files.write"), FieldGrantTypes, "password grant: with it the app collects users' passwords. Leave it out, or ask an admin. Only an admin can give client credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if errs := CheckTrust(admin, c.before, c.in, trustScopes); errs != nil {
				t.Errorf("an admin was refused: %v", errs)
			}
			if errs := CheckTrust(Operator, c.before, c.in, trustScopes); errs != nil {
				t.Errorf("the operator was refused: %v", errs)
			}
			errs := CheckTrust(developer, c.before, c.in, trustScopes)
			if c.field == "" {
				if errs != nil {
					t.Fatalf("a developer was refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[c.field], c.want) {
				t.Fatalf("errs = %v, want %s mentioning %q", errs, c.field, c.want)
			}
		})
	}
}

func ptr(in Input) *Input { return &in }

func TestTrustOf(t *testing.T) {
	t.Parallel()
	m := MachineScopes(trustScopes)
	if got := TrustOf(input(cc, "openid", "files.write", "billing.write"), m); got.Password || !slices.Equal(got.Machine, []string{"billing.write", "files.write"}) {
		t.Errorf("client credentials with machine scopes: %+v", got)
	}
	if got := TrustOf(input(nil, "files.write"), m); got.Password || got.Machine != nil {
		t.Errorf("default grants: %+v", got)
	}
	pub := input(cc, "files.write")
	pub.Public = true
	if got := TrustOf(pub, m); got.Machine != nil {
		t.Errorf("public clients have no client credentials: %+v", got)
	}
}

// trustStore is a Store and UpdateStore over one map.
type trustStore struct {
	clients map[string]*models.Client
}

func (s *trustStore) ListScopes(context.Context) ([]models.Scope, error) {
	return slices.Clone(trustScopes), nil
}

func (s *trustStore) CreateClient(_ context.Context, c *models.Client) error {
	s.clients[c.ClientID] = c
	return nil
}

func (s *trustStore) GetClient(_ context.Context, id string) (*models.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	cp := *c
	return &cp, nil
}

func (s *trustStore) UpdateClient(_ context.Context, id string, fn func(*models.Client) error) error {
	c, ok := s.clients[id]
	if !ok {
		return store.ErrNotFound
	}
	cp := *c
	if err := fn(&cp); err != nil {
		return err
	}
	s.clients[id] = &cp
	return nil
}

// The service enforces the rule for every caller: a developer's create or
// update that adds trust is refused with nothing saved; the operator's
// (the CLI's) goes through.
func TestCreateAndUpdateEnforceTrust(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	owner := int64(3)
	if _, _, errs, err := CreateAs(ctx, st, developer, input(password), &owner); !errors.Is(err, ErrInvalid) || errs[FieldGrantTypes] == "" {
		t.Fatalf("developer created a password client: %v %v", err, errs)
	}
	if _, _, errs, err := CreateAs(ctx, st, developer, input(cc, "files.write"), &owner); !errors.Is(err, ErrInvalid) || errs[FieldGrantTypes] == "" {
		t.Fatalf("developer created a trusted client-credentials client: %v %v", err, errs)
	}
	if len(st.clients) != 0 {
		t.Fatalf("refused clients were stored: %v", st.clients)
	}
	// The admin (here the operator) gives trust; the developer edits.
	c, _, errs, err := Create(ctx, st, input(cc, "files.write"), &owner)
	if err != nil {
		t.Fatal(err, errs)
	}
	renamed := input(cc, "files.write")
	renamed.Name = "Renamed"
	if saved, errs, err := Update(ctx, st, developer, c.ClientID, renamed); err != nil || saved.Before.Name != "Svc" {
		t.Fatalf("developer kept the admin's trust: %v %v %+v", err, errs, saved.Before)
	}
	wider := input(cc, "files.write", "billing.write")
	_, errs, err = Update(ctx, st, developer, c.ClientID, wider)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(errs[FieldScopes], "billing.write") {
		t.Fatalf("developer added a machine scope: %v %v", err, errs)
	}
	if got := st.clients[c.ClientID]; got.Name != "Renamed" || !slices.Equal(got.Scopes, []string{"files.write"}) {
		t.Fatalf("stored %+v", got)
	}
	if _, errs, err := Update(ctx, st, admin, c.ClientID, wider); err != nil {
		t.Fatalf("admin refused: %v %v", err, errs)
	}
	if _, _, err := Update(ctx, st, admin, "nope", wider); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}
