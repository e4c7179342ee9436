// Command democlient is a small web app that signs its users in with
// Gatehouse the way any OAuth 2.0 / OpenID Connect client does, with
// golang.org/x/oauth2 and github.com/coreos/go-oidc:
//
//   - /login starts the authorization code flow with PKCE (S256), state
//     and nonce;
//   - /callback checks state, exchanges the code, verifies the ID token
//     (signature against the JWKS, issuer, audience, expiry, nonce) and
//     calls the protected API GET /api/user with the access token;
//   - the buttons refresh the tokens (refresh_token grant), revoke them
//     (RFC 7009) and sign out of this app.
//
// `make demo` runs it next to Gatehouse (see README.md). It is meant to be
// read: handlers.go holds the OAuth part.
//
// Configuration, flags over environment:
//
//	-addr         DEMO_ADDR          listen address (127.0.0.1:8000)
//	-url          DEMO_URL           this app's public URL; the redirect URI is URL/callback (http://localhost:8000)
//	-issuer       DEMO_ISSUER        Gatehouse's issuer URL (http://localhost:8080)
//	-client-file  DEMO_CLIENT_FILE   {"client_id", "client_secret"} as `gatehouse clients create --json` prints it (data/demo/client.json)
//	              DEMO_CLIENT_ID, DEMO_CLIENT_SECRET  the credentials instead of the file
//	-scopes       DEMO_SCOPES        the scopes to request
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the app's configuration.
type config struct {
	Addr, URL, Issuer, ClientFile string
	ClientID, ClientSecret        string
	Scopes                        []string
}

func loadConfig(args []string) (config, error) {
	var c config
	var scopes string
	fs := flag.NewFlagSet("democlient", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", cmp.Or(os.Getenv("DEMO_ADDR"), "127.0.0.1:8000"), "listen address")
	fs.StringVar(&c.URL, "url", cmp.Or(os.Getenv("DEMO_URL"), "http://localhost:8000"), "this app's public URL")
	fs.StringVar(&c.Issuer, "issuer", cmp.Or(os.Getenv("DEMO_ISSUER"), "http://localhost:8080"), "Gatehouse's issuer URL")
	fs.StringVar(&c.ClientFile, "client-file", cmp.Or(os.Getenv("DEMO_CLIENT_FILE"), "data/demo/client.json"), "client credentials (JSON)")
	fs.StringVar(&scopes, "scopes", cmp.Or(os.Getenv("DEMO_SCOPES"), "openid profile email user.read calendar.read contacts.read"), "scopes to request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	c.Scopes = strings.Fields(scopes)
	if u, err := url.Parse(c.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return c, fmt.Errorf("-url %q is not an http(s) URL", c.URL)
	}
	c.ClientID, c.ClientSecret = os.Getenv("DEMO_CLIENT_ID"), os.Getenv("DEMO_CLIENT_SECRET")
	if c.ClientID == "" {
		b, err := os.ReadFile(c.ClientFile)
		if err != nil {
			return c, fmt.Errorf("no client credentials: set DEMO_CLIENT_ID and DEMO_CLIENT_SECRET, or run `make demo` to register the demo client (%w)", err)
		}
		var f struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal(b, &f); err != nil || f.ClientID == "" {
			return c, fmt.Errorf("%s: want {\"client_id\": ..., \"client_secret\": ...}", c.ClientFile)
		}
		c.ClientID, c.ClientSecret = f.ClientID, f.ClientSecret
	}
	return c, nil
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := loadConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "democlient:", err)
		os.Exit(1)
	}
	a := newApp(cfg, log)
	srv := &http.Server{Addr: cfg.Addr, Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("demo client listening", "url", cfg.URL, "addr", cfg.Addr, "issuer", cfg.Issuer, "client_id", cfg.ClientID)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "democlient:", err)
		os.Exit(1)
	}
}
