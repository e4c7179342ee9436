package oauth_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
)

// Rule 47: pushed authorization requests (RFC 9126), par.go, without
// HTTP.

// push pushes params for the confidential client (HTTP Basic) and
// returns the request_uri.
func (f *fixture) push(t *testing.T, params url.Values) string {
	t.Helper()
	resp, err := f.c.Server.PushAuthorizationRequest(context.Background(), f.c.ClientRequest(f.conf, f.confSec, params), nil)
	if err != nil {
		t.Fatalf("push refused: %v", err)
	}
	return resp.RequestURI
}

// parErr checks that err is an error page (never a redirect) with code.
func wantPageError(t *testing.T, err error, code string) {
	t.Helper()
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v (%T), want an *AuthorizeError %s", err, err, code)
	}
	if ae.Err.Code != code || ae.Err.Description == "" || ae.Redirect {
		t.Fatalf("got %s (%q) redirect=%v, want %s on the error page", ae.Err.Code, ae.Err.Description, ae.Redirect, code)
	}
}

func TestRule47_PushAnswersARequestURI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	resp, err := f.c.Server.PushAuthorizationRequest(context.Background(),
		f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams("", confRedirect, "client_id", "")), nil)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(resp.RequestURI, oauth.RequestURIPrefix)
	if !ok || len(rest) < 43 || resp.ExpiresIn != 60 {
		t.Fatalf("answer %+v, want urn:ietf:params:oauth:request_uri:<256 random bits> and expires_in 60", resp)
	}
	// Only the digest is stored, and the parameters without the client's
	// credentials (client_id added from the Basic authentication).
	stored, err := f.c.Model.UsePushedRequest(context.Background(), oauth.RequestURIDigest(resp.RequestURI), f.conf, f.c.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := url.ParseQuery(stored.Params)
	if p.Get("client_id") != f.conf || p.Get("state") != oauthtest.TestState || strings.Contains(stored.Params, f.confSec) ||
		!stored.ExpiresAt.Equal(f.c.Now().Add(time.Minute)) {
		t.Fatalf("stored %+v", stored)
	}

	// client_secret_post: the secret never reaches the stored parameters.
	f2 := newFixture(t, nil)
	form := oauthtest.AuthorizeParams(f2.conf, confRedirect, "client_secret", f2.confSec)
	resp, err = f2.c.Server.PushAuthorizationRequest(context.Background(), &oauth.ClientRequest{Form: form}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, err = f2.c.Model.UsePushedRequest(context.Background(), oauth.RequestURIDigest(resp.RequestURI), f2.conf, f2.c.Now())
	if err != nil || strings.Contains(stored.Params, "client_secret") {
		t.Fatalf("stored %+v %v, want no client_secret", stored, err)
	}
}

// The push is validated like the authorization request; its errors are
// token-endpoint errors (JSON, 400; invalid_client 401).
func TestRule47_PushValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		req    func(f *fixture) *oauth.ClientRequest
		code   string
		status int
		desc   string
	}{
		{"wrong secret", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, "wrong", oauthtest.AuthorizeParams(f.conf, confRedirect))
		}, "invalid_client", 401, ""},
		{"no authentication at all", func(f *fixture) *oauth.ClientRequest {
			return &oauth.ClientRequest{Form: oauthtest.AuthorizeParams("", confRedirect, "client_id", "")}
		}, "invalid_client", 401, ""},
		{"confidential client without its secret", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, "", oauthtest.AuthorizeParams(f.conf, confRedirect))
		}, "invalid_client", 401, "secret"},
		{"client_id of another client", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.pub, pubRedirect))
		}, "invalid_request", 400, "differs"},
		{"request_uri inside a push", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "request_uri", oauth.RequestURIPrefix+"x"))
		}, "invalid_request", 400, "request_uri"},
		{"request object", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "request", "eyJ.x.y"))
		}, "request_not_supported", 400, ""},
		{"unregistered redirect_uri", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, "https://evil.example/cb"))
		}, "invalid_request", 400, "redirect_uri"},
		{"no response_type", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "response_type", ""))
		}, "invalid_request", 400, "response_type"},
		{"unknown scope", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "scope", "nope"))
		}, "invalid_scope", 400, ""},
		{"unknown resource", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "resource", "https://nowhere.example/"))
		}, "invalid_target", 400, ""},
		{"no state", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "state", ""))
		}, "invalid_request", 400, "state"},
		{"public client without PKCE", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.pub, "", oauthtest.AuthorizeParams(f.pub, pubRedirect))
		}, "invalid_request", 400, "PKCE"},
		{"unknown response_mode", func(f *fixture) *oauth.ClientRequest {
			return f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "response_mode", "web_message"))
		}, "invalid_request", 400, "response_mode"},
		{"state twice", func(f *fixture) *oauth.ClientRequest {
			r := f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect))
			r.Form.Add("state", "again")
			return r
		}, "invalid_request", 400, "more than once"},
		{"an unknown parameter twice", func(f *fixture) *oauth.ClientRequest {
			r := f.c.ClientRequest(f.conf, f.confSec, oauthtest.AuthorizeParams(f.conf, confRedirect, "ui_locales", "de"))
			r.Form.Add("ui_locales", "fr")
			return r
		}, "invalid_request", 400, "ui_locales parameter was sent more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			resp, err := f.c.Server.PushAuthorizationRequest(context.Background(), tc.req(f), nil)
			if resp != nil {
				t.Fatalf("answered %+v", resp)
			}
			var ae *oauth.AuthorizeError
			if errors.As(err, &ae) {
				t.Fatalf("an authorization error (%v), want a JSON error", err)
			}
			oauthtest.WantError(t, err, tc.code, tc.desc)
			if e := oauth.AsError(err); e.Status != tc.status {
				t.Errorf("status %d, want %d", e.Status, tc.status)
			}
		})
	}
	// A public client may push (with PKCE).
	f := newFixture(t, nil)
	if _, err := f.c.Server.PushAuthorizationRequest(context.Background(), f.c.ClientRequest(f.pub, "", pub()(f)), nil); err != nil {
		t.Fatalf("public client with PKCE: %v", err)
	}
}

// The authorization request with request_uri uses only the pushed
// parameters, once.
func TestRule47_RequestURIUsesThePushedParametersOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	pushed := oauthtest.AuthorizeParams(f.conf, confRedirect, "scope", "openid email", "state", "pushed-state", "nonce", "n1", "resource", "")
	uri := f.push(t, pushed)
	// Everything besides client_id and request_uri is ignored, however
	// wrong.
	sent := url.Values{"client_id": {f.conf}, "request_uri": {uri}, "redirect_uri": {"https://evil.example/cb"},
		"scope": {"no.such.scope"}, "state": {"sent-state"}, "response_type": {"token"}, "response_mode": {"nonsense"}, "prompt": {"bogus"}}
	r, err := f.c.Server.ParseAuthorizeRequest(ctx, sent)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if r.RedirectURI != confRedirect || r.State != "pushed-state" || r.Nonce != "n1" || oauth.JoinScope(r.Scopes) != "email openid user.read" ||
		r.ResponseType != "code" || r.ResponseMode != "query" || !r.Pushed || r.Params.Get("state") != "pushed-state" || r.Params.Has("request_uri") {
		t.Fatalf("request %+v, want the pushed one", r)
	}
	if string(r.RequestURIHash) != string(oauth.RequestURIDigest(uri)) {
		t.Errorf("RequestURIHash not the digest of the request_uri")
	}
	// The answer goes to the pushed redirect URI.
	resp, err := f.c.Server.Approve(ctx, r, oauth.Visitor{User: f.user, AuthTime: f.c.Now()}, true)
	if err != nil || resp.RedirectURI != confRedirect || resp.Params.Get("state") != "pushed-state" || resp.Params.Get("code") == "" {
		t.Fatalf("approve: %+v %v", resp, err)
	}
	// Once only.
	_, err = f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}})
	wantPageError(t, err, "invalid_request_uri")

	// The request in flight is validated again from its parameters,
	// marked pushed: no second use of the request_uri.
	again, err := f.c.Server.ParseAuthorizeParams(ctx, r.Params, true)
	if err != nil || again.State != "pushed-state" {
		t.Fatalf("revalidation: %+v %v", again, err)
	}
}

func TestRule47_RequestURIRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("expired", func(t *testing.T) {
		f := newFixture(t, nil)
		uri := f.push(t, conf()(f))
		f.c.Advance(60 * time.Second)
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}})
		wantPageError(t, err, "invalid_request_uri")
	})
	t.Run("just before expiry", func(t *testing.T) {
		f := newFixture(t, nil)
		uri := f.push(t, conf()(f))
		f.c.Advance(59 * time.Second)
		if _, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("another client's client_id", func(t *testing.T) {
		f := newFixture(t, nil)
		uri := f.push(t, conf()(f))
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.pub}, "request_uri": {uri}})
		wantPageError(t, err, "invalid_request_uri")
		// The mismatch did not use it up.
		if _, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}}); err != nil {
			t.Fatalf("the pushing client after a mismatch: %v", err)
		}
	})
	t.Run("no client_id", func(t *testing.T) {
		f := newFixture(t, nil)
		uri := f.push(t, conf()(f))
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"request_uri": {uri}})
		wantPageError(t, err, "invalid_request")
	})
	t.Run("unknown", func(t *testing.T) {
		f := newFixture(t, nil)
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {oauth.RequestURIPrefix + "made-up"}})
		wantPageError(t, err, "invalid_request_uri")
	})
	t.Run("not one of ours", func(t *testing.T) {
		f := newFixture(t, nil)
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {"https://client.example/request.jwt"},
			"redirect_uri": {confRedirect}, "response_type": {"code"}, "state": {"s"}})
		wantPageError(t, err, "request_uri_not_supported")
	})
	t.Run("request_uri twice", func(t *testing.T) {
		f := newFixture(t, nil)
		uri := f.push(t, conf()(f))
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri, uri}})
		wantPageError(t, err, "invalid_request")
	})
	t.Run("the client lost the code grant since the push", func(t *testing.T) {
		f := newFixture(t, nil)
		uri := f.push(t, conf()(f))
		if err := f.c.Model.UpdateClient(f.conf, func(c *oauth.Client) error { c.GrantTypes = []string{oauth.GrantClientCredentials}; return nil }); err != nil {
			t.Fatal(err)
		}
		_, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}})
		if oauthtest.Code(err) != "unauthorized_client" {
			t.Fatalf("got %v, want unauthorized_client: the pushed request is validated again", err)
		}
	})
}

// The require_pushed_authorization_requests setting and the per-client
// flag refuse requests that were not pushed, back at the (registered)
// redirect URI; pushed ones go through.
func TestRule47_RequirePushedRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		pol       func(*oauth.Policy)
		perClient bool
	}{
		{"setting", func(p *oauth.Policy) { p.RequirePushedAuthorizationRequests = true }, false},
		{"client flag", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.pol)
			if tc.perClient {
				if err := f.c.Model.UpdateClient(f.conf, func(c *oauth.Client) error { c.RequirePAR = true; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			_, err := f.c.Server.ParseAuthorizeRequest(ctx, conf()(f))
			var ae *oauth.AuthorizeError
			if !errors.As(err, &ae) || ae.Err.Code != "invalid_request" || !strings.Contains(ae.Err.Description, "pushed authorization requests") ||
				!ae.Redirect || ae.RedirectURI != confRedirect || ae.State != oauthtest.TestState {
				t.Fatalf("not pushed: %v, want invalid_request back at the client", err)
			}
			// Nor can the parameters be slipped in as a request in flight
			// that was not pushed.
			if _, err := f.c.Server.ParseAuthorizeParams(ctx, conf()(f), false); oauthtest.Code(err) != "invalid_request" {
				t.Fatalf("ParseAuthorizeParams not pushed: %v", err)
			}
			uri := f.push(t, conf()(f))
			r, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}})
			if err != nil || !r.Pushed {
				t.Fatalf("pushed: %+v %v", r, err)
			}
			if _, err := f.c.Server.ParseAuthorizeParams(ctx, r.Params, true); err != nil {
				t.Fatalf("pushed request in flight: %v", err)
			}
			// Other clients are unaffected by the per-client flag.
			_, err = f.c.Server.ParseAuthorizeRequest(ctx, pub()(f))
			if tc.perClient && err != nil {
				t.Fatalf("another client: %v", err)
			}
			if !tc.perClient && oauthtest.Code(err) != "invalid_request" {
				t.Fatalf("another client under the setting: %v", err)
			}
		})
	}
}

func TestRule47_Metadata(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		f := newFixture(t, func(p *oauth.Policy) { p.RequirePushedAuthorizationRequests = on })
		m, err := f.c.Server.Metadata(context.Background(), oauth.Endpoints{PushedAuthorizationRequest: issuer + "/oauth/par"})
		if err != nil {
			t.Fatal(err)
		}
		if m.PushedAuthorizationRequestEndpoint != issuer+"/oauth/par" || m.RequirePushedAuthorizationRequests != on {
			t.Errorf("metadata %q %v, want the endpoint and %v", m.PushedAuthorizationRequestEndpoint, m.RequirePushedAuthorizationRequests, on)
		}
		if strings.Join(m.ResponseModesSupported, " ") != "query fragment form_post" {
			t.Errorf("response_modes_supported %v", m.ResponseModesSupported)
		}
	}
}

// RFC 8707 resources travel in the pushed request: those pushed are the
// request's (and the code's); a resource sent beside request_uri is not.
func TestRule47_PushedResources(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	api := issuer + "/api"
	uri := f.push(t, conf("resource", api)(f))
	r, err := f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}, "resource": {"https://other.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Resources, " ") != api {
		t.Fatalf("resources %v, want the pushed %s", r.Resources, api)
	}
	resp, err := f.c.Server.Approve(ctx, r, oauth.Visitor{User: f.user, AuthTime: f.c.Now()}, true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := f.c.Model.RedeemAuthorizationCode(ctx, secret.Digest(resp.Params.Get("code")), f.c.Now())
	if err != nil || strings.Join(code.Resources, " ") != api {
		t.Fatalf("code %+v %v, want it bound to %s", code, err, api)
	}
	// Without resource in the push, none is sent beside request_uri
	// either.
	uri = f.push(t, conf()(f))
	r, err = f.c.Server.ParseAuthorizeRequest(ctx, url.Values{"client_id": {f.conf}, "request_uri": {uri}, "resource": {api}})
	if err != nil || len(r.Resources) != 0 {
		t.Fatalf("resources %v %v, want none", r.Resources, err)
	}
}

// Only the authorization request parameters Gatehouse recognises are
// stored, so that a push cannot park a megabyte of junk for a minute; and
// a push whose parameters the session could not carry is refused when
// pushed (naming the limit), not when its request_uri is used.
func TestPushStoresOnlyRecognisedParametersWithinTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	params := oauthtest.AuthorizeParams(f.conf, confRedirect, "junk", strings.Repeat("x", 900<<10), "ui_locales", "de")
	resp, err := f.c.Server.PushAuthorizationRequest(ctx, f.c.ClientRequest(f.conf, f.confSec, params), nil)
	if err != nil {
		t.Fatalf("push with an unknown parameter: %v", err)
	}
	stored, err := f.c.Model.UsePushedRequest(ctx, oauth.RequestURIDigest(resp.RequestURI), f.conf, f.c.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := url.ParseQuery(stored.Params)
	if p.Has("junk") || p.Has("ui_locales") || p.Get("state") != oauthtest.TestState || p.Get("redirect_uri") != confRedirect ||
		len(stored.Params) > oauth.MaxPushedParams {
		t.Fatalf("stored %.200s (%d bytes), want the recognised parameters only", stored.Params, len(stored.Params))
	}

	// Recognised parameters beyond the limit: refused now.
	big := oauthtest.AuthorizeParams(f.conf, confRedirect, "state", strings.Repeat("s", oauth.MaxPushedParams))
	_, err = f.c.Server.PushAuthorizationRequest(ctx, f.c.ClientRequest(f.conf, f.confSec, big), nil)
	oauthtest.WantError(t, err, "invalid_request", "at most 1000")
	if e := oauth.AsError(err); e.Status != 400 {
		t.Fatalf("status %d, want 400", e.Status)
	}
	// Just within: accepted.
	fits := oauthtest.AuthorizeParams(f.conf, confRedirect, "state", "")
	fits.Set("state", strings.Repeat("s", oauth.MaxPushedParams-len(fits.Encode())-len("&state=")))
	if _, err := f.c.Server.PushAuthorizationRequest(ctx, f.c.ClientRequest(f.conf, f.confSec, fits), nil); err != nil {
		t.Fatalf("push of exactly %d bytes: %v", len(fits.Encode()), err)
	}
}

// admit is asked after the client is authenticated, with the method it
// authenticated by: an empty Basic password is the method none (a public
// client), whatever the header looks like; a failed authentication never
// reaches it, and its refusal is the answer.
func TestPushAdmitSeesTheAuthenticatedMethod(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	var methods []string
	admit := func(c *oauth.AuthenticatedClient) error {
		methods = append(methods, c.Method)
		return nil
	}
	r := f.c.ClientRequest(f.pub, "", pub()(f))
	r.Form.Del("client_id")
	r.Authorization = oauthtest.BasicAuth(f.pub, "")
	if _, err := f.c.Server.PushAuthorizationRequest(ctx, r, admit); err != nil {
		t.Fatalf("public client with an empty Basic password: %v", err)
	}
	if _, err := f.c.Server.PushAuthorizationRequest(ctx, f.c.ClientRequest(f.conf, f.confSec, conf()(f)), admit); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Server.PushAuthorizationRequest(ctx, f.c.ClientRequest(f.conf, "wrong", conf()(f)), admit); oauthtest.Code(err) != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	if len(methods) != 2 || methods[0] != oauth.AuthNone || methods[1] != oauth.AuthSecretBasic {
		t.Fatalf("admit saw %v, want [none client_secret_basic]", methods)
	}
	refuse := func(*oauth.AuthenticatedClient) error { return oauth.TooManyRequests(time.Minute, "slow down") }
	_, err := f.c.Server.PushAuthorizationRequest(ctx, f.c.ClientRequest(f.pub, "", pub()(f)), refuse)
	oauthtest.WantError(t, err, "too_many_requests", "slow down")
}
