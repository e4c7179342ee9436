package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// The UserInfo endpoint (userinfo.go, OIDC Core §5.3) without HTTP.

// Rule 35: UserInfo needs a token issued for a user with openid; its
// answer is sub and the claims of the granted scopes (profile: name and
// preferred_username; email: email and email_verified).
func TestRule35_UserInfo(t *testing.T) {
	t.Parallel()
	alice := &oauth.User{ID: 1, Subject: "sub-alice", Username: "alice", Name: "Alice Liddell", Email: "alice@example.com", EmailVerified: true}
	unverified := &oauth.User{ID: 2, Subject: "sub-bob", Username: "bob", Name: "Bob", Email: "bob@example.com"}
	noEmail := &oauth.User{ID: 3, Subject: "sub-carol", Username: "carol"}
	cases := []struct {
		name   string
		user   *oauth.User
		scopes []string
		want   string // the JSON answer; "" for an error
		needed []string
	}{
		{name: "openid", user: alice, scopes: []string{"openid"}, want: `{"sub":"sub-alice"}`},
		{name: "openid profile", user: alice, scopes: []string{"openid", "profile"},
			want: `{"sub":"sub-alice","name":"Alice Liddell","preferred_username":"alice"}`},
		{name: "openid email", user: alice, scopes: []string{"email", "openid"},
			want: `{"sub":"sub-alice","email":"alice@example.com","email_verified":true}`},
		{name: "unverified email", user: unverified, scopes: []string{"email", "openid"},
			want: `{"sub":"sub-bob","email":"bob@example.com","email_verified":false}`},
		{name: "email scope, no email", user: noEmail, scopes: []string{"email", "openid"}, want: `{"sub":"sub-carol"}`},
		{name: "every scope", user: alice, scopes: []string{"email", "offline_access", "openid", "profile", "user.read"},
			want: `{"sub":"sub-alice","name":"Alice Liddell","preferred_username":"alice","email":"alice@example.com","email_verified":true}`},
		{name: "without openid", user: alice, scopes: []string{"email", "profile"}, needed: []string{"openid"}},
		{name: "without a user (client credentials)", scopes: []string{"openid"}},
	}
	s := oauthtest.NewCore(t, nil).Server
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.UserInfo(&oauth.Access{Token: &oauth.Token{}, User: tc.user, Scopes: tc.scopes})
			if tc.want == "" {
				var se *oauth.ScopeError
				if !errors.As(err, &se) || se.Err.Code != "insufficient_scope" || se.Err.Status != 403 || !slices.Equal(se.Needed, tc.needed) {
					t.Fatalf("got %+v %v, want insufficient_scope needing %v", resp, err, tc.needed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(resp); string(b) != tc.want {
				t.Errorf("answer %s\n  want %s", b, tc.want)
			}
		})
	}
}

// Rule 35: UserInfo's sub equals the ID token's, for the token issued
// with it.
func TestRule35_UserInfoSubjectIsTheIDTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, oauthtest.WithSigner)
	resp := f.codeTokens("openid profile")
	var id oauth.IDTokenClaims
	f.c.Claims(resp.IDToken, oauth.TypeIDToken, &id)
	a, err := f.c.Server.AuthenticateAccessToken(context.Background(), resp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.c.Server.UserInfo(a)
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != id.Subject || info.Subject != f.user.Subject || info.PreferredUsername != "alice" || info.Email != "" {
		t.Errorf("userinfo %+v, ID token sub %q", info, id.Subject)
	}
}
