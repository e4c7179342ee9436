package outbound

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Each refusal of a non-public address, judged by NonPublic: a test fails
// when a rule is dropped.
func TestNonPublic(t *testing.T) {
	t.Parallel()
	refused := map[string]string{
		"127.0.0.1":        "loopback",
		"127.255.0.9":      "loopback",
		"::1":              "loopback",
		"10.1.2.3":         "private",
		"172.16.0.1":       "private",
		"172.31.255.254":   "private",
		"192.168.1.1":      "private",
		"fc00::1":          "private",
		"fd12:3456::1":     "private",
		"169.254.169.254":  "link-local", // cloud metadata endpoints
		"fe80::1":          "link-local",
		"fe80::1%eth0":     "link-local",
		"0.0.0.0":          "unspecified",
		"::":               "unspecified",
		"224.0.0.1":        "multicast",
		"239.255.255.250":  "multicast",
		"ff02::1":          "multicast",
		"ff05::2":          "multicast",
		"0.1.2.3":          `"this network"`,
		"100.64.0.1":       "shared (carrier-grade NAT)",
		"100.127.255.254":  "shared (carrier-grade NAT)",
		"192.0.0.8":        "IETF protocol assignment",
		"192.0.2.10":       "documentation",
		"198.51.100.7":     "documentation",
		"203.0.113.200":    "documentation",
		"198.18.0.1":       "benchmarking",
		"240.0.0.1":        "reserved",
		"255.255.255.255":  "reserved",
		"192.88.99.1":      "6to4 relay anycast",
		"2001:db8::1":      "documentation",
		"3fff::1":          "documentation",
		"100::1":           "discard-only",
		"2001:2::1":        "IETF protocol assignment",
		"fec0::1":          "site-local",
		"5f00::1":          "segment routing",
		"64:ff9b:1::1":     "local-use NAT64",
		"::ffff:127.0.0.1": "loopback",
		"::ffff:10.0.0.1":  "private",
		"64:ff9b::a00:1":   "private (through NAT64)",   // 10.0.0.1
		"64:ff9b::7f00:1":  "loopback (through NAT64)",  // 127.0.0.1
		"2002:a9fe:a9fe::": "link-local (through 6to4)", // 169.254.169.254
		"::127.0.0.1":      "not global unicast",        // IPv4-compatible
		"::ffff:0:7f00:1":  "not global unicast",        // SIIT
		"4000::1":          "not global unicast",
	}
	for s, want := range refused {
		if got := NonPublic(netip.MustParseAddr(s)); got != want {
			t.Errorf("NonPublic(%s) = %q, want %q", s, got, want)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "93.184.215.14", "172.32.0.1", "100.128.0.1", "192.0.3.1",
		"2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		if got := NonPublic(netip.MustParseAddr(s)); got != "" {
			t.Errorf("NonPublic(%s) = %q, want public", s, got)
		}
	}
	if NonPublic(netip.Addr{}) == "" {
		t.Error("the zero Addr counts as public")
	}
}

// receiver is a loopback HTTP server counting the requests it gets.
func receiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func wantForbidden(t *testing.T, err error, addr string) {
	t.Helper()
	var fe *ForbiddenError
	if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &fe) {
		t.Fatalf("got %v, want a refusal (ErrForbiddenAddress) for %s", err, addr)
	}
	if fe.Addr.String() != addr {
		t.Fatalf("refused %s, want %s", fe.Addr, addr)
	}
}

// Without AllowPrivate, a loopback receiver is never contacted: by IP
// literal, and by a name resolving to it (the check is on the address
// dialled, after resolution, so no name can smuggle one in).
func TestRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := receiver(t, nil)
	c := New(Options{})
	_, err := c.Get(t.Context(), srv.URL)
	wantForbidden(t, err, "127.0.0.1")

	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	_, err = c.PostForm(t.Context(), "http://localhost:"+port+"/x", url.Values{"a": {"b"}})
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("localhost: got %v, want ErrForbiddenAddress", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the loopback receiver got %d requests", hits.Load())
	}
}

// Private, link-local, unspecified and multicast addresses are refused
// at dial time, before any packet is sent (so these tests need no network
// and never wait for a connect timeout).
func TestRefusesNonPublicAddresses(t *testing.T) {
	t.Parallel()
	c := New(Options{ConnectTimeout: time.Second, Timeout: 2 * time.Second})
	for _, addr := range []string{"10.0.0.1", "192.168.0.1", "172.20.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "100.64.0.1", "198.51.100.1"} {
		begin := time.Now()
		_, err := c.Get(t.Context(), "http://"+addr+":80/")
		wantForbidden(t, err, addr)
		if d := time.Since(begin); d > 500*time.Millisecond {
			t.Errorf("%s: refusal took %v; the check must run before connecting", addr, d)
		}
	}
	// IPv6 literals (refused before connect even without an IPv6 route).
	for _, addr := range []string{"::1", "fd00::1", "fe80::1"} {
		_, err := c.Get(t.Context(), "http://["+addr+"]:80/")
		if !errors.Is(err, ErrForbiddenAddress) {
			// A host without IPv6 may fail to create the socket first;
			// that still sends nothing.
			if err == nil || !strings.Contains(err.Error(), "address family") && !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("[%s]: got %v, want ErrForbiddenAddress", addr, err)
			}
		}
	}
}

// checkDial refuses by the address it is given, whatever the name was.
func TestCheckDial(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"127.0.0.1:443", "[::1]:80", "10.0.0.5:8080", "[::ffff:192.168.0.1]:80"} {
		if err := checkDial("tcp", a, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("checkDial(%s) = %v, want ErrForbiddenAddress", a, err)
		}
	}
	for _, a := range []string{"8.8.8.8:443", "[2606:4700:4700::1111]:443"} {
		if err := checkDial("tcp", a, nil); err != nil {
			t.Errorf("checkDial(%s) = %v, want nil", a, err)
		}
	}
	if err := checkDial("tcp", "not-an-address", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("unparsable address: %v", err)
	}
}

// With AllowPrivate a loopback receiver gets the POST, with its form body
// and content type.
func TestAllowPrivateLoopback(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv, hits := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got.Store(r.Method + " " + r.Header.Get("Content-Type") + " " + r.PostForm.Get("logout_token") + " " + r.UserAgent())
		w.WriteHeader(http.StatusNoContent)
	})
	c := New(Options{AllowPrivate: true, UserAgent: "Gatehouse/test"})
	res, err := c.PostForm(t.Context(), srv.URL+"/bc", url.Values{"logout_token": {"abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusNoContent || hits.Load() != 1 {
		t.Fatalf("status %d, %d requests", res.StatusCode, hits.Load())
	}
	if want := "POST application/x-www-form-urlencoded abc Gatehouse/test"; got.Load() != want {
		t.Fatalf("receiver saw %q, want %q", got.Load(), want)
	}
}

// Only http and https.
func TestRefusesOtherSchemes(t *testing.T) {
	t.Parallel()
	c := New(Options{AllowPrivate: true})
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "javascript:alert(1)", "//example.com/x", "/relative"} {
		if _, err := c.Get(t.Context(), u); !errors.Is(err, ErrScheme) {
			t.Errorf("%s: got %v, want ErrScheme", u, err)
		}
	}
}

// Credentials in the URL are refused rather than sent as Basic auth.
func TestRefusesUserinfo(t *testing.T) {
	t.Parallel()
	srv, hits := receiver(t, nil)
	c := New(Options{AllowPrivate: true})
	u := strings.Replace(srv.URL, "http://", "http://user:pass@", 1)
	if _, err := c.Get(t.Context(), u); err == nil || hits.Load() != 0 {
		t.Fatalf("URL with credentials: err %v, %d requests", err, hits.Load())
	}
}

// A redirect is returned, never followed: the target is not contacted.
func TestNoRedirects(t *testing.T) {
	t.Parallel()
	target, targetHits := receiver(t, nil)
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	c := New(Options{AllowPrivate: true})
	for _, do := range []func() (*Response, error){
		func() (*Response, error) { return c.Get(t.Context(), srv.URL) },
		func() (*Response, error) { return c.PostForm(t.Context(), srv.URL, url.Values{"x": {"y"}}) },
	} {
		res, err := do()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != target.URL+"/elsewhere" {
			t.Fatalf("got %d %q, want the 307 itself", res.StatusCode, res.Header.Get("Location"))
		}
	}
	if targetHits.Load() != 0 {
		t.Fatalf("redirect followed: the target got %d requests", targetHits.Load())
	}
}

// A server slower than Timeout fails the request at Timeout.
func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := New(Options{AllowPrivate: true, Timeout: 300 * time.Millisecond})
	begin := time.Now()
	_, err := c.Get(t.Context(), srv.URL)
	if err == nil {
		t.Fatal("a server that never answers did not fail the request")
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("failed after %v, want about 300ms", d)
	}
	// A body that trickles in past the deadline fails too.
	slow, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		for range 20 {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})
	if _, err := c.Get(t.Context(), slow.URL); err == nil {
		t.Fatal("a body arriving over 1 s did not fail a 300 ms request")
	}
}

// The body is capped: exactly the cap is fine, one byte more is an error.
func TestResponseCap(t *testing.T) {
	t.Parallel()
	const max = 1000
	size := atomic.Int64{}
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", int(size.Load())))
	})
	c := New(Options{AllowPrivate: true, MaxResponseBytes: max})
	size.Store(max)
	res, err := c.Get(t.Context(), srv.URL)
	if err != nil || len(res.Body) != max {
		t.Fatalf("body of exactly the cap: %v", err)
	}
	size.Store(max + 1)
	if _, err := c.Get(t.Context(), srv.URL); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("body over the cap: got %v, want ErrResponseTooLarge", err)
	}
	size.Store(10 * max)
	if _, err := c.Get(t.Context(), srv.URL); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("body far over the cap: got %v, want ErrResponseTooLarge", err)
	}
}

// A proxy set in the environment is ignored: otherwise the address check
// would judge the proxy, and the proxy would fetch anything.
func TestIgnoresEnvironmentProxy(t *testing.T) {
	proxy, proxyHits := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	c := New(Options{ConnectTimeout: time.Second, Timeout: 2 * time.Second})
	_, err := c.Get(t.Context(), "http://10.0.0.1/")
	wantForbidden(t, err, "10.0.0.1")
	if proxyHits.Load() != 0 {
		t.Fatalf("the environment's proxy got %d requests", proxyHits.Load())
	}
}

// Errors do not repeat the URL (which may carry what callers do not log).
func TestErrorsOmitURL(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	_, err := c.Get(t.Context(), "http://127.0.0.1:1/path?secret=s3cr3t")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v", err)
	}
}

// WithMaxResponseBytes narrows the cap of one caller's client and keeps
// the original's.
func TestWithMaxResponseBytes(t *testing.T) {
	t.Parallel()
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", 5<<10+1))
	})
	c := New(Options{AllowPrivate: true})
	small := c.WithMaxResponseBytes(5 << 10)
	if _, err := small.Get(t.Context(), srv.URL); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("5 KB cap, 5 KB + 1 body: got %v, want ErrResponseTooLarge", err)
	}
	if res, err := c.Get(t.Context(), srv.URL); err != nil || len(res.Body) != 5<<10+1 {
		t.Fatalf("the original client's cap changed: %v", err)
	}
}

// RootCAs makes a test TLS server trusted; without it, its certificate is
// refused; the address rule stays in force either way.
func TestRootCAs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	if res, err := New(Options{AllowPrivate: true, RootCAs: pool}).Get(t.Context(), srv.URL); err != nil || string(res.Body) != "ok" {
		t.Fatalf("trusted test server: %v", err)
	}
	if _, err := New(Options{AllowPrivate: true}).Get(t.Context(), srv.URL); err == nil {
		t.Fatal("an unknown certificate authority was accepted")
	}
	_, err := New(Options{RootCAs: pool}).Get(t.Context(), srv.URL)
	wantForbidden(t, err, "127.0.0.1")
}
