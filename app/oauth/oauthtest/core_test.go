package oauthtest_test

import (
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// The fixture carries a code through the core: a confidential client
// redeems a code for tokens; a second redemption is invalid_grant.
func TestCoreFixtureCodeFlow(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil)
	id, sec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}})
	u := c.User("alice", "pw")
	code := c.Code(u, url.Values{"client_id": {id}, "response_type": {"code"}, "state": {"s"}, "scope": {"user.read offline_access"}})
	form := url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code}}
	resp, err := c.Token(id, sec, form)
	if err != nil || resp.AccessToken == "" || resp.RefreshToken == "" {
		t.Fatalf("code exchange: %+v %v", resp, err)
	}
	if _, err := c.Token(id, sec, form); oauthtest.Code(err) != "invalid_grant" {
		t.Fatalf("second redemption: %v", err)
	}
}
