package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// A client that described itself (dynamic registration, a metadata
// document) loses its users' consents when its redirect URIs gain one, so
// that remembered consent and prompt=none cannot send codes to an address
// the users never saw; dropping a URI, or any change of an admin-made
// client, keeps them.
func TestConsentsDroppedWhenASelfDescribedClientGainsARedirectURI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		ctx := context.Background()
		u := &models.User{Subject: "s-alice", Username: "alice", Role: models.RoleUser}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		consented := func(clientID string) bool {
			t.Helper()
			_, err := st.GetConsent(ctx, u.ID, clientID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		mk := func(id, registration string, uris ...string) {
			t.Helper()
			c := &models.Client{ClientID: id, Name: id, Public: true, RedirectURIs: uris, Registration: registration}
			if err := st.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := st.UpsertConsent(ctx, u.ID, id, "openid"); err != nil {
				t.Fatal(err)
			}
		}
		set := func(id string, uris ...string) {
			t.Helper()
			if err := st.UpdateClient(ctx, id, func(c *models.Client) error { c.RedirectURIs = uris; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		mk("dyn", models.ClientRegisteredDynamic, "https://a.example/cb", "https://b.example/cb")
		mk("admin", models.ClientRegisteredByAdmin, "https://a.example/cb")

		set("dyn", "https://a.example/cb") // one fewer: kept
		if !consented("dyn") {
			t.Fatal("dropping a redirect URI dropped the consent")
		}
		set("admin", "https://a.example/cb", "https://evil.example/cb")
		if !consented("admin") {
			t.Fatal("an admin's edit dropped the consent")
		}
		set("dyn", "https://a.example/cb", "https://evil.example/cb")
		if consented("dyn") {
			t.Fatal("a new redirect URI of a registered client kept the consent")
		}

		// A metadata document refreshed with a new redirect URI.
		exp := time.Now().Add(time.Hour)
		doc := func(uris ...string) *models.Client {
			return &models.Client{ClientID: "https://app.example/c.json", Name: "Doc", Public: true, RedirectURIs: uris,
				Registration: models.ClientMetadataDocument, MetadataExpiresAt: &exp}
		}
		if ok, err := st.UpsertMetadataClient(ctx, doc("https://app.example/cb")); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := st.UpsertConsent(ctx, u.ID, "https://app.example/c.json", "openid"); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.UpsertMetadataClient(ctx, doc("https://app.example/cb")); !ok || err != nil || !consented("https://app.example/c.json") {
			t.Fatal("the same document dropped the consent", ok, err)
		}
		if ok, err := st.UpsertMetadataClient(ctx, doc("https://app.example/cb", "https://evil.example/cb")); !ok || err != nil || consented("https://app.example/c.json") {
			t.Fatal("a document with a new redirect URI kept the consent", ok, err)
		}
	})
}
