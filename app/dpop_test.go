package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// DPoP on the wire (RFC 9449, rule 48): the token endpoint, /api/user,
// userinfo, {P}/verify and introspection. The rules themselves are tested
// in app/oauth/dpop_test.go.

// dpopTokens runs the code flow for scope and redeems the code with a
// proof of k (plus headers), returning the answer.
func (f *oauthFixture) dpopTokens(k *oauthtest.DPoPKey, scope string, o oauthtest.ProofOptions) (*response, map[string]any) {
	f.t.Helper()
	code := f.code(f.authzParams("scope", scope))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}}
	return f.dpopPost(form, k.Proof(http.MethodPost, f.srv.Config.EndpointURL("token"), o))
}

// dpopPost posts form to the token endpoint as the confidential client
// with these DPoP header values.
func (f *oauthFixture) dpopPost(form url.Values, proofs ...string) (*response, map[string]any) {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.confID), url.QueryEscape(f.confSec))
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	r := f.send(req)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return r, m
}

// wantChallenge checks a 401 whose first WWW-Authenticate is a DPoP
// challenge with error code and the algs.
func wantDPoPChallenge(t *testing.T, what string, r *response, code string) {
	t.Helper()
	ch := r.Header.Values("WWW-Authenticate")
	if r.StatusCode != http.StatusUnauthorized || len(ch) == 0 || !strings.HasPrefix(ch[0], "DPoP ") ||
		!strings.Contains(ch[0], `error="`+code+`"`) || !strings.Contains(ch[0], `algs="ES256 EdDSA PS256 RS256"`) {
		t.Fatalf("%s: %d %q %s, want 401 with a DPoP challenge %s", what, r.StatusCode, ch, r.body, code)
	}
}

// Rule 48: a token request with a valid proof gets token_type DPoP; the
// bound token with Authorization: DPoP and a matching proof works at
// /api/user and userinfo; as a Bearer token, with a proof of another key,
// a replayed proof or one without ath it is 401 with WWW-Authenticate:
// DPoP. Introspection reports token_type DPoP and cnf.jkt.
func TestRule48_DPoPOnTheWire(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		k := oauthtest.NewDPoPKey(t, jose.ES256)
		other := oauthtest.NewDPoPKey(t, jose.ES256)
		r, m := f.dpopTokens(k, "openid user.read", oauthtest.ProofOptions{})
		if r.StatusCode != http.StatusOK || m["token_type"] != "DPoP" {
			t.Fatalf("token request with a proof: %d %v", r.StatusCode, m)
		}
		at := m["access_token"].(string)
		apiURL := f.srv.Config.Issuer + "/api/user"
		userinfoURL := f.srv.Config.EndpointURL("userinfo")
		use := func(path, url, scheme string, proof string) *response {
			hdr := []string{"Authorization", scheme + " " + at}
			if proof != "" {
				hdr = append(hdr, "DPoP", proof)
			}
			return f.do(http.MethodGet, path, nil, hdr...)
		}
		proofFor := func(key *oauthtest.DPoPKey, u string) string {
			return key.Proof(http.MethodGet, u, oauthtest.ProofOptions{AccessToken: at})
		}
		for _, ep := range []struct{ path, url string }{{"/api/user", apiURL}, {"/oauth/userinfo", userinfoURL}} {
			if r := use(ep.path, ep.url, "DPoP", proofFor(k, ep.url)); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"sub"`) {
				t.Fatalf("%s with DPoP and its proof: %d %s", ep.path, r.StatusCode, r.body)
			}
			r := use(ep.path, ep.url, "Bearer", "")
			wantDPoPChallenge(t, ep.path+" as Bearer", r, "invalid_token")
			if ch := r.Header.Values("WWW-Authenticate"); len(ch) != 2 || !strings.HasPrefix(ch[1], "Bearer ") || !strings.Contains(ch[1], `error="invalid_token"`) {
				t.Errorf("%s as Bearer: challenges %q, want DPoP then Bearer", ep.path, ch)
			}
			wantDPoPChallenge(t, ep.path+" with another key's proof", use(ep.path, ep.url, "DPoP", proofFor(other, ep.url)), "invalid_dpop_proof")
			p := proofFor(k, ep.url)
			if r := use(ep.path, ep.url, "DPoP", p); r.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", ep.path, r.StatusCode)
			}
			r = use(ep.path, ep.url, "DPoP", p)
			wantDPoPChallenge(t, ep.path+" with a replayed proof", r, "invalid_dpop_proof")
			if !strings.Contains(r.Header.Get("WWW-Authenticate"), "already used") {
				t.Errorf("replay: %q", r.Header.Get("WWW-Authenticate"))
			}
			wantDPoPChallenge(t, ep.path+" without ath", use(ep.path, ep.url, "DPoP", k.Proof(http.MethodGet, ep.url, oauthtest.ProofOptions{})), "invalid_dpop_proof")
			wantDPoPChallenge(t, ep.path+" without a proof", use(ep.path, ep.url, "DPoP", ""), "invalid_dpop_proof")
			wantDPoPChallenge(t, ep.path+" with the Host header's URL as htu", use(ep.path, ep.url, "DPoP", proofFor(k, "http://example.com"+ep.path)), "invalid_dpop_proof")
		}
		in := f.introspect(at)
		cnf, _ := in["cnf"].(map[string]any)
		if in["token_type"] != "DPoP" || cnf["jkt"] != k.JKT() {
			t.Fatalf("introspection %v, want token_type DPoP and cnf.jkt %s", in, k.JKT())
		}
		// An unbound token keeps working as a Bearer token, and with the
		// DPoP scheme it is invalid_token.
		bearer, _ := f.refreshPair("user.read")
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+bearer); r.StatusCode != http.StatusOK {
			t.Fatalf("Bearer token: %d", r.StatusCode)
		}
		r = f.do(http.MethodGet, "/api/user", nil, "Authorization", "DPoP "+bearer, "DPoP", k.Proof(http.MethodGet, apiURL, oauthtest.ProofOptions{AccessToken: bearer}))
		wantDPoPChallenge(t, "unbound token with the DPoP scheme", r, "invalid_token")
		if len(r.Header.Values("WWW-Authenticate")) != 1 {
			t.Errorf("unbound token with the DPoP scheme: %q, want only the DPoP challenge", r.Header.Values("WWW-Authenticate"))
		}
	})
}

// Refusals at the token endpoint are 400 invalid_dpop_proof naming the
// cause; htu is the configured endpoint URL, not the Host header's.
func TestDPoPTokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	tokenURL := f.srv.Config.EndpointURL("token")
	cc := url.Values{"grant_type": {"client_credentials"}}
	cases := []struct {
		name   string
		proofs []string
		desc   string
	}{
		{"two DPoP headers", []string{k.Proof("POST", tokenURL, oauthtest.ProofOptions{}), k.Proof("POST", tokenURL, oauthtest.ProofOptions{})}, "exactly one DPoP header"},
		{"htu of the Host header", []string{k.Proof("POST", "http://example.com/oauth/token", oauthtest.ProofOptions{})}, "is not the URL of this request"},
		{"alg none", []string{oauthtest.RawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "none"}, map[string]any{"jti": "x"}, nil)}, `alg "none" is not allowed`},
		{"typ JWT", []string{k.Proof("POST", tokenURL, oauthtest.ProofOptions{Typ: "JWT"})}, "typ must be"},
	}
	for _, tc := range cases {
		r, m := f.dpopPost(cc, tc.proofs...)
		wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_dpop_proof")
		if d, _ := m["error_description"].(string); !strings.Contains(d, tc.desc) {
			t.Errorf("%s: %q, want %q", tc.name, d, tc.desc)
		}
	}
	r, m := f.dpopPost(cc, k.Proof("POST", tokenURL, oauthtest.ProofOptions{}))
	if r.StatusCode != http.StatusOK || m["token_type"] != "DPoP" || r.Header.Get("DPoP-Nonce") != "" {
		t.Fatalf("client credentials with a proof: %d %v (DPoP-Nonce %q while nonces are off)", r.StatusCode, m, r.Header.Get("DPoP-Nonce"))
	}
	// Metadata (the server's and the built-in resource's) and CORS.
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-protected-resource/api"} {
		md := f.get(p)
		if !strings.Contains(md.body, `"dpop_signing_alg_values_supported":["ES256","EdDSA","PS256","RS256"]`) {
			t.Errorf("%s: %s", p, md.body)
		}
	}
	pre := f.do(http.MethodOptions, "/oauth/token", nil, "Origin", "https://spa.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "dpop")
	if !strings.Contains(strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers")), "dpop") {
		t.Errorf("CORS preflight does not allow the DPoP header: %q", pre.Header.Get("Access-Control-Allow-Headers"))
	}
}

// With dpop_nonce all: a proof without a nonce is 400 use_dpop_nonce at
// the token endpoint and 401 at resources, each with a fresh DPoP-Nonce
// that the retry uses.
func TestDPoPNonceRoundOnTheWire(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.set("dpop_nonce", "all")
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	tokenURL := f.srv.Config.EndpointURL("token")
	f.signIn()
	r, m := f.dpopTokens(k, "user.read", oauthtest.ProofOptions{})
	wantOAuthError(t, r, m, http.StatusBadRequest, "use_dpop_nonce")
	nonce := r.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without DPoP-Nonce")
	}
	r, m = f.dpopPost(url.Values{"grant_type": {"client_credentials"}}, k.Proof("POST", tokenURL, oauthtest.ProofOptions{Nonce: nonce}))
	if r.StatusCode != http.StatusOK || m["token_type"] != "DPoP" || r.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %v, DPoP-Nonce %q", r.StatusCode, m, r.Header.Get("DPoP-Nonce"))
	}
	r, m = f.dpopTokens(k, "user.read", oauthtest.ProofOptions{Nonce: nonce})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("code exchange with the nonce: %d %v", r.StatusCode, m)
	}
	at := m["access_token"].(string)
	apiURL := f.srv.Config.Issuer + "/api/user"
	r = f.do(http.MethodGet, "/api/user", nil, "Authorization", "DPoP "+at, "DPoP", k.Proof("GET", apiURL, oauthtest.ProofOptions{AccessToken: at}))
	wantDPoPChallenge(t, "resource without a nonce", r, "use_dpop_nonce")
	rn := r.Header.Get("DPoP-Nonce")
	if rn == "" {
		t.Fatal("resource's use_dpop_nonce without DPoP-Nonce")
	}
	r = f.do(http.MethodGet, "/api/user", nil, "Authorization", "DPoP "+at, "DPoP", k.Proof("GET", apiURL, oauthtest.ProofOptions{AccessToken: at, Nonce: rn}))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("resource with the nonce: %d %s", r.StatusCode, r.body)
	}
}

// {P}/verify checks the proof against the proxied request: X-Forwarded-
// Method, and the URL from X-Forwarded-Proto, -Host and -Uri; without
// them a proof cannot be checked, and X-Original-URL (which a proxy may
// pass on from the client) is no source of it.
func TestDPoPAtVerify(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	k := oauthtest.NewDPoPKey(t, jose.ES256)
	_, m := f.dpopTokens(k, "user.read", oauthtest.ProofOptions{})
	at := m["access_token"].(string)
	verify := func(proofURL string, headers ...string) *response {
		h := append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/user?x=1", "Authorization", "DPoP " + at,
			"DPoP", k.Proof("GET", proofURL, oauthtest.ProofOptions{AccessToken: at})}, headers...)
		return f.do(http.MethodGet, "/oauth/verify", nil, h...)
	}
	fwd := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example"}
	if r := verify("https://app.example/api/user", fwd...); r.StatusCode != http.StatusOK || r.Header.Get("X-Gatehouse-User") != "alice" {
		t.Fatalf("verify with forwarded proto and host: %d %s", r.StatusCode, r.body)
	}
	// A client-sent X-Original-URL naming another resource server does
	// not replace the proxy's headers.
	wantDPoPChallenge(t, "verify with a proof for the URL of a client's X-Original-URL",
		verify("https://other-rs.example/transfer", append(fwd, "X-Original-URL", "https://other-rs.example/transfer")...), "invalid_dpop_proof")
	wantDPoPChallenge(t, "verify with only X-Original-URL", verify("https://app.example/api/user", "X-Original-URL", "https://app.example/api/user?x=1"), "invalid_dpop_proof")
	wantDPoPChallenge(t, "verify with the proof for another host", verify("https://other.example/api/user", fwd...), "invalid_dpop_proof")
	r := verify("https://app.example/api/user")
	wantDPoPChallenge(t, "verify without the request's URL", r, "invalid_dpop_proof")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), "URL of this request is unknown") {
		t.Errorf("verify without the URL: %q", r.Header.Get("WWW-Authenticate"))
	}
	r = f.do(http.MethodGet, "/oauth/verify", nil, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/user", "Authorization", "Bearer "+at)
	wantDPoPChallenge(t, "verify with the bound token as Bearer", r, "invalid_token")
}
