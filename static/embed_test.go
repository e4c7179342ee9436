package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"sync"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	data, err := fs.ReadFile(FS, "css/app.css")
	if err != nil {
		t.Fatalf("css/app.css is not embedded: %v", err)
	}
	sum := sha256.Sum256(data)
	want := "/static/css/app.css?v=" + hex.EncodeToString(sum[:])[:10]

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := URL("css/app.css"); got != want {
				t.Errorf("URL(css/app.css) = %q, want %q", got, want)
			}
		}()
	}
	wg.Wait()
	if got := URL("/css/app.css"); got != want {
		t.Errorf("URL(/css/app.css) = %q, want %q", got, want)
	}
	if got := URL("missing.css"); got != "/static/missing.css" {
		t.Errorf("URL(missing.css) = %q, want the plain path", got)
	}
}

func TestEmbeddedAssets(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"css/app.css",
		"img/favicon.svg",
		"vendor/fontawesome/css/all.min.css",
		"vendor/fontawesome/webfonts/fa-solid-900.woff2",
		"vendor/fontawesome/webfonts/fa-regular-400.woff2",
		"vendor/fontawesome/webfonts/fa-brands-400.woff2",
	} {
		if _, err := fs.Stat(FS, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	css, _ := fs.ReadFile(FS, "vendor/fontawesome/css/all.min.css")
	if strings.Contains(string(css), "url(http") || strings.Contains(string(css), "url(//") {
		t.Error("Font Awesome CSS refers to a remote URL")
	}
}
