package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// upload is a file part of a multipart form.
type upload struct {
	field, filename string
	data            []byte
}

// doMultipart sends form and files as multipart/form-data, the way the
// client form does, keeping cookies like harness.do.
func (h *harness) doMultipart(path string, form url.Values, files ...upload) *response {
	h.t.Helper()
	return h.send(multipartRequest(h.t, path, form, files...))
}

// multipartRequest is a POST of form and files as multipart/form-data.
func multipartRequest(t *testing.T, path string, form url.Values, files ...upload) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range form {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile(f.field, f.filename)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

// postMultipart submits a multipart form from page (taking its CSRF token).
func (h *harness) postMultipart(page, path string, form url.Values, files ...upload) *response {
	h.t.Helper()
	form.Set("csrf_token", h.csrf(page))
	return h.doMultipart(path, form, files...)
}

// clientForm is a valid registration; mods change it.
func clientForm(mods ...func(url.Values)) url.Values {
	v := url.Values{
		"name":          {"Acme Notes"},
		"description":   {"Takes notes."},
		"homepage":      {"https://notes.example.com"},
		"client_type":   {"confidential"},
		"redirect_uris": {"https://notes.example.com/cb\r\nhttp://127.0.0.1:8400/cb  https://notes.example.com/cb"},
		"grant_types":   {"authorization_code", "refresh_token"},
		"scopes":        {"openid", "user.read"},
	}
	for _, m := range mods {
		m(v)
	}
	return v
}

var (
	secretRE      = regexp.MustCompile(`value="(gcs_[A-Za-z0-9_-]+)"`)
	clientPathRE  = regexp.MustCompile(`^/dashboard/clients/([0-9a-f]{24})$`)
	exampleURLRE  = regexp.MustCompile(`<pre id="example-url"[^>]*>([^<]+)</pre>`)
	fieldErrorRE  = regexp.MustCompile(`id="([a-z_]+)-error"`)
	createdFlash  = "is registered"
	auditCountSQL = "action = ? AND target = ?"
)

// createClient registers a client through the dashboard and returns its
// client ID and the secret shown once ("" for public clients).
func (h *harness) createClient(form url.Values, files ...upload) (string, string) {
	h.t.Helper()
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", form, files...)
	m := clientPathRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || m == nil {
		h.t.Fatalf("create client: %d %s\n%s", r.StatusCode, r.Header.Get("Location"), errorsIn(r.body))
	}
	page := h.get(r.Header.Get("Location"))
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, createdFlash) {
		h.t.Fatalf("client page after creation: %d", page.StatusCode)
	}
	s := ""
	if sm := secretRE.FindStringSubmatch(page.body); sm != nil {
		s = sm[1]
	}
	return m[1], s
}

// errorsIn lists the field errors shown on a page, for failure messages.
func errorsIn(body string) string {
	var out []string
	for _, m := range fieldErrorRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, ",")
}

func (h *harness) auditCount(action, target string) int64 {
	var n int64
	h.store.DB().Model(&models.AuditEvent{}).Where(auditCountSQL, action, target).Count(&n)
	return n
}

func (h *harness) countClients() int64 {
	n, err := h.store.CountClients(context.Background(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func pngOf(size int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for x := range size {
		for y := range size {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func signInAs(t *testing.T, h *harness, username, role string) *models.User {
	t.Helper()
	h.clearCookies()
	u, err := h.store.GetUserByUsername(context.Background(), username)
	if err != nil {
		u = h.createUser(username, pw, role)
	}
	if r := h.login(username, pw); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", username, r.StatusCode)
	}
	return u
}

// TestCreateConfidentialClientShowsSecretOnce: the secret is on the page
// after creation, stored only as a digest, and gone on reload.
func TestCreateConfidentialClientShowsSecretOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		dev := signInAs(t, h, "dev", models.RoleDeveloper)
		id, plain := h.createClient(clientForm())
		if !strings.HasPrefix(plain, "gcs_") || len(plain) < 40 {
			t.Fatalf("secret shown after creation = %q", plain)
		}
		cl, err := h.store.GetClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cl.SecretHash, secret.Digest(plain)) || cl.SecretHint != plain[len(plain)-4:] {
			t.Error("stored secret digest or hint does not match the secret shown")
		}
		if cl.OwnerID == nil || *cl.OwnerID != dev.ID || cl.Name != "Acme Notes" || cl.Public ||
			cl.Homepage != "https://notes.example.com" || cl.Description != "Takes notes." {
			t.Errorf("stored client = %+v", cl)
		}
		if want := []string{"https://notes.example.com/cb", "http://127.0.0.1:8400/cb"}; !slices.Equal(cl.RedirectURIs, want) {
			t.Errorf("redirect URIs = %q, want %q", cl.RedirectURIs, want)
		}
		if !slices.Equal(cl.GrantTypes, []string{"authorization_code", "refresh_token"}) || !slices.Equal(cl.Scopes, []string{"openid", "user.read"}) {
			t.Errorf("grants %q scopes %q", cl.GrantTypes, cl.Scopes)
		}
		// The secret is gone from the page and from the session storage.
		again := h.get("/dashboard/clients/" + id)
		if again.StatusCode != http.StatusOK || strings.Contains(again.body, plain) {
			t.Fatal("the secret is shown again on reload")
		}
		if !strings.Contains(again.body, "gcs_…"+cl.SecretHint) {
			t.Error("the secret hint (gcs_… and last 4) is not shown")
		}
		if again.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", again.Header.Get("Cache-Control"))
		}
		var leaks int64
		h.store.DB().Model(&models.WebSession{}).Where("instr(data, ?) > 0", []byte(plain)).Count(&leaks)
		if h.store.Dialect() == models.DialectPostgres {
			h.store.DB().Model(&models.WebSession{}).Where("position(? in data) > 0", []byte(plain)).Count(&leaks)
		}
		if leaks != 0 {
			t.Error("the secret stays in the session store after it was shown")
		}
		if h.auditCount("client.created", id) != 1 {
			t.Error("no client.created audit event")
		}
	})
}

func TestCreatePublicClientHasNoSecret(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	id, plain := h.createClient(clientForm(func(v url.Values) { v.Set("client_type", "public") }))
	if plain != "" {
		t.Fatalf("public client got a secret: %q", plain)
	}
	cl, _ := h.store.GetClient(context.Background(), id)
	if !cl.Public || cl.SecretHash != nil || cl.SecretHint != "" {
		t.Fatalf("public client stored with a secret: %+v", cl)
	}
	page := h.get("/dashboard/clients/" + id)
	if !strings.Contains(page.body, "public client") || !strings.Contains(page.body, "PKCE") {
		t.Error("the page does not say a public client has no secret and must use PKCE")
	}
	if strings.Contains(page.body, "/rotate-secret") {
		t.Error("a public client offers secret rotation")
	}
}

// TestClientFormValidation: every rule refuses the form with a message next
// to the field, keeps what was entered, and creates nothing.
func TestClientFormValidation(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	bigPNG := append(pngOf(8), make([]byte, 300<<10)...)
	set := func(k string, vs ...string) func(url.Values) { return func(v url.Values) { v[k] = vs } }
	cases := []struct {
		name    string
		form    url.Values
		files   []upload
		field   string
		message string
	}{
		{"name missing", clientForm(set("name", "  ")), nil, "name", "Give the client a name"},
		{"name too long", clientForm(set("name", strings.Repeat("n", 101))), nil, "name", "at most 100 characters"},
		{"http redirect URI", clientForm(set("redirect_uris", "https://ok.example/cb http://app.example.com/cb")), nil,
			"redirect_uris", "&#34;http://app.example.com/cb&#34; must use https"},
		{"redirect URI with fragment", clientForm(set("redirect_uris", "https://app.example.com/cb#frag")), nil,
			"redirect_uris", "&#34;https://app.example.com/cb#frag&#34; must not contain a fragment"},
		{"relative redirect URI", clientForm(set("redirect_uris", "/callback")), nil,
			"redirect_uris", "&#34;/callback&#34; must be an absolute URL"},
		{"custom scheme", clientForm(set("redirect_uris", "javascript:alert(1)")), nil, "redirect_uris", "&#34;javascript:alert(1)&#34;"},
		{"code grant without redirect URI", clientForm(set("redirect_uris", "")), nil, "redirect_uris", "Add at least one redirect URI"},
		{"implicit without redirect URI", clientForm(set("redirect_uris", ""), set("grant_types", "implicit")), nil, "redirect_uris", "Add at least one redirect URI"},
		{"unknown grant type", clientForm(set("grant_types", "authorization_code", "magic")), nil, "grant_types", "&#34;magic&#34; is not a grant type"},
		{"no grant type", clientForm(set("grant_types")), nil, "grant_types", "Choose at least one grant type"},
		{"public with client credentials", clientForm(set("client_type", "public"), set("grant_types", "client_credentials")), nil,
			"grant_types", "Public clients cannot use client credentials"},
		{"unknown scope", clientForm(set("scopes", "openid", "admin.everything")), nil, "scopes", "&#34;admin.everything&#34; is not a scope"},
		{"client type missing", clientForm(set("client_type", "secret-ish")), nil, "public", "confidential or public"},
		{"homepage not a URL", clientForm(set("homepage", "javascript:alert(1)")), nil, "homepage", "must start with https:// or http://"},
		{"icon URL not https", clientForm(set("icon_url", "http://cdn.example.com/i.png")), nil, "icon", "https URL"},
		{"SVG icon URL", clientForm(set("icon_url", "https://example.com/icon.svg")), nil, "icon", "SVG images are not accepted"},
		{"SVG icon URL with a query", clientForm(set("icon_url", "https://example.com/Icon.SVG?v=2")), nil, "icon", "SVG images are not accepted"},
		{"SVG upload", clientForm(), []upload{{"icon_file", "logo.png", svg}}, "icon", "PNG, JPEG or WebP"},
		{"text upload", clientForm(), []upload{{"icon_file", "logo.png", []byte("just some text, not an image")}}, "icon", "PNG, JPEG or WebP"},
		{"oversize upload", clientForm(), []upload{{"icon_file", "big.png", bigPNG}}, "icon", "larger than 256 KB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.countClients()
			r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", tc.form, tc.files...)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			if !strings.Contains(r.body, `id="`+tc.field+`-error"`) {
				t.Errorf("no error next to %s; errors on: %s", tc.field, errorsIn(r.body))
			}
			if !strings.Contains(r.body, tc.message) {
				t.Errorf("message %q not shown", tc.message)
			}
			if name := tc.form.Get("name"); strings.TrimSpace(name) != "" && !strings.Contains(r.body, `value="`+html.EscapeString(name)+`"`) {
				t.Error("the name entered is not kept")
			}
			if !strings.Contains(r.body, `enctype="multipart/form-data"`) || !csrfRE.MatchString(r.body) {
				t.Error("the form shown again is not a multipart form with a CSRF token")
			}
			if h.countClients() != before {
				t.Error("a client was created")
			}
		})
	}
	// Nothing SVG-like was stored either.
	var images int64
	h.store.DB().Model(&models.Image{}).Where("content_type NOT IN ?", []string{"image/png", "image/jpeg", "image/webp"}).Count(&images)
	if images != 0 {
		t.Errorf("%d images of a refused type were stored", images)
	}
}

// TestClientIconUploadAndServe: an uploaded PNG is stored in the database
// and served from /icons/<sha256> with safe headers.
func TestClientIconUploadAndServe(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		signInAs(t, h, "dev", models.RoleDeveloper)
		data := pngOf(32)
		sum := sha256.Sum256(data)
		want := "/icons/" + hex.EncodeToString(sum[:])
		// A mistake elsewhere stores nothing and asks for the file again.
		r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(func(v url.Values) { v.Set("name", "") }),
			upload{"icon_file", "icon.bin", data})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Choose the image again") {
			t.Fatalf("refused form with an upload: %d", r.StatusCode)
		}
		if got := h.get(want); got.StatusCode != http.StatusNotFound {
			t.Fatalf("a refused form's upload was stored: %d", got.StatusCode)
		}
		id, _ := h.createClient(clientForm(), upload{"icon_file", "icon.bin", data})
		cl, _ := h.store.GetClient(context.Background(), id)
		if cl.Icon != want {
			t.Fatalf("icon = %q, want %q", cl.Icon, want)
		}
		img := h.get(want)
		if img.StatusCode != http.StatusOK || img.body != string(data) {
			t.Fatalf("GET %s: %d (%d bytes)", want, img.StatusCode, len(img.body))
		}
		for k, v := range map[string]string{
			"Content-Type":            "image/png",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'",
			"Cache-Control":           "public, max-age=31536000, immutable",
		} {
			if got := img.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if r := h.do(http.MethodGet, want, nil, "If-None-Match", img.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
			t.Errorf("conditional GET: %d, want 304", r.StatusCode)
		}
		// Signed out (the consent screen's visitors) too.
		h.clearCookies()
		if r := h.get(want); r.StatusCode != http.StatusOK {
			t.Errorf("signed out: %d", r.StatusCode)
		}
		for _, bad := range []string{"/icons/" + strings.Repeat("0", 64), "/icons/nope", "/icons/" + strings.ToUpper(want[7:])} {
			if r := h.get(bad); r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", bad, r.StatusCode)
			}
		}
		// Deleting the last client that uses an icon deletes the icon.
		id2, _ := h.storeClientWithIcon(t, want)
		if err := h.store.DeleteClient(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if err := h.store.DeleteImageIfUnused(context.Background(), want[len("/icons/"):], want); err != nil {
			t.Fatal(err)
		}
		if r := h.get(want); r.StatusCode != http.StatusOK {
			t.Fatalf("icon still used by %s was deleted: %d", id2, r.StatusCode)
		}
		if err := h.store.DeleteClient(context.Background(), id2); err != nil {
			t.Fatal(err)
		}
		if err := h.store.DeleteImageIfUnused(context.Background(), want[len("/icons/"):], want); err != nil {
			t.Fatal(err)
		}
		if r := h.get(want); r.StatusCode != http.StatusNotFound {
			t.Fatalf("unused icon kept: %d", r.StatusCode)
		}
	})
}

// storeClientWithIcon registers a client using icon directly in the store.
func (h *harness) storeClientWithIcon(t *testing.T, icon string) (string, error) {
	t.Helper()
	c := &models.Client{ClientID: "icon-user-" + icon[len(icon)-6:], Name: "Icon user", Icon: icon, RedirectURIs: []string{"https://x.example/cb"}}
	if err := h.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c.ClientID, nil
}

func TestClientIconWebPAndURL(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	webp := append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), make([]byte, 24)...)
	id, _ := h.createClient(clientForm(), upload{"icon_file", "x.webp", webp})
	cl, _ := h.store.GetClient(context.Background(), id)
	if r := h.get(cl.Icon); r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "image/webp" {
		t.Fatalf("webp icon: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	id2, _ := h.createClient(clientForm(func(v url.Values) { v.Set("icon_url", "https://cdn.example.com/acme.png") }))
	cl2, _ := h.store.GetClient(context.Background(), id2)
	if cl2.Icon != "https://cdn.example.com/acme.png" {
		t.Fatalf("icon URL = %q", cl2.Icon)
	}
	// Removing the icon.
	form := clientForm(func(v url.Values) { v.Set("icon_url", "https://cdn.example.com/acme.png"); v.Set("icon_remove", "on") })
	if r := h.postMultipart("/dashboard/clients/"+id2, "/dashboard/clients/"+id2, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove icon: %d", r.StatusCode)
	}
	cl2, _ = h.store.GetClient(context.Background(), id2)
	if cl2.Icon != "" {
		t.Errorf("icon after removal = %q", cl2.Icon)
	}
}

// TestClientPermissions: developers manage only their own clients (other
// clients are 404, as if they did not exist), admins every client, users
// none (403), and signed-out visitors are sent to sign in.
func TestClientPermissions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		signInAs(t, h, "bob", models.RoleDeveloper)
		bobs, _ := h.createClient(clientForm(func(v url.Values) { v.Set("name", "Bob's App") }))
		signInAs(t, h, "alice", models.RoleDeveloper)
		alices, _ := h.createClient(clientForm(func(v url.Values) { v.Set("name", "Alice's App") }))

		// Alice sees her client only, and Bob's client does not exist for her.
		list := h.get("/dashboard/clients")
		if !strings.Contains(list.body, alices) || strings.Contains(list.body, bobs) || strings.Contains(list.body, "Bob&#39;s App") {
			t.Error("a developer's list shows another developer's client, or not their own")
		}
		if strings.Contains(list.body, "Owner:") {
			t.Error("a developer's list shows owners")
		}
		notFound := h.get("/dashboard/clients/" + strings.Repeat("0", 24))
		for _, path := range []string{"/dashboard/clients/" + bobs, "/dashboard/clients/" + bobs + "/delete"} {
			r := h.get(path)
			if r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s as another developer: %d, want 404", path, r.StatusCode)
			}
			if strings.Contains(r.body, "Bob&#39;s App") || !strings.Contains(r.body, "There is no such client") || r.body != notFound.body {
				t.Errorf("GET %s: the 404 differs from a missing client's", path)
			}
		}
		before, _ := h.store.GetClient(context.Background(), bobs)
		for _, path := range []string{"/dashboard/clients/" + bobs, "/dashboard/clients/" + bobs + "/rotate-secret", "/dashboard/clients/" + bobs + "/delete"} {
			if r := h.postMultipart("/dashboard/clients", path, clientForm(func(v url.Values) { v.Set("name", "Hijacked") })); r.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s as another developer: %d, want 404", path, r.StatusCode)
			}
		}
		after, err := h.store.GetClient(context.Background(), bobs)
		if err != nil || after.Name != before.Name || !bytes.Equal(after.SecretHash, before.SecretHash) {
			t.Fatal("another developer changed, rotated or deleted the client")
		}

		// An admin sees and manages both, with the owners shown.
		signInAs(t, h, "root", models.RoleAdmin)
		list = h.get("/dashboard/clients")
		if !strings.Contains(list.body, alices) || !strings.Contains(list.body, bobs) || !strings.Contains(list.body, "alice") || !strings.Contains(list.body, "bob") {
			t.Error("the admin's list lacks a client or its owner")
		}
		if r := h.get("/dashboard/clients/" + bobs); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "bob") {
			t.Errorf("admin on a developer's client: %d", r.StatusCode)
		}
		if r := h.postMultipart("/dashboard/clients/"+bobs, "/dashboard/clients/"+bobs, clientForm(func(v url.Values) { v.Set("name", "Renamed by admin") })); r.StatusCode != http.StatusSeeOther {
			t.Errorf("admin update: %d", r.StatusCode)
		}
		if cl, _ := h.store.GetClient(context.Background(), bobs); cl.Name != "Renamed by admin" || *cl.OwnerID == 0 {
			t.Error("admin update not saved")
		} else if owner, _ := h.store.GetUser(context.Background(), *cl.OwnerID); owner.Username != "bob" {
			t.Error("an admin's edit changed the owner")
		}

		// Users: 403 everywhere.
		signInAs(t, h, "carol", models.RoleUser)
		for _, path := range []string{"/dashboard/clients", "/dashboard/clients/new", "/dashboard/clients/" + bobs, "/dashboard/clients/" + bobs + "/delete"} {
			if r := h.get(path); r.StatusCode != http.StatusForbidden {
				t.Errorf("user GET %s: %d, want 403", path, r.StatusCode)
			}
		}
		if r := h.postMultipart("/dashboard", "/dashboard/clients", clientForm()); r.StatusCode != http.StatusForbidden {
			t.Errorf("user POST /dashboard/clients: %d, want 403", r.StatusCode)
		}
		if r := h.postMultipart("/dashboard", "/dashboard/clients/"+bobs+"/delete", url.Values{}); r.StatusCode != http.StatusForbidden {
			t.Errorf("user delete: %d, want 403", r.StatusCode)
		}

		// Signed out: sent to sign in, and back afterwards.
		h.clearCookies()
		r := h.get("/dashboard/clients/" + bobs)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?next="+url.QueryEscape("/dashboard/clients/"+bobs) {
			t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := h.postMultipart("/login", "/dashboard/clients", clientForm()); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("signed-out POST: %d, want 401", r.StatusCode)
		}
		if n := h.countClients(); n != 2 {
			t.Errorf("%d clients, want 2", n)
		}
	})
}

// TestClientFormCSRFMultipart: the CSRF check reads the token from a
// multipart body, and refuses a multipart form without it.
func TestClientFormCSRFMultipart(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	h.get("/dashboard/clients/new")
	for name, tok := range map[string]string{"missing": "", "wrong": "forged-token"} {
		form := clientForm()
		if tok != "" {
			form.Set("csrf_token", tok)
		}
		r := h.doMultipart("/dashboard/clients", form, upload{"icon_file", "i.png", pngOf(4)})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
			t.Errorf("%s token: %d, want the 403 page", name, r.StatusCode)
		}
	}
	if h.countClients() != 0 {
		t.Fatal("a client was created without a valid CSRF token")
	}
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(), upload{"icon_file", "i.png", pngOf(4)})
	if r.StatusCode != http.StatusSeeOther || h.countClients() != 1 {
		t.Fatalf("multipart form with its CSRF token: %d", r.StatusCode)
	}
}

func TestUpdateClient(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		signInAs(t, h, "dev", models.RoleDeveloper)
		id, plain := h.createClient(clientForm())
		path := "/dashboard/clients/" + id

		// The edit form shows what is stored.
		page := h.get(path)
		for _, want := range []string{`value="Acme Notes"`, "https://notes.example.com/cb\nhttp://127.0.0.1:8400/cb</textarea>",
			`value="authorization_code" class="checkbox" checked`, `value="user.read" class="checkbox" checked`, `value="confidential" checked`} {
			if !strings.Contains(page.body, want) {
				t.Errorf("edit form lacks %q", want)
			}
		}

		// A bad change is refused and shown with the input kept.
		r := h.postMultipart(path, path, clientForm(func(v url.Values) {
			v.Set("name", "Acme Notes 2")
			v.Set("redirect_uris", "http://notes.example.com/cb")
		}))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, `value="Acme Notes 2"`) || !strings.Contains(r.body, "must use https") {
			t.Fatalf("bad update: %d", r.StatusCode)
		}
		if cl, _ := h.store.GetClient(context.Background(), id); cl.Name != "Acme Notes" {
			t.Fatal("a refused update was saved")
		}

		r = h.postMultipart(path, path, clientForm(func(v url.Values) {
			v.Set("name", "Acme Notes 2")
			v.Set("redirect_uris", "https://notes.example.com/callback")
			v["grant_types"] = []string{"authorization_code", "client_credentials"}
			v.Del("scopes")
		}))
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
			t.Fatalf("update: %d %s", r.StatusCode, errorsIn(r.body))
		}
		cl, _ := h.store.GetClient(context.Background(), id)
		if cl.Name != "Acme Notes 2" || !slices.Equal(cl.RedirectURIs, []string{"https://notes.example.com/callback"}) ||
			!slices.Equal(cl.GrantTypes, []string{"authorization_code", "client_credentials"}) || len(cl.Scopes) != 0 {
			t.Fatalf("after update: %+v", cl)
		}
		if !bytes.Equal(cl.SecretHash, secret.Digest(plain)) {
			t.Error("an update changed the secret")
		}
		page = h.get(path)
		if !strings.Contains(page.body, "are saved") {
			t.Error("no flash after saving")
		}
		if h.auditCount("client.updated", id) != 1 {
			t.Error("no client.updated audit event")
		}
		var ev models.AuditEvent
		h.store.DB().Where("action = ?", "client.updated").Take(&ev)
		if ev.Details["changed"] != "name,redirect_uris,grant_types,scopes" ||
			ev.Details["redirect_uris"] != "https://notes.example.com/cb http://127.0.0.1:8400/cb -> https://notes.example.com/callback" ||
			ev.Details["grant_types"] != "authorization_code refresh_token -> authorization_code client_credentials" {
			t.Errorf("audit details = %v", ev.Details)
		}

		// Confidential -> public deletes the secret (client credentials must go first).
		toPublic := clientForm(func(v url.Values) { v.Set("client_type", "public") })
		if r := h.postMultipart(path, path, toPublic); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("to public: %d %s", r.StatusCode, errorsIn(r.body))
		}
		cl, _ = h.store.GetClient(context.Background(), id)
		if !cl.Public || cl.SecretHash != nil || cl.SecretHint != "" {
			t.Fatalf("public client kept its secret: %+v", cl)
		}
		if page := h.get(path); !strings.Contains(page.body, "secret was deleted") {
			t.Error("no flash saying the secret was deleted")
		}

		// Public -> confidential issues a new secret, shown once.
		if r := h.postMultipart(path, path, clientForm()); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("to confidential: %d", r.StatusCode)
		}
		page = h.get(path)
		m := secretRE.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatal("no secret shown after turning the client confidential")
		}
		cl, _ = h.store.GetClient(context.Background(), id)
		if cl.Public || !bytes.Equal(cl.SecretHash, secret.Digest(m[1])) {
			t.Fatal("the secret shown is not the one stored")
		}
		if strings.Contains(h.get(path).body, m[1]) {
			t.Error("the new secret is shown twice")
		}
	})
}

func TestRotateClientSecret(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	id, old := h.createClient(clientForm())
	path := "/dashboard/clients/" + id
	r := h.post(path, path+"/rotate-secret", url.Values{})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("rotate: %d", r.StatusCode)
	}
	page := h.get(path)
	m := secretRE.FindStringSubmatch(page.body)
	if m == nil || m[1] == old {
		t.Fatal("no new secret shown after rotation")
	}
	if !strings.Contains(page.body, "old one no longer works") {
		t.Error("no flash after rotation")
	}
	cl, _ := h.store.GetClient(context.Background(), id)
	if !bytes.Equal(cl.SecretHash, secret.Digest(m[1])) || bytes.Equal(cl.SecretHash, secret.Digest(old)) || cl.SecretRotatedAt == nil {
		t.Fatal("the stored secret was not replaced")
	}
	if strings.Contains(h.get(path).body, m[1]) {
		t.Error("the rotated secret is shown again on reload")
	}
	if h.auditCount("client.secret_rotated", id) != 1 {
		t.Error("no client.secret_rotated audit event")
	}
	// Public clients have nothing to rotate.
	pub, _ := h.createClient(clientForm(func(v url.Values) { v.Set("client_type", "public") }))
	r = h.post("/dashboard/clients/"+pub, "/dashboard/clients/"+pub+"/rotate-secret", url.Values{})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate public: %d", r.StatusCode)
	}
	if cl, _ := h.store.GetClient(context.Background(), pub); cl.SecretHash != nil {
		t.Fatal("a public client got a secret by rotation")
	}
	if page := h.get("/dashboard/clients/" + pub); !strings.Contains(page.body, "no secret to rotate") || secretRE.MatchString(page.body) {
		t.Error("rotating a public client's secret is not refused with a message")
	}
}

// TestDeleteClientRevokesTokens: the confirmation page says what goes; the
// deletion takes the client's tokens, codes and consents with it.
func TestDeleteClientRevokesTokens(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		dev := signInAs(t, h, "dev", models.RoleDeveloper)
		id, _ := h.createClient(clientForm())
		keep, _ := h.createClient(clientForm(func(v url.Values) { v.Set("name", "Keeper") }))
		exp := time.Now().Add(time.Hour)
		for _, cid := range []string{id, keep} {
			if err := h.store.CreateTokens(ctx,
				&models.Token{TokenHash: secret.Digest("at-" + cid), Kind: models.TokenAccess, ClientID: cid, UserID: &dev.ID, FamilyID: "f-" + cid, ExpiresAt: exp},
				&models.Token{TokenHash: secret.Digest("rt-" + cid), Kind: models.TokenRefresh, ClientID: cid, UserID: &dev.ID, FamilyID: "f-" + cid, ExpiresAt: exp},
			); err != nil {
				t.Fatal(err)
			}
			if err := h.store.UpsertConsent(ctx, dev.ID, cid, "openid"); err != nil {
				t.Fatal(err)
			}
		}
		path := "/dashboard/clients/" + id
		confirm := h.get(path + "/delete")
		if confirm.StatusCode != http.StatusOK || !strings.Contains(confirm.body, "2 active tokens are") || !strings.Contains(confirm.body, "1 user&#39;s approval is") ||
			!strings.Contains(confirm.body, `action="`+path+`/delete"`) {
			t.Fatalf("confirmation page: %d", confirm.StatusCode)
		}
		if _, err := h.store.GetClient(ctx, id); err != nil {
			t.Fatal("the confirmation page deleted the client")
		}
		r := h.post(path+"/delete", path+"/delete", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/clients" {
			t.Fatalf("delete: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if list := h.get("/dashboard/clients"); !strings.Contains(list.body, "was deleted and its 2 active tokens revoked") {
			t.Error("no flash after deletion")
		}
		if r := h.get(path); r.StatusCode != http.StatusNotFound {
			t.Errorf("deleted client's page: %d", r.StatusCode)
		}
		for _, tok := range []string{"at-" + id, "rt-" + id} {
			if _, err := h.store.GetToken(ctx, secret.Digest(tok)); err == nil {
				t.Errorf("token %s of the deleted client still exists", tok)
			}
		}
		if _, err := h.store.GetToken(ctx, secret.Digest("at-"+keep)); err != nil {
			t.Error("another client's token was deleted")
		}
		if c, _ := h.store.ListConsents(ctx, dev.ID); len(c) != 1 || c[0].ClientID != keep {
			t.Errorf("consents after deletion: %+v", c)
		}
		if h.auditCount("client.deleted", id) != 1 {
			t.Error("no client.deleted audit event")
		}
	})
}

func TestClientListSearchAndPages(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	empty := h.get("/dashboard/clients")
	if empty.StatusCode != http.StatusOK || !strings.Contains(empty.body, "No clients yet") || !strings.Contains(empty.body, `href="/dashboard/clients/new"`) {
		t.Fatalf("empty list: %d", empty.StatusCode)
	}
	dev, _ := h.store.GetUserByUsername(context.Background(), "dev")
	for i := range 25 {
		c := &models.Client{ClientID: "client" + strconv.Itoa(100+i), Name: "App " + strconv.Itoa(100+i), OwnerID: &dev.ID}
		if err := h.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	first := h.get("/dashboard/clients")
	if n := strings.Count(first.body, `href="/dashboard/clients/client`); n != 20 {
		t.Errorf("first page shows %d clients, want 20", n)
	}
	if !strings.Contains(first.body, `href="/dashboard/clients?offset=20"`) || !strings.Contains(first.body, "of <span class=\"font-medium\">25</span>") {
		t.Error("no link to the next page, or no total")
	}
	second := h.get("/dashboard/clients?offset=20")
	if n := strings.Count(second.body, `href="/dashboard/clients/client`); n != 5 || !strings.Contains(second.body, `href="/dashboard/clients"`) {
		t.Errorf("second page shows %d clients", n)
	}
	if r := h.get("/dashboard/clients?offset=400"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/clients?offset=20" {
		t.Errorf("past the last page: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	found := h.get("/dashboard/clients?q=app+112")
	if n := strings.Count(found.body, `href="/dashboard/clients/client`); n != 1 || !strings.Contains(found.body, "client112") || !strings.Contains(found.body, `value="app 112"`) {
		t.Errorf("search: %d results", n)
	}
	none := h.get("/dashboard/clients?q=zzz")
	if !strings.Contains(none.body, "No matching clients") || strings.Contains(none.body, "No clients yet") {
		t.Error("a search without results does not say so")
	}
}

// TestClientPageExampleRequest: the page shows the endpoints and a
// correctly encoded authorization request with PKCE.
func TestClientPageExampleRequest(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	id, _ := h.createClient(clientForm(func(v url.Values) {
		v.Set("redirect_uris", "https://notes.example.com/cb?next=/a%2Fb&x=1")
	}))
	page := h.get("/dashboard/clients/" + id)
	cfg := h.srv.Config
	for _, want := range []string{cfg.EndpointURL("authorize"), cfg.EndpointURL("token"), "/static/js/clients.js", `data-copy="client-id"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "<script>") || regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(page.body) || strings.Contains(page.body, "style=") {
		t.Error("inline script or style on the page")
	}
	m := exampleURLRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no example authorization request")
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme+"://"+u.Host+u.Path != cfg.EndpointURL("authorize") {
		t.Errorf("example goes to %s", u.Path)
	}
	q := u.Query()
	for k, v := range map[string]string{"response_type": "code", "client_id": id, "redirect_uri": "https://notes.example.com/cb?next=/a%2Fb&x=1", "scope": "openid user.read", "code_challenge_method": "S256"} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 16 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %q code_challenge %q", q.Get("state"), q.Get("code_challenge"))
	}
	verifier := regexp.MustCompile(`code_verifier:</span> <code class="break-all">([A-Za-z0-9_-]{43})</code>`).FindStringSubmatch(page.body)
	if verifier == nil {
		t.Fatal("no code_verifier shown")
	}
	sum := sha256.Sum256([]byte(verifier[1]))
	if q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Error("code_challenge is not the S256 of the code_verifier shown")
	}
}

// TestClientNameEscaped: a client's name is text wherever it is shown.
func TestClientNameEscaped(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	evil := `Evil <img src=x onerror=alert(1)>`
	id, _ := h.createClient(clientForm(func(v url.Values) { v.Set("name", evil) }))
	for _, path := range []string{"/dashboard/clients", "/dashboard/clients/" + id, "/dashboard/clients/" + id + "/delete"} {
		r := h.get(path)
		if strings.Contains(r.body, "<img src=x") || !strings.Contains(r.body, "Evil &lt;img src=x") {
			t.Errorf("%s: the name is not escaped", path)
		}
	}
}

// TestClientGrantTurnedOff: the grant types the server's settings turn off
// may still be chosen, but the form says so next to them, saving a client
// with one warns, and the client's page keeps warning until they are on.
func TestClientGrantTurnedOff(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	set := func(key, value string) {
		t.Helper()
		if _, err := h.srv.Handlers.Settings.Set(context.Background(), key, value); err != nil {
			t.Fatal(err)
		}
	}
	const note = "Turned off on this server by an administrator: requests using it are refused until it is turned on."
	const warning = "This client uses the Implicit grant, which is turned off on this server by an administrator: " +
		"requests using it are refused until it is turned on."
	signInAs(t, h, "dev", models.RoleDeveloper)

	// Both are off by default: a note next to each, and nowhere else.
	page := h.get("/dashboard/clients/new")
	for _, g := range []string{"implicit", "password"} {
		// (The password grant needs an admin: a developer's box says so too.)
		if !strings.Contains(page.body, `id="grant-`+g+`-off"`) || !regexp.MustCompile(`aria-describedby="grant-`+g+`-help( grant-`+g+`-trust)? grant-`+g+`-off"`).MatchString(page.body) {
			t.Errorf("no note (described by) next to %s while it is turned off", g)
		}
	}
	if n := strings.Count(page.body, note); n != 2 {
		t.Errorf("the note is shown %d times, want 2", n)
	}
	if strings.Contains(page.body, `id="grant-authorization_code-off"`) || strings.Contains(page.body, "/dashboard/settings\" class=") {
		t.Error("a note next to a grant the server allows, or a settings link for a developer")
	}
	set("allow_password_grant", "true")
	page = h.get("/dashboard/clients/new")
	if strings.Contains(page.body, `id="grant-password-off"`) || !strings.Contains(page.body, `id="grant-implicit-off"`) {
		t.Error("the notes do not follow the settings")
	}

	// Saving a client with a turned-off grant works, and warns. (Only an
	// admin gives the password grant.)
	form := clientForm(func(v url.Values) { v["grant_types"] = []string{"authorization_code", "implicit"} })
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", form)
	m := clientPathRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("create with implicit: %d %s", r.StatusCode, errorsIn(r.body))
	}
	path := m[0]
	page = h.get(path)
	if !strings.Contains(page.body, createdFlash) || strings.Count(page.body, html.EscapeString(warning)) != 1 {
		t.Errorf("after saving, the warning is shown %d times, want once", strings.Count(page.body, html.EscapeString(warning)))
	}
	// It is the page's own (it stays), and it was a flash too: a page
	// without the banner shows the flash.
	if page = h.get(path); strings.Count(page.body, html.EscapeString(warning)) != 1 {
		t.Error("the client's page does not keep warning")
	}
	if r := h.postMultipart(path, path, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", r.StatusCode)
	}
	if list := h.get("/dashboard/clients"); !strings.Contains(list.body, `class="alert alert-warning" role="status"`) ||
		!strings.Contains(list.body, html.EscapeString(warning)) {
		t.Error("no warning flash after saving")
	}

	// Admins get a link to the settings; once on, no warning.
	signInAs(t, h, "root", models.RoleAdmin)
	if page = h.get(path); !strings.Contains(page.body, `href="/dashboard/settings" class="font-medium underline`) {
		t.Error("no link to the settings for an admin")
	}
	set("allow_implicit_grant", "true")
	if page = h.get(path); strings.Contains(page.body, "turned off on this server") || strings.Contains(page.body, note) {
		t.Error("a warning while every grant is on")
	}
	if r := h.postMultipart(path, path, form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", r.StatusCode)
	}
	if list := h.get("/dashboard/clients"); strings.Contains(list.body, "turned off on this server") {
		t.Error("a warning flash while every grant is on")
	}
}

// TestClientRedirectURIsAllReportedAndKept: every invalid redirect URI is
// named at once, and the text comes back exactly as typed.
func TestClientRedirectURIsAllReportedAndKept(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	typed := "http://x.example/cb\r\nnot a url\r\n  https://ok.example/cb\r\n\r\nhttps://y.example/cb#frag\r\n"
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(func(v url.Values) { v.Set("redirect_uris", typed) }))
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.StatusCode)
	}
	want := html.EscapeString(`"http://x.example/cb" must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost); ` +
		`"not", "a" and "url" each must be an absolute URL such as https://app.example.com/callback; ` +
		`"https://y.example/cb#frag" must not contain a fragment (#...).`)
	if !strings.Contains(r.body, want) {
		t.Errorf("the message does not name every invalid URI: %s", errorsIn(r.body))
	}
	if !strings.Contains(r.body, ">"+html.EscapeString(typed)+"</textarea>") {
		t.Error("the redirect URIs are not kept as typed")
	}

	// Many: five named, the rest counted.
	var many []string
	for i := range 8 {
		many = append(many, "http://h"+strconv.Itoa(i)+".example/cb")
	}
	r = h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(func(v url.Values) { v.Set("redirect_uris", strings.Join(many, "\n")) }))
	if !strings.Contains(r.body, html.EscapeString(`"http://h3.example/cb" and "http://h4.example/cb" each must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost); and 3 more.`)) ||
		strings.Contains(r.body, "h5.example/cb&#34;") {
		t.Error("more than five bad URIs are not counted")
	}

	// The edit form too, with a leading blank line kept (HTML drops one).
	id, _ := h.createClient(clientForm())
	path := "/dashboard/clients/" + id
	typed = "\nhttps://ok.example/cb  http://z.example/cb"
	r = h.postMultipart(path, path, clientForm(func(v url.Values) { v.Set("redirect_uris", typed) }))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, ">\n"+typed+"</textarea>") {
		t.Errorf("edit form: %d, the redirect URIs are not kept as typed", r.StatusCode)
	}
}

// TestClientIconFileAndURL: with both an image file and an image URL, the
// file is used and the page says the URL was not; a refused form does not
// refer to the upload it did not keep.
func TestClientIconFileAndURL(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	data := pngOf(16)
	sum := sha256.Sum256(data)
	icon := "/icons/" + hex.EncodeToString(sum[:])
	const unused = "the uploaded file is the icon, and the URL was not used"

	// Refused for another reason: the URL is kept, the upload not referred to.
	bad := clientForm(func(v url.Values) { v.Set("name", ""); v.Set("icon_url", "https://cdn.example.com/a.png") })
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", bad, upload{"icon_file", "a.png", data})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Choose the image again") ||
		!strings.Contains(r.body, `value="https://cdn.example.com/a.png"`) {
		t.Fatalf("refused form: %d", r.StatusCode)
	}
	if strings.Contains(r.body, icon) {
		t.Error("the refused form refers to the upload it did not keep (sent again, the client would point to a missing image)")
	}

	form := clientForm(func(v url.Values) { v.Set("icon_url", "https://cdn.example.com/a.png") })
	r = h.postMultipart("/dashboard/clients/new", "/dashboard/clients", form, upload{"icon_file", "a.png", data})
	m := clientPathRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %s", r.StatusCode, errorsIn(r.body))
	}
	if page := h.get(m[0]); !strings.Contains(page.body, unused) {
		t.Error("nothing says the image URL was not used")
	}
	if cl, _ := h.store.GetClient(context.Background(), m[1]); cl.Icon != icon {
		t.Fatalf("icon = %q, want the upload", cl.Icon)
	}

	// Replacing a URL icon (which the edit form shows) by a file: nothing to say.
	id, _ := h.createClient(clientForm(func(v url.Values) { v.Set("icon_url", "https://cdn.example.com/b.png") }))
	path := "/dashboard/clients/" + id
	edit := clientForm(func(v url.Values) { v.Set("icon_url", "https://cdn.example.com/b.png") })
	if r := h.postMultipart(path, path, edit, upload{"icon_file", "a.png", data}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", r.StatusCode)
	}
	if page := h.get(path); strings.Contains(page.body, unused) {
		t.Error("the note shows when the file replaced the saved URL icon")
	}
	if cl, _ := h.store.GetClient(context.Background(), id); cl.Icon != icon {
		t.Fatalf("icon = %q, want the upload", cl.Icon)
	}
}

// signOutForm sets the sign-out and refresh token fields of a client form.
func signOutForm(postLogout, backchannel string, bcSession bool, frontchannel string, fcSession bool, interval string) func(url.Values) {
	return func(v url.Values) {
		v.Set("post_logout_redirect_uris", postLogout)
		v.Set("backchannel_logout_uri", backchannel)
		v.Set("frontchannel_logout_uri", frontchannel)
		v.Set("refresh_token_reuse_interval", interval)
		v.Del("backchannel_logout_session_required")
		v.Del("frontchannel_logout_session_required")
		if bcSession {
			v.Set("backchannel_logout_session_required", "on")
		}
		if fcSession {
			v.Set("frontchannel_logout_session_required", "on")
		}
	}
}

// checkboxHTML is how the form renders a checkbox field, ticked or not.
func checkboxHTML(name string, checked bool) string {
	s := `id="` + name + `" name="` + name + `" type="checkbox" value="on" class="checkbox"`
	if checked {
		s += " checked"
	}
	return s + " aria-describedby="
}

// TestClientSignOutFields: the sign-out fields and the refresh token reuse
// interval are saved from the form, shown on the client's page, changed
// by an update (recorded in the audit log), and an empty interval follows
// the server setting, which the form names.
func TestClientSignOutFields(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		if _, err := h.srv.Handlers.Settings.Set(ctx, "refresh_token_reuse_interval", "3s"); err != nil {
			t.Fatal(err)
		}
		signInAs(t, h, "dev", models.RoleDeveloper)
		page := h.get("/dashboard/clients/new")
		for _, want := range []string{`name="post_logout_redirect_uris"`, `name="backchannel_logout_uri"`, checkboxHTML("backchannel_logout_session_required", false),
			`name="frontchannel_logout_uri"`, checkboxHTML("frontchannel_logout_session_required", false),
			`name="refresh_token_reuse_interval"`, `placeholder="Use the server setting (currently 3s)"`, "POSTs a logout token here"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the new client form lacks %q", want)
			}
		}

		id, _ := h.createClient(clientForm(signOutForm(
			"https://notes.example.com/bye\r\nhttp://127.0.0.1:8400/bye  https://notes.example.com/bye",
			" https://notes.example.com/backchannel ", true, "https://notes.example.com/frontchannel?x=1", false, " 5s ")))
		cl, err := h.store.GetClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cl.PostLogoutRedirectURIs, []string{"https://notes.example.com/bye", "http://127.0.0.1:8400/bye"}) ||
			cl.BackchannelLogoutURI != "https://notes.example.com/backchannel" || !cl.BackchannelLogoutSessionRequired ||
			cl.FrontchannelLogoutURI != "https://notes.example.com/frontchannel?x=1" || cl.FrontchannelLogoutSessionRequired ||
			cl.RefreshTokenReuseSeconds == nil || *cl.RefreshTokenReuseSeconds != 5 {
			t.Fatalf("stored %+v", cl)
		}

		// The client's page shows what is stored.
		path := "/dashboard/clients/" + id
		page = h.get(path)
		for _, want := range []string{">https://notes.example.com/bye\nhttp://127.0.0.1:8400/bye</textarea>",
			`value="https://notes.example.com/backchannel"`, checkboxHTML("backchannel_logout_session_required", true),
			`value="https://notes.example.com/frontchannel?x=1"`, checkboxHTML("frontchannel_logout_session_required", false), `value="5s"`} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the client's page lacks %q", want)
			}
		}

		// An update: one URI less, front-channel sid on, the interval back
		// to the setting.
		r := h.postMultipart(path, path, clientForm(signOutForm("https://notes.example.com/bye", "https://notes.example.com/backchannel", true,
			"https://notes.example.com/frontchannel?x=1", true, "")))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("update: %d %s", r.StatusCode, errorsIn(r.body))
		}
		cl, _ = h.store.GetClient(ctx, id)
		if !slices.Equal(cl.PostLogoutRedirectURIs, []string{"https://notes.example.com/bye"}) || !cl.FrontchannelLogoutSessionRequired ||
			cl.RefreshTokenReuseSeconds != nil || cl.BackchannelLogoutURI != "https://notes.example.com/backchannel" {
			t.Fatalf("after the update: %+v", cl)
		}
		var ev models.AuditEvent
		h.store.DB().Where("action = ? AND target = ?", "client.updated", id).Take(&ev)
		if ev.Details["changed"] != "post_logout_redirect_uris,frontchannel_logout_session_required,refresh_token_reuse_interval" ||
			ev.Details["post_logout_redirect_uris"] != "https://notes.example.com/bye http://127.0.0.1:8400/bye -> https://notes.example.com/bye" ||
			ev.Details["refresh_token_reuse_interval"] != "5s -> default" {
			t.Errorf("audit details = %v", ev.Details)
		}
		if page := h.get(path); !strings.Contains(page.body, `placeholder="Use the server setting (currently 3s)"`) ||
			strings.Contains(page.body, `value="5s"`) {
			t.Error("an empty interval is not shown as following the server setting")
		}

		// 0s is this client's own "off", not the setting; clearing the
		// URIs with their checkboxes unticked removes them.
		r = h.postMultipart(path, path, clientForm(signOutForm("", "", false, "", false, "0s")))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("update: %d %s", r.StatusCode, errorsIn(r.body))
		}
		cl, _ = h.store.GetClient(ctx, id)
		if len(cl.PostLogoutRedirectURIs) != 0 || cl.BackchannelLogoutURI != "" || cl.BackchannelLogoutSessionRequired ||
			cl.FrontchannelLogoutURI != "" || cl.FrontchannelLogoutSessionRequired || cl.RefreshTokenReuseSeconds == nil || *cl.RefreshTokenReuseSeconds != 0 {
			t.Fatalf("after clearing: %+v", cl)
		}
		if page := h.get(path); !strings.Contains(page.body, `value="0s"`) {
			t.Error("an interval of 0s is not shown")
		}
	})
}

// TestClientSignOutFieldsRefusedAndKept: bad sign-out fields and a bad
// interval are each refused with a message next to the field, and the
// form comes back with everything as typed, on the new and the edit form;
// nothing is saved.
func TestClientSignOutFieldsRefusedAndKept(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	typedPostLogout := "https://ok.example/bye\r\nhttp://x.example/bye\r\n\r\nhttps://y.example/bye#frag"
	bad := signOutForm(typedPostLogout, "http://app.example.com/bc", true, "", true, "90s")
	fieldErrors := map[string]string{
		"post_logout_redirect_uris":    html.EscapeString(`"http://x.example/bye" must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost); "https://y.example/bye#frag" must not contain a fragment (#...).`),
		"backchannel_logout_uri":       "The back-channel logout URI must use https",
		"frontchannel_logout_uri":      "Session required (iss and sid in the address) needs a front-channel logout URI",
		"refresh_token_reuse_interval": html.EscapeString(`"90s" is longer than 60s`),
	}
	check := func(t *testing.T, r *response) {
		t.Helper()
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", r.StatusCode)
		}
		for field, msg := range fieldErrors {
			if !strings.Contains(r.body, `id="`+field+`-error"`) {
				t.Errorf("no error next to %s; errors on: %s", field, errorsIn(r.body))
			}
			if !strings.Contains(r.body, msg) {
				t.Errorf("message %q not shown", msg)
			}
		}
		if got := errorsIn(r.body); strings.Count(got, ",") != len(fieldErrors)-1 {
			t.Errorf("errors on %s, want only the sign-out fields and the interval", got)
		}
		for _, want := range []string{">" + html.EscapeString(typedPostLogout) + "</textarea>", `value="http://app.example.com/bc"`,
			checkboxHTML("backchannel_logout_session_required", true), checkboxHTML("frontchannel_logout_session_required", true),
			`value="90s"`, `value="Acme Notes"`, ">https://notes.example.com/cb\r\nhttp://127.0.0.1:8400/cb  https://notes.example.com/cb</textarea>"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("what was typed is lost: no %q", want)
			}
		}
	}
	t.Run("new", func(t *testing.T) {
		before := h.countClients()
		check(t, h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(bad)))
		if h.countClients() != before {
			t.Error("a client was created")
		}
	})
	t.Run("edit", func(t *testing.T) {
		id, _ := h.createClient(clientForm())
		path := "/dashboard/clients/" + id
		check(t, h.postMultipart(path, path, clientForm(bad)))
		cl, _ := h.store.GetClient(context.Background(), id)
		if len(cl.PostLogoutRedirectURIs) != 0 || cl.BackchannelLogoutURI != "" || cl.FrontchannelLogoutSessionRequired || cl.RefreshTokenReuseSeconds != nil {
			t.Fatalf("a refused update was saved: %+v", cl)
		}
	})
	// Each rule alone.
	for name, tc := range map[string]struct {
		mod   func(url.Values)
		field string
		msg   string
	}{
		"back-channel sid without the URI": {signOutForm("", "", true, "", false, ""), "backchannel_logout_uri", "needs a back-channel logout URI"},
		"relative front-channel URI":       {signOutForm("", "", false, "/logout", false, ""), "frontchannel_logout_uri", "must be an absolute URL such as https://app.example.com/logout"},
		"interval without a unit":          {signOutForm("", "", false, "", false, "5"), "refresh_token_reuse_interval", "Add a unit to &#34;5&#34;"},
		"negative interval":                {signOutForm("", "", false, "", false, "-1s"), "refresh_token_reuse_interval", "is negative"},
		"fractional interval":              {signOutForm("", "", false, "", false, "1.5s"), "refresh_token_reuse_interval", "whole number of seconds"},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(tc.mod))
			if r.StatusCode != http.StatusUnprocessableEntity || errorsIn(r.body) != tc.field || !strings.Contains(r.body, tc.msg) {
				t.Fatalf("%d, errors on %q, want %q with %q", r.StatusCode, errorsIn(r.body), tc.field, tc.msg)
			}
		})
	}
}
