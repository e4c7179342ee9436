package models_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// The model opens the sealed secret of a client_secret_jwt client into
// oauth.Client.SecretKey (purpose client-secret, additional data the
// client ID) — and of no other client; a secret sealed under another key
// secret or for another client gives none.
func TestOAuthModelOpensClientSecretJWT(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := models.New(dbtest.Open(t, dbtest.SQLiteURL(t)))
	sealer := secret.NewClientSecretSealer("the key secret")
	rows := []*models.Client{
		{ClientID: "csj", Name: "A", TokenEndpointAuthMethod: oauth.AuthSecretJWT, SecretSealed: sealer.Seal("csj", "s3cret")},
		{ClientID: "basic", Name: "B", TokenEndpointAuthMethod: oauth.AuthSecretBasic, SecretSealed: sealer.Seal("basic", "s3cret")},
		{ClientID: "moved", Name: "C", TokenEndpointAuthMethod: oauth.AuthSecretJWT, SecretSealed: sealer.Seal("csj", "s3cret")},
		{ClientID: "otherkey", Name: "D", TokenEndpointAuthMethod: oauth.AuthSecretJWT, SecretSealed: secret.NewClientSecretSealer("old").Seal("otherkey", "s3cret")},
		{ClientID: "pkj", Name: "E", TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKSURI: "https://client.example/jwks", JWKS: `{"keys":[]}`},
	}
	for _, r := range rows {
		if err := st.CreateClient(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	plain := models.OAuthModel{S: st, Secrets: sealer}
	cached := models.NewCachedOAuthModel(st, cache.NewVersions(st))
	cached.Secrets = sealer
	for name, m := range map[string]oauth.ClientModel{"OAuthModel": plain, "CachedOAuthModel": cached} {
		want := map[string]string{"csj": "s3cret", "basic": "", "moved": "", "otherkey": "", "pkj": ""}
		for id, w := range want {
			c, err := m.GetClient(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.SecretKey) != w {
				t.Errorf("%s %s: SecretKey %q, want %q", name, id, c.SecretKey, w)
			}
		}
		c, _ := m.GetClient(ctx, "pkj")
		if c.TokenEndpointAuthMethod != oauth.AuthPrivateKeyJWT || c.JWKSURI != "https://client.example/jwks" || c.JWKS != `{"keys":[]}` {
			t.Errorf("%s pkj: %+v", name, c)
		}
	}
	// Without a sealer, no secret.
	if c, _ := (models.OAuthModel{S: st}).GetClient(ctx, "csj"); c.SecretKey != nil {
		t.Error("SecretKey without a sealer")
	}
}
