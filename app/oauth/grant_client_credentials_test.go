package oauth

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
)

// machineTestScopes: two machine scopes (one of them default), a scope
// guarding an admin panel that is not a machine scope, and a default scope
// that is not one either (user.read, built in).
var machineTestScopes = []Scope{
	{ID: "files.write", ResourcePath: "/files/*", Method: "PUT", Machine: true},
	{ID: "reports.read", ResourcePath: "/reports/*", Method: "GET", Machine: true, Default: true},
	{ID: "admin.panel", ResourcePath: "/admin/*", Method: "*"},
}

var ccGrants = []string{GrantClientCredentials, GrantRefreshToken, GrantTokenExchange}

// ccForm is a client_credentials request, with scope when not empty.
func ccForm(scope string) url.Values {
	v := url.Values{"grant_type": {GrantClientCredentials}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// Rule 51 (SPEC.md §7.1): a client_credentials request gets only machine
// scopes that the client lists explicitly; an empty list grants none;
// without scope it gets every such scope; anything else is invalid_scope
// saying why.
func TestRule51_ClientCredentialsGetsOnlyListedMachineScopes(t *testing.T) {
	f := newCoreFixture(t, machineTestScopes...)
	anyID, anySec := f.client(ccGrants) // empty list: "any scope" for users only
	listID, listSec := f.client(ccGrants, "files.write", "admin.panel", "openid", "user.read")
	defID, defSec := f.client(ccGrants, "files.write", "reports.read")
	cases := []struct {
		name, id, sec, scope string
		want                 string // granted scope; "" with wantErr unset means no scope
		wantErr              string // part of the invalid_scope description
	}{
		{"empty list, no scope: no scope at all", anyID, anySec, "", "", ""},
		{"empty list, non-machine scope", anyID, anySec, "admin.panel", "", "not a machine scope"},
		{"empty list, machine scope it does not list", anyID, anySec, "files.write", "", "not listed for this client"},
		{"empty list, default non-machine scope", anyID, anySec, "user.read", "", "not a machine scope"},
		{"empty list, unknown scope", anyID, anySec, "nope", "", "unknown scope"},
		{"list, no scope: its machine scopes only", listID, listSec, "", "files.write", ""},
		{"list, listed machine scope", listID, listSec, "files.write", "files.write", ""},
		{"list, listed non-machine scope", listID, listSec, "admin.panel", "", `"admin.panel" is not a machine scope`},
		{"list, OIDC scope", listID, listSec, "openid files.write", "", `"openid" is not a machine scope`},
		{"list, machine scope it does not list", listID, listSec, "reports.read", "", `"reports.read" is not listed`},
		{"default machine scope it lists is added", defID, defSec, "files.write", "files.write reports.read", ""},
		{"no scope: every listed machine scope", defID, defSec, "", "files.write reports.read", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := f.token(c.id, c.sec, ccForm(c.scope))
			if c.wantErr != "" {
				if err == nil || AsError(err).Code != "invalid_scope" || !strings.Contains(AsError(err).Description, c.wantErr) {
					t.Fatalf("got %+v, %v; want invalid_scope mentioning %q", resp, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if resp.Scope != c.want || resp.RefreshToken != "" {
				t.Fatalf("scope %q refresh %q, want scope %q and no refresh token", resp.Scope, resp.RefreshToken, c.want)
			}
			if st := f.stored(resp.AccessToken); st.UserID != nil || st.Scope != c.want {
				t.Fatalf("stored token: user %v scope %q", st.UserID, st.Scope)
			}
		})
	}
}

// Rule 51, exhaustively: whatever a client lists and asks for, a token
// without a user never carries a scope without the machine flag nor one
// the client does not list.
func TestRule51_NoClientCredentialsTokenCarriesOtherScopes(t *testing.T) {
	f := newCoreFixture(t, machineTestScopes...)
	var ids []string
	for _, sc := range f.model.scopes {
		ids = append(ids, sc.ID)
	}
	machine := map[string]bool{}
	for _, sc := range f.model.scopes {
		machine[sc.ID] = sc.Machine
	}
	// Every subset of the scopes as the client's list, and every subset
	// as the request (8 scopes: 256 × 256 requests would be slow; lists
	// and requests are drawn from the same subsets, 64 of each).
	subsets := func() [][]string {
		var out [][]string
		for mask := 0; mask < 1<<len(ids); mask += 4 {
			var s []string
			for i, id := range ids {
				if mask&(1<<i) != 0 {
					s = append(s, id)
				}
			}
			out = append(out, s)
		}
		return out
	}()
	issued := 0
	for _, list := range subsets {
		id, sec := f.client([]string{GrantClientCredentials}, list...)
		for _, req := range subsets {
			resp, err := f.token(id, sec, ccForm(strings.Join(req, " ")))
			if err != nil {
				if AsError(err).Code != "invalid_scope" {
					t.Fatalf("list %v, request %v: %v", list, req, err)
				}
				continue
			}
			issued++
			for _, got := range strings.Fields(resp.Scope) {
				if !machine[got] || !slices.Contains(list, got) {
					t.Fatalf("list %v, request %v: token carries %q (machine %v)", list, req, got, machine[got])
				}
			}
		}
	}
	if issued == 0 {
		t.Fatal("no token was issued at all")
	}
}

// Token exchange of a client-credentials token (RFC 8693) yields only
// machine scopes the client still lists: asking for another is
// invalid_scope; scopes the subject token carried that the client may no
// longer have are dropped.
func TestTokenExchangeOfClientCredentialsTokenKeepsToMachineScopes(t *testing.T) {
	f := newCoreFixture(t, machineTestScopes...)
	id, sec := f.client(ccGrants, "files.write", "admin.panel")
	cc, err := f.token(id, sec, ccForm("files.write"))
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(subject, scope string) (*TokenResponse, error) {
		v := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {TokenTypeAccessToken}}
		if scope != "" {
			v.Set("scope", scope)
		}
		return f.token(id, sec, v)
	}
	if resp, err := exchange(cc.AccessToken, "admin.panel"); err == nil || AsError(err).Code != "invalid_scope" {
		t.Fatalf("non-machine scope through exchange: %+v %v", resp, err)
	}
	if resp, err := exchange(cc.AccessToken, ""); err != nil || resp.Scope != "files.write" {
		t.Fatalf("plain exchange: %+v %v", resp, err)
	}

	// A token issued before the upgrade (or before an admin took the
	// machine flag away) carrying a non-machine scope: the exchange drops
	// it, and naming it is refused with the reason.
	legacy := f.srv.gen.AccessToken()
	if err := f.model.SaveTokens(context.Background(), &Token{Hash: secret.Digest(legacy), Kind: KindAccess, ClientID: id,
		Scope: "admin.panel files.write", FamilyID: "legacy", IssuedAt: f.srv.now(), ExpiresAt: f.srv.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if resp, err := exchange(legacy, "admin.panel"); err == nil || AsError(err).Code != "invalid_scope" || !strings.Contains(AsError(err).Description, "not a machine scope") {
		t.Fatalf("legacy non-machine scope named: %+v %v", resp, err)
	}
	resp, err := exchange(legacy, "")
	if err != nil || resp.Scope != "files.write" {
		t.Fatalf("legacy token exchanged: %+v %v", resp, err)
	}
	if st := f.stored(resp.AccessToken); st.UserID != nil || st.Scope != "files.write" {
		t.Fatalf("stored: %+v", st)
	}

	// The client no longer lists files.write: nothing is left to carry.
	f.model.clients[id].Scopes = []string{"admin.panel"}
	if resp, err := exchange(cc.AccessToken, "files.write"); err == nil || !strings.Contains(AsError(err).Description, "not listed for this client") {
		t.Fatalf("unlisted scope named: %+v %v", resp, err)
	}
	if resp, err := exchange(cc.AccessToken, ""); err != nil || resp.Scope != "" {
		t.Fatalf("unlisted scope dropped: %+v %v", resp, err)
	}
}

// Whichever grant asks, issueTokens refuses a token without a user that
// would carry a non-machine or unlisted scope: the last line of defence
// for grants added later.
func TestIssueTokensRefusesUserlessNonMachineScope(t *testing.T) {
	f := newCoreFixture(t, machineTestScopes...)
	id, _ := f.client(ccGrants, "files.write", "admin.panel")
	pol, _ := f.srv.loadPolicy(context.Background())
	client := f.model.clients[id]
	for scope, want := range map[string]string{"admin.panel": "not a machine scope", "reports.read": "not listed", "files.write user.read": "not a machine scope"} {
		if _, err := f.srv.issueTokens(context.Background(), issue{pol: pol, client: client, scope: scope}); err == nil || !strings.Contains(AsError(err).Description, want) {
			t.Errorf("scope %q: %v, want invalid_scope mentioning %q", scope, err, want)
		}
	}
	if resp, err := f.srv.issueTokens(context.Background(), issue{pol: pol, client: client, scope: "files.write"}); err != nil || resp.Scope != "files.write" {
		t.Fatalf("machine scope: %+v %v", resp, err)
	}
	// With a user, any scope the grant validated goes through.
	uid := int64(7)
	f.model.users[uid] = &User{ID: uid, Subject: "s7", Username: "u"}
	if _, err := f.srv.issueTokens(context.Background(), issue{pol: pol, client: client, userID: &uid, scope: "admin.panel"}); err != nil {
		t.Fatalf("user token: %v", err)
	}
}

// A token without a user reaches resources with its machine scopes only:
// one issued before the upgrade that brought the flag, or before an admin
// took a scope's flag away, loses the other scopes at use (rule 51).
func TestRule51_UserlessTokenUsesOnlyMachineScopes(t *testing.T) {
	f := newCoreFixture(t, machineTestScopes...)
	id, _ := f.client(ccGrants, "files.write", "admin.panel")
	legacy := f.srv.gen.AccessToken()
	if err := f.model.SaveTokens(context.Background(), &Token{Hash: secret.Digest(legacy), Kind: KindAccess, ClientID: id,
		Scope: "admin.panel files.write", FamilyID: "legacy", IssuedAt: f.srv.now(), ExpiresAt: f.srv.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a, err := f.srv.AuthenticateAccessToken(context.Background(), legacy)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Scopes, []string{"files.write"}) {
		t.Fatalf("scopes at use: %v, want only the machine scope", a.Scopes)
	}
	var se *ScopeError
	if err := f.srv.CheckResource(context.Background(), a, "GET", "/admin/users"); !errors.As(err, &se) {
		t.Fatalf("the non-machine scope still opens /admin: %v", err)
	}
	if err := f.srv.CheckResource(context.Background(), a, "PUT", "/files/x"); err != nil {
		t.Fatalf("the machine scope no longer opens /files: %v", err)
	}
	// An admin takes the flag away: the scope stops working at once.
	for i := range f.model.scopes {
		if f.model.scopes[i].ID == "files.write" {
			f.model.scopes[i].Machine = false
		}
	}
	if a, err := f.srv.AuthenticateAccessToken(context.Background(), legacy); err != nil || len(a.Scopes) != 0 {
		t.Fatalf("after the flag was taken away: %v %v", a, err)
	}
	// Tokens of users keep every scope they were granted.
	uid := int64(7)
	f.model.users[uid] = &User{ID: uid, Subject: "s7", Username: "u7"}
	userTok := f.srv.gen.AccessToken()
	if err := f.model.SaveTokens(context.Background(), &Token{Hash: secret.Digest(userTok), Kind: KindAccess, ClientID: id, UserID: &uid,
		Scope: "admin.panel user.read", FamilyID: "user", IssuedAt: f.srv.now(), ExpiresAt: f.srv.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if a, err := f.srv.AuthenticateAccessToken(context.Background(), userTok); err != nil || !slices.Equal(a.Scopes, []string{"admin.panel", "user.read"}) {
		t.Fatalf("a user's token: %v %v", a, err)
	}
}

// revokingModel revokes a family just before tokens of it are stored: a
// revocation (a password change, a revoked app) racing a grant.
type revokingModel struct {
	*memModel
	family string
}

func (m *revokingModel) SaveTokens(ctx context.Context, tokens ...*Token) error {
	if m.family != "" {
		if _, err := m.memModel.RevokeFamily(ctx, m.family, time.Now()); err != nil {
			return err
		}
	}
	return m.memModel.SaveTokens(ctx, tokens...)
}

// A token exchange racing the revocation of the subject token's grant
// leaves no live token in the revoked grant.
func TestTokenExchangeRacingRevocation(t *testing.T) {
	f := newCoreFixture(t, machineTestScopes...)
	id, sec := f.client(ccGrants, "files.write")
	cc, err := f.token(id, sec, ccForm("files.write"))
	if err != nil {
		t.Fatal(err)
	}
	rm := &revokingModel{memModel: f.model, family: f.stored(cc.AccessToken).FamilyID}
	f.srv = New(Options{Issuer: "https://gatehouse.test", Model: rm, Policy: defaultPolicy})
	resp, terr := f.token(id, sec, url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {cc.AccessToken},
		"subject_token_type": {TokenTypeAccessToken}})
	if terr != nil {
		t.Fatal(terr)
	}
	if st := f.stored(resp.AccessToken); st.RevokedAt == nil {
		t.Fatal("the exchanged token lives on in a grant revoked while it was issued")
	}
}
