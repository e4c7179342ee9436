package oauth

import (
	"net"
	"net/url"
	"strings"
)

// MatchRedirectURI reports whether the redirect_uri of a request is one
// the client registered. With exact set (require_exact_redirect_uri), the
// strings must be equal (RFC 6749 §3.1.2.3), except that for a registered
// loopback IP literal (http://127.0.0.1, http://[::1]) any port is accepted
// (RFC 8252 §7.3). With exact unset, the same scheme, host and port and a
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

// loopbackMatch: registered is http on a loopback IP literal; requested
// differs at most in the port.
func loopbackMatch(reg, req *url.URL) bool {
	if reg.Scheme != "http" || req.Scheme != "http" {
		return false
	}
	ip := net.ParseIP(reg.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return false
	}
	if reg.Hostname() != req.Hostname() {
		return false
	}
	return reg.EscapedPath() == req.EscapedPath() && reg.RawQuery == req.RawQuery
}

// prefixMatch: same scheme, host and port, and the requested path is the
// registered one or below it (on a segment boundary), without dot
// segments that could climb out of it.
func prefixMatch(reg, req *url.URL) bool {
	if reg.Scheme != req.Scheme || !strings.EqualFold(reg.Host, req.Host) {
		return false
	}
	rp, qp := reg.EscapedPath(), req.EscapedPath()
	for _, seg := range strings.Split(qp, "/") {
		s := strings.ToLower(seg)
		if s == "." || s == ".." || strings.Contains(s, "%2e") || strings.Contains(s, "%2f") || strings.Contains(s, "%5c") {
			return false
		}
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

// originOf returns scheme://host[:port] of a URL ("" when unparsable):
// the origin a browser is sent to.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
