// Package outbound is the one HTTP client for the requests Gatehouse makes
// to URLs that clients and admins configure: back-channel logout tokens
// today, later jwks_uri and Client ID Metadata Documents. Such a URL is
// chosen by someone else, so every request is guarded against server-side
// request forgery:
//
//   - http and https only;
//   - redirects are never followed (a 3xx is returned as it is);
//   - short timeouts: to connect, for the TLS handshake, for the response
//     headers, and for the whole exchange;
//   - the response body is capped (ErrResponseTooLarge beyond the cap);
//   - no connection to a private, loopback, link-local, unspecified,
//     multicast or otherwise non-public address (ErrForbiddenAddress).
//     The check is made on the address actually dialled, after name
//     resolution (net.Dialer.Control), so a name that resolves to a public
//     address when checked and to a private one when used (DNS rebinding)
//     gets nowhere; no proxy from the environment is used, since the check
//     would then apply to the proxy rather than to the target.
//
// Options.AllowPrivate lifts the address rule (GATEHOUSE_ALLOW_PRIVATE_FETCH=1,
// for tests with receivers on loopback ports); the other rules stay.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultConnectTimeout   = 3 * time.Second
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
)

// Errors, matched with errors.Is.
var (
	// ErrForbiddenAddress is a connection refused because the address is
	// not a public one (and Options.AllowPrivate is off).
	ErrForbiddenAddress = errors.New("address is not public")
	// ErrScheme is a URL that is neither http nor https.
	ErrScheme = errors.New("only http and https URLs are fetched")
	// ErrResponseTooLarge is a response body longer than the cap.
	ErrResponseTooLarge = errors.New("response too large")
)

// Options configure a Client.
type Options struct {
	// AllowPrivate allows connections to any address, private and
	// loopback ones included (tests only).
	AllowPrivate bool
	// ConnectTimeout bounds establishing the TCP connection (and, again,
	// the TLS handshake); Timeout bounds the whole request, body
	// included. Zero means DefaultConnectTimeout and DefaultTimeout.
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// MaxResponseBytes caps the response body; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// UserAgent is sent with every request when not empty.
	UserAgent string
	// RootCAs, when not nil, replaces the system's certificate
	// authorities for https (tests with a local TLS server; a separate
	// process can set SSL_CERT_FILE instead).
	RootCAs *x509.CertPool
}

// Client sends guarded requests (see the package comment). It is safe for
// concurrent use.
type Client struct {
	http      *http.Client
	transport *http.Transport
	max       int64
	userAgent string
}

// Response is a response whose body has been read in full (at most the
// cap) and closed.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// New returns a Client.
func New(o Options) *Client {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = checkDial
	}
	tr := &http.Transport{
		// Never a proxy from HTTP_PROXY and friends: the address check
		// would then apply to the proxy, not to the target.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    o.ConnectTimeout,
		ResponseHeaderTimeout:  o.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	if o.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &Client{
		http: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		transport: tr,
		max:       o.MaxResponseBytes,
		userAgent: o.UserAgent,
	}
}

// WithMaxResponseBytes returns a Client that shares c's connections and
// every other rule of c but caps response bodies at n bytes (n > 0), for
// a caller whose documents are small (Client ID Metadata Documents: 5 KB).
func (c *Client) WithMaxResponseBytes(n int64) *Client {
	cp := *c
	if n > 0 {
		cp.max = n
	}
	return &cp
}

// Do sends req and reads the response. A redirect is not followed: its
// 3xx response is returned. Errors never include the request body.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		scheme := ""
		if req.URL != nil {
			scheme = req.URL.Scheme
		}
		return nil, fmt.Errorf("outbound: %w (got %q)", ErrScheme, scheme)
	}
	if req.URL.User != nil {
		// Credentials in a configured URL would be sent as Basic
		// authentication to whoever answers; refuse rather than guess.
		return nil, errors.New("outbound: URLs with credentials are not fetched")
	}
	if c.userAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, c.max+1))
	if err != nil {
		return nil, fmt.Errorf("outbound: reading the response: %w", unwrapURLError(err))
	}
	if int64(len(body)) > c.max {
		return nil, fmt.Errorf("outbound: %w (more than %d bytes)", ErrResponseTooLarge, c.max)
	}
	return &Response{StatusCode: res.StatusCode, Header: res.Header, Body: body}, nil
}

// PostForm POSTs form as application/x-www-form-urlencoded to u.
func (c *Client) PostForm(ctx context.Context, u string, form url.Values) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("outbound: bad URL: %w", unwrapURLError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// Get GETs u.
func (c *Client) Get(ctx context.Context, u string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("outbound: bad URL: %w", unwrapURLError(err))
	}
	return c.Do(req)
}

// CloseIdleConnections closes the idle connections of the client's pool.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// unwrapURLError drops the *url.Error wrapper, which repeats the method and
// the whole URL: callers say which URL they fetched, and a URL may carry
// more than they want logged.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("outbound: timed out: %w", ue.Err)
		}
		return fmt.Errorf("outbound: %w", ue.Err)
	}
	return err
}

// checkDial is the dialer's Control function: it runs after name
// resolution, for the very address about to be connected to, before any
// packet is sent.
func checkDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbiddenAddress, address)
	}
	if why := NonPublic(ap.Addr()); why != "" {
		return &ForbiddenError{Addr: ap.Addr(), Reason: why}
	}
	return nil
}

// ForbiddenError is a refused connection: Addr is not public, for Reason.
// It matches ErrForbiddenAddress with errors.Is.
type ForbiddenError struct {
	Addr   netip.Addr
	Reason string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("refusing to connect to %s: %s address is not public", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrForbiddenAddress) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbiddenAddress }

// special are the address blocks, beyond what netip's predicates name,
// that are not globally reachable (IANA IPv4 and IPv6 Special-Purpose
// Address Registries, RFC 6890 and its updates), with a word for the
// error message.
var special = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network"`},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and 255.255.255.255, broadcast
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("5f00::/16"), "segment routing"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// NonPublic says why a is not a public unicast address ("loopback",
// "private", ...), or returns "" when it is one. IPv4 addresses embedded
// in IPv6 ones (IPv4-mapped, NAT64, 6to4) are judged as the IPv4 address
// they reach.
func NonPublic(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = a.WithZone("")
	if a.Is4In6() {
		return NonPublic(a.Unmap())
	}
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.kind
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			if why := NonPublic(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
				return why + " (through NAT64)"
			}
		case sixToFour.Contains(a):
			if why := NonPublic(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
				return why + " (through 6to4)"
			}
		}
		// Outside global unicast (2000::/3) nothing is public: this
		// catches the deprecated IPv4-compatible form (::127.0.0.1) and
		// SIIT (::ffff:0:0/96), which translators may route inside.
		if !globalUnicast6.Contains(a) && !nat64.Contains(a) {
			return "not global unicast"
		}
	}
	return ""
}

// globalUnicast6 is IPv6's global unicast space (RFC 4291 §2.4).
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// CacheAge is how long a fetched response may be kept, from its headers
// (RFC 9111): Cache-Control max-age (no-store and no-cache mean lo), else
// Expires against Date (or now), else def; bounded to [lo, hi].
func CacheAge(h http.Header, now time.Time, def, lo, hi time.Duration) time.Duration {
	age := def
	found := false
	for _, cc := range h.Values("Cache-Control") {
		for _, d := range strings.Split(cc, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "no-store", "no-cache":
				return lo
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(v), `"`), 10, 64); err == nil && n >= 0 && !found {
					age = time.Duration(min(n, int64(hi/time.Second))) * time.Second
					found = true
				}
			}
		}
	}
	if !found && h.Get("Expires") != "" {
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		if e, err := http.ParseTime(h.Get("Expires")); err == nil {
			age = e.Sub(base)
		} else {
			age = 0 // an invalid Expires means already expired (RFC 9111 §5.3)
		}
	}
	return min(max(age, lo), hi)
}
