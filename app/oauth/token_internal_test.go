package oauth

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The one test of token.go that needs the unexported issueTokens: no
// grant reachable through Server.Token can ask it for what it must
// refuse. (The other tests are in package oauth_test, on oauthtest.Core,
// which this package cannot import.)

// issueModel is what issueTokens uses of a Model for a token response
// without ID token or JWT: the scopes, and somewhere to store tokens.
type issueModel struct {
	Model
	scopes []Scope
	saved  []*Token
}

func (m *issueModel) ListScopes(context.Context) ([]Scope, error) { return m.scopes, nil }

func (m *issueModel) SaveTokens(_ context.Context, tokens ...*Token) error {
	m.saved = append(m.saved, tokens...)
	return nil
}

// Whichever grant asks, issueTokens refuses a token without a user that
// would carry a non-machine or unlisted scope (rule 51): the last line of
// defence for grants added later.
func TestIssueTokensRefusesUserlessNonMachineScope(t *testing.T) {
	t.Parallel()
	m := &issueModel{scopes: []Scope{
		{ID: "files.write", Machine: true}, {ID: "reports.read", Machine: true, Default: true}, {ID: "admin.panel"}, {ID: "user.read", Default: true},
	}}
	s := New(Options{Issuer: "https://gatehouse.test", Model: m, Policy: Policy{}})
	pol := Policy{AccessTokenLifetime: time.Hour}
	client := &Client{ID: "machine", Scopes: []string{"files.write", "admin.panel"}}
	ctx := context.Background()
	for scope, want := range map[string]string{"admin.panel": "not a machine scope", "reports.read": "not listed", "files.write user.read": "not a machine scope"} {
		if _, err := s.issueTokens(ctx, issue{pol: pol, client: client, scope: scope}); err == nil || AsError(err).Code != "invalid_scope" ||
			!strings.Contains(AsError(err).Description, want) {
			t.Errorf("scope %q: %v, want invalid_scope mentioning %q", scope, err, want)
		}
	}
	if len(m.saved) != 0 {
		t.Fatalf("refused tokens stored: %+v", m.saved)
	}
	if resp, err := s.issueTokens(ctx, issue{pol: pol, client: client, scope: "files.write"}); err != nil || resp.Scope != "files.write" {
		t.Fatalf("machine scope: %+v %v", resp, err)
	}
	// With a user, any scope the grant validated goes through.
	uid := int64(7)
	if _, err := s.issueTokens(ctx, issue{pol: pol, client: client, userID: &uid, scope: "admin.panel"}); err != nil {
		t.Fatalf("user token: %v", err)
	}
}
