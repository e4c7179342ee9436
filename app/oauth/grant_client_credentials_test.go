package oauth_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of the client credentials grant (grant_client_credentials.go;
// RFC 6749 §4.4, rules 30 and 51).

// machineTestScopes: two machine scopes (one of them default), a scope
// guarding an admin panel that is not a machine scope, and a default scope
// that is not one either (user.read, built in).
var machineTestScopes = []oauth.Scope{
	{ID: "files.write", ResourcePath: "/files/*", Method: "PUT", Machine: true},
	{ID: "reports.read", ResourcePath: "/reports/*", Method: "GET", Machine: true, Default: true},
	{ID: "admin.panel", ResourcePath: "/admin/*", Method: "*"},
}

var ccGrants = []string{oauth.GrantClientCredentials, oauth.GrantRefreshToken, oauth.GrantTokenExchange}

// ccForm is a client_credentials request, with scope when not empty.
func ccForm(scope string) url.Values {
	v := form("grant_type", oauth.GrantClientCredentials)
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
	t.Parallel()
	c := oauthtest.NewCore(t, machineTestScopes)
	anyID, anySec := c.Client(oauth.Client{GrantTypes: ccGrants}) // empty list: "any scope" for users only
	listID, listSec := c.Client(oauth.Client{GrantTypes: ccGrants, Scopes: []string{"files.write", "admin.panel", "openid", "user.read"}})
	defID, defSec := c.Client(oauth.Client{GrantTypes: ccGrants, Scopes: []string{"files.write", "reports.read"}})
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
		{"list, malformed scope", listID, listSec, `files"write`, "", "malformed scope"},
		{"default machine scope it lists is added", defID, defSec, "files.write", "files.write reports.read", ""},
		{"no scope: every listed machine scope", defID, defSec, "", "files.write reports.read", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Token(tc.id, tc.sec, ccForm(tc.scope))
			if tc.wantErr != "" {
				if resp != nil {
					t.Fatalf("answered %+v", resp)
				}
				oauthtest.WantError(t, err, "invalid_scope", tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			// Rule 30: no refresh token, even for a client with the
			// refresh grant; a Bearer token for the access token lifetime.
			if resp.Scope != tc.want || resp.RefreshToken != "" || resp.IDToken != "" || resp.TokenType != "Bearer" || resp.ExpiresIn != 3600 {
				t.Fatalf("response %+v, want scope %q and no refresh token", resp, tc.want)
			}
			if st := c.StoredToken(resp.AccessToken); st.UserID != nil || st.Scope != tc.want || st.ClientID != tc.id || st.AuthTime != nil || st.FamilyID == "" {
				t.Fatalf("stored token: %+v", st)
			}
		})
	}
}

// Rule 30: confidential clients only. A public client is refused even
// when it was given the grant type.
func TestRule30_ClientCredentialsConfidentialOnly(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, machineTestScopes)
	pub, _ := c.Client(oauth.Client{Public: true, GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"files.write"}})
	_, err := c.Token(pub, "", ccForm(""))
	oauthtest.WantError(t, err, "unauthorized_client", "public clients cannot use the client_credentials grant")
}

// Rule 51, exhaustively: whatever a client lists and asks for, a token
// without a user never carries a scope without the machine flag nor one
// the client does not list.
func TestRule51_NoClientCredentialsTokenCarriesOtherScopes(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, machineTestScopes)
	all, err := c.Model.ListScopes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	machine := map[string]bool{}
	for _, sc := range all {
		ids = append(ids, sc.ID)
		machine[sc.ID] = sc.Machine
	}
	// Every subset of the scopes as the client's list, and every subset
	// as the request (8 scopes: 256 × 256 requests would be slow; lists
	// and requests are drawn from the same subsets, 64 of each).
	var subsets [][]string
	for mask := 0; mask < 1<<len(ids); mask += 4 {
		var s []string
		for i, id := range ids {
			if mask&(1<<i) != 0 {
				s = append(s, id)
			}
		}
		subsets = append(subsets, s)
	}
	issued := 0
	for _, list := range subsets {
		id, sec := c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: list})
		for _, req := range subsets {
			resp, err := c.Token(id, sec, ccForm(strings.Join(req, " ")))
			if err != nil {
				if oauthtest.Code(err) != "invalid_scope" {
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

// A token without a user reaches resources with its machine scopes only:
// one issued before the upgrade that brought the flag, or before an admin
// took a scope's flag away, loses the other scopes at use (rule 51).
func TestRule51_UserlessTokenUsesOnlyMachineScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := oauthtest.NewCore(t, machineTestScopes)
	id, _ := c.Client(oauth.Client{GrantTypes: ccGrants, Scopes: []string{"files.write", "admin.panel"}})
	legacy := c.SeedToken(oauth.Token{ClientID: id, Scope: "admin.panel files.write"})
	a, err := c.Server.AuthenticateAccessToken(ctx, legacy)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Scopes, []string{"files.write"}) {
		t.Fatalf("scopes at use: %v, want only the machine scope", a.Scopes)
	}
	var se *oauth.ScopeError
	if err := c.Server.CheckResource(ctx, a, "GET", "/admin/users"); !errors.As(err, &se) {
		t.Fatalf("the non-machine scope still opens /admin: %v", err)
	}
	if err := c.Server.CheckResource(ctx, a, "PUT", "/files/x"); err != nil {
		t.Fatalf("the machine scope no longer opens /files: %v", err)
	}
	// An admin takes the flag away: the scope stops working at once.
	if err := c.Model.UpdateScope("files.write", func(sc *oauth.Scope) error { sc.Machine = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if a, err := c.Server.AuthenticateAccessToken(ctx, legacy); err != nil || len(a.Scopes) != 0 {
		t.Fatalf("after the flag was taken away: %v %v", a, err)
	}
	// Tokens of users keep every scope they were granted.
	u := c.User("u7", "pw")
	userTok := c.SeedToken(oauth.Token{ClientID: id, UserID: &u.ID, Scope: "admin.panel user.read"})
	if a, err := c.Server.AuthenticateAccessToken(ctx, userTok); err != nil || !slices.Equal(a.Scopes, []string{"admin.panel", "user.read"}) {
		t.Fatalf("a user's token: %v %v", a, err)
	}
}
