package components

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestIcon(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"fa-solid fa-user":          `<i class="fa-solid fa-user" aria-hidden="true"></i>`,
		"https://example.com/a.png": `src="https://example.com/a.png"`,
		"/icons/app.png":            `src="/icons/app.png"`,
		"javascript:alert(1)":       "",
		"//evil.example/x.png":      "",
		"":                          "",
	} {
		var sb strings.Builder
		if err := Icon(in).Render(context.Background(), &sb); err != nil {
			t.Fatal(err)
		}
		got := sb.String()
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("Icon(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextField(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	f := Field{Name: "email", Label: "Email", Type: "email", Value: "a@b", Error: "Bad.", Help: "Used for notices.", Required: true}
	if err := TextField(f).Render(context.Background(), &sb); err != nil {
		t.Fatal(err)
	}
	html := sb.String()
	for _, w := range []string{`for="email"`, `id="email"`, `value="a@b"`, `aria-invalid="true"`, `aria-describedby="email-error email-help"`, `required`, "Bad.", "Used for notices."} {
		if !strings.Contains(html, w) {
			t.Errorf("missing %q in %s", w, html)
		}
	}
	sb.Reset()
	_ = TextField(Field{Name: "password", Label: "Password", Type: "password", Value: "secret"}).Render(context.Background(), &sb)
	if strings.Contains(sb.String(), "secret") || strings.Contains(sb.String(), "aria-invalid") {
		t.Errorf("password field: %s", sb.String())
	}
}

// An invalid text area takes the focus like an invalid text input (the
// first such field in the page wins), so that an error in a JWK Set or a
// list leaves the focus on it, not on the page.
func TestInvalidFieldsAutofocus(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]func(Field) interface {
		Render(context.Context, io.Writer) error
	}{
		"TextField": func(f Field) interface {
			Render(context.Context, io.Writer) error
		} {
			return TextField(f)
		},
		"TextArea": func(f Field) interface {
			Render(context.Context, io.Writer) error
		} {
			return TextArea(f)
		},
	} {
		var sb strings.Builder
		_ = c(Field{Name: "jwks", Label: "Keys", Error: "Bad."}).Render(context.Background(), &sb)
		if !strings.Contains(sb.String(), " autofocus") {
			t.Errorf("%s with an error has no autofocus: %s", name, sb.String())
		}
		sb.Reset()
		_ = c(Field{Name: "jwks", Label: "Keys"}).Render(context.Background(), &sb)
		if strings.Contains(sb.String(), " autofocus") {
			t.Errorf("%s without an error has autofocus", name)
		}
	}
}
