package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// The grammar of what a scope guards: an HTTP method and a resource path.
// Guards matches a request against them and CleanResourcePath
// puts request targets in the form the paths are compared in.

// ScopeMethods are the HTTP methods a scope can guard ("*" means every
// method; GET also guards HEAD, see Guards).
var ScopeMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "*"}

// MaxResourcePathLength bounds a scope's resource path, in bytes.
const MaxResourcePathLength = 500

// ValidateResourcePath returns why p cannot be a scope's resource path, or
// nil ("" is allowed: the scope guards nothing). The error's text is a
// sentence for the person defining the scope. Paths are compared with
// cleaned request paths (CleanResourcePath), so a path must be clean
// itself to ever match: absolute, no "." or ".." segments, no "//", no
// query, fragment or percent-encoding; "*" only as the last character,
// where it stands for the subtree.
func ValidateResourcePath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > MaxResourcePathLength {
		return fmt.Errorf("Use at most %d characters.", MaxResourcePathLength)
	}
	if !strings.HasPrefix(p, "/") {
		return errors.New("Start the path with /, for example /api/orders.")
	}
	base := strings.TrimSuffix(p, "*")
	if strings.Contains(base, "*") {
		return errors.New("A * may only end the path, as in /api/orders/*.")
	}
	for _, r := range base {
		if !resourcePathChar(r) {
			if r == '?' || r == '#' {
				return errors.New("Leave out the query string and fragment: a scope guards a path.")
			}
			if r == '%' {
				return errors.New("Write the path as it reads, without percent-encoding.")
			}
			return errors.New("Use letters, digits and - . _ ~ ! $ & ' ( ) + , ; = : @ / only.")
		}
	}
	clean := path.Clean(base)
	if strings.HasSuffix(base, "/") && clean != "/" {
		clean += "/"
	}
	if clean != base {
		return errors.New(`Write the path without "//", "." or ".." segments.`)
	}
	return nil
}

// resourcePathChar reports whether r may appear in a scope's resource
// path: RFC 3986 pchar and "/", without percent-encoding.
func resourcePathChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-._~!$&'()+,;=:@/", r)
}

// Guards reports whether scope sc guards method on the cleaned path p. A
// resource path ending in "*" guards its subtree ("/api/*" guards /api and
// everything below /api/); method "*" guards every method, and GET also
// guards HEAD.
func Guards(sc Scope, method, p string) bool {
	if sc.ResourcePath == "" {
		return false
	}
	m := strings.ToUpper(sc.Method)
	method = strings.ToUpper(method)
	if m != "*" && m != method && (m != "GET" || method != "HEAD") {
		return false
	}
	rp := sc.ResourcePath
	if prefix, ok := strings.CutSuffix(rp, "*"); ok {
		base := strings.TrimSuffix(prefix, "/")
		return p == base || p == base+"/" || strings.HasPrefix(p, base+"/") || (base == "" && strings.HasPrefix(p, "/"))
	}
	return p == rp
}

// CleanResourcePath turns a request target (path, maybe with a query,
// maybe percent-encoded) into the canonical path the scope rules compare:
// decoded, without the query, with "." and ".." resolved. Targets that
// are not absolute paths, that hide a "/" or "\" in percent-encoding,
// that carry ";" path parameters, an encoded "%" (which a backend that
// decodes twice reads as another path: "%252e%252e" is ".."), a raw "#",
// or what hiddenTraversal finds (control characters, invalid UTF-8,
// Unicode dot look-alikes), are refused.
func CleanResourcePath(target string) (string, bool) {
	// A request target has no fragment: a raw "#" is something a proxy
	// passed on that the backend may read as part of the path
	// ("/pub/x#/../../admin" is /admin to some).
	if strings.Contains(target, "#") {
		return "", false
	}
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if !strings.HasPrefix(target, "/") {
		return "", false
	}
	// What could make the resource the backend serves differ from the
	// one checked here ("/files/..;/admin", "/files/%252e%252e/admin").
	if hidesSeparator(target) {
		return "", false
	}
	dec, err := url.PathUnescape(target)
	if err != nil || hiddenTraversal(dec, true) {
		return "", false
	}
	clean := path.Clean(dec)
	if strings.HasSuffix(dec, "/") && clean != "/" {
		clean += "/"
	}
	return clean, true
}
