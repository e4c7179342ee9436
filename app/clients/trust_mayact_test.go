package clients

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

// may_act naming a client the acting developer does not own is trust
// only an admin gives (SPEC.md §7.4): with it, a token of that client
// reaching the developer's app (sent to its API, say) would get tokens
// saying that client acts for its user. A developer lists their own
// clients freely, and keeps or removes what an admin listed.
func TestCheckTrustMayAct(t *testing.T) {
	t.Parallel()
	dev := Actor{Role: models.RoleDeveloper, UserID: 7, owns: map[string]bool{"mine": true}}
	unlooked := Actor{Role: models.RoleDeveloper, UserID: 7} // Owning not called: nothing counts as owned
	mayAct := func(ids ...string) Input { in := input(code); in.MayAct = ids; return in }
	const refused = "Only an admin can let a client act with the tokens of a client you do not own"
	cases := []struct {
		name   string
		actor  Actor
		before *Input
		in     Input
		want   string // "" when allowed
	}{
		{"developer, new client listing an admin's client", dev, nil, mayAct("payroll"), refused + ` ("payroll")`},
		{"developer, new client listing their own client", dev, nil, mayAct("mine"), ""},
		{"developer adds another's client", dev, ptr(mayAct("mine")), mayAct("mine", "payroll"), `("payroll")`},
		{"developer keeps what an admin listed", dev, ptr(mayAct("payroll")), mayAct("payroll"), ""},
		{"developer keeps it and adds their own", dev, ptr(mayAct("payroll")), mayAct("mine", "payroll"), ""},
		{"developer keeps one and adds two of others'", dev, ptr(mayAct("payroll")), mayAct("hr", "payroll", "crm"), `("crm" and "hr")`},
		{"developer removes what an admin listed", dev, ptr(mayAct("payroll", "hr")), mayAct("hr"), ""},
		{"developer whose clients were not looked up", unlooked, nil, mayAct("mine"), refused},
		{"admin lists anyone's", admin, ptr(mayAct()), mayAct("payroll", "mine"), ""},
		{"operator lists anyone's", Operator, nil, mayAct("payroll"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := CheckTrust(tc.actor, tc.before, tc.in, trustScopes)
			if tc.want == "" {
				if errs != nil {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[FieldMayAct], tc.want) {
				t.Fatalf("errors %v, want may_act %q", errs, tc.want)
			}
		})
	}
}

// Owning finds which listed clients the developer owns: not those of
// another owner, nor those of nobody (the command line's); admins need no
// lookup; a storage failure is returned.
func TestActorOwning(t *testing.T) {
	t.Parallel()
	seven, eight := int64(7), int64(8)
	st := &fakeStore{created: []*models.Client{{ClientID: "mine", OwnerID: &seven}, {ClientID: "theirs", OwnerID: &eight}, {ClientID: "nobodys"}}}
	a, err := Actor{Role: models.RoleDeveloper, UserID: 7}.Owning(context.Background(), st, []string{"mine", "theirs", "nobodys", "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.owns) != 1 || !a.owns["mine"] {
		t.Fatalf("owns %v, want only mine", a.owns)
	}
	if a, err := admin.Owning(context.Background(), failingGetter{}, []string{"mine"}); err != nil || a.owns != nil {
		t.Fatalf("admin: %v %v", a.owns, err)
	}
	if _, err := (Actor{Role: models.RoleDeveloper, UserID: 7}).Owning(context.Background(), failingGetter{}, []string{"mine"}); err == nil {
		t.Fatal("a storage failure was not returned")
	}
}

type failingGetter struct{}

func (failingGetter) GetClient(context.Context, string) (*models.Client, error) {
	return nil, errors.New("database is down")
}

// CreateAs looks up (as Edit does) which may_act clients the developer owns
// before checking trust: a developer registers a client acting with
// their own client's tokens, not with another owner's; an admin may.
func TestCreateAsMayActOwnership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seven, eight := int64(7), int64(8)
	st := &fakeStore{created: []*models.Client{{ClientID: "mine", OwnerID: &seven}, {ClientID: "payroll", OwnerID: &eight}}}
	dev := Actor{Role: models.RoleDeveloper, UserID: 7}
	in := valid()
	in.MayAct = []string{"payroll"}
	if _, _, errs, err := CreateAs(ctx, st, dev, in, &seven); !errors.Is(err, ErrInvalid) || !strings.Contains(errs[FieldMayAct], `("payroll")`) {
		t.Fatalf("developer listing another's client: %v %v", err, errs)
	}
	in.MayAct = []string{"mine"}
	if _, _, errs, err := CreateAs(ctx, st, dev, in, &seven); err != nil {
		t.Fatalf("developer listing their own client: %v %v", err, errs)
	}
	in.MayAct = []string{"payroll"}
	if _, _, errs, err := CreateAs(ctx, st, admin, in, &seven); err != nil {
		t.Fatalf("admin: %v %v", err, errs)
	}
}
