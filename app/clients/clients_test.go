package clients

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

var known = []string{"openid", "profile", "user.read"}

func valid() Input {
	return Input{
		Name: "  Acme  ", Homepage: "http://localhost:3000", Icon: "https://cdn.example.com/i.png",
		RedirectURIs: []string{"https://app.example.com/cb", " https://app.example.com/cb ", ""},
		GrantTypes:   []string{"authorization_code", "refresh_token", "authorization_code"},
		Scopes:       []string{"openid", "openid"},
	}
}

func TestNormalizeAndValidate(t *testing.T) {
	t.Parallel()
	in := valid()
	in.Normalize()
	if errs := in.Validate(known); len(errs) != 0 {
		t.Fatalf("valid input refused: %v", errs)
	}
	if in.Name != "Acme" || len(in.RedirectURIs) != 1 || len(in.GrantTypes) != 2 || len(in.Scopes) != 1 {
		t.Fatalf("not normalized: %+v", in)
	}

	cases := []struct {
		name  string
		mod   func(*Input)
		field string
		want  string
	}{
		{"empty name", func(in *Input) { in.Name = "" }, FieldName, "Give the client a name"},
		{"long name", func(in *Input) { in.Name = strings.Repeat("é", 101) }, FieldName, "at most 100"},
		{"name of 100 runes is fine", func(in *Input) { in.Name = strings.Repeat("é", 100) }, "", ""},
		{"control character in name", func(in *Input) { in.Name = "a\nb" }, FieldName, "single line"},
		{"long description", func(in *Input) { in.Description = strings.Repeat("x", 1001) }, FieldDescription, "at most 1000"},
		{"http icon", func(in *Input) { in.Icon = "http://cdn.example.com/i.png" }, FieldIcon, "https"},
		{"data icon", func(in *Input) { in.Icon = "data:image/svg+xml,<svg/>" }, FieldIcon, "https"},
		{"SVG icon URL", func(in *Input) { in.Icon = "https://example.com/icon.svg" }, FieldIcon, "SVG images are not accepted"},
		{"SVG icon URL, upper case, with a query", func(in *Input) { in.Icon = "https://example.com/a/Icon.SVG?v=2" }, FieldIcon, "SVG images are not accepted"},
		{"compressed SVG icon URL", func(in *Input) { in.Icon = "https://example.com/icon.svgz" }, FieldIcon, "SVG"},
		{"svg only in the query", func(in *Input) { in.Icon = "https://example.com/icon.png?as=.svg" }, "", ""},
		{"svg in a directory name", func(in *Input) { in.Icon = "https://example.com/svg/icon.png" }, "", ""},
		{"uploaded icon", func(in *Input) { in.Icon = IconPath(strings.Repeat("ab", 32)) }, "", ""},
		{"bad icon path", func(in *Input) { in.Icon = "/icons/../etc/passwd" }, FieldIcon, "https"},
		{"ftp homepage", func(in *Input) { in.Homepage = "ftp://example.com" }, FieldHomepage, "https:// or http://"},
		{"homepage with password", func(in *Input) { in.Homepage = "https://u:p@example.com" }, FieldHomepage, "user name or password"},
		{"relative redirect", func(in *Input) { in.RedirectURIs = []string{"/cb"} }, FieldRedirectURIs, `"/cb" must be an absolute URL`},
		{"http redirect", func(in *Input) { in.RedirectURIs = []string{"http://app.example.com/cb"} }, FieldRedirectURIs, `"http://app.example.com/cb" must use https`},
		{"loopback http redirect", func(in *Input) { in.RedirectURIs = []string{"http://[::1]:8080/cb"} }, "", ""},
		{"every bad redirect named", func(in *Input) {
			in.RedirectURIs = []string{"http://x.example/cb", "https://ok.example/cb", "not", "https://a.example/cb#x"}
		}, FieldRedirectURIs, `"http://x.example/cb" must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost); "not" must be an absolute URL such as https://app.example.com/callback; "https://a.example/cb#x" must not contain a fragment (#...).`},
		{"bad redirects with the same problem share it", func(in *Input) {
			in.RedirectURIs = []string{"/1", "http://x.example/cb", "/2", "/3"}
		}, FieldRedirectURIs, `"/1", "/2" and "/3" each must be an absolute URL such as https://app.example.com/callback; "http://x.example/cb" must use https`},
		{"many bad redirects counted", func(in *Input) {
			in.RedirectURIs = []string{"/1", "/2", "/3", "/4", "/5", "/6", "/7", "https://ok.example/cb"}
		}, FieldRedirectURIs, `"/1", "/2", "/3", "/4" and "/5" each must be an absolute URL such as https://app.example.com/callback; and 2 more.`},
		{"fragment", func(in *Input) { in.RedirectURIs = []string{"https://a.example/cb#x"} }, FieldRedirectURIs, "fragment"},
		{"too many redirects", func(in *Input) {
			in.RedirectURIs = nil
			for i := range MaxRedirectURIs + 1 {
				in.RedirectURIs = append(in.RedirectURIs, "https://a.example/"+strings.Repeat("x", i))
			}
		}, FieldRedirectURIs, "at most 50"},
		{"code without redirect", func(in *Input) { in.RedirectURIs = nil }, FieldRedirectURIs, "at least one redirect URI"},
		{"default grants without redirect", func(in *Input) { in.RedirectURIs, in.GrantTypes = nil, nil }, FieldRedirectURIs, "at least one redirect URI"},
		{"client credentials needs no redirect", func(in *Input) {
			in.RedirectURIs, in.GrantTypes = nil, []string{"client_credentials"}
		}, "", ""},
		{"unknown grant", func(in *Input) { in.GrantTypes = []string{"magic"} }, FieldGrantTypes, `"magic" is not a grant type`},
		{"public client credentials", func(in *Input) {
			in.Public, in.GrantTypes = true, []string{"client_credentials"}
		}, FieldGrantTypes, "Public clients cannot use client credentials"},
		{"public JWT bearer", func(in *Input) {
			in.Public, in.GrantTypes = true, []string{"authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"}
		}, FieldGrantTypes, "Public clients cannot use the JWT bearer grant"},
		{"JWT bearer needs no redirect", func(in *Input) {
			in.RedirectURIs, in.GrantTypes = nil, []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}
		}, "", ""},
		{"unknown scope", func(in *Input) { in.Scopes = []string{"openid", "root"} }, FieldScopes, `"root" is not a scope`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			in.Normalize()
			tc.mod(&in)
			errs := in.Validate(known)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if !strings.Contains(errs[tc.field], tc.want) {
				t.Fatalf("errs[%s] = %q, want it to contain %q (all: %v)", tc.field, errs[tc.field], tc.want, errs)
			}
			if len(errs) != 1 {
				t.Errorf("more errors than expected: %v", errs)
			}
		})
	}
}

func TestNewIcon(t *testing.T) {
	t.Parallel()
	pngHeader := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	webp := []byte("RIFF\x24\x00\x00\x00WEBPVP8 ")
	for name, data := range map[string][]byte{"png": pngHeader, "jpeg": jpeg, "webp": webp} {
		img, err := NewIcon(data)
		if err != nil {
			t.Fatalf("%s refused: %v", name, err)
		}
		sum := sha256.Sum256(data)
		if img.ID != hex.EncodeToString(sum[:]) || img.ContentType != "image/"+name || !bytes.Equal(img.Data, data) {
			t.Errorf("%s: %+v", name, img.ContentType)
		}
	}
	for name, data := range map[string][]byte{
		"svg":      []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`),
		"bare svg": []byte(`<svg onload="alert(1)"></svg>`),
		"html":     []byte(`<!DOCTYPE html><script>alert(1)</script>`),
		"gif":      []byte("GIF89a\x01\x00\x01\x00"),
		"empty":    nil,
	} {
		if _, err := NewIcon(data); !errors.Is(err, ErrIconType) {
			t.Errorf("%s: err = %v, want ErrIconType", name, err)
		}
	}
	big := append(bytes.Clone(pngHeader), make([]byte, MaxIconBytes)...)
	if _, err := NewIcon(big); !errors.Is(err, ErrIconTooLarge) {
		t.Errorf("oversize: err = %v", err)
	}
	if _, err := NewIcon(big[:MaxIconBytes]); err != nil {
		t.Errorf("exactly the limit refused: %v", err)
	}
}

type fakeStore struct{ created []*models.Client }

func (f *fakeStore) ListScopes(context.Context) ([]models.Scope, error) {
	return []models.Scope{{ScopeID: "openid"}, {ScopeID: "user.read"}}, nil
}
func (f *fakeStore) CreateClient(_ context.Context, c *models.Client) error {
	f.created = append(f.created, c)
	return nil
}
func (f *fakeStore) GetClient(_ context.Context, id string) (*models.Client, error) {
	for _, c := range f.created {
		if c.ClientID == id {
			return c, nil
		}
	}
	return nil, store.ErrNotFound
}

func TestCreate(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	owner := int64(7)
	c, plain, errs, err := Create(context.Background(), st, valid(), &owner)
	if err != nil || errs != nil {
		t.Fatal(err, errs)
	}
	if len(st.created) != 1 || c.Name != "Acme" || *c.OwnerID != 7 || len(c.ClientID) != 24 {
		t.Fatalf("created %+v", c)
	}
	if !strings.HasPrefix(plain, "gcs_") || !bytes.Equal(c.SecretHash, secret.Digest(plain)) || SecretHint(c) != "gcs_…"+plain[len(plain)-4:] {
		t.Fatal("secret, digest and hint disagree")
	}

	pub := valid()
	pub.Public = true
	c, plain, _, err = Create(context.Background(), st, pub, nil)
	if err != nil || plain != "" || c.SecretHash != nil || SecretHint(c) != "" || c.OwnerID != nil {
		t.Fatalf("public client: %v %q %+v", err, plain, c)
	}

	bad := valid()
	bad.Scopes = []string{"profile"} // not in this store
	_, _, errs, err = Create(context.Background(), st, bad, nil)
	if !errors.Is(err, ErrInvalid) || errs[FieldScopes] == "" || len(st.created) != 2 {
		t.Fatalf("invalid input: %v %v", err, errs)
	}
}

// readCloser is an uploaded file for ReadIcon; closed records its Close.
type readCloser struct {
	io.Reader
	closed bool
}

func (r *readCloser) Close() error { r.closed = true; return nil }

func TestReadIcon(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	big := append(bytes.Clone(png), make([]byte, MaxIconBytes)...)
	errOpen, errRead := errors.New("open failed"), errors.New("read failed")
	cases := []struct {
		name    string
		size    int64 // as announced
		data    []byte
		openErr error
		readErr error
		opened  bool // whether the file is read
		msg     string
		err     error
	}{
		{"png", int64(len(png)), png, nil, nil, true, "", nil},
		{"exactly the limit", MaxIconBytes, big[:MaxIconBytes], nil, nil, true, "", nil},
		{"announced too large", MaxIconBytes + 1, png, nil, nil, false, MsgIconTooLarge, nil},
		{"larger than announced", int64(len(png)), big, nil, nil, true, MsgIconTooLarge, nil},
		{"empty", 0, nil, nil, nil, true, MsgIconType, nil},
		{"svg", 40, []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), nil, nil, true, MsgIconType, nil},
		{"text", 5, []byte("hello"), nil, nil, true, MsgIconType, nil},
		{"gif", 10, []byte("GIF89a\x01\x00\x01\x00"), nil, nil, true, MsgIconType, nil},
		{"open fails", 10, nil, errOpen, nil, false, "", errOpen},
		{"read fails", 10, nil, nil, errRead, true, "", errRead},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f *readCloser
			open := func() (io.ReadCloser, error) {
				if tc.openErr != nil {
					return nil, tc.openErr
				}
				var r io.Reader = bytes.NewReader(tc.data)
				if tc.readErr != nil {
					r = iotest.ErrReader(tc.readErr)
				}
				f = &readCloser{Reader: r}
				return f, nil
			}
			img, msg, err := ReadIcon(tc.size, open)
			if msg != tc.msg || !errors.Is(err, tc.err) {
				t.Fatalf("msg %q err %v, want %q %v", msg, err, tc.msg, tc.err)
			}
			if (f != nil) != tc.opened || (f != nil && !f.closed) {
				t.Errorf("opened %v (closed %v), want opened %v and closed", f != nil, f != nil && f.closed, tc.opened)
			}
			switch {
			case msg == "" && err == nil && (img == nil || !bytes.Equal(img.Data, tc.data) || img.ContentType != "image/png"):
				t.Errorf("image %+v", img)
			case (msg != "" || err != nil) && img != nil:
				t.Errorf("an image with a problem: %+v", img)
			}
		})
	}
}
