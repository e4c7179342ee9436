package e2e

import (
	"bufio"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	// The SQLite driver the server uses (through github.com/glebarez/sqlite).
	_ "github.com/glebarez/go-sqlite"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// Crash safety (issue 7 part 4): a token response is sent only after the
// token's row is committed, so a crash loses no token a client holds; a
// crash damages neither the schema nor the data; SIGTERM drains the
// requests in flight and exits cleanly.

// loadWorkers is how many clients request tokens at once under load.
const loadWorkers = 8

// tokenLoad is the outcome of issuing tokens under load until a SIGKILL.
type tokenLoad struct {
	tokens   []string // every token whose whole 200 response arrived
	inFlight int64    // requests sent but not answered just before the signal
	lost     int64    // requests that failed from the signal on
}

// issueUntilKilled has loadWorkers clients request client-credentials
// tokens from s for about d (a fraction of a second is hundreds to
// thousands of tokens), then kills s with SIGKILL while requests are in
// flight. A request that fails before the kill fails the test.
func issueUntilKilled(t *testing.T, s *server, cfg *oauth2.Config, d time.Duration) tokenLoad {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: loadWorkers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	var (
		mu       sync.Mutex
		load     tokenLoad
		inFlight atomic.Int64
		lost     atomic.Int64
		killed   atomic.Bool
		failures []string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range loadWorkers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				inFlight.Add(1)
				tok, err := clientCredentialsToken(client, s.base, cfg)
				inFlight.Add(-1)
				mu.Lock()
				switch {
				case err == nil:
					load.tokens = append(load.tokens, tok)
				case killed.Load():
					lost.Add(1)
				case len(failures) < 5:
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(d)
	// Kill while requests are in flight (with eight busy clients there
	// nearly always are; wait a little if not).
	for deadline := time.Now().Add(5 * time.Second); inFlight.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	killed.Store(true)
	load.inFlight = inFlight.Load()
	close(stop) // no new requests; those in flight stay so
	s.kill(t)
	wg.Wait()
	load.lost = lost.Load()
	if len(failures) > 0 {
		t.Fatalf("token requests failed before the kill: %q", failures)
	}
	if load.inFlight == 0 {
		t.Fatal("no request was in flight when the server was killed")
	}
	if len(load.tokens) == 0 {
		t.Fatal("no token was issued before the kill")
	}
	return load
}

// clientCredentialsToken requests a client-credentials token from the
// server at base and returns it once the whole response has arrived.
func clientCredentialsToken(c *http.Client, base string, cfg *oauth2.Config) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil || body.AccessToken == "" {
		return "", fmt.Errorf("token: %d %q", res.StatusCode, b)
	}
	return body.AccessToken, nil
}

// introspect asks the server at base about token, authenticating as cfg's
// client, and returns the decoded answer.
func introspect(c *http.Client, base string, cfg *oauth2.Config, token string) (map[string]any, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var body map[string]any
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil {
		return nil, fmt.Errorf("introspect: %d %q", res.StatusCode, b)
	}
	return body, nil
}

// wantActive introspects every token at s (several at a time) and fails
// the test for each one that is not active.
func wantActive(t *testing.T, s *server, cfg *oauth2.Config, tokens []string) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: loadWorkers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	var (
		mu       sync.Mutex
		inactive int
		errs     []string
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range loadWorkers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(tokens)); i = next.Add(1) - 1 {
				body, err := introspect(client, s.base, cfg, tokens[i])
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case body["active"] != true || body["client_id"] != cfg.ClientID:
					inactive++
					if len(errs) < 5 {
						errs = append(errs, fmt.Sprintf("token %d of %d: %v", i+1, len(tokens), body))
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if inactive > 0 || len(errs) > 0 {
		t.Fatalf("%d of %d tokens whose response reached the client are not active after the restart: %q", inactive, len(tokens), errs[:min(len(errs), 5)])
	}
}

// wantMigrated runs `gatehouse migrate status` and fails unless every
// migration is applied.
func wantMigrated(t *testing.T, dbURL string) {
	t.Helper()
	out := gatehouseCLI(t, dbURL, "", "migrate", "status")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("migrate status printed nothing")
	}
	for _, l := range lines {
		if !strings.Contains(l, " applied ") || strings.Contains(l, "pending") {
			t.Fatalf("migrate status after the crash:\n%s", out)
		}
	}
}

// wantIntact runs SQLite's integrity and foreign key checks on the
// database file of the stopped server, opened read-only with the driver
// the server uses.
func wantIntact(t *testing.T, dbURL string) {
	t.Helper()
	target, err := database.ParseURL(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+target.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if result != "ok" {
		t.Fatalf("integrity_check: %s", result)
	}
	rows, err := db.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatal("foreign_key_check found rows that point nowhere")
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
}

// TestCrashSafety issues client-credentials tokens under load, kills the
// server with SIGKILL while requests are in flight, restarts it on the
// same database and address, and checks that every token whose response
// reached a client is active, that every migration is still applied,
// that the SQLite file passes its integrity check, and that the server
// works normally afterwards. SQLite goes through three crashes, PostgreSQL
// through two.
func TestCrashSafety(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			db := b.URL(t)
			o := startOAuth(t, db)
			addr := strings.TrimPrefix(o.base, "http://")
			svc := o.client(t, "Crash Service", "--grant-type", "client_credentials")
			web := o.client(t, "Crash Web App", "--grant-type", "authorization_code", "--grant-type", "refresh_token")
			rounds := 2
			if b.Dialect == database.SQLite {
				rounds = 3
			}
			// Before the crashes: a signed-in browser that consented, and
			// its token pair.
			signedIn := browser(t)
			before := o.codeFlow(t, signedIn, web)
			var issued []string
			for round := 1; round <= rounds; round++ {
				load := issueUntilKilled(t, o.server, svc, 750*time.Millisecond)
				issued = append(issued, load.tokens...)
				t.Logf("crash %d: %d tokens received, %d requests in flight just before SIGKILL, %d failed from then on",
					round, len(load.tokens), load.inFlight, load.lost)
				if b.Dialect == database.SQLite {
					// The file as the crash left it (with its WAL).
					wantIntact(t, db)
				}
				o.server = startWith(t, db, serverOptions{addr: addr, noSetup: true})
				wantActive(t, o.server, svc, issued)
				// A token the server knows is refused for its scope (403),
				// not as unknown (401).
				for _, tok := range []string{issued[0], load.tokens[len(load.tokens)-1]} {
					res, body := o.apiUser(t, tok)
					wantBearerError(t, "GET /api/user with a client-credentials token after the crash", res, body, http.StatusForbidden, "insufficient_scope")
				}
				wantMigrated(t, db)
			}

			// What was stored before the crashes still works: the
			// browser's session and remembered consent (straight back to
			// the app), the refresh token.
			pkce := oauth2.GenerateVerifier()
			a := o.authorize(t, signedIn, web.AuthCodeURL("after-crash", oauth2.S256ChallengeOption(pkce)), "allow")
			if len(a.Steps) != 1 || a.Consent || a.Final.Query().Get("code") == "" {
				t.Fatalf("authorization by the browser signed in before the crashes went through %v (consent shown: %v), want straight back with a code", a.Steps, a.Consent)
			}
			if _, err := web.Exchange(o.ctx, a.Final.Query().Get("code"), oauth2.VerifierOption(pkce)); err != nil {
				t.Fatalf("exchange after the crashes: %v", err)
			}
			if status, body := o.postToken(t, web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {before.RefreshToken}}); status != http.StatusOK {
				t.Fatalf("refresh token from before the crashes: %d %v", status, body)
			}

			// The server works normally: sign-in, code flow, client
			// credentials.
			tok := o.codeFlow(t, browser(t), web)
			if res, body := o.apiUser(t, tok.AccessToken); res.StatusCode != http.StatusOK || body["username"] != oauthUser {
				t.Fatalf("GET /api/user after the crashes: %d %v", res.StatusCode, body)
			}
			c := &http.Client{Timeout: 10 * time.Second}
			cc, err := clientCredentialsToken(c, o.base, svc)
			if err != nil {
				t.Fatalf("client credentials after the crashes: %v", err)
			}
			wantActive(t, o.server, svc, []string{cc})
			o.stop(t)
			if b.Dialect == database.SQLite {
				// A clean stop closes the database: the last connection
				// checkpoints the WAL into the file and removes it.
				if _, err := os.Stat(strings.TrimPrefix(db, "sqlite://") + "-wal"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the WAL file is still there after SIGTERM (%v): the database was not closed", err)
				}
				wantIntact(t, db)
			}
		})
	}
}

// TestGracefulShutdown checks SIGTERM: a token request in flight when the
// signal arrives (its body half sent) is answered and its token is
// stored, new connections are refused from the start of the shutdown, and
// the process exits with status 0 within 10 s; an idle server, even with
// an idle keep-alive connection open, exits promptly.
func TestGracefulShutdown(t *testing.T) {
	db := dbtest.SQLiteURL(t)
	o := startOAuth(t, db)
	addr := strings.TrimPrefix(o.base, "http://")
	svc := o.client(t, "Drain Service", "--grant-type", "client_credentials")

	t.Run("in-flight request completes", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := "grant_type=client_credentials"
		auth := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(svc.ClientID) + ":" + url.QueryEscape(svc.ClientSecret)))
		head := "POST /oauth/token HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Basic " + auth +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n"
		if _, err := io.WriteString(conn, head+body[:10]); err != nil {
			t.Fatal(err)
		}
		// Let the server read the headers and part of the body.
		time.Sleep(300 * time.Millisecond)
		begin := time.Now()
		if err := o.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The listener closes: new connections are refused while the
		// request is still waiting for its body. (A connection that was
		// in the listen queue as it closed is reset.)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if errors.Is(err, syscall.ECONNREFUSED) {
				break
			}
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("connecting during shutdown: %v, want connection refused", err)
			}
			if c != nil {
				c.Close()
			}
			if time.Since(begin) > 5*time.Second {
				t.Fatal("new connections still accepted 5 s after SIGTERM")
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case <-o.done:
			t.Fatalf("exited with a request in flight: %v", o.exitErr)
		default:
		}
		if _, err := io.WriteString(conn, body[10:]); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("response to the in-flight request: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if res.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
			t.Fatalf("in-flight token request: %d %q", res.StatusCode, b)
		}
		took := o.waitExit(t, begin)
		t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))

		// The token answered during the shutdown was stored.
		s := startWith(t, db, serverOptions{addr: addr, noSetup: true})
		wantActive(t, s, svc, []string{tok.AccessToken})
		s.stop(t)
	})

	t.Run("idle server exits promptly", func(t *testing.T) {
		s := startWith(t, db, serverOptions{noSetup: true})
		// A keep-alive connection left idle must not hold the exit.
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		if _, err := clientCredentialsToken(&http.Client{Transport: tr, Timeout: 10 * time.Second}, s.base, svc); err != nil {
			t.Fatal(err)
		}
		took := s.stop(t)
		t.Logf("idle server exited %v after SIGTERM", took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Fatalf("idle server took %v to exit after SIGTERM, want well under 10 s", took)
		}
	})
}
