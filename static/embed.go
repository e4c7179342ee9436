// Package static embeds the dashboard's static assets (built CSS, vendored
// Font Awesome, images) and builds cache-busting URLs for them.
//
// The files are served under /static/ with a long, immutable cache lifetime;
// URL appends a content hash so that a changed file gets a new address.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"strings"
	"sync"
)

// FS holds the static files, rooted at this folder (e.g. "css/app.css").
//
//go:embed css img js vendor
var FS embed.FS

// Prefix is the URL path the application serves FS under.
const Prefix = "/static/"

var urls sync.Map // name -> versioned URL

// URL returns the public address of the static file name (a path relative
// to this folder, such as "css/app.css"), with a "?v=" query holding the
// first 10 hex digits of the file's SHA-256. The hash is computed once per
// name and cached. For a file that does not exist, URL returns the plain
// path without a version.
func URL(name string) string {
	name = strings.TrimPrefix(name, "/")
	if u, ok := urls.Load(name); ok {
		return u.(string)
	}
	data, err := fs.ReadFile(FS, name)
	if err != nil {
		return Prefix + name
	}
	sum := sha256.Sum256(data)
	u := Prefix + name + "?v=" + hex.EncodeToString(sum[:])[:10]
	actual, _ := urls.LoadOrStore(name, u)
	return actual.(string)
}
