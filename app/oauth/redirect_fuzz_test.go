package oauth

import (
	"net"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzMatchRedirectURI checks what a redirect URI match promises, for a
// registered URI that passed ValidateRedirectURI and any requested one:
//   - exact mode matches only the byte-equal string, or, for a loopback IP
//     literal, the same URI on another port (RFC 8252 §7.3);
//   - a match never changes the scheme, the host or (except that loopback
//     case) the port, never has user info or a fragment, and never has a
//     backslash before the query (browsers read it as "/");
//   - prefix mode matches only paths at or below the registered one, also
//     after percent-decoding and resolving dot segments the way a browser
//     does, and the way lenient servers do: decoding twice, or dropping
//     ";" path parameters ("/cb/..;/x").
func FuzzMatchRedirectURI(f *testing.F) {
	seeds := [][2]string{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com/cb/deeper"},
		{"https://app.example.com/cb", "https://app.example.com/cb/../admin"},
		{"https://app.example.com/cb", "https://app.example.com/cb/%2e%2E/admin"},
		{"https://app.example.com/cb", "https://app.example.com/cb/.%2e/admin"},
		{"https://app.example.com/cb", `https://app.example.com/cb\..\admin`},
		{"https://app.example.com/cb", `https://app.example.com\@evil.com/cb`},
		{"https://app.example.com/cb", "https://app.example.com@evil.com/cb"},
		{"https://app.example.com/cb", "https://evil@app.example.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com/cb#frag"},
		{"https://app.example.com/cb", "https://app.example.com.evil.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com:444/cb"},
		{"https://app.example.com/cb", "http://app.example.com/cb"},
		{"https://app.example.com/cb", "https://APP.example.com/cb/x?y=1"},
		{"https://app.example.com/cb", "https://app.example.com/cb%2f..%2fadmin"},
		{"https://app.example.com/cb", "https://app.example.com/cbx"},
		{"https://app.example.com/", "https://app.example.com//evil.com/x"},
		{"https://app.example.com", "https://app.example.com/anything"},
		{"http://127.0.0.1/native", "http://127.0.0.1:51234/native"},
		{"http://[::1]:9/v6", "http://[::1]:4000/v6"},
		{"http://localhost:3000/dev", "http://localhost:4000/dev"},
		{"https://app.example.com/cb?a=1", "https://app.example.com/cb?a=1"},
		{"https://app.example.com/cb", "https://app.example.com/cb;/../admin"},
		{"https://app.example.com/cb", "https://app.example.com/cb/..;/admin"},
		{"https://app.example.com/cb", "https://app.example.com/cb/%252e%252e/admin"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, registered, requested string, exact bool) {
		if ValidateRedirectURI(registered) != nil {
			return
		}
		if !MatchRedirectURI([]string{registered}, requested, exact) {
			return
		}
		if requested == registered {
			return
		}
		fail := func(why string) {
			t.Fatalf("%s: registered %q, requested %q, exact %v", why, registered, requested, exact)
		}
		if strings.Contains(requested, "#") {
			fail("fragment matched")
		}
		beforeQuery, _, _ := strings.Cut(requested, "?")
		if strings.Contains(beforeQuery, `\`) {
			fail("backslash matched")
		}
		reg, err := url.Parse(registered)
		if err != nil {
			fail("registered unparsable")
		}
		req, err := url.Parse(requested)
		if err != nil {
			fail("unparsable URI matched")
		}
		if req.User != nil || strings.Contains(req.Host, "@") {
			fail("user info matched")
		}
		if req.Scheme != reg.Scheme {
			fail("scheme changed")
		}
		if !strings.EqualFold(req.Hostname(), reg.Hostname()) {
			fail("host changed")
		}
		ip := net.ParseIP(reg.Hostname())
		loopbackLiteral := reg.Scheme == "http" && ip != nil && ip.IsLoopback()
		if req.Port() != reg.Port() && !loopbackLiteral {
			fail("port changed")
		}
		if exact && !loopbackLiteral {
			fail("exact mode matched a different string")
		}
		if exact {
			// Loopback: only the port may differ.
			if req.Scheme+"://"+req.Hostname()+req.RequestURI() != reg.Scheme+"://"+reg.Hostname()+reg.RequestURI() {
				fail("loopback match differs in more than the port")
			}
			return
		}
		// Prefix mode: the path a browser or a lenient server ends up on
		// is at or below the registered one.
		rps, qps := serverPaths(reg), serverPaths(req)
		for i, qp := range qps {
			rp := rps[i]
			if qp != rp && !strings.HasPrefix(qp, strings.TrimSuffix(rp, "/")+"/") {
				fail("path escaped the registered one (" + qp + " vs " + rp + ")")
			}
		}
	})
}

// serverPaths are the paths a browser or server may end up with, in a
// fixed order: percent-decoded once (a browser), twice (a server that
// decodes again), and with ";" path parameters dropped before decoding
// (servlet containers); each with backslashes read as slashes and dot
// segments resolved.
func serverPaths(u *url.URL) []string {
	p := u.EscapedPath()
	var noParams []string
	for _, seg := range strings.Split(p, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		noParams = append(noParams, seg)
	}
	once := unescape(p)
	return []string{resolve(once), resolve(unescape(once)), resolve(unescape(strings.Join(noParams, "/")))}
}

func unescape(p string) string {
	if d, err := url.PathUnescape(p); err == nil {
		return d
	}
	return p
}

// resolve reads backslashes as slashes and resolves dot segments.
func resolve(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
