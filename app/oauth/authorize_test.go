package oauth_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
)

// The authorization endpoint (authorize.go) without HTTP: requests are
// url.Values, answers an *AuthorizeRequest, a Next and a location, or an
// *AuthorizeError. Rule numbers are those of RFC-CHECKLIST.md.

const (
	issuer        = "https://gatehouse.test"
	confRedirect  = "https://client.example/cb"
	pubRedirect   = "http://127.0.0.1/native/cb"
	impRedirect   = "https://spa.example/cb"
	queryRedirect = "https://q.example/cb?tenant=a"
)

// fixture is a core with alice and the clients requests come from.
type fixture struct {
	c    *oauthtest.Core
	user *oauth.User
	// conf: confidential, code + refresh + password; pub: public (default
	// grants, loopback redirect); imp: code + implicit; multi: two
	// redirect URIs; none: no redirect URI; ccOnly: client credentials
	// only; narrow: may have openid only; withQuery: a redirect URI with
	// a query; rs: a confidential client (a resource server) with client
	// credentials and the machine scope jobs.run.
	conf, confSec                                    string
	rs, rsSec                                        string
	pub, imp, multi, none, ccOnly, narrow, withQuery string
}

// fixtureScopes are the scopes beside the built-in ones: jobs.run, a
// machine scope, guards POST /jobs/*.
var fixtureScopes = []oauth.Scope{{ID: "jobs.run", ResourcePath: "/jobs/*", Method: "POST", Machine: true}}

func newFixture(t *testing.T, pol func(*oauth.Policy), opts ...func(*oauth.Options)) *fixture {
	t.Helper()
	c := oauthtest.NewCore(t, fixtureScopes, append([]func(*oauth.Options){oauthtest.WithPolicy(pol)}, opts...)...)
	f := &fixture{c: c, user: c.User("alice", "correct horse")}
	f.conf, f.confSec = c.Client(oauth.Client{RedirectURIs: []string{confRedirect},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantPassword}})
	f.rs, f.rsSec = c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"jobs.run"}})
	f.pub, _ = c.Client(oauth.Client{Public: true, RedirectURIs: []string{pubRedirect}})
	f.imp, _ = c.Client(oauth.Client{Public: true, RedirectURIs: []string{impRedirect}, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantImplicit}})
	f.multi, _ = c.Client(oauth.Client{RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}})
	f.none, _ = c.Client(oauth.Client{})
	f.ccOnly, _ = c.Client(oauth.Client{RedirectURIs: []string{"https://m.example/cb"}, GrantTypes: []string{oauth.GrantClientCredentials}})
	f.narrow, _ = c.Client(oauth.Client{RedirectURIs: []string{"https://n.example/cb"}, Scopes: []string{"openid"}})
	f.withQuery, _ = c.Client(oauth.Client{RedirectURIs: []string{queryRedirect}})
	return f
}

// build makes a request's parameters for a fixture.
type build func(f *fixture) url.Values

// conf is a valid code request of the confidential client, changed by kv
// (oauthtest.AuthorizeParams).
func conf(kv ...string) build {
	return func(f *fixture) url.Values { return oauthtest.AuthorizeParams(f.conf, confRedirect, kv...) }
}

// pub is a valid code request of the public client, with PKCE.
func pub(kv ...string) build {
	return func(f *fixture) url.Values {
		return oauthtest.AuthorizeParams(f.pub, pubRedirect, append([]string{"code_challenge", oauthtest.VerifierChallenge, "code_challenge_method", "S256"}, kv...)...)
	}
}

// imp is an implicit request (response_type=token) of the implicit client.
func imp(kv ...string) build {
	return func(f *fixture) url.Values {
		return oauthtest.AuthorizeParams(f.imp, impRedirect, append([]string{"response_type", oauth.ResponseTypeToken}, kv...)...)
	}
}

// client is a code request of the client that pick chooses, without
// redirect_uri.
func client(pick func(f *fixture) string, kv ...string) build {
	return func(f *fixture) url.Values { return oauthtest.AuthorizeParams(pick(f), "", kv...) }
}

// plus adds values to parameter k of b's request (to send it twice).
func plus(b build, k string, values ...string) build {
	return func(f *fixture) url.Values {
		v := b(f)
		for _, x := range values {
			v.Add(k, x)
		}
		return v
	}
}

// Where an authorization error goes.
const (
	page     = "page" // an error page: never redirected (rule 5)
	query    = oauth.ModeQuery
	fragment = oauth.ModeFragment
	formPost = oauth.ModeFormPost
)

// parseCase is one row of the ParseAuthorizeRequest tables.
type parseCase struct {
	name   string
	pol    func(*oauth.Policy)
	params build
	// err is the error code ("" when the request is accepted) and to
	// where the error goes (page, query or fragment) or, when accepted,
	// the response mode.
	err, to string
	check   func(t *testing.T, f *fixture, r *oauth.AuthorizeRequest)
}

func runParse(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.pol)
			params := tc.params(f)
			r, err := f.c.Server.ParseAuthorizeRequest(context.Background(), params)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.to != "" && r.ResponseMode != tc.to {
					t.Errorf("response mode %q, want %q", r.ResponseMode, tc.to)
				}
				if tc.check != nil {
					tc.check(t, f, r)
				}
				return
			}
			var ae *oauth.AuthorizeError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v (%T), want an *AuthorizeError %s", err, err, tc.err)
			}
			if ae.Err.Code != tc.err || ae.Err.Description == "" {
				t.Errorf("error %q (%q), want %s with a description", ae.Err.Code, ae.Err.Description, tc.err)
			}
			if tc.to == page {
				if ae.Redirect {
					t.Errorf("redirectable (to %q), want an error page", ae.RedirectURI)
				}
				return
			}
			if !ae.Redirect {
				t.Fatalf("not redirectable, want the error back at the client (%s)", tc.to)
			}
			want := params.Get("redirect_uri")
			if want == "" {
				cl, _ := f.c.Model.GetClient(context.Background(), params.Get("client_id"))
				want = cl.RedirectURIs[0]
			}
			if ae.RedirectURI != want || ae.ResponseMode != tc.to {
				t.Errorf("to %s in %s, want %s in %s", ae.RedirectURI, ae.ResponseMode, want, tc.to)
			}
			if len(params["state"]) == 1 && ae.State != params.Get("state") {
				t.Errorf("state %q, want %q byte for byte", ae.State, params.Get("state"))
			}
		})
	}
}

// wantScopes checks the request's scopes and their details.
func wantScopes(want ...string) func(t *testing.T, f *fixture, r *oauth.AuthorizeRequest) {
	return func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
		t.Helper()
		if !slices.Equal(r.Scopes, want) {
			t.Errorf("scopes %v, want %v", r.Scopes, want)
		}
		var ids []string
		for _, d := range r.ScopeDetails {
			ids = append(ids, d.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("scope details %v, want %v", ids, want)
		}
	}
}

// Rule 5: until the client and its redirect URI are trusted, errors are
// an error page, never a redirect (RFC 6749 §4.1.2.1); rule 6 decides
// which redirect URIs are trusted.
func TestRule05_UntrustedClientOrRedirectIsNotRedirected(t *testing.T) {
	t.Parallel()
	relaxed := func(p *oauth.Policy) { p.RequireExactRedirectURI = false }
	runParse(t, []parseCase{
		{name: "no client_id", params: conf("client_id", ""), err: "invalid_request", to: page},
		{name: "unknown client", params: conf("client_id", "nope"), err: "invalid_client", to: page},
		{name: "unknown client asking for a token", params: conf("client_id", "nope", "response_type", "token"), err: "invalid_client", to: page},
		{name: "client_id twice", params: plus(conf(), "client_id", "other"), err: "invalid_request", to: page},
		{name: "client_id twice, the same", params: func(f *fixture) url.Values { return plus(conf(), "client_id", f.conf)(f) }, err: "invalid_request", to: page},
		{name: "redirect_uri twice", params: plus(conf(), "redirect_uri", confRedirect), err: "invalid_request", to: page},
		{name: "unregistered redirect_uri", params: conf("redirect_uri", "https://evil.example/cb"), err: "invalid_request", to: page},
		{name: "unregistered redirect_uri and a bad response_type", params: conf("redirect_uri", "https://evil.example/cb", "response_type", "x"), err: "invalid_request", to: page},
		{name: "several registered, none sent", params: client(func(f *fixture) string { return f.multi }), err: "invalid_request", to: page},
		{name: "none registered", params: client(func(f *fixture) string { return f.none }), err: "invalid_request", to: page},
		{name: "client_id not UTF-8", params: conf("client_id", "a\xffb"), err: "invalid_request", to: page},
		{name: "redirect_uri not UTF-8", params: conf("redirect_uri", confRedirect+"/\xff"), err: "invalid_request", to: page},
		{name: "one registered, none sent: that one", params: conf("redirect_uri", ""), check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.RedirectURI != confRedirect || r.RedirectURIParam != "" {
				t.Errorf("redirect %q param %q", r.RedirectURI, r.RedirectURIParam)
			}
		}},
		{name: "several registered, one sent", params: func(f *fixture) url.Values {
			return oauthtest.AuthorizeParams(f.multi, "https://b.example/cb")
		}, check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.RedirectURI != "https://b.example/cb" || r.RedirectURIParam != "https://b.example/cb" {
				t.Errorf("redirect %q param %q", r.RedirectURI, r.RedirectURIParam)
			}
		}},
		{name: "rule 6: sub-path while exact", params: conf("redirect_uri", confRedirect+"/sub"), err: "invalid_request", to: page},
		{name: "rule 6: sub-path while relaxed", pol: relaxed, params: conf("redirect_uri", confRedirect+"/sub"), check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.RedirectURI != confRedirect+"/sub" {
				t.Errorf("redirect %q", r.RedirectURI)
			}
		}},
		{name: "rule 6: other path while relaxed", pol: relaxed, params: conf("redirect_uri", "https://client.example/other"), err: "invalid_request", to: page},
		{name: "rule 6: climbing path while relaxed", pol: relaxed, params: conf("redirect_uri", confRedirect+"/..;/admin"), err: "invalid_request", to: page},
		{name: "rule 6: double-encoded dots while relaxed", pol: relaxed, params: conf("redirect_uri", confRedirect+"/%252e%252e/admin"), err: "invalid_request", to: page},
		{name: "rule 6: loopback with any port", params: pub("redirect_uri", "http://127.0.0.1:49152/native/cb"), check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.RedirectURI != "http://127.0.0.1:49152/native/cb" || r.RedirectOrigin() != "http://127.0.0.1:49152" {
				t.Errorf("redirect %q origin %q", r.RedirectURI, r.RedirectOrigin())
			}
		}},
		{name: "rule 6: loopback, another path", params: pub("redirect_uri", "http://127.0.0.1:49152/other"), err: "invalid_request", to: page},
	})
}

// Rule 8: once the redirect URI is trusted, errors go back to it with
// the state; rule 15: request objects are refused; unsupported response
// modes and invalid UTF-8 too.
func TestRule08_ErrorsGoBackToTheClient(t *testing.T) {
	t.Parallel()
	implicitOn := func(p *oauth.Policy) { p.AllowImplicitGrant = true }
	runParse(t, []parseCase{
		{name: "missing response_type", params: conf("response_type", ""), err: "invalid_request", to: query},
		{name: "unknown response_type", params: conf("response_type", "code_id"), err: "unsupported_response_type", to: query},
		{name: "client not allowed the code grant", params: client(func(f *fixture) string { return f.ccOnly }), err: "unauthorized_client", to: query},
		{name: "unknown scope", params: conf("scope", "user.read no.such.scope"), err: "invalid_scope", to: query},
		{name: "malformed scope", params: conf("scope", `user.read bad"scope`), err: "invalid_scope", to: query},
		{name: "scope not allowed to the client", params: client(func(f *fixture) string { return f.narrow }, "scope", "openid email"), err: "invalid_scope", to: query},
		{name: "to the redirect_uri sent", params: func(f *fixture) url.Values {
			return oauthtest.AuthorizeParams(f.multi, "https://b.example/cb", "scope", "nope")
		}, err: "invalid_scope", to: query},
		{name: "unsupported response_mode", params: conf("response_mode", "web_message"), err: "invalid_request", to: query},
		{name: "response_mode=fragment for an error", params: conf("response_mode", "fragment", "scope", "nope"), err: "invalid_scope", to: fragment},
		{name: "response_mode=query with token", pol: implicitOn, params: imp("response_mode", "query"), err: "invalid_request", to: fragment},
		{name: "invalid UTF-8 in a value", params: conf("nonce", "n\xff"), err: "invalid_request", to: query},
		{name: "invalid UTF-8 in a name", params: conf("x\xff", "1"), err: "invalid_request", to: query},
		{name: "rule 15: request", params: conf("request", "eyJ.x.y"), err: "request_not_supported", to: query},
		// A request_uri is the pushed request's (rule 47): the other
		// parameters, redirect_uri among them, do not count.
		{name: "rule 15: request_uri", params: conf("request_uri", "https://x.example/r"), err: "request_uri_not_supported", to: page},
		{name: "no state (not enforced), the error still goes back", pol: func(p *oauth.Policy) { p.EnforceState = false },
			params: conf("state", "", "scope", "nope"), err: "invalid_scope", to: query},
	})
}

// Rule 9: state comes back byte for byte, and is required while
// enforce_state is on.
func TestRule09_State(t *testing.T) {
	t.Parallel()
	const odd = "a b+c&d=e/é~%"
	runParse(t, []parseCase{
		{name: "kept byte for byte", params: conf("state", odd), check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.State != odd {
				t.Errorf("state %q", r.State)
			}
		}},
		{name: "required while enforced", params: conf("state", ""), err: "invalid_request", to: query},
		{name: "optional while not enforced", pol: func(p *oauth.Policy) { p.EnforceState = false }, params: conf("state", ""),
			check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
				if r.State != "" {
					t.Errorf("state %q", r.State)
				}
			}},
	})
}

// Rule 10: a parameter sent twice is refused; unknown parameters are
// ignored; scope order does not matter. Rule 14: OpenID Connect
// parameters Gatehouse does not use never cause an error.
func TestRule10_RepeatedAndUnknownParameters(t *testing.T) {
	t.Parallel()
	runParse(t, []parseCase{
		{name: "scope twice", params: plus(conf(), "scope", "openid"), err: "invalid_request", to: query},
		{name: "response_type twice", params: plus(conf(), "response_type", "code"), err: "invalid_request", to: query},
		{name: "state twice", params: plus(conf(), "state", "other"), err: "invalid_request", to: query},
		{name: "nonce twice", params: plus(conf(), "nonce", "a", "b"), err: "invalid_request", to: query},
		{name: "unknown parameter", params: conf("frobnicate", "1"), check: wantScopes("user.read")},
		{name: "empty value of an unknown parameter", params: plus(conf(), "frobnicate", ""), check: wantScopes("user.read")},
		{name: "scope order", params: conf("scope", "user.read  openid email openid"), check: wantScopes("email", "openid", "user.read")},
		{name: "rule 14: OIDC parameters", params: conf("display", "popup", "ui_locales", "fr", "claims_locales", "de", "login_hint", "bob",
			"acr_values", "urn:x", "id_token_hint", "eyJ.x.y"), check: wantScopes("user.read")},
	})
}

// Scopes: requested plus the defaults the client may have; the details
// for the consent screen; the policy the request was checked under.
func TestParseAuthorizeRequestScopes(t *testing.T) {
	t.Parallel()
	runParse(t, []parseCase{
		{name: "none asked: the defaults", params: conf("scope", ""), check: wantScopes("user.read")},
		{name: "asked plus the defaults", params: conf("scope", "openid profile"), check: wantScopes("openid", "profile", "user.read")},
		{name: "a default the client may not have is not added", params: client(func(f *fixture) string { return f.narrow }, "scope", "openid"),
			check: wantScopes("openid")},
		{name: "the policy in force is kept", pol: func(p *oauth.Policy) { p.AuthorizationCodeLifetime = time.Minute },
			params: conf(), check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
				if r.Policy.AuthorizationCodeLifetime != time.Minute || r.Client == nil || r.ResponseType != oauth.ResponseTypeCode {
					t.Errorf("request %+v", r)
				}
			}},
	})
}

// Rule 11: PKCE with S256 only; required of public clients (require_pkce
// public), of every client (all) or of none.
func TestRule11_PKCE(t *testing.T) {
	t.Parallel()
	pkce := func(p string) func(*oauth.Policy) { return func(pol *oauth.Policy) { pol.RequirePKCE = p } }
	withChallenge := func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
		if r.CodeChallenge != oauthtest.VerifierChallenge || r.CodeChallengeMethod != "S256" {
			t.Errorf("challenge %q %q", r.CodeChallenge, r.CodeChallengeMethod)
		}
	}
	without := func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
		if r.CodeChallenge != "" || r.CodeChallengeMethod != "" {
			t.Errorf("challenge %q %q", r.CodeChallenge, r.CodeChallengeMethod)
		}
	}
	runParse(t, []parseCase{
		{name: "S256", params: pub(), check: withChallenge},
		{name: "S256 from a confidential client", params: conf("code_challenge", oauthtest.VerifierChallenge, "code_challenge_method", "S256"), check: withChallenge},
		{name: "plain", params: pub("code_challenge_method", "plain"), err: "invalid_request", to: query},
		{name: "method missing (means plain)", params: pub("code_challenge_method", ""), err: "invalid_request", to: query},
		{name: "method without challenge", params: pub("code_challenge", ""), err: "invalid_request", to: query},
		{name: "method in lower case", params: pub("code_challenge_method", "s256"), err: "invalid_request", to: query},
		{name: "challenge too short", params: pub("code_challenge", oauthtest.VerifierChallenge[:42]), err: "invalid_request", to: query},
		{name: "challenge too long", params: pub("code_challenge", strings.Repeat("a", 129)), err: "invalid_request", to: query},
		{name: "challenge with a bad character", params: pub("code_challenge", oauthtest.VerifierChallenge[:42]+"+"), err: "invalid_request", to: query},
		{name: "public without PKCE (public)", params: pub("code_challenge", "", "code_challenge_method", ""), err: "invalid_request", to: query},
		{name: "confidential without PKCE (public)", params: conf(), check: without},
		{name: "confidential without PKCE (all)", pol: pkce("all"), params: conf(), err: "invalid_request", to: query},
		{name: "public without PKCE (none)", pol: pkce("none"), params: pub("code_challenge", "", "code_challenge_method", ""), check: without},
		{name: "plain refused even when not required (none)", pol: pkce("none"), params: pub("code_challenge_method", "plain"), err: "invalid_request", to: query},
		{name: "implicit needs none (all)", pol: func(p *oauth.Policy) { p.RequirePKCE, p.AllowImplicitGrant = "all", true }, params: imp(), check: without},
	})
}

// Rule 12: the implicit grant only while allow_implicit_grant is on and
// only for clients that have it; its answer goes in the fragment.
func TestRule12_ImplicitRequest(t *testing.T) {
	t.Parallel()
	on := func(p *oauth.Policy) { p.AllowImplicitGrant = true }
	runParse(t, []parseCase{
		{name: "off", params: imp(), err: "unsupported_response_type", to: fragment},
		{name: "off, even for a client without it", params: conf("response_type", "token"), err: "unsupported_response_type", to: fragment},
		{name: "on, client without it", pol: on, params: conf("response_type", "token"), err: "unauthorized_client", to: fragment},
		{name: "on", pol: on, params: imp(), to: fragment, check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.ResponseType != oauth.ResponseTypeToken {
				t.Errorf("response type %q", r.ResponseType)
			}
		}},
		{name: "on, response_mode=fragment", pol: on, params: imp("response_mode", "fragment"), to: fragment},
		{name: "code in the fragment when asked", params: conf("response_mode", "fragment"), to: fragment},
		{name: "code in the query by default", params: conf(), to: query},
	})
}

// Rule 13 (the parameters): prompt values and their combinations,
// max_age; and the nonce's bound.
func TestRule13_PromptMaxAgeNonce(t *testing.T) {
	t.Parallel()
	prompt := func(none, login, consent bool) func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
		return func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.PromptNone != none || r.PromptLogin != login || r.PromptConsent != consent {
				t.Errorf("none %v login %v consent %v, want %v %v %v", r.PromptNone, r.PromptLogin, r.PromptConsent, none, login, consent)
			}
		}
	}
	maxAge := func(n int) func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
		return func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if r.MaxAge != n {
				t.Errorf("max_age %d, want %d", r.MaxAge, n)
			}
		}
	}
	runParse(t, []parseCase{
		{name: "no prompt", params: conf(), check: prompt(false, false, false)},
		{name: "prompt=none", params: conf("prompt", "none"), check: prompt(true, false, false)},
		{name: "prompt=login", params: conf("prompt", "login"), check: prompt(false, true, false)},
		{name: "prompt=consent", params: conf("prompt", "consent"), check: prompt(false, false, true)},
		{name: "prompt=login consent", params: conf("prompt", "login consent"), check: prompt(false, true, true)},
		{name: "prompt=select_account", params: conf("prompt", "select_account"), check: prompt(false, false, false)},
		{name: "prompt=none login", params: conf("prompt", "none login"), err: "invalid_request", to: query},
		{name: "prompt=consent none", params: conf("prompt", "consent none"), err: "invalid_request", to: query},
		{name: "unknown prompt", params: conf("prompt", "login bogus"), err: "invalid_request", to: query},
		{name: "no max_age", params: conf(), check: maxAge(-1)},
		{name: "max_age=0", params: conf("max_age", "0"), check: maxAge(0)},
		{name: "max_age=3600", params: conf("max_age", "3600"), check: maxAge(3600)},
		{name: "negative max_age", params: conf("max_age", "-1"), err: "invalid_request", to: query},
		{name: "max_age not a number", params: conf("max_age", "1h"), err: "invalid_request", to: query},
		{name: "nonce of 512 bytes", params: conf("nonce", strings.Repeat("n", 512)), check: func(t *testing.T, _ *fixture, r *oauth.AuthorizeRequest) {
			if len(r.Nonce) != 512 {
				t.Errorf("nonce of %d bytes", len(r.Nonce))
			}
		}},
		{name: "nonce of 513 bytes", params: conf("nonce", strings.Repeat("n", 513)), err: "invalid_request", to: query},
	})
}

// visitor is who the browser is when Decide runs: signed in (authAgo
// before now) or not; the request started startedAgo before now.
type visitor struct {
	signedIn            bool
	authAgo, startedAgo time.Duration
}

func (v visitor) of(f *fixture) oauth.Visitor {
	now := f.c.Now()
	out := oauth.Visitor{Started: now.Add(-v.startedAgo)}
	if v.signedIn {
		out.User, out.AuthTime = f.user, now.Add(-v.authAgo)
	}
	return out
}

var (
	signedOut = visitor{startedAgo: time.Minute}
	// signedInBefore signed in 10 minutes before the request started a
	// minute ago; signedInDuring signed in 30 seconds ago, during it.
	signedInBefore = visitor{signedIn: true, authAgo: 11 * time.Minute, startedAgo: time.Minute}
	signedInDuring = visitor{signedIn: true, authAgo: 30 * time.Second, startedAgo: time.Minute}
)

// Rule 13 (the decisions): Decide goes to the sign-in page, the consent
// screen, or straight back to the client (remembered consent, or
// login_required / consent_required for prompt=none).
func TestRule13_Decide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		pol     func(*oauth.Policy)
		params  build
		consent string // remembered for alice and the client first
		who     visitor
		want    oauth.Next
		err     string // the error of a NextRedirect ("" for a code or token)
	}{
		{name: "signed out", params: conf(), who: signedOut, want: oauth.NextLogin},
		{name: "signed out, prompt=none", params: conf("prompt", "none"), who: signedOut, want: oauth.NextRedirect, err: "login_required"},
		{name: "no consent", params: conf(), who: signedInBefore, want: oauth.NextConsent},
		{name: "no consent, prompt=none", params: conf("prompt", "none"), who: signedInBefore, want: oauth.NextRedirect, err: "consent_required"},
		{name: "consent remembered", params: conf(), consent: "user.read", who: signedInBefore, want: oauth.NextRedirect},
		{name: "consent remembered, prompt=none", params: conf("prompt", "none"), consent: "openid user.read", who: signedInBefore, want: oauth.NextRedirect},
		{name: "rule 10: consent remembered in another order", params: conf("scope", "user.read openid"), consent: "openid user.read", who: signedInBefore, want: oauth.NextRedirect},
		{name: "consent to fewer scopes", params: conf("scope", "openid email"), consent: "openid user.read", who: signedInBefore, want: oauth.NextConsent},
		{name: "consent to fewer scopes, prompt=none", params: conf("scope", "openid email", "prompt", "none"), consent: "openid user.read", who: signedInBefore, want: oauth.NextRedirect, err: "consent_required"},
		{name: "remember_consent off", pol: func(p *oauth.Policy) { p.RememberConsent = false }, params: conf(), consent: "user.read", who: signedInBefore, want: oauth.NextConsent},
		{name: "prompt=consent", params: conf("prompt", "consent"), consent: "user.read", who: signedInBefore, want: oauth.NextConsent},
		{name: "prompt=login, signed in before the request", params: conf("prompt", "login"), consent: "user.read", who: signedInBefore, want: oauth.NextLogin},
		{name: "prompt=login, signed in during the request", params: conf("prompt", "login"), consent: "user.read", who: signedInDuring, want: oauth.NextRedirect},
		{name: "prompt=login, signed in as the request started", params: conf("prompt", "login"), consent: "user.read",
			who: visitor{signedIn: true, authAgo: time.Minute, startedAgo: time.Minute}, want: oauth.NextRedirect},
		{name: "max_age exceeded", params: conf("max_age", "60"), consent: "user.read", who: signedInBefore, want: oauth.NextLogin},
		{name: "max_age exceeded, prompt=none", params: conf("max_age", "60", "prompt", "none"), consent: "user.read", who: signedInBefore, want: oauth.NextRedirect, err: "login_required"},
		{name: "max_age kept", params: conf("max_age", "3600"), consent: "user.read", who: signedInBefore, want: oauth.NextRedirect},
		{name: "max_age=0, signed in before the request", params: conf("max_age", "0"), consent: "user.read",
			who: visitor{signedIn: true, authAgo: 2 * time.Second, startedAgo: time.Second}, want: oauth.NextLogin},
		{name: "max_age=0, signed in during the request", params: conf("max_age", "0"), consent: "user.read", who: signedInDuring, want: oauth.NextRedirect},
		{name: "max_age=0, signed in during the request, then the consent screen", params: conf("max_age", "0"), who: signedInDuring, want: oauth.NextConsent},
		{name: "implicit, consent remembered", pol: func(p *oauth.Policy) { p.AllowImplicitGrant = true }, params: imp(), consent: "user.read", who: signedInBefore, want: oauth.NextRedirect},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.pol)
			ctx := context.Background()
			params := tc.params(f)
			r, err := f.c.Server.ParseAuthorizeRequest(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if tc.consent != "" {
				if err := f.c.Model.SaveConsent(ctx, f.user.ID, params.Get("client_id"), tc.consent); err != nil {
					t.Fatal(err)
				}
			}
			v := tc.who.of(f)
			next, resp, err := f.c.Server.Decide(ctx, r, v)
			loc := resp.Location()
			if err != nil || next != tc.want {
				t.Fatalf("Decide = %v %q %v, want %v", next, loc, err, tc.want)
			}
			if next != oauth.NextRedirect {
				if loc != "" {
					t.Errorf("location %q for %v", loc, next)
				}
				return
			}
			l := oauthtest.ParseLocation(t, loc)
			p := l.Query
			if r.ResponseMode == fragment {
				p = l.Fragment
			}
			if l.Base != r.RedirectURI || p.Get("state") != oauthtest.TestState || p.Get("iss") != issuer {
				t.Errorf("location %s", loc)
			}
			switch {
			case tc.err != "":
				if p.Get("error") != tc.err || p.Has("code") || p.Has("access_token") {
					t.Errorf("location %s, want error %s", loc, tc.err)
				}
			case r.ResponseType == oauth.ResponseTypeToken:
				if p.Get("access_token") == "" {
					t.Errorf("location %s, want an access token", loc)
				}
			default:
				// The code is issued for this sign-in (auth_time).
				code, err := f.c.Model.RedeemAuthorizationCode(ctx, secret.Digest(p.Get("code")), f.c.Now())
				if err != nil || code.UserID != f.user.ID || !code.AuthTime.Equal(v.AuthTime) {
					t.Errorf("code %+v %v, want one for alice signed in at %v", code, err, v.AuthTime)
				}
			}
		})
	}
}

// Approve: the code goes in the query with state and iss, bound to what
// the request said (rule 23); the implicit grant's token goes in the
// fragment, without refresh token or ID token (rule 12); the redirect
// URI's own query is kept (RFC 6749 §3.1.2).
func TestApprove(t *testing.T) {
	t.Parallel()
	implicitOn := func(p *oauth.Policy) { p.AllowImplicitGrant = true }
	cases := []struct {
		name   string
		pol    func(*oauth.Policy)
		params build
		// base is where the answer goes; in is query or fragment; keys
		// are the parameters it holds, sorted.
		base, in string
		keys     []string
		check    func(t *testing.T, f *fixture, p url.Values)
	}{
		{name: "code", params: conf("nonce", "n-1", "code_challenge", oauthtest.VerifierChallenge, "code_challenge_method", "S256", "scope", "openid user.read"),
			base: confRedirect, in: query, keys: []string{"code", "iss", "state"},
			check: func(t *testing.T, f *fixture, p url.Values) {
				c, err := f.c.Model.RedeemAuthorizationCode(context.Background(), secret.Digest(p.Get("code")), f.c.Now())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(p.Get("code"), oauth.AuthorizationCodePrefix) || c.ClientID != f.conf || c.UserID != f.user.ID ||
					c.RedirectURI != confRedirect || c.CodeChallenge != oauthtest.VerifierChallenge || c.CodeChallengeMethod != "S256" || c.Nonce != "n-1" ||
					c.Scope != "openid user.read" || c.FamilyID == "" || !c.AuthTime.Equal(f.c.Now().Add(-time.Minute)) ||
					!c.ExpiresAt.Equal(f.c.Now().Add(oauthtest.DefaultPolicy.AuthorizationCodeLifetime)) {
					t.Errorf("stored code %+v", c)
				}
			}},
		{name: "code, redirect_uri omitted", params: conf("redirect_uri", ""), base: confRedirect, in: query, keys: []string{"code", "iss", "state"},
			check: func(t *testing.T, f *fixture, p url.Values) {
				c, err := f.c.Model.RedeemAuthorizationCode(context.Background(), secret.Digest(p.Get("code")), f.c.Now())
				if err != nil || c.RedirectURI != "" {
					t.Errorf("stored code %+v %v: redirect_uri must stay unbound (RFC 6749 §4.1.3)", c, err)
				}
			}},
		{name: "code, redirect URI with a query", params: client(func(f *fixture) string { return f.withQuery }), base: "https://q.example/cb",
			in: query, keys: []string{"code", "iss", "state", "tenant"},
			check: func(t *testing.T, _ *fixture, p url.Values) {
				if p.Get("tenant") != "a" {
					t.Errorf("tenant %q", p.Get("tenant"))
				}
			}},
		{name: "code in the fragment", params: conf("response_mode", "fragment"), base: confRedirect, in: fragment, keys: []string{"code", "iss", "state"}},
		{name: "code without state", pol: func(p *oauth.Policy) { p.EnforceState = false }, params: conf("state", ""), base: confRedirect, in: query,
			keys: []string{"code", "iss"}},
		{name: "rule 12: implicit", pol: implicitOn, params: imp("scope", "openid offline_access user.read"), base: impRedirect, in: fragment,
			keys: []string{"access_token", "expires_in", "iss", "scope", "state", "token_type"},
			check: func(t *testing.T, f *fixture, p url.Values) {
				if p.Get("token_type") != "Bearer" || p.Get("expires_in") != "3600" || p.Get("scope") != "offline_access openid user.read" {
					t.Errorf("answer %v", p)
				}
				tok := f.c.StoredToken(p.Get("access_token"))
				if tok.Kind != oauth.KindAccess || tok.ClientID != f.imp || tok.UserID == nil || *tok.UserID != f.user.ID ||
					tok.AuthTime == nil || !tok.AuthTime.Equal(f.c.Now().Add(-time.Minute)) {
					t.Errorf("stored token %+v", tok)
				}
				if _, err := f.c.Server.AuthenticateAccessToken(context.Background(), p.Get("access_token")); err != nil {
					t.Errorf("implicit token refused: %v", err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A signer: the implicit answer must carry no ID token even
			// when one could be made.
			f := newFixture(t, tc.pol, oauthtest.WithSigner)
			ctx := context.Background()
			r, err := f.c.Server.ParseAuthorizeRequest(ctx, tc.params(f))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.c.Server.Approve(ctx, r, oauth.Visitor{User: f.user, AuthTime: f.c.Now().Add(-time.Minute)}, false)
			if err != nil {
				t.Fatal(err)
			}
			loc := resp.Location()
			l := oauthtest.ParseLocation(t, loc)
			p, other := l.Query, l.RawFragment
			if tc.in == fragment {
				p, other = l.Fragment, l.RawQuery
			}
			var keys []string
			for k := range p {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if l.Base != tc.base || other != "" || !slices.Equal(keys, tc.keys) {
				t.Fatalf("location %s: want %s with %v in the %s only", loc, tc.base, tc.keys, tc.in)
			}
			if p.Has("state") && p.Get("state") != oauthtest.TestState || p.Get("iss") != issuer {
				t.Errorf("state %q iss %q", p.Get("state"), p.Get("iss"))
			}
			if tc.check != nil {
				tc.check(t, f, p)
			}
		})
	}
}

// Approve records the consent when asked, merged with what the user
// granted before; Decide then remembers it.
func TestApproveMergesConsent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		before string
		record bool
		want   string
	}{
		{"first consent", "", true, "openid user.read"},
		{"merged with an earlier one", "email user.read", true, "email openid user.read"},
		{"not recorded", "email", false, "email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			ctx := context.Background()
			if tc.before != "" {
				if err := f.c.Model.SaveConsent(ctx, f.user.ID, f.conf, tc.before); err != nil {
					t.Fatal(err)
				}
			}
			r, err := f.c.Server.ParseAuthorizeRequest(ctx, conf("scope", "openid")(f))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.c.Server.Approve(ctx, r, oauth.Visitor{User: f.user, AuthTime: f.c.Now()}, tc.record); err != nil {
				t.Fatal(err)
			}
			if got, _ := f.c.Model.GetConsent(ctx, f.user.ID, f.conf); got != tc.want {
				t.Errorf("consent %q, want %q", got, tc.want)
			}
			need, err := f.c.Server.NeedsConsent(ctx, r, f.user.ID)
			if err != nil || need != !tc.record {
				t.Errorf("NeedsConsent = %v %v after recording %v", need, err, tc.record)
			}
		})
	}
}

// Rule 16: the user denying is access_denied, with state and iss, where
// the request's answers go.
func TestRule16_Deny(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		pol    func(*oauth.Policy)
		params build
		in     string
	}{
		{"code", nil, conf(), query},
		{"code, response_mode=fragment", nil, conf("response_mode", "fragment"), fragment},
		{"implicit", func(p *oauth.Policy) { p.AllowImplicitGrant = true }, imp(), fragment},
		{"no state", func(p *oauth.Policy) { p.EnforceState = false }, conf("state", ""), query},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.pol)
			params := tc.params(f)
			r, err := f.c.Server.ParseAuthorizeRequest(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			l := oauthtest.ParseLocation(t, f.c.Server.Deny(r).Location())
			p, other := l.Query, l.RawFragment
			if tc.in == fragment {
				p, other = l.Fragment, l.RawQuery
			}
			if l.Base != params.Get("redirect_uri") || other != "" || p.Get("error") != "access_denied" || p.Get("error_description") == "" ||
				p.Get("iss") != issuer || p.Get("state") != params.Get("state") || p.Has("state") != params.Has("state") {
				t.Errorf("deny: %+v", l)
			}
		})
	}
}

// Rule 3 and RFC 6749 §3.1.2: error locations carry iss (RFC 9207) and
// the state, keep the redirect URI's own query, and use the fragment
// when the request's answers go there.
func TestRule03_ErrorLocation(t *testing.T) {
	t.Parallel()
	s := oauthtest.NewCore(t, nil).Server
	scopeErr := oauth.ErrInvalidScope.WithDescription("unknown scope")
	cases := []struct {
		name string
		e    *oauth.AuthorizeError
		want string
	}{
		{"query", &oauth.AuthorizeError{Err: scopeErr, Redirect: true, RedirectURI: "https://c.example/cb", ResponseMode: query, State: "s t&u"},
			"https://c.example/cb?error=invalid_scope&error_description=unknown+scope&iss=https%3A%2F%2Fgatehouse.test&state=s+t%26u"},
		{"existing query kept", &oauth.AuthorizeError{Err: scopeErr, Redirect: true, RedirectURI: "https://c.example/cb?a=1", ResponseMode: query, State: "s"},
			"https://c.example/cb?a=1&error=invalid_scope&error_description=unknown+scope&iss=https%3A%2F%2Fgatehouse.test&state=s"},
		{"fragment", &oauth.AuthorizeError{Err: scopeErr, Redirect: true, RedirectURI: "https://c.example/cb?a=1", ResponseMode: fragment, State: "s"},
			"https://c.example/cb?a=1#error=invalid_scope&error_description=unknown+scope&iss=https%3A%2F%2Fgatehouse.test&state=s"},
		{"no state", &oauth.AuthorizeError{Err: scopeErr, Redirect: true, RedirectURI: "https://c.example/cb", ResponseMode: query},
			"https://c.example/cb?error=invalid_scope&error_description=unknown+scope&iss=https%3A%2F%2Fgatehouse.test"},
		{"no description", &oauth.AuthorizeError{Err: oauth.ErrLoginRequired, Redirect: true, RedirectURI: "https://c.example/cb", ResponseMode: query, State: "s"},
			"https://c.example/cb?error=login_required&iss=https%3A%2F%2Fgatehouse.test&state=s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.ErrorResponse(tc.e).Location(); got != tc.want {
				t.Errorf("ErrorLocation\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// AuthorizeHeadless: the authorization endpoint for first-party apps
// that collect the password, only while allow_password_grant is on, for
// clients with the password grant; the password is checked and throttled
// like the sign-in form. Every refusal is a *HeadlessError with the iss
// and the state (when sent once).
func TestAuthorizeHeadless(t *testing.T) {
	t.Parallel()
	on := func(p *oauth.Policy) { p.AllowPasswordGrant = true }
	creds := func(b build, pw string) build {
		return func(f *fixture) url.Values {
			v := b(f)
			v.Set("username", "Alice")
			v.Set("password", pw)
			return v
		}
	}
	const right = "correct horse"
	cases := []struct {
		name   string
		pol    func(*oauth.Policy)
		params build
		prep   func(t *testing.T, f *fixture)
		wait   time.Duration // the login throttle's answer
		err    string        // "" for a code
		state  string        // the state in the error
		event  string        // the sign-in event reported ("" none)
	}{
		{name: "policy off", params: creds(conf(), right), err: "access_denied", state: oauthtest.TestState},
		{name: "policy off, unknown client", params: creds(conf("client_id", "nope"), right), err: "access_denied", state: oauthtest.TestState},
		{name: "unknown client", pol: on, params: creds(conf("client_id", "nope"), right), err: "invalid_client", state: oauthtest.TestState},
		{name: "unregistered redirect_uri", pol: on, params: creds(conf("redirect_uri", "https://evil.example/cb"), right), err: "invalid_request", state: oauthtest.TestState},
		{name: "no state (enforced)", pol: on, params: creds(conf("state", ""), right), err: "invalid_request"},
		{name: "state twice", pol: on, params: plus(creds(conf(), right), "state", "x"), err: "invalid_request"},
		{name: "plain PKCE", pol: on, params: creds(conf("code_challenge", oauthtest.VerifierChallenge, "code_challenge_method", "plain"), right), err: "invalid_request", state: oauthtest.TestState},
		{name: "response_type=token", pol: func(p *oauth.Policy) { p.AllowPasswordGrant, p.AllowImplicitGrant = true, true },
			params: creds(imp(), right), err: "unsupported_response_type", state: oauthtest.TestState},
		{name: "client without the password grant", pol: on, params: creds(pub(), right), err: "unauthorized_client", state: oauthtest.TestState},
		{name: "no password", pol: on, params: creds(conf(), ""), err: "invalid_request", state: oauthtest.TestState},
		{name: "wrong password", pol: on, params: creds(conf(), "wrong"), err: "invalid_grant", state: oauthtest.TestState, event: oauth.SecuritySignInFailed},
		{name: "unknown user", pol: on, params: func(f *fixture) url.Values {
			v := creds(conf(), right)(f)
			v.Set("username", "mallory")
			return v
		}, err: "invalid_grant", state: oauthtest.TestState, event: oauth.SecuritySignInFailed},
		{name: "disabled user", pol: on, params: creds(conf(), right), prep: func(t *testing.T, f *fixture) {
			if err := f.c.Model.UpdateUser(f.user.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
		}, err: "invalid_grant", state: oauthtest.TestState, event: oauth.SecuritySignInFailed},
		{name: "throttled", pol: on, params: creds(conf(), right), wait: time.Minute, err: "too_many_requests", state: oauthtest.TestState,
			event: oauth.SecuritySignInThrottled},
		{name: "success", pol: on, params: creds(conf("code_challenge", oauthtest.VerifierChallenge, "code_challenge_method", "S256"), right), event: oauth.SecuritySignIn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			throttle := &oauthtest.FakeLimiter{}
			throttle.SetWait(tc.wait)
			f := newFixture(t, tc.pol, func(o *oauth.Options) { o.LoginThrottle = throttle })
			ctx := context.Background()
			if tc.prep != nil {
				tc.prep(t, f)
			}
			before := len(f.c.Events())
			params := tc.params(f)
			res, err := f.c.Server.AuthorizeHeadless(ctx, params, "192.0.2.7")
			var event string
			if ev := f.c.Events(); len(ev) > before {
				event = ev[len(ev)-1].Kind
				if e := ev[len(ev)-1]; e.Grant != oauth.SignInHeadless || e.RemoteAddr != "192.0.2.7" || e.ClientID != params.Get("client_id") ||
					e.Username != strings.ToLower(params.Get("username")) {
					t.Errorf("event %+v", e)
				}
			}
			if event != tc.event {
				t.Errorf("event %q, want %q", event, tc.event)
			}
			if tc.err != "" {
				var he *oauth.HeadlessError
				if !errors.As(err, &he) {
					t.Fatalf("got %v %v, want a *HeadlessError %s", res, err, tc.err)
				}
				if he.Err.Code != tc.err || he.Iss != issuer || he.State != tc.state {
					t.Errorf("error %s iss %q state %q, want %s %q %q", he.Err.Code, he.Iss, he.State, tc.err, issuer, tc.state)
				}
				if tc.err == "too_many_requests" && he.Err.RetryAfter != 60 {
					t.Errorf("Retry-After %d, want 60 (%+v)", he.Err.RetryAfter, he.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.State != oauthtest.TestState || res.Iss != issuer || !strings.HasPrefix(res.Code, oauth.AuthorizationCodePrefix) {
				t.Errorf("result %+v", res)
			}
			c, err := f.c.Model.RedeemAuthorizationCode(ctx, secret.Digest(res.Code), f.c.Now())
			if err != nil || c.UserID != f.user.ID || c.ClientID != f.conf || c.CodeChallenge != oauthtest.VerifierChallenge || !c.AuthTime.Equal(f.c.Now()) {
				t.Errorf("stored code %+v %v", c, err)
			}
		})
	}
}

// The headless refusal's JSON body: error, error_description, state and
// iss.
func TestHeadlessErrorJSON(t *testing.T) {
	t.Parallel()
	he := &oauth.HeadlessError{Err: oauth.ErrAccessDenied.WithDescription("off"), State: "s", Iss: issuer}
	b, err := he.MarshalJSON()
	if err != nil || string(b) != `{"error":"access_denied","error_description":"off","state":"s","iss":"https://gatehouse.test"}` {
		t.Errorf("%s %v", b, err)
	}
	he.State = ""
	if b, _ := he.MarshalJSON(); strings.Contains(string(b), "state") {
		t.Errorf("empty state sent: %s", b)
	}
}

// An unverified client (a metadata document or a dynamic registration:
// anyone chooses its redirect URIs) gets the errors found before the user
// took part on the error page, not redirected, so that the authorization
// endpoint is no open redirector (RFC 9700 §4.11.2); prompt=none's
// login_required and consent_required too. A verified client's go back.
func TestUnverifiedClientErrorsAreNotRedirected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	unverified, _ := f.c.Client(oauth.Client{Public: true, Unverified: true, RedirectURIs: []string{"https://evil.example/land"}})
	verified, _ := f.c.Client(oauth.Client{Public: true, RedirectURIs: []string{"https://good.example/land"}})
	for _, tc := range []struct {
		client, redirect string
		redirects        bool
	}{{unverified, "https://evil.example/land", false}, {verified, "https://good.example/land", true}} {
		pkce := []string{"code_challenge", oauthtest.VerifierChallenge, "code_challenge_method", "S256"}
		for _, kv := range [][]string{{"response_type", "bogus"}, {"scope", "no.such.scope"}, {"resource", "https://unknown.example"}, {"code_challenge", ""}} {
			_, err := f.c.Server.ParseAuthorizeRequest(ctx, oauthtest.AuthorizeParams(tc.client, tc.redirect, append(pkce, kv...)...))
			var ae *oauth.AuthorizeError
			if !errors.As(err, &ae) || ae.Redirect != tc.redirects {
				t.Errorf("%s %v: %+v, want Redirect %v", tc.redirect, kv, err, tc.redirects)
			}
		}
		for _, who := range []visitor{signedOut, signedInBefore} {
			r, err := f.c.Server.ParseAuthorizeRequest(ctx, oauthtest.AuthorizeParams(tc.client, tc.redirect, append(pkce, "prompt", "none")...))
			if err != nil {
				t.Fatal(err)
			}
			next, resp, err := f.c.Server.Decide(ctx, r, who.of(f))
			loc := resp.Location()
			var ae *oauth.AuthorizeError
			if tc.redirects {
				if err != nil || next != oauth.NextRedirect || !strings.HasPrefix(loc, tc.redirect+"?error=") {
					t.Errorf("verified, prompt=none: %v %q %v", next, loc, err)
				}
			} else if !errors.As(err, &ae) || ae.Redirect || loc != "" {
				t.Errorf("unverified, prompt=none: %v %q %v, want the error page", next, loc, err)
			}
		}
	}
}

// Rule 49: response modes. form_post and explicit query or fragment are
// honoured, errors included; query never carries tokens; response types
// that return tokens or ID tokens answer in the fragment by default, their
// errors too (even when Gatehouse does not support them).
func TestRule49_ResponseModes(t *testing.T) {
	t.Parallel()
	implicitOn := func(p *oauth.Policy) { p.AllowImplicitGrant = true }
	runParse(t, []parseCase{
		{name: "code: query by default", params: conf(), to: query},
		{name: "code: query asked", params: conf("response_mode", "query"), to: query},
		{name: "code: fragment asked", params: conf("response_mode", "fragment"), to: fragment},
		{name: "code: form_post", params: conf("response_mode", "form_post"), to: formPost},
		{name: "token: fragment by default", pol: implicitOn, params: imp(), to: fragment},
		{name: "token: form_post", pol: implicitOn, params: imp("response_mode", "form_post"), to: formPost},
		{name: "token: query refused, in the fragment", pol: implicitOn, params: imp("response_mode", "query"), err: "invalid_request", to: fragment},
		{name: "unknown mode", params: conf("response_mode", "web_message"), err: "invalid_request", to: query},
		{name: "unknown mode with token", pol: implicitOn, params: imp("response_mode", "jwt"), err: "invalid_request", to: fragment},
		{name: "form_post: errors too", params: conf("response_mode", "form_post", "scope", "nope"), err: "invalid_scope", to: formPost},
		{name: "code id_token: error in the fragment", params: conf("response_type", "code id_token"), err: "unsupported_response_type", to: fragment},
		{name: "id_token: error in the fragment", params: conf("response_type", "id_token"), err: "unsupported_response_type", to: fragment},
		{name: "id_token token: error in the fragment", params: conf("response_type", "id_token token"), err: "unsupported_response_type", to: fragment},
		{name: "code token: error in the fragment", params: conf("response_type", "code token"), err: "unsupported_response_type", to: fragment},
		{name: "token while implicit is off: in the fragment", params: conf("response_type", "token"), err: "unsupported_response_type", to: fragment},
		{name: "code id_token with form_post", params: conf("response_type", "code id_token", "response_mode", "form_post"), err: "unsupported_response_type", to: formPost},
		{name: "code id_token with query", params: conf("response_type", "code id_token", "response_mode", "query"), err: "invalid_request", to: fragment},
		{name: "none: query", params: conf("response_type", "none"), err: "unsupported_response_type", to: query},
	})
}

// form_post answers carry the parameters (code, state, iss; the token
// for implicit), not a location; so do its errors and the denial.
func TestRule49_FormPostAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, func(p *oauth.Policy) { p.AllowImplicitGrant = true })
	for _, tc := range []struct {
		name   string
		params build
		keys   string
	}{
		{"code", conf("response_mode", "form_post"), "code iss state"},
		{"token", imp("response_mode", "form_post"), "access_token expires_in iss scope state token_type"},
	} {
		r, err := f.c.Server.ParseAuthorizeRequest(ctx, tc.params(f))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.c.Server.Approve(ctx, r, oauth.Visitor{User: f.user, AuthTime: f.c.Now()}, true)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range resp.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if resp.Mode != formPost || resp.RedirectURI != r.RedirectURI || strings.Join(keys, " ") != tc.keys ||
			resp.Params.Get("state") != oauthtest.TestState || resp.Params.Get("iss") != issuer || resp.Location() != "" {
			t.Errorf("%s: %+v, want a form_post of %s", tc.name, resp, tc.keys)
		}
		d := f.c.Server.Deny(r)
		if d.Mode != formPost || d.Params.Get("error") != "access_denied" || d.Params.Get("state") != oauthtest.TestState || d.Location() != "" {
			t.Errorf("%s: deny %+v", tc.name, d)
		}
	}
}

// form_post needs a web redirect URI: a browser cannot post to an app's
// private-use scheme. The refusal goes back to the client the default way
// (here in the query).
func TestRule49_FormPostNeedsAWebRedirectURI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	app, _ := f.c.Client(oauth.Client{Public: true, RedirectURIs: []string{"com.example.app:/oauth/cb"}})
	params := oauthtest.AuthorizeParams(app, "com.example.app:/oauth/cb", "code_challenge", oauthtest.VerifierChallenge,
		"code_challenge_method", "S256", "response_mode", "form_post")
	_, err := f.c.Server.ParseAuthorizeRequest(context.Background(), params)
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) || !ae.Redirect || ae.Err.Code != "invalid_request" || !strings.Contains(ae.Err.Description, "form_post") ||
		ae.ResponseMode != query || ae.RedirectURI != "com.example.app:/oauth/cb" {
		t.Fatalf("got %v, want invalid_request redirected in the query", err)
	}
	params.Del("response_mode")
	if _, err := f.c.Server.ParseAuthorizeRequest(context.Background(), params); err != nil {
		t.Fatalf("without form_post: %v", err)
	}
}
