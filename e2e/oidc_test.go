package e2e

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// The OpenID Connect end-to-end tests drive the real binary with two
// independent relying parties: github.com/coreos/go-oidc with
// golang.org/x/oauth2 (TestOIDC), and panva's oauth4webapi under Node
// (TestOIDCNode, script in oidcclient/). Both refuse what the
// specifications forbid, so a server that passes its own unit tests but
// misreads a rule fails here.

// deviceCodeGrant is the RFC 8628 grant type.
const deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// idClaims are the ID token and UserInfo claims the tests look at.
type idClaims struct {
	Subject           string `json:"sub"`
	AuthorizedParty   string `json:"azp"`
	AuthTime          int64  `json:"auth_time"`
	IssuedAt          int64  `json:"iat"`
	Nonce             string `json:"nonce"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
	EmailVerified     *bool  `json:"email_verified"`
}

// providerMetadata is the part of the discovery document go-oidc does not
// expose.
type providerMetadata struct {
	JWKSURI               string   `json:"jwks_uri"`
	UserInfoEndpoint      string   `json:"userinfo_endpoint"`
	GrantTypes            []string `json:"grant_types_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// TestOIDC is OpenID Connect with go-oidc and x/oauth2 on SQLite and
// PostgreSQL: discovery, the code flow with nonce and PKCE, ID token
// verification against the JWKS (signature, iss, aud, exp, nonce,
// at_hash), UserInfo, refresh (same sub and auth_time, no nonce), and the
// device flow approved and denied.
func TestOIDC(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			db := b.URL(t)
			// A 1 s polling interval keeps the device flow quick.
			gatehouseCLI(t, db, "", "settings", "set", "device_poll_interval", "1s")
			o := startOAuth(t, db)

			// Discovery (Rule 1, 2): go-oidc fetches
			// /.well-known/openid-configuration and refuses a document
			// whose issuer differs from the URL it was given.
			provider, err := oidc.NewProvider(o.ctx, o.base)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			ep := provider.Endpoint()
			if ep.AuthURL != o.base+"/oauth/authorize" || ep.TokenURL != o.base+"/oauth/token" || ep.DeviceAuthURL != o.base+"/oauth/device/code" {
				t.Fatalf("discovered endpoints %+v, want %s/oauth/{authorize,token,device/code}", ep, o.base)
			}
			var meta providerMetadata
			if err := provider.Claims(&meta); err != nil {
				t.Fatal(err)
			}
			if meta.JWKSURI != o.base+"/oauth/jwks" || meta.UserInfoEndpoint != o.base+"/oauth/userinfo" ||
				!meta.IssParameterSupported || !slices.Equal(meta.CodeChallengeMethods, []string{"S256"}) ||
				!slices.Contains(meta.IDTokenSigningAlgs, "RS256") || !slices.Contains(meta.GrantTypes, deviceCodeGrant) {
				t.Fatalf("discovery metadata %+v", meta)
			}

			web := o.client(t, "OIDC Web App")
			web.Endpoint = ep
			web.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			web.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
			verifier := provider.Verifier(&oidc.Config{ClientID: web.ClientID})

			var sub, firstIDToken string
			t.Run("code flow with nonce, userinfo and refresh", func(t *testing.T) {
				pkce := oauth2.GenerateVerifier()
				state := "st-" + oauth2.GenerateVerifier()[:12]
				nonce := "n-" + oauth2.GenerateVerifier()[:20]
				a := o.authorize(t, browser(t), web.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)), "allow")
				q := a.Final.Query()
				if q.Get("code") == "" || q.Get("state") != state || q.Get("iss") != o.base {
					t.Fatalf("authorization redirect %s: want code, state %q and iss %q", a.Final, state, o.base)
				}
				tok, err := web.Exchange(o.ctx, q.Get("code"), oauth2.VerifierOption(pkce))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				rawID, _ := tok.Extra("id_token").(string)
				if rawID == "" {
					t.Fatalf("token response without id_token for scope %q", tok.Extra("scope"))
				}

				// Rule 33: signature by a key of the JWKS, iss, aud, exp.
				idt, err := verifier.Verify(o.ctx, rawID)
				if err != nil {
					t.Fatalf("ID token verification: %v\n%s", err, rawID)
				}
				checkKeyID(t, o, meta.JWKSURI, rawID)
				if idt.Issuer != o.base || !slices.Equal(idt.Audience, []string{web.ClientID}) || idt.Subject == "" {
					t.Fatalf("ID token iss %q aud %v sub %q; want %q, [%s] and a subject", idt.Issuer, idt.Audience, idt.Subject, o.base, web.ClientID)
				}
				if idt.Nonce != nonce {
					t.Fatalf("ID token nonce %q, want %q", idt.Nonce, nonce)
				}
				if idt.AccessTokenHash == "" {
					t.Fatal("ID token without at_hash")
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Fatalf("at_hash does not match the access token: %v", err)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken + "x"); err == nil {
					t.Fatal("at_hash matched another access token")
				}
				if exp := time.Until(idt.Expiry); exp < time.Minute || exp > 25*time.Hour {
					t.Fatalf("ID token expires in %v", exp)
				}
				var c idClaims
				if err := idt.Claims(&c); err != nil {
					t.Fatal(err)
				}
				if c.AuthorizedParty != web.ClientID || c.AuthTime == 0 || c.AuthTime > c.IssuedAt || time.Since(time.Unix(c.AuthTime, 0)) > time.Minute {
					t.Fatalf("ID token azp %q auth_time %d iat %d; want the client and a sign-in just now", c.AuthorizedParty, c.AuthTime, c.IssuedAt)
				}
				if c.Name != oauthName || c.PreferredUsername != oauthUser || c.Email != oauthEmail || c.EmailVerified == nil {
					t.Fatalf("ID token profile and email claims %+v, want %q, %q, %q and email_verified", c, oauthName, oauthUser, oauthEmail)
				}
				sub, firstIDToken = idt.Subject, rawID

				// The verifier is not a rubber stamp: another audience and a
				// forged signature are refused.
				if _, err := provider.Verifier(&oidc.Config{ClientID: "another-client"}).Verify(o.ctx, rawID); err == nil {
					t.Fatal("ID token accepted for another audience")
				}
				if _, err := verifier.Verify(o.ctx, forge(rawID)); err == nil {
					t.Fatal("ID token with a forged signature accepted")
				}

				// Rule 35: UserInfo, same sub, claims of the granted scopes.
				ui, err := provider.UserInfo(o.ctx, oauth2.StaticTokenSource(tok))
				if err != nil {
					t.Fatalf("userinfo: %v", err)
				}
				var uc idClaims
				if err := ui.Claims(&uc); err != nil {
					t.Fatal(err)
				}
				if ui.Subject != sub || ui.Email != oauthEmail || uc.Name != oauthName || uc.PreferredUsername != oauthUser {
					t.Fatalf("userinfo sub %q email %q name %q preferred_username %q; want %q, %q, %q, %q",
						ui.Subject, ui.Email, uc.Name, uc.PreferredUsername, sub, oauthEmail, oauthName, oauthUser)
				}

				// Rule 34: refresh through the TokenSource gives a new ID
				// token with the same sub and auth_time and no nonce. The
				// pause puts the refresh in a later second than the sign-in,
				// so that an auth_time taken from the clock would show.
				time.Sleep(1100 * time.Millisecond)
				stale := *tok
				stale.Expiry = time.Now().Add(-time.Minute)
				tok2, err := web.TokenSource(o.ctx, &stale).Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
					t.Fatal("refresh did not give a new access and refresh token")
				}
				rawID2, _ := tok2.Extra("id_token").(string)
				if rawID2 == "" {
					t.Fatal("refresh response without id_token")
				}
				idt2, err := verifier.Verify(o.ctx, rawID2)
				if err != nil {
					t.Fatalf("refreshed ID token verification: %v", err)
				}
				var c2 idClaims
				if err := idt2.Claims(&c2); err != nil {
					t.Fatal(err)
				}
				if idt2.Subject != sub || c2.AuthTime != c.AuthTime || idt2.Nonce != "" {
					t.Fatalf("refreshed ID token sub %q auth_time %d nonce %q; want sub %q, auth_time %d and no nonce",
						idt2.Subject, c2.AuthTime, idt2.Nonce, sub, c.AuthTime)
				}
				if err := idt2.VerifyAccessToken(tok2.AccessToken); err != nil {
					t.Fatalf("refreshed at_hash: %v", err)
				}
			})

			// Rule 2: after `gatehouse keys rotate` on the running server,
			// new ID tokens carry a new kid that go-oidc finds in the JWKS,
			// and tokens signed before still verify.
			t.Run("key rotation", func(t *testing.T) {
				if firstIDToken == "" {
					t.Skip("the code flow failed")
				}
				gatehouseCLI(t, db, "", "keys", "rotate")
				tok := o.codeFlow(t, browser(t), web)
				rawID, _ := tok.Extra("id_token").(string)
				if _, err := verifier.Verify(o.ctx, rawID); err != nil {
					t.Fatalf("ID token signed after the rotation: %v", err)
				}
				if kidOf(t, rawID) == kidOf(t, firstIDToken) {
					t.Fatalf("ID token after keys rotate still signed with kid %q", kidOf(t, rawID))
				}
				checkKeyID(t, o, meta.JWKSURI, rawID)
				checkKeyID(t, o, meta.JWKSURI, firstIDToken)
				// A relying party that starts now (no cached keys) still
				// verifies the token signed before the rotation.
				fresh, err := oidc.NewProvider(o.ctx, o.base)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := fresh.Verifier(&oidc.Config{ClientID: web.ClientID}).Verify(o.ctx, firstIDToken); err != nil {
					t.Fatalf("ID token signed before the rotation: %v", err)
				}
			})

			// The device flow (Rule 31) with a public client, as on a TV.
			id, _ := createClient(t, db, "--name", "Living Room TV", "--public", "--redirect-uri", callbackURI,
				"--grant-type", deviceCodeGrant, "--grant-type", "refresh_token")
			tv := &oauth2.Config{ClientID: id, Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "profile"}}
			tv.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			tvVerifier := provider.Verifier(&oidc.Config{ClientID: id})

			t.Run("device flow approved", func(t *testing.T) {
				da := o.deviceAuth(t, tv)
				// Before the user acts: authorization_pending.
				status, body := o.postToken(t, tv, url.Values{"grant_type": {deviceCodeGrant}, "device_code": {da.DeviceCode}})
				if status != http.StatusBadRequest || body["error"] != "authorization_pending" {
					t.Fatalf("poll before approval: %d %v, want 400 authorization_pending", status, body)
				}
				start := time.Now()
				poll := o.pollDevice(tv, da)
				steps, page := o.deviceVerify(t, browser(t), da.VerificationURIComplete, "allow")
				res := <-poll
				if res.err != nil {
					t.Fatalf("DeviceAccessToken after approval (browser went %v): %v", steps, res.err)
				}
				t.Logf("device flow approved in %v; browser went %v", time.Since(start).Round(time.Millisecond), steps)
				if text := textOf(page); !strings.Contains(strings.ToLower(text), "connected") {
					t.Fatalf("page after approval does not say the device is connected:\n%s", snippet(text))
				}
				tok := res.tok
				if tok.AccessToken == "" || tok.RefreshToken == "" {
					t.Fatalf("device token response: access %q refresh %q; want both", tok.AccessToken, tok.RefreshToken)
				}
				if r, body := o.apiUser(t, tok.AccessToken); r.StatusCode != http.StatusOK || body["username"] != oauthUser {
					t.Fatalf("GET /api/user with the device token: %d %v", r.StatusCode, body)
				}
				rawID, _ := tok.Extra("id_token").(string)
				if rawID == "" {
					t.Fatal("device token response without id_token for scope openid")
				}
				idt, err := tvVerifier.Verify(o.ctx, rawID)
				if err != nil {
					t.Fatalf("device ID token verification: %v", err)
				}
				if (sub != "" && idt.Subject != sub) || idt.Nonce != "" {
					t.Fatalf("device ID token sub %q nonce %q; want %q and no nonce", idt.Subject, idt.Nonce, sub)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Fatalf("device at_hash: %v", err)
				}

				// The device code is spent.
				status, body = o.postToken(t, tv, url.Values{"grant_type": {deviceCodeGrant}, "device_code": {da.DeviceCode}})
				if status != http.StatusBadRequest || (body["error"] != "invalid_grant" && body["error"] != "expired_token") {
					t.Fatalf("device code redeemed twice: %d %v, want 400 invalid_grant or expired_token", status, body)
				}

				// Refresh, as a TV keeps its session.
				stale := *tok
				stale.Expiry = time.Now().Add(-time.Minute)
				tok2, err := tv.TokenSource(o.ctx, &stale).Token()
				if err != nil {
					t.Fatalf("refreshing the device token: %v", err)
				}
				if r, body := o.apiUser(t, tok2.AccessToken); r.StatusCode != http.StatusOK {
					t.Fatalf("GET /api/user with the refreshed device token: %d %v", r.StatusCode, body)
				}
			})

			t.Run("device flow denied", func(t *testing.T) {
				da := o.deviceAuth(t, tv)
				poll := o.pollDevice(tv, da)
				c := browser(t)
				steps, page := o.deviceVerify(t, c, da.VerificationURIComplete, "deny")
				if text := textOf(page); !strings.Contains(strings.ToLower(text), "denied") {
					t.Fatalf("page after denial does not say access was denied:\n%s", snippet(text))
				}
				res := <-poll
				var re *oauth2.RetrieveError
				if !errors.As(res.err, &re) || re.ErrorCode != "access_denied" || re.Response.StatusCode != http.StatusBadRequest {
					t.Fatalf("DeviceAccessToken after denial (browser went %v): %v %v, want 400 access_denied", steps, res.tok, res.err)
				}

				// The user code is spent: entering it again shows an error
				// and no consent screen.
				_, body := get(t, c, da.VerificationURIComplete)
				f := findForm(parseForms(body), func(f *htmlForm) bool { return f.Fields.Has("user_code") })
				if f == nil {
					t.Fatalf("no user code form on %s\n%s", da.VerificationURIComplete, snippet(textOf(body)))
				}
				r, err := c.PostForm(o.base+"/device", f.Fields)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode != http.StatusBadRequest || findForm(parseForms(string(b)), func(f *htmlForm) bool { return f.button("allow") != nil }) != nil {
					t.Fatalf("a used user code entered again: %d, want 400 without a consent screen\n%s", r.StatusCode, snippet(textOf(string(b))))
				}
			})
		})
	}
}

// kidOf returns the kid of an RS256 JWS, failing the test when it is
// not one or has no kid.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	sig, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ID token is not an RS256 JWS: %v", err)
	}
	kid := sig.Signatures[0].Header.KeyID
	if kid == "" {
		t.Fatal("ID token header without kid")
	}
	return kid
}

// checkKeyID checks that the JWT is signed RS256 with a kid that the
// JWKS at jwksURI publishes (Rule 2, 33).
func checkKeyID(t *testing.T, o *oauthServer, jwksURI, raw string) {
	t.Helper()
	kid := kidOf(t, raw)
	res, body := get(t, http.DefaultClient, jwksURI)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", jwksURI, res.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 || !keys[0].IsPublic() || keys[0].Use != "sig" {
		t.Fatalf("JWKS has %d keys with kid %q (want one public signing key)\n%s", len(keys), kid, body)
	}
}

// forge returns the JWT with one bit of its signature flipped.
func forge(raw string) string {
	i := strings.LastIndexByte(raw, '.') + 1
	b := []byte(raw)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// deviceAuth starts a device authorization for cfg and checks the
// response (RFC 8628 §3.2).
func (o *oauthServer) deviceAuth(t *testing.T, cfg *oauth2.Config) *oauth2.DeviceAuthResponse {
	t.Helper()
	da, err := cfg.DeviceAuth(o.ctx)
	if err != nil {
		t.Fatalf("device authorization request: %v", err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI != o.base+"/device" {
		t.Fatalf("device authorization %+v: want codes and verification_uri %s/device", da, o.base)
	}
	u, err := url.Parse(da.VerificationURIComplete)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != da.VerificationURI || u.Query().Get("user_code") != da.UserCode {
		t.Fatalf("verification_uri_complete %q: want %s?user_code=%s", da.VerificationURIComplete, da.VerificationURI, da.UserCode)
	}
	if da.Interval != 1 {
		t.Fatalf("interval %d, want 1 (device_poll_interval was set to 1s)", da.Interval)
	}
	if left := time.Until(da.Expiry); left < 9*time.Minute || left > 10*time.Minute {
		t.Fatalf("device code expires in %v, want the default 10m", left)
	}
	return da
}

// polled is the outcome of DeviceAccessToken.
type polled struct {
	tok *oauth2.Token
	err error
}

// pollDevice runs x/oauth2's DeviceAccessToken in the background, as the
// device would while the user goes to the verification page, for at most
// 15 seconds (approval takes about one interval; a slow_down adds 5 s).
func (o *oauthServer) pollDevice(cfg *oauth2.Config, da *oauth2.DeviceAuthResponse) <-chan polled {
	out := make(chan polled, 1)
	go func() {
		ctx, cancel := context.WithTimeout(o.ctx, 15*time.Second)
		defer cancel()
		tok, err := cfg.DeviceAccessToken(ctx, da)
		out <- polled{tok, err}
	}()
	return out
}

// deviceVerify plays the user of a device flow in browser c, starting
// signed out: it opens uri (the verification_uri_complete), signs in as
// alice when sent to the sign-in page, confirms the user code the page
// shows, and answers the consent screen with decision (allow or deny). It
// returns the paths the browser went through and the page shown at the
// end.
func (o *oauthServer) deviceVerify(t *testing.T, c *http.Client, uri, decision string) ([]string, string) {
	t.Helper()
	var steps []string
	userCode := mustParseURL(t, uri).Query().Get("user_code")
	cur, body := mustParseURL(t, uri), ""
	loaded, decided := false, false
	for range 12 {
		if !loaded {
			if !o.local(cur) {
				t.Fatalf("device flow sent the browser off the server, to %s", cur)
			}
			steps = append(steps, cur.Path)
			var res *http.Response
			res, body = get(t, c, cur.String())
			switch {
			case res.StatusCode == http.StatusSeeOther || res.StatusCode == http.StatusFound:
				cur = cur.ResolveReference(mustParseURL(t, res.Header.Get("Location")))
				continue
			case res.StatusCode != http.StatusOK:
				t.Fatalf("GET %s: %d\n%s", cur, res.StatusCode, snippet(textOf(body)))
			}
		}
		loaded = false
		if decided {
			return steps, body
		}
		forms := parseForms(body)
		var f *htmlForm
		if cur.Path == "/login" {
			if f = findForm(forms, func(f *htmlForm) bool { return f.Fields.Has("username") }); f == nil {
				t.Fatalf("sign-in page without a sign-in form\n%s", snippet(textOf(body)))
			}
			f.Fields.Set("username", oauthUser)
			f.Fields.Set("password", oauthPassword)
		} else if f = findForm(forms, func(f *htmlForm) bool { return f.button(decision) != nil }); f != nil {
			b := f.button(decision)
			f.Fields.Set(b.Name, b.Value)
			decided = true
		} else if f = findForm(forms, func(f *htmlForm) bool { return f.Fields.Has("user_code") }); f != nil {
			if got := f.Fields.Get("user_code"); normalizeUserCode(got) != normalizeUserCode(userCode) {
				t.Fatalf("device page prefilled user code %q, want %q from verification_uri_complete", got, userCode)
			}
			if b := f.submit(); b != nil && b.Name != "" {
				f.Fields.Set(b.Name, b.Value)
			}
		} else {
			t.Fatalf("unexpected page %s in the device flow (after %v)\n%s", cur, steps, snippet(textOf(body)))
		}
		if !f.Fields.Has("csrf_token") {
			t.Fatalf("form on %s without a CSRF token", cur)
		}
		action := cur.ResolveReference(mustParseURL(t, f.Action))
		if f.Action == "" {
			action = cur
		}
		res, err := c.PostForm(action.String(), f.Fields)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusSeeOther:
			cur = action.ResolveReference(mustParseURL(t, res.Header.Get("Location")))
		case http.StatusOK:
			// The answer is the next page itself.
			cur, body, loaded = action, string(b), true
			steps = append(steps, "POST "+action.Path)
		default:
			t.Fatalf("POST %s: %d\n%s", action, res.StatusCode, snippet(textOf(string(b))))
		}
	}
	t.Fatalf("device flow did not finish within 12 steps: %v", steps)
	return nil, ""
}

// normalizeUserCode is a user code as typed: upper case, no dashes or
// spaces.
func normalizeUserCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
}

// htmlForm is a form of a page: its action, the values it would submit
// (inputs, text areas) and its named submit buttons.
type htmlForm struct {
	Action  string
	Fields  url.Values
	Buttons []formButton
}

type formButton struct{ Name, Value string }

// button returns the submit button with that value, or nil.
func (f *htmlForm) button(value string) *formButton {
	for i, b := range f.Buttons {
		if b.Value == value && b.Name != "" {
			return &f.Buttons[i]
		}
	}
	return nil
}

// submit returns the form's first submit button, or nil.
func (f *htmlForm) submit() *formButton {
	if len(f.Buttons) == 0 {
		return nil
	}
	return &f.Buttons[0]
}

func findForm(forms []*htmlForm, ok func(*htmlForm) bool) *htmlForm {
	for _, f := range forms {
		if ok(f) {
			return f
		}
	}
	return nil
}

// parseForms returns the POST forms of an HTML page.
func parseForms(page string) []*htmlForm {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil
	}
	attr := func(n *html.Node, key string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	var forms []*htmlForm
	var walk func(n *html.Node, f *htmlForm)
	walk = func(n *html.Node, f *htmlForm) {
		if n.Type == html.ElementNode {
			name, _ := attr(n, "name")
			typ, _ := attr(n, "type")
			value, _ := attr(n, "value")
			switch n.Data {
			case "form":
				if m, _ := attr(n, "method"); strings.EqualFold(m, "post") {
					action, _ := attr(n, "action")
					f = &htmlForm{Action: action, Fields: url.Values{}}
					forms = append(forms, f)
				}
			case "input":
				switch {
				case f == nil || name == "":
				case typ == "submit":
					f.Buttons = append(f.Buttons, formButton{name, value})
				case typ == "checkbox" || typ == "radio":
					if _, on := attr(n, "checked"); on {
						f.Fields.Add(name, cmp.Or(value, "on"))
					}
				default:
					f.Fields.Add(name, value)
				}
			case "textarea":
				if f != nil && name != "" {
					f.Fields.Add(name, textOf(renderNode(n)))
				}
			case "button":
				if f != nil && (typ == "" || typ == "submit") {
					f.Buttons = append(f.Buttons, formButton{name, value})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, nil)
	return forms
}

func renderNode(n *html.Node) string {
	var sb strings.Builder
	_ = html.Render(&sb, n)
	return sb.String()
}

// textOf is the visible text of an HTML fragment, for failure messages.
func textOf(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return page
	}
	var sb strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "head") {
			return
		}
		if n.Type == html.TextNode {
			if s := strings.TrimSpace(n.Data); s != "" {
				sb.WriteString(s)
				sb.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return strings.TrimSpace(sb.String())
}

// nodeClient returns the node binary and the oauth4webapi client script.
// Locally, without node or without node_modules/oauth4webapi, the test
// is skipped with a message; in CI (CI set) node must be there, and
// missing packages are installed with npm ci.
func nodeClient(t *testing.T) (node, script string) {
	t.Helper()
	return nodeScript(t, "client.mjs", "oauth4webapi")
}

// nodeScript returns node and the path of e2e/oidcclient/name, whose npm
// package pkg must be installed in the repository's node_modules. Without
// node or pkg the test is skipped, except in CI (CI set), where node
// missing fails it and `npm ci` installs the packages first.
func nodeScript(t *testing.T, name, pkg string) (node, script string) {
	t.Helper()
	ci := os.Getenv("CI") != ""
	script, err := filepath.Abs(filepath.Join("oidcclient", name))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		if ci {
			t.Fatalf("node is not installed; CI needs it for the %s test", pkg)
		}
		t.Skipf("node is not installed: skipping the %s end-to-end test", pkg)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
		if !ci {
			t.Skipf("node_modules/%s is missing: run `npm ci` (or `make generate`) in the repository root to run the %s end-to-end test", pkg, pkg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = root
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return node, script
}

// nodeResult is what client.mjs prints at the end.
type nodeResult struct {
	Issuer                      string                     `json:"issuer"`
	IssInCallback               string                     `json:"iss_in_callback"`
	TokenType                   string                     `json:"token_type"`
	Scope                       string                     `json:"scope"`
	HasRefreshToken             bool                       `json:"has_refresh_token"`
	IDTokenClaims               map[string]any             `json:"id_token_claims"`
	UserInfo                    map[string]any             `json:"userinfo"`
	IntrospectionActive         map[string]any             `json:"introspection_active"`
	IntrospectionRefreshActive  map[string]any             `json:"introspection_refresh_active"`
	IntrospectionRevoked        map[string]json.RawMessage `json:"introspection_revoked"`
	IntrospectionRefreshRevoked map[string]json.RawMessage `json:"introspection_refresh_revoked"`
	UserInfoAfterRevocation     struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"userinfo_after_revocation"`
}

// TestOIDCNode runs the strict oauth4webapi client (oidcclient/client.mjs)
// against the real binary on SQLite and PostgreSQL: discovery, the code
// flow with PKCE, state, nonce and max_age, the iss of the authorization
// response (RFC 9207), the ID token checks, UserInfo, introspection,
// revocation and introspection again. The test plays the browser between
// the script's two halves.
func TestOIDCNode(t *testing.T) {
	node, script := nodeClient(t)
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			o := startOAuth(t, b.URL(t))
			id, secret := createClient(t, o.db, "--name", "Strict RP", "--redirect-uri", callbackURI)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script)
			cmd.Env = append(os.Environ(), "OIDC_ISSUER="+o.base, "OIDC_CLIENT_ID="+id,
				"OIDC_CLIENT_SECRET="+secret, "OIDC_REDIRECT_URI="+callbackURI)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdoutPipe, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stdout := bufio.NewReader(stdoutPipe)
			fail := func(format string, args ...any) {
				t.Helper()
				stdin.Close()
				rest, _ := io.ReadAll(stdout)
				err := cmd.Wait()
				t.Fatalf(format+"\nnode: %v\nstdout: %s\nstderr: %s", append(args, err, rest, stderr.String())...)
			}

			line, err := stdout.ReadString('\n')
			var first struct {
				AuthorizationURL string `json:"authorization_url"`
			}
			if err != nil || json.Unmarshal([]byte(line), &first) != nil || first.AuthorizationURL == "" {
				fail("client.mjs printed %q, want {\"authorization_url\": ...}", line)
			}
			a := o.authorize(t, browser(t), first.AuthorizationURL, "allow")
			if _, err := io.WriteString(stdin, a.Final.String()+"\n"); err != nil {
				fail("writing the callback URL: %v", err)
			}
			stdin.Close()
			out, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("client.mjs failed: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
			}
			var r nodeResult
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("client.mjs printed %q: %v", out, err)
			}
			t.Logf("oauth4webapi: %s", out)

			if r.Issuer != o.base || r.IssInCallback != o.base {
				t.Fatalf("issuer %q, iss in the callback %q; want %q", r.Issuer, r.IssInCallback, o.base)
			}
			if !strings.EqualFold(r.TokenType, "bearer") || !r.HasRefreshToken {
				t.Fatalf("token_type %q, refresh token %v; want bearer and one", r.TokenType, r.HasRefreshToken)
			}
			sub, _ := r.IDTokenClaims["sub"].(string)
			if sub == "" || r.IDTokenClaims["iss"] != o.base || !audienceHas(r.IDTokenClaims["aud"], id) || r.IDTokenClaims["nonce"] == nil ||
				r.IDTokenClaims["email"] != oauthEmail || r.IDTokenClaims["preferred_username"] != oauthUser {
				t.Fatalf("ID token claims %v", r.IDTokenClaims)
			}
			if r.UserInfo["sub"] != sub || r.UserInfo["email"] != oauthEmail || r.UserInfo["name"] != oauthName {
				t.Fatalf("userinfo %v, want sub %q, email and name", r.UserInfo, sub)
			}
			in := r.IntrospectionActive
			if in["active"] != true || in["client_id"] != id || in["sub"] != sub || in["username"] != oauthUser ||
				in["exp"] == nil || in["iat"] == nil || !strings.Contains(" "+toString(in["scope"])+" ", " openid ") ||
				!strings.EqualFold(toString(in["token_type"]), "bearer") {
				t.Fatalf("introspection of the access token %v, want active with client_id %s, sub, username, scope, exp, iat, token_type", in, id)
			}
			if r.IntrospectionRefreshActive["active"] != true {
				t.Fatalf("introspection of the refresh token %v, want active", r.IntrospectionRefreshActive)
			}
			// Rule 37: exactly {"active": false}.
			for what, v := range map[string]map[string]json.RawMessage{"access": r.IntrospectionRevoked, "refresh": r.IntrospectionRefreshRevoked} {
				if len(v) != 1 || string(v["active"]) != "false" {
					b, _ := json.Marshal(v)
					t.Fatalf("introspection of the revoked %s token: %s, want exactly {\"active\": false}", what, b)
				}
			}
			if r.UserInfoAfterRevocation.Status != http.StatusUnauthorized || r.UserInfoAfterRevocation.Error != "invalid_token" {
				t.Fatalf("userinfo with the revoked token: %+v, want 401 invalid_token", r.UserInfoAfterRevocation)
			}
		})
	}
}

// audienceHas reports whether a JWT aud claim (a string or an array of
// strings, RFC 7519 §4.1.3) names id.
func audienceHas(aud any, id string) bool {
	switch v := aud.(type) {
	case string:
		return v == id
	case []any:
		return slices.Contains(v, any(id))
	}
	return false
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
