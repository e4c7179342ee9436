package oauth

import (
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MatchRedirectURI reports whether the redirect_uri of a request is one
// the client registered. With exact set (require_exact_redirect_uri), the
// strings must be equal (RFC 6749 §3.1.2.3), except that for a registered
// loopback IP literal (http://127.0.0.1, http://[::1]) any port is accepted
// (RFC 8252 §7.3), and so is for http://localhost registered without a
// port. With exact unset, the same scheme, host and port and a
// path at or below a registered path also match.
func MatchRedirectURI(registered []string, requested string, exact bool) bool {
	if requested == "" || len(requested) > maxRedirectURILength || strings.Contains(requested, "#") {
		return false
	}
	var req *url.URL
	for _, r := range registered {
		if r == requested {
			return true
		}
		if req == nil {
			u, err := url.Parse(requested)
			if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" {
				return false
			}
			req = u
		}
		reg, err := url.Parse(r)
		if err != nil {
			continue
		}
		if loopbackMatch(reg, req) {
			return true
		}
		if !exact && prefixMatch(reg, req) {
			return true
		}
	}
	return false
}

// loopbackMatch: registered is http on a loopback IP literal, or on
// localhost without a port; requested differs at most in the port.
// localhost is a name (RFC 8252 §8.3 prefers the literals), but native and
// MCP clients such as Claude Code register http://localhost/callback and
// listen on a port chosen at run time; a registered port keeps the exact
// match.
func loopbackMatch(reg, req *url.URL) bool {
	if reg.Scheme != "http" || req.Scheme != "http" {
		return false
	}
	if ip := net.ParseIP(reg.Hostname()); ip == nil || !ip.IsLoopback() {
		if !strings.EqualFold(reg.Host, "localhost") {
			return false
		}
	}
	if reg.Hostname() != req.Hostname() {
		return false
	}
	return reg.EscapedPath() == req.EscapedPath() && reg.RawQuery == req.RawQuery
}

// prefixMatch: same scheme, host and port, and the requested path is the
// registered one or below it (on a segment boundary), without anything
// that could let it climb out of it (climbsOut).
func prefixMatch(reg, req *url.URL) bool {
	if reg.Scheme != req.Scheme || !strings.EqualFold(reg.Host, req.Host) {
		return false
	}
	rp, qp := reg.EscapedPath(), req.EscapedPath()
	if climbsOut(qp) {
		return false
	}
	if rp == "" {
		rp = "/"
	}
	if qp == "" {
		qp = "/"
	}
	if qp == rp {
		return true
	}
	base := strings.TrimSuffix(rp, "/")
	return strings.HasPrefix(qp, base+"/")
}

// climbsOut reports whether an escaped path could reach, on the client's
// server, a path other than the one it spells: a dot segment, spelled
// plainly or percent-encoded ("..", "%2e%2E", ".%2e"); an encoded "/" or
// "\"; a ";" path parameter, which some servers strip ("/cb/..;/x" is
// "/cb/../x" to them); or an encoded "%" ("%252e%252e"), which a server
// that decodes twice turns into a dot segment. CleanResourcePath refuses
// the same characters in the targets the scope rules check.
func climbsOut(escapedPath string) bool {
	if hidesSeparator(escapedPath) || strings.Contains(strings.ToLower(escapedPath), "%2e") {
		return true
	}
	// "//": a path the client's server may take for another host
	// ("//evil.example/x" is protocol-relative to many redirects).
	if strings.Contains(escapedPath, "//") {
		return true
	}
	// Dot segments, plain or in any other spelling.
	dec, err := url.PathUnescape(escapedPath)
	return err != nil || hiddenTraversal(dec, false)
}

// hidesSeparator reports whether an escaped path holds what a server may
// read as another path than the one it spells: a ";" path parameter
// (stripped by some: "/cb/..;/x" is "/cb/../x"), a backslash or an
// encoded "/" or backslash, or an encoded "%" (which a server that
// decodes twice turns into something else: "%252e%252e" is "..").
func hidesSeparator(escapedPath string) bool {
	if strings.ContainsAny(escapedPath, ";\\") {
		return true
	}
	low := strings.ToLower(escapedPath)
	for _, enc := range []string{"%25", "%2f", "%3b", "%5c"} {
		if strings.Contains(low, enc) {
			return true
		}
	}
	return false
}

// hiddenTraversal reports whether a decoded path holds what some server,
// decoder or file system may read as a dot segment or as the end of the
// path: invalid UTF-8 (the overlong "%c0%ae" is "." to old decoders),
// control characters ("..%00"), or a segment made only of dots and
// spaces once Unicode compatibility forms are folded ("．．", "‥", ".. ",
// "..."). allowDots lets the plain "." and ".." through, for callers that
// resolve them themselves.
func hiddenTraversal(decoded string, allowDots bool) bool {
	if !utf8.ValidString(decoded) {
		return true
	}
	for _, r := range decoded {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	for _, seg := range strings.Split(decoded, "/") {
		if allowDots && (seg == "." || seg == "..") {
			continue
		}
		folded := strings.ReplaceAll(norm.NFKC.String(seg), "\u3002", ".") // 。 ideographic full stop
		if strings.ContainsRune(folded, '.') && strings.Trim(folded, ". \t") == "" {
			return true
		}
	}
	return false
}

// originOf returns scheme://host[:port] of a URL ("" when unparsable):
// the origin a browser is sent to.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
