package scopes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func valid() Input {
	return Input{ScopeID: " orders.read ", Name: " Read your orders ", Description: " {client_name} will see the orders of {user}. ",
		Icon: " fa-box ", ResourcePath: " /api/orders/* ", Method: " get "}
}

func TestCheckNormalizes(t *testing.T) {
	t.Parallel()
	in, errs := Check(valid(), true)
	if len(errs) != 0 {
		t.Fatalf("valid input refused: %v", errs)
	}
	want := Input{ScopeID: "orders.read", Name: "Read your orders", Description: "{client_name} will see the orders of {user}.",
		Icon: "fa-solid fa-box", ResourcePath: "/api/orders/*", Method: "GET"}
	if in != want {
		t.Fatalf("checked input %+v, want %+v", in, want)
	}
	if again, errs := Check(in, true); len(errs) != 0 || again != in {
		t.Errorf("checking the checked input again: %+v %v", again, errs)
	}
}

// The messages are the dashboard's and the command line's (which reports
// them under its flags' names): app/scopes_test.go and app/cli_test.go
// check them there too.
func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		mod   func(*Input)
		field string // "" when valid
		want  string // the whole message
	}{
		{"ID with a space", func(in *Input) { in.ScopeID = "orders read" }, FieldScopeID, `The scope ID may only contain letters, digits and punctuation other than space, " and \.`},
		{"ID with a quote", func(in *Input) { in.ScopeID = `a"b` }, FieldScopeID, `The scope ID may only contain letters, digits and punctuation other than space, " and \.`},
		{"empty ID", func(in *Input) { in.ScopeID = "" }, FieldScopeID, "The scope ID is empty."},
		{"long ID", func(in *Input) { in.ScopeID = strings.Repeat("x", 65) }, FieldScopeID, "The scope ID is longer than 64 characters."},
		{"ID of 64 characters", func(in *Input) { in.ScopeID = strings.Repeat("x", 64) }, "", ""},
		{"ID with a slash", func(in *Input) { in.ScopeID = "https://api.example.com/orders" }, "", ""},
		{"reserved ID", func(in *Input) { in.ScopeID = "new" }, FieldScopeID, `"new" is reserved by the dashboard; choose another scope ID.`},
		{"no name", func(in *Input) { in.Name = "" }, FieldName, "Give the scope a display name."},
		{"long name", func(in *Input) { in.Name = strings.Repeat("é", 101) }, FieldName, "Use at most 100 characters on one line."},
		{"name of 100 runes", func(in *Input) { in.Name = strings.Repeat("é", 100) }, "", ""},
		{"name on two lines", func(in *Input) { in.Name = "a\nb" }, FieldName, "Use at most 100 characters on one line."},
		{"tab in name", func(in *Input) { in.Name = "a\tb" }, FieldName, "Use at most 100 characters on one line."},
		{"long description", func(in *Input) { in.Description = strings.Repeat("x", 501) }, FieldDescription, "Use at most 500 characters."},
		{"description of 500 runes", func(in *Input) { in.Description = strings.Repeat("é", 500) }, "", ""},
		{"description on lines", func(in *Input) { in.Description = "a\nb" }, "", ""},
		{"NUL in description", func(in *Input) { in.Description = "a\x00b" }, FieldDescription, "Use at most 500 characters."},
		{"invalid UTF-8 in description", func(in *Input) { in.Description = "a\xffb" }, FieldDescription, "Use at most 500 characters."},
		{"no icon", func(in *Input) { in.Icon = "" }, "", ""},
		{"icon with an extra class", func(in *Input) { in.Icon = "fa-solid fa-user fa-spin" }, FieldIcon, "Use one style and one icon, such as fa-solid fa-user."},
		{"two icons", func(in *Input) { in.Icon = "fa-user fa-box" }, FieldIcon, "Use one style and one icon, such as fa-solid fa-user."},
		{"icon injection", func(in *Input) { in.Icon = `fa-solid" onmouseover="x` }, FieldIcon, "Use a Font Awesome class such as fa-solid fa-user, or an https:// image address."},
		{"javascript icon", func(in *Input) { in.Icon = "javascript:alert(1)" }, FieldIcon, "Use a Font Awesome class such as fa-solid fa-user, or an https:// image address."},
		{"http icon", func(in *Input) { in.Icon = "http://example.com/a.png" }, FieldIcon, "Use an https:// address of an image, such as https://example.com/icon.png."},
		{"icon URL with a quote", func(in *Input) { in.Icon = "https://example.com/a'.png" }, FieldIcon, "Use an https:// address of an image, such as https://example.com/icon.png."},
		{"unknown icon", func(in *Input) { in.Icon = "fa-solid fa-not-an-icon" }, FieldIcon, "Font Awesome has no icon called fa-not-an-icon. Find names at fontawesome.com/icons (free icons only)."},
		{"style only", func(in *Input) { in.Icon = "fa-regular" }, FieldIcon, "Add the icon's name, such as fa-user."},
		{"SVG icon", func(in *Input) { in.Icon = "https://example.com/logo.svg" }, FieldIcon, "SVG images are not accepted as icons (they can carry scripts). Use the address of a PNG, JPEG or WebP image."},
		{"SVG icon with a query", func(in *Input) { in.Icon = "https://cdn.example.com/a/LOGO.SVG?v=2" }, FieldIcon, "SVG images are not accepted as icons (they can carry scripts). Use the address of a PNG, JPEG or WebP image."},
		{"svgz icon", func(in *Input) { in.Icon = "https://example.com/logo.svgz" }, FieldIcon, "SVG images are not accepted as icons (they can carry scripts). Use the address of a PNG, JPEG or WebP image."},
		{"relative path", func(in *Input) { in.ResourcePath = "api/orders" }, FieldResourcePath, "Start the path with /, for example /api/orders."},
		{"star inside", func(in *Input) { in.ResourcePath = "/api/*/orders" }, FieldResourcePath, "A * may only end the path, as in /api/orders/*."},
		{"dot segments", func(in *Input) { in.ResourcePath = "/api/../admin" }, FieldResourcePath, `Write the path without "//", "." or ".." segments.`},
		{"double slash", func(in *Input) { in.ResourcePath = "/api//x" }, FieldResourcePath, `Write the path without "//", "." or ".." segments.`},
		{"query", func(in *Input) { in.ResourcePath = "/api/orders?id=1" }, FieldResourcePath, "Leave out the query string and fragment: a scope guards a path."},
		{"encoded", func(in *Input) { in.ResourcePath = "/api/%2e%2e/x" }, FieldResourcePath, "Write the path as it reads, without percent-encoding."},
		{"path without method", func(in *Input) { in.Method = "" }, FieldMethod, "Choose the method this path is guarded for."},
		{"method without path", func(in *Input) { in.ResourcePath = ""; in.Method = "POST" }, FieldResourcePath, "Enter the path the method applies to, or set the method to None."},
		{"neither method nor path", func(in *Input) { in.ResourcePath, in.Method = "", "" }, "", ""},
		{"any method", func(in *Input) { in.Method = "*" }, "", ""},
		{"unknown method", func(in *Input) { in.Method = "TRACE" }, FieldMethod, "Choose GET, POST, PUT, PATCH, DELETE or any method (*)."},
		{"lower-case method", func(in *Input) { in.Method = "delete" }, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.mod(&in)
			_, errs := Check(in, true)
			want := Errors{}
			if tc.field != "" {
				want[tc.field] = tc.want
			}
			if !maps.Equal(errs, want) {
				t.Errorf("errors %q, want %q", errs, want)
			}
		})
	}
}

// An unknown method with a bad path reports both; a method without a path
// asks for the path only when the path has no problem of its own.
func TestValidateMethodAndPath(t *testing.T) {
	t.Parallel()
	in := valid()
	in.Method, in.ResourcePath = "TRACE", "api"
	if _, errs := Check(in, true); len(errs) != 2 || errs[FieldMethod] == "" || errs[FieldResourcePath] == "" {
		t.Errorf("unknown method and bad path: %v", errs)
	}
}

// An existing scope keeps its ID, so that an update does not check it.
func TestValidateExistingScopeIgnoresID(t *testing.T) {
	t.Parallel()
	in := valid()
	in.ScopeID = "new"
	if _, errs := Check(in, false); len(errs) != 0 {
		t.Errorf("update refused: %v", errs)
	}
}

func TestCheckIcon(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, icon, msg string }{
		{"", "", ""},
		{"fa-user", "fa-solid fa-user", ""},
		{"FA-User", "fa-solid fa-user", ""},
		{"fa-regular fa-user", "fa-regular fa-user", ""},
		{"fa-user fa-regular", "fa-regular fa-user", ""},
		{"fa-brands fa-github", "fa-brands fa-github", ""},
		{"  fa-solid   fa-user ", "fa-solid fa-user", ""},
		{"https://example.com/i.png", "https://example.com/i.png", ""},
		{"HTTPS://example.com/i.png", "https://example.com/i.png", ""},
		{"https://example.com/é.png", "https://example.com/%C3%A9.png", ""},
		{"https://u:p@example.com/i.png", "", "Use an https:// address of an image, such as https://example.com/icon.png."},
		{"https://example.com/<i>.png", "", "Use an https:// address of an image, such as https://example.com/icon.png."},
		{"ftp://example.com/i.png", "", "Use an https:// address of an image, such as https://example.com/icon.png."},
		{"user", "", "Use a Font Awesome class such as fa-solid fa-user, or an https:// image address."},
		{"fa-solid fa-regular", "", "Add the icon's name, such as fa-user."},
	}
	for _, c := range cases {
		icon, msg := CheckIcon(c.in)
		if icon != c.icon || msg != c.msg {
			t.Errorf("CheckIcon(%q) = %q, %q; want %q, %q", c.in, icon, msg, c.icon, c.msg)
		}
	}
}

func TestFontAwesomeNamesRead(t *testing.T) {
	t.Parallel()
	names := faIconNames()
	for _, n := range []string{"user", "box", "calendar", "github"} {
		if !names[n] {
			t.Errorf("the vendored Font Awesome has no %q (%d names read)", n, len(names))
		}
	}
}

const testIssuer = "https://id.example.com"

// fakeStore knows the resources of registered as the store's CreateScope
// and UpdateScope do: "", the built-in path and registered URIs.
type fakeStore struct {
	scopes     map[string]*models.Scope
	registered map[string]bool
}

func (f *fakeStore) knows(resource string) error {
	if resource == "" || resource == oauth.BuiltinResourcePath || f.registered[resource] {
		return nil
	}
	return &models.UnknownResourceError{URI: resource}
}

func (f *fakeStore) CreateScope(_ context.Context, sc *models.Scope) error {
	if f.scopes[sc.ScopeID] != nil {
		return store.ErrAlreadyExists
	}
	if err := f.knows(sc.Resource); err != nil {
		return err
	}
	f.scopes[sc.ScopeID] = sc
	return nil
}

func (f *fakeStore) UpdateScope(_ context.Context, id string, fn func(*models.Scope) error) error {
	sc := f.scopes[id]
	if sc == nil {
		return store.ErrNotFound
	}
	x := *sc
	if err := fn(&x); err != nil {
		return err
	}
	if err := f.knows(x.Resource); err != nil {
		return err
	}
	*sc = x
	return nil
}

func TestCreateAndUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &fakeStore{scopes: map[string]*models.Scope{}}
	sc, errs, err := Create(ctx, st, testIssuer, valid())
	if err != nil || errs != nil {
		t.Fatal(err, errs)
	}
	if sc.ScopeID != "orders.read" || sc.Icon != "fa-solid fa-box" || sc.Method != "GET" || st.scopes["orders.read"] != sc {
		t.Fatalf("created %+v", sc)
	}
	want := map[string]string{"name": "Read your orders", "icon": "fa-solid fa-box", "method": "GET", "resource_path": "/api/orders/*",
		"resource": "", "default": "false", "machine": "false"}
	if d := Details(sc); !maps.Equal(d, want) {
		t.Errorf("Details = %v, want %v", d, want)
	}
	if _, _, err := Create(ctx, st, testIssuer, valid()); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("taken ID: %v", err)
	}
	bad := valid()
	bad.ScopeID = "other"
	bad.Name = ""
	if _, errs, err := Create(ctx, st, testIssuer, bad); !errors.Is(err, ErrInvalid) || errs[FieldName] == "" || st.scopes["other"] != nil {
		t.Errorf("invalid input: %v %v", err, errs)
	}

	up := valid()
	up.ScopeID = "ignored"
	up.Description, up.Icon, up.Machine = "Orders.", "https://example.com/i.png", true
	before, after, errs, err := Update(ctx, st, testIssuer, "orders.read", up)
	if err != nil || errs != nil {
		t.Fatal(err, errs)
	}
	if before.Icon != "fa-solid fa-box" || after.ScopeID != "orders.read" || after.Icon != "https://example.com/i.png" || *st.scopes["orders.read"] != after {
		t.Fatalf("before %+v, after %+v", before, after)
	}
	wantChanges := map[string]string{"description": "{client_name} will see the orders of {user}. → Orders.",
		"icon": "fa-solid fa-box → https://example.com/i.png", "machine": "false → true"}
	if ch := Changes(&before, &after); !maps.Equal(ch, wantChanges) {
		t.Errorf("Changes = %v, want %v", ch, wantChanges)
	}
	if ch := Changes(&after, &after); len(ch) != 0 {
		t.Errorf("no change: %v", ch)
	}

	up.Method = "TRACE"
	if _, _, errs, err := Update(ctx, st, testIssuer, "orders.read", up); !errors.Is(err, ErrInvalid) || errs[FieldMethod] == "" || st.scopes["orders.read"].Method != "GET" {
		t.Errorf("invalid update: %v %v", err, errs)
	}
	if _, _, _, err := Update(ctx, st, testIssuer, "gone", valid()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown scope: %v", err)
	}
}

// A scope's resource is checked (an absolute URI), canonicalised, and
// stored as registered: the built-in {issuer}/api as its path, others as
// their canonical URI; an unregistered one is a field error and stores
// nothing.
func TestScopeResource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &fakeStore{scopes: map[string]*models.Scope{}, registered: map[string]bool{"https://files.example.com": true}}
	cases := []struct {
		name, resource, stored, field string
	}{
		{"none", "", "", ""},
		{"built in", testIssuer + "/api", oauth.BuiltinResourcePath, ""},
		{"built in, other spelling", "HTTPS://ID.example.com:443/api/", oauth.BuiltinResourcePath, ""},
		{"registered", "https://files.example.com", "https://files.example.com", ""},
		{"registered, other spelling", " HTTPS://Files.Example.COM:443/ ", "https://files.example.com", ""},
		{"unregistered", "https://other.example.com", "", FieldResource},
		{"relative", "/api", "", FieldResource},
		{"fragment", "https://files.example.com#x", "", FieldResource},
		{"not a URI", "files", "", FieldResource},
	}
	for i, tc := range cases {
		in := valid()
		in.ScopeID = fmt.Sprintf("s%d", i)
		in.Resource = tc.resource
		sc, errs, err := Create(ctx, st, testIssuer, in)
		if tc.field != "" {
			if !errors.Is(err, ErrInvalid) || errs[tc.field] == "" || st.scopes[in.ScopeID] != nil {
				t.Errorf("%s: %v %v, want a %s error and nothing stored", tc.name, err, errs, tc.field)
			}
			continue
		}
		if err != nil || sc.Resource != tc.stored {
			t.Errorf("%s: %v, stored %q, want %q", tc.name, err, sc.Resource, tc.stored)
			continue
		}
		if got := FromScope(testIssuer, sc).Resource; got != oauth.ResolveResource(testIssuer, tc.stored) {
			t.Errorf("%s: FromScope resource %q", tc.name, got)
		}
	}
	if _, errs, _ := Create(ctx, st, testIssuer, Input{ScopeID: "x", Name: "X", Resource: "https://nope.example.com"}); errs[FieldResource] != unknownResource {
		t.Errorf("unregistered message: %q", errs[FieldResource])
	}

	// Update: moved to another resource, to none; an unregistered one
	// changes nothing.
	in := valid()
	in.Resource = "https://files.example.com"
	before, after, _, err := Update(ctx, st, testIssuer, "s0", in)
	if err != nil || before.Resource != "" || after.Resource != "https://files.example.com" {
		t.Fatalf("update: %v %+v", err, after)
	}
	if ch := Changes(&before, &after); ch["resource"] != " → https://files.example.com" {
		t.Errorf("changes: %v", ch)
	}
	in.Resource = "https://gone.example.com"
	if _, _, errs, err := Update(ctx, st, testIssuer, "s0", in); !errors.Is(err, ErrInvalid) || errs[FieldResource] == "" || st.scopes["s0"].Resource != "https://files.example.com" {
		t.Errorf("unregistered update: %v %v %+v", err, errs, st.scopes["s0"])
	}
}
