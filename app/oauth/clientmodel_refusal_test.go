package oauth_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// refusingModel refuses one client ID with a reason, as a Client ID
// Metadata Document model does for a document that fails validation.
type refusingModel struct{ oauth.Model }

const refusedID = "https://refused.example/client.json"

func (m refusingModel) GetClient(ctx context.Context, id string) (*oauth.Client, error) {
	if id == refusedID {
		return nil, oauth.ErrInvalidClient.WithDescription("the application's client metadata document was refused: the reason")
	}
	return m.Model.GetClient(ctx, id)
}

// A client the model refuses with a reason (an *oauth.Error from
// GetClient) gets the authorization error page, never a redirect, with
// that reason; at the token endpoint it is invalid_client with the reason;
// at the logout endpoint the same error.
func TestClientModelRefusal(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil, func(o *oauth.Options) { o.Model = refusingModel{o.Model} })
	_, err := c.Server.ParseAuthorizeRequest(context.Background(), oauthtest.AuthorizeParams(refusedID, "https://client.example/cb"))
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) || ae.Redirect || ae.Err.Code != "invalid_client" || !strings.Contains(ae.Err.Description, "the reason") {
		t.Fatalf("authorize: %v, want a non-redirected invalid_client with the reason", err)
	}
	_, err = c.Token(refusedID, "", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {oauthtest.Verifier}})
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || oe.Status != 401 || !strings.Contains(oe.Description, "the reason") {
		t.Fatalf("token: %v, want invalid_client with the reason", err)
	}
	_, err = c.Server.ParseLogoutRequest(context.Background(), url.Values{"client_id": {refusedID}})
	if !errors.As(err, &oe) || oe.Code != "invalid_client" {
		t.Fatalf("logout: %v, want invalid_client", err)
	}
}
