package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// testResourceCRUD: resources are keyed by their URI, which cannot change;
// the seeded user.read belongs to the built-in resource.
func testResourceCRUD(t *testing.T, s *models.Store) {
	ctx := t.Context()
	list, err := s.ListResources(ctx)
	ok(t, err)
	eq(t, "no resource registered", len(list), 0)
	ur, err := s.GetScope(ctx, "user.read")
	ok(t, err)
	eq(t, "user.read belongs to the built-in resource", ur.Resource, oauth.BuiltinResourcePath)

	r := &models.Resource{URI: "https://files.example.com", Name: "Files", Description: "Fichiers", Icon: "fa-solid fa-folder"}
	ok(t, s.CreateResource(ctx, r))
	if r.ID == 0 {
		t.Fatal("CreateResource set no ID")
	}
	got, err := s.GetResource(ctx, r.URI)
	ok(t, err)
	eq(t, "resource", *got, *r)
	got, err = s.GetResourceByID(ctx, r.ID)
	ok(t, err)
	eq(t, "resource by ID", *got, *r)
	isErr(t, s.CreateResource(ctx, &models.Resource{URI: "https://files.example.com", Name: "dup"}), store.ErrAlreadyExists)
	ok(t, s.CreateResource(ctx, &models.Resource{URI: "https://a.example.com", Name: "A"}))
	list, err = s.ListResources(ctx)
	ok(t, err)
	eq(t, "resources by URI", pluck(list, func(r models.Resource) string { return r.URI }), []string{"https://a.example.com", "https://files.example.com"})

	ok(t, s.UpdateResource(ctx, r.URI, func(x *models.Resource) error {
		x.Name, x.Description, x.Icon = "Files API", "", ""
		return nil
	}))
	got, err = s.GetResource(ctx, r.URI)
	ok(t, err)
	eq(t, "updated", [3]string{got.Name, got.Description, got.Icon}, [3]string{"Files API", "", ""})
	boom := errors.New("boom")
	isErr(t, s.UpdateResource(ctx, r.URI, func(x *models.Resource) error { x.Name = "never"; return boom }), boom)
	if err := s.UpdateResource(ctx, r.URI, func(x *models.Resource) error { x.URI = "https://b.example.com"; return nil }); err == nil {
		t.Error("UpdateResource changed the URI")
	}
	got, err = s.GetResource(ctx, r.URI)
	ok(t, err)
	eq(t, "name after refused updates", got.Name, "Files API")
	isErr(t, s.UpdateResource(ctx, "https://nope.example.com", func(*models.Resource) error { return nil }), store.ErrNotFound)
	_, err = s.GetResource(ctx, "https://nope.example.com")
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetResourceByID(ctx, 999999)
	isErr(t, err, store.ErrNotFound)

	ok(t, s.DeleteResource(ctx, "https://a.example.com"))
	isErr(t, s.DeleteResource(ctx, "https://a.example.com"), store.ErrNotFound)
}

// testResourceScopes: a scope's resource is stored and must exist; a
// resource cannot be deleted while scopes belong to it.
func testResourceScopes(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const files = "https://files.example.com"
	ok(t, s.CreateResource(ctx, &models.Resource{URI: files, Name: "Files"}))

	sc := &models.Scope{ScopeID: "files.read", Name: "Read files", Resource: files}
	ok(t, s.CreateScope(ctx, sc))
	got, err := s.GetScope(ctx, "files.read")
	ok(t, err)
	eq(t, "stored resource", got.Resource, files)
	ok(t, s.CreateScope(ctx, &models.Scope{ScopeID: "me", Name: "Me", Resource: oauth.BuiltinResourcePath}))

	// An unregistered resource is refused, on create and on update.
	err = s.CreateScope(ctx, &models.Scope{ScopeID: "mail.read", Name: "Mail", Resource: "https://mail.example.com"})
	var unknown *models.UnknownResourceError
	if !errors.As(err, &unknown) || unknown.URI != "https://mail.example.com" {
		t.Fatalf("scope of an unregistered resource: %v", err)
	}
	_, err = s.GetScope(ctx, "mail.read")
	isErr(t, err, store.ErrNotFound)
	err = s.UpdateScope(ctx, "me", func(x *models.Scope) error { x.Resource = "https://mail.example.com"; return nil })
	if !errors.As(err, &unknown) {
		t.Fatalf("update to an unregistered resource: %v", err)
	}
	got, err = s.GetScope(ctx, "me")
	ok(t, err)
	eq(t, "resource after refused update", got.Resource, oauth.BuiltinResourcePath)

	// In use: refused, naming the scopes; nothing changes.
	ok(t, s.UpdateScope(ctx, "me", func(x *models.Scope) error { x.Resource = files; return nil }))
	err = s.DeleteResource(ctx, files)
	var inUse *models.ResourceInUseError
	if !errors.As(err, &inUse) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete in use: %v", err)
	}
	eq(t, "scopes in the refusal", inUse.Scopes, []string{"files.read", "me"})
	_, err = s.GetResource(ctx, files)
	ok(t, err)

	// Moved away and deleted: then deletable.
	ok(t, s.UpdateScope(ctx, "me", func(x *models.Scope) error { x.Resource = ""; return nil }))
	ok(t, s.DeleteScope(ctx, "files.read"))
	ok(t, s.DeleteResource(ctx, files))
}

// testResourceDeleteRace: scopes joining a resource while it is deleted
// either join before (and the deletion is refused) or find it gone; no
// scope is ever left naming a deleted resource.
func testResourceDeleteRace(t *testing.T, s *models.Store) {
	ctx := t.Context()
	for round := range 5 {
		uri := fmt.Sprintf("https://r%d.example.com", round)
		ok(t, s.CreateResource(ctx, &models.Resource{URI: uri, Name: "R"}))
		const n = 6
		errs := oauthtest.Concurrently(n, func(i int) error {
			if i == 0 {
				return s.DeleteResource(ctx, uri)
			}
			return s.CreateScope(ctx, &models.Scope{ScopeID: fmt.Sprintf("r%d.s%d", round, i), Name: "S", Resource: uri})
		})
		_, gone := s.GetResource(ctx, uri)
		n0 := count(t, s, "scopes", "resource = ?", uri)
		if errors.Is(gone, store.ErrNotFound) && n0 > 0 {
			t.Fatalf("round %d: %d scopes name the deleted resource (errors %v)", round, n0, errs)
		}
		if gone == nil && errs[0] == nil {
			t.Fatalf("round %d: deletion succeeded but the resource is still there", round)
		}
	}
}
