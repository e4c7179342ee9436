package resources

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

const issuer = "https://id.example.com"

func valid() Input {
	return Input{URI: " https://files.example.com ", Name: " Files ", Description: " Our users' files. ", Icon: " fa-folder "}
}

func TestCheckNormalizes(t *testing.T) {
	t.Parallel()
	in, errs := Check(issuer, valid(), true)
	if len(errs) != 0 {
		t.Fatalf("valid input refused: %v", errs)
	}
	want := Input{URI: "https://files.example.com", Name: "Files", Description: "Our users' files.", Icon: "fa-solid fa-folder"}
	if in != want {
		t.Fatalf("checked %+v, want %+v", in, want)
	}
	if again, errs := Check(issuer, in, true); len(errs) != 0 || again != in {
		t.Errorf("checking the checked input again: %+v %v", again, errs)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	httpsOnly := "Use https: plain http is only for loopback hosts (localhost, 127.0.0.1, [::1])."
	cases := []struct {
		name  string
		mod   func(*Input)
		field string // "" when valid
		want  string // the whole message, or "" for any
		uri   string // the canonical URI when valid ("" to skip)
	}{
		{"canonical spelling", func(in *Input) { in.URI = "HTTPS://Files.Example.COM:443/" }, "", "", "https://files.example.com"},
		{"path kept", func(in *Input) { in.URI = "https://api.example.com/mcp/" }, "", "", "https://api.example.com/mcp"},
		{"port kept", func(in *Input) { in.URI = "https://api.example.com:8443" }, "", "", "https://api.example.com:8443"},
		{"query kept", func(in *Input) { in.URI = "https://api.example.com/v1?tenant=a" }, "", "", "https://api.example.com/v1?tenant=a"},
		{"http localhost", func(in *Input) { in.URI = "http://localhost:3000/mcp" }, "", "", "http://localhost:3000/mcp"},
		{"http 127.0.0.1", func(in *Input) { in.URI = "http://127.0.0.1:8080" }, "", "", "http://127.0.0.1:8080"},
		{"http ::1", func(in *Input) { in.URI = "http://[::1]:8080" }, "", "", "http://[::1]:8080"},
		{"http default port dropped", func(in *Input) { in.URI = "http://localhost:80/" }, "", "", "http://localhost"},
		{"http elsewhere", func(in *Input) { in.URI = "http://api.example.com" }, FieldURI, httpsOnly, ""},
		{"http private address", func(in *Input) { in.URI = "http://10.0.0.1" }, FieldURI, httpsOnly, ""},
		{"empty", func(in *Input) { in.URI = " " }, FieldURI, "Enter the resource's URI, such as https://api.example.com.", ""},
		{"relative", func(in *Input) { in.URI = "/api" }, FieldURI, "A resource must be an absolute URI such as https://api.example.com.", ""},
		{"no scheme", func(in *Input) { in.URI = "api.example.com" }, FieldURI, "", ""},
		{"fragment", func(in *Input) { in.URI = "https://api.example.com/#x" }, FieldURI, "A resource must not contain a fragment (RFC 8707 §2).", ""},
		{"user info", func(in *Input) { in.URI = "https://u:p@api.example.com" }, FieldURI, "A resource must not contain a user name or password.", ""},
		{"other scheme", func(in *Input) { in.URI = "urn:example:api" }, FieldURI, "", ""},
		{"ftp", func(in *Input) { in.URI = "ftp://api.example.com" }, FieldURI, "A resource must be an https (or http) URI.", ""},
		{"space", func(in *Input) { in.URI = "https://api.example.com/a b" }, FieldURI, "A resource must not contain spaces or control characters.", ""},
		{"long", func(in *Input) { in.URI = "https://api.example.com/" + strings.Repeat("a", 2000) }, FieldURI, "A resource is at most 2000 characters.", ""},
		{"built in", func(in *Input) { in.URI = issuer + "/api" }, FieldURI, MsgBuiltin, ""},
		{"built in, other spelling", func(in *Input) { in.URI = "HTTPS://ID.EXAMPLE.COM:443/api/" }, FieldURI, MsgBuiltin, ""},
		{"below the built-in one", func(in *Input) { in.URI = issuer + "/api/user" }, "", "", issuer + "/api/user"},
		{"no name", func(in *Input) { in.Name = " " }, FieldName, "Give the resource a name.", ""},
		{"long name", func(in *Input) { in.Name = strings.Repeat("é", 101) }, FieldName, "Use at most 100 characters on one line.", ""},
		{"name of 100 runes", func(in *Input) { in.Name = strings.Repeat("é", 100) }, "", "", ""},
		{"name on two lines", func(in *Input) { in.Name = "a\nb" }, FieldName, "Use at most 100 characters on one line.", ""},
		{"long description", func(in *Input) { in.Description = strings.Repeat("x", 501) }, FieldDescription, "Use at most 500 characters.", ""},
		{"description on lines", func(in *Input) { in.Description = "a\nb" }, "", "", ""},
		{"NUL in description", func(in *Input) { in.Description = "a\x00b" }, FieldDescription, "Use at most 500 characters.", ""},
		{"invalid UTF-8", func(in *Input) { in.Description = "a\xffb" }, FieldDescription, "Use at most 500 characters.", ""},
		{"no icon", func(in *Input) { in.Icon = "" }, "", "", ""},
		{"image icon", func(in *Input) { in.Icon = "https://example.com/i.png" }, "", "", ""},
		{"unknown icon", func(in *Input) { in.Icon = "fa-not-an-icon" }, FieldIcon, "Font Awesome has no icon called fa-not-an-icon. Find names at fontawesome.com/icons (free icons only).", ""},
		{"icon injection", func(in *Input) { in.Icon = `fa-solid" onmouseover="x` }, FieldIcon, "", ""},
		{"svg icon", func(in *Input) { in.Icon = "https://example.com/i.svg" }, FieldIcon, "", ""},
		{"http icon", func(in *Input) { in.Icon = "http://example.com/i.png" }, FieldIcon, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.mod(&in)
			got, errs := Check(issuer, in, true)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				if tc.uri != "" && got.URI != tc.uri {
					t.Errorf("URI %q, want %q", got.URI, tc.uri)
				}
				return
			}
			if len(errs) != 1 || errs[tc.field] == "" {
				t.Fatalf("errors %q, want one on %s", errs, tc.field)
			}
			if tc.want != "" && errs[tc.field] != tc.want {
				t.Errorf("message %q, want %q", errs[tc.field], tc.want)
			}
		})
	}
}

// An existing resource keeps its URI: an update does not check it.
func TestCheckExistingIgnoresURI(t *testing.T) {
	t.Parallel()
	in := valid()
	in.URI = "nonsense"
	if _, errs := Check(issuer, in, false); len(errs) != 0 {
		t.Errorf("update refused: %v", errs)
	}
}

// fakeStore keeps resources by URI and scopes' resources, refusing
// deletion as the store does.
type fakeStore struct {
	res    map[string]*models.Resource
	scopes []models.Scope
}

func newFake() *fakeStore { return &fakeStore{res: map[string]*models.Resource{}} }

func (f *fakeStore) CreateResource(_ context.Context, r *models.Resource) error {
	if f.res[r.URI] != nil {
		return store.ErrAlreadyExists
	}
	r.ID = int64(len(f.res) + 1)
	f.res[r.URI] = r
	return nil
}

func (f *fakeStore) UpdateResource(_ context.Context, uri string, fn func(*models.Resource) error) error {
	r := f.res[uri]
	if r == nil {
		return store.ErrNotFound
	}
	x := *r
	if err := fn(&x); err != nil {
		return err
	}
	*r = x
	return nil
}

func (f *fakeStore) DeleteResource(_ context.Context, uri string) error {
	if f.res[uri] == nil {
		return store.ErrNotFound
	}
	var ids []string
	for _, sc := range f.scopes {
		if sc.Resource == uri {
			ids = append(ids, sc.ScopeID)
		}
	}
	if len(ids) > 0 {
		return &models.ResourceInUseError{URI: uri, Scopes: ids}
	}
	delete(f.res, uri)
	return nil
}

func (f *fakeStore) ListResources(context.Context) ([]models.Resource, error) {
	var out []models.Resource
	for _, r := range f.res {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b models.Resource) int { return strings.Compare(a.URI, b.URI) })
	return out, nil
}

func (f *fakeStore) ListScopes(context.Context) ([]models.Scope, error) { return f.scopes, nil }

func TestCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFake()
	r, errs, err := Create(ctx, st, issuer, valid())
	if err != nil || errs != nil {
		t.Fatal(err, errs)
	}
	if r.URI != "https://files.example.com" || r.Name != "Files" || r.Icon != "fa-solid fa-folder" || st.res[r.URI] != r {
		t.Fatalf("created %+v", r)
	}
	if d := Details(r); !maps.Equal(d, map[string]string{"name": "Files", "icon": "fa-solid fa-folder"}) {
		t.Errorf("Details %v", d)
	}
	// The same resource in another spelling is a duplicate.
	for _, uri := range []string{"https://files.example.com", "HTTPS://FILES.example.com:443/", "https://files.example.com/"} {
		in := valid()
		in.URI = uri
		if _, errs, err := Create(ctx, st, issuer, in); !errors.Is(err, ErrInvalid) || errs[FieldURI] != MsgRegistered {
			t.Errorf("duplicate %s: %v %v", uri, err, errs)
		}
	}
	// Distinct: another path, port, scheme.
	for _, uri := range []string{"https://files.example.com/v2", "https://files.example.com:8443", "http://localhost/files"} {
		in := valid()
		in.URI = uri
		if _, _, err := Create(ctx, st, issuer, in); err != nil {
			t.Errorf("%s: %v", uri, err)
		}
	}
	// The built-in one, and bad input, store nothing.
	n := len(st.res)
	for _, uri := range []string{issuer + "/api", "http://files.example.org", "files"} {
		in := valid()
		in.URI = uri
		if _, errs, err := Create(ctx, st, issuer, in); !errors.Is(err, ErrInvalid) || errs[FieldURI] == "" {
			t.Errorf("%s: %v %v", uri, err, errs)
		}
	}
	if len(st.res) != n {
		t.Errorf("refused input stored: %d resources, want %d", len(st.res), n)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFake()
	if _, _, err := Create(ctx, st, issuer, valid()); err != nil {
		t.Fatal(err)
	}
	up := Input{URI: "https://elsewhere.example.com", Name: "Files API", Description: "Our users' files.", Icon: "fa-solid fa-folder"}
	before, after, errs, err := Update(ctx, st, issuer, "https://files.example.com", up)
	if err != nil || errs != nil {
		t.Fatal(err, errs)
	}
	if after.URI != "https://files.example.com" || after.Name != "Files API" || st.res["https://elsewhere.example.com"] != nil {
		t.Fatalf("after %+v", after)
	}
	if ch := Changes(&before, &after); !maps.Equal(ch, map[string]string{"name": "Files → Files API"}) {
		t.Errorf("Changes %v", ch)
	}
	up.Name = ""
	if _, _, errs, err := Update(ctx, st, issuer, "https://files.example.com", up); !errors.Is(err, ErrInvalid) || errs[FieldName] == "" || st.res["https://files.example.com"].Name != "Files API" {
		t.Errorf("invalid update: %v %v", err, errs)
	}
	if _, _, _, err := Update(ctx, st, issuer, "https://gone.example.com", valid()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

func TestDeleteAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFake()
	if _, _, err := Create(ctx, st, issuer, valid()); err != nil {
		t.Fatal(err)
	}
	in := valid()
	in.URI, in.Name = "https://mail.example.com", "Mail"
	if _, _, err := Create(ctx, st, issuer, in); err != nil {
		t.Fatal(err)
	}
	st.scopes = []models.Scope{
		{ScopeID: "files.read", Resource: "https://files.example.com"},
		{ScopeID: "files.write", Resource: "https://files.example.com"},
		{ScopeID: "openid"},
		{ScopeID: "user.read", Resource: oauth.BuiltinResourcePath},
	}
	list, err := List(ctx, st, issuer)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.URI+" "+strings.Join(e.Scopes, ","))
	}
	want := []string{issuer + "/api user.read", "https://files.example.com files.read,files.write", "https://mail.example.com "}
	if !slices.Equal(got, want) || !list[0].Builtin || list[1].Builtin || list[0].Name != "Gatehouse API" {
		t.Errorf("List = %q, want %q (the built-in one first)", got, want)
	}

	// Refused while scopes belong to it, in any spelling.
	_, err = Delete(ctx, st, issuer, "HTTPS://files.example.com/")
	var inUse *models.ResourceInUseError
	if !errors.As(err, &inUse) || !slices.Equal(inUse.Scopes, []string{"files.read", "files.write"}) || st.res["https://files.example.com"] == nil {
		t.Fatalf("delete in use: %v", err)
	}
	if msg := InUseMessage(inUse); msg != "2 scopes still belong to it: files.read, files.write. Move them to another resource (or none), or delete them, first." {
		t.Errorf("InUseMessage: %q", msg)
	}
	if msg := InUseMessage(&models.ResourceInUseError{Scopes: []string{"a"}}); msg != "1 scope still belongs to it: a. Move it to another resource (or none), or delete it, first." {
		t.Errorf("InUseMessage of one: %q", msg)
	}
	if _, err := Delete(ctx, st, issuer, issuer+"/api"); !errors.Is(err, ErrBuiltin) {
		t.Errorf("delete built in: %v", err)
	}
	if _, err := Delete(ctx, st, issuer, "not a uri"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete malformed: %v", err)
	}
	uri, err := Delete(ctx, st, issuer, "https://MAIL.example.com:443")
	if err != nil || uri != "https://mail.example.com" || st.res[uri] != nil {
		t.Errorf("delete: %q %v", uri, err)
	}
}
