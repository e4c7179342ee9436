package oauth

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Resource is an API tokens can be issued for (RFC 8707): its URI is the
// tokens' audience.
type Resource struct {
	URI         string // canonical (CanonicalResource), absolute
	Name        string
	Description string
	Icon        string
	// Builtin marks Gatehouse's own API, {issuer}/api (BuiltinResource).
	Builtin bool
}

// ResourceModel lists the registered resources (the built-in one is not
// stored: the core adds it).
type ResourceModel interface {
	ListResources(ctx context.Context) ([]Resource, error)
}

// BuiltinResourcePath is how the built-in resource, {issuer}/api, is
// stored in a scope's Resource: relative to the issuer, so that it follows
// the issuer.
const BuiltinResourcePath = "/api"

// BuiltinResource is the built-in resource of an issuer: Gatehouse's own
// API (/api/user).
func BuiltinResource(issuer string) Resource {
	uri, _ := CanonicalResource(strings.TrimRight(issuer, "/") + BuiltinResourcePath)
	return Resource{URI: uri, Name: "Gatehouse API", Description: "The user profile at /api/user.", Icon: "fa-solid fa-server", Builtin: true}
}

// ResolveResource turns a scope's stored resource into its URI: the
// built-in path becomes {issuer}/api; "" stays "".
func ResolveResource(issuer, stored string) string {
	if stored == BuiltinResourcePath {
		return BuiltinResource(issuer).URI
	}
	return stored
}

// StoredResource is the inverse of ResolveResource for a canonical URI.
func StoredResource(issuer, uri string) string {
	if uri != "" && uri == BuiltinResource(issuer).URI {
		return BuiltinResourcePath
	}
	return uri
}

// CanonicalResource checks a resource indicator (RFC 8707 §2: an
// absolute URI without a fragment) and returns its canonical form, which
// is how resources are stored and compared: the scheme and host in lower
// case, the scheme's default port dropped, and a trailing slash of the
// path dropped. Nothing else changes: no percent-decoding, no dot
// segments resolved, the path and query compared as they are.
func CanonicalResource(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("a resource must not be empty")
	}
	if len(raw) > 2000 {
		return "", fmt.Errorf("a resource is at most 2000 characters")
	}
	for _, r := range raw {
		if r <= 0x20 || r == 0x7f {
			return "", fmt.Errorf("a resource must not contain spaces or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("a resource must be an absolute URI")
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("a resource must be an absolute URI such as https://api.example.com")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fmt.Errorf("a resource must not contain a fragment (RFC 8707 §2)")
	}
	if u.User != nil {
		return "", fmt.Errorf("a resource must not contain a user name or password")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("a resource must be an https (or http) URI")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("a resource must name a host")
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	// The path and query exactly as sent: take them from raw, after the
	// authority, so that no escaping is undone or redone.
	rest := raw[len(u.Scheme)+3:]
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	path, query := rest, ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		path, query = rest[:i], rest[i:]
	}
	path = strings.TrimSuffix(path, "/")
	return scheme + "://" + host + path + query, nil
}

// ParseResources checks the resource parameters of a request and returns
// their canonical URIs, sorted and without duplicates. A malformed one is
// invalid_target.
func ParseResources(values []string) ([]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	if len(values) > 20 {
		return nil, ErrInvalidTarget.WithDescription("at most 20 resource parameters")
	}
	seen := make(map[string]bool, len(values))
	out := make([]string, 0, len(values))
	for _, v := range values {
		c, err := CanonicalResource(v)
		if err != nil {
			return nil, ErrInvalidTarget.WithDescription("resource %q: %v", truncate(v, 100), err)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

// JoinResources is how a list of resources is stored: space-separated.
func JoinResources(uris []string) string { return strings.Join(uris, " ") }

// SplitResources is the inverse of JoinResources.
func SplitResources(s string) []string { return strings.Fields(s) }
