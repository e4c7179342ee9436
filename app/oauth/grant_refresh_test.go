package oauth_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of the refresh token grant (grant_refresh.go; RFC 6749 §6,
// RFC 9700 §4.14.2).

// refreshForm is a refresh request for token, changed by pairs (an
// empty value removes the parameter).
func refreshForm(token string, pairs ...string) url.Values {
	return oauthtest.Change(url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {token}}, pairs...)
}

// Rule 27 and 28: a refresh token works for its client only, until it
// expires, is revoked or its user cannot sign in; a narrower scope may be
// asked, not a wider one; the answer is a new pair in the same family,
// the new refresh token with the original scope and the original
// absolute expiry.
func TestRule27_Refresh(t *testing.T) {
	t.Parallel()
	const granted = "openid user.read"
	cases := []struct {
		name string
		// form changes refreshForm(refresh token of the pair); present,
		// when set, picks the token sent instead.
		form    []string
		present func(c *codeCore, pair *oauth.TokenResponse) string
		// other: the other confidential client presents it; public: the
		// pair is the public client's.
		other, public bool
		before        func(c *codeCore)
		scope         string // the scope answered
		code, desc    string
	}{
		{name: "rotation", scope: granted},
		{name: "public client (none)", public: true, scope: granted},
		{name: "rule 27: narrower scope", form: []string{"scope", "openid"}, scope: "openid"},
		{name: "the same scope in another order", form: []string{"scope", "user.read openid"}, scope: granted},
		{name: "rule 27: wider scope", form: []string{"scope", "openid user.read email"}, code: "invalid_scope", desc: "the requested scope is wider than the one originally granted"},
		{name: "rule 27: a scope of another name", form: []string{"scope", "profile"}, code: "invalid_scope", desc: "wider"},
		{name: "malformed scope", form: []string{"scope", `user"read`}, code: "invalid_scope", desc: "malformed scope"},
		{name: "rule 27: another client's refresh token", other: true, code: "invalid_grant", desc: "the refresh token was issued to another client"},
		{name: "an access token", present: func(_ *codeCore, p *oauth.TokenResponse) string { return p.AccessToken }, code: "invalid_grant", desc: "the refresh token is invalid"},
		{name: "an unknown token", form: []string{"refresh_token", "grt_unknown"}, code: "invalid_grant", desc: "the refresh token is invalid"},
		{name: "no refresh_token", form: []string{"refresh_token", ""}, code: "invalid_request", desc: "the request has no refresh_token"},
		{name: "just before expiry", before: func(c *codeCore) { c.Advance(719*time.Hour - time.Second) }, scope: granted}, // an hour has passed already
		{name: "rule 28: at expiry", before: func(c *codeCore) { c.Advance(719 * time.Hour) }, code: "invalid_grant", desc: "the refresh token has expired"},
		{name: "revoked", present: func(c *codeCore, p *oauth.TokenResponse) string {
			if err := c.Model.RevokeToken(context.Background(), c.StoredToken(p.RefreshToken).Hash, c.Now()); err != nil {
				c.T.Fatal(err)
			}
			return p.RefreshToken
		}, code: "invalid_grant", desc: "the refresh token has been revoked"},
		{name: "a disabled user", before: func(c *codeCore) {
			if err := c.Model.UpdateUser(c.alice.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				c.T.Fatal(err)
			}
		}, code: "invalid_grant", desc: "the user of this grant is disabled"},
		{name: "a deleted user", present: func(c *codeCore, _ *oauth.TokenResponse) string {
			gone := int64(999)
			return c.SeedToken(oauth.Token{Kind: oauth.KindRefresh, ClientID: c.conf, UserID: &gone, Scope: granted})
		}, code: "invalid_grant", desc: "the user of this grant no longer exists"},
		{name: "a scope taken from the client since is not renewed", before: func(c *codeCore) {
			if err := c.Model.UpdateClient(c.conf, func(cl *oauth.Client) error { cl.Scopes = []string{"openid"}; return nil }); err != nil {
				c.T.Fatal(err)
			}
		}, scope: "openid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCore(t)
			id, sec := c.client(tc.public)
			pair := c.CodeTokens(id, sec, c.alice, granted)
			issued := c.Now()
			c.Advance(time.Hour)
			if tc.before != nil {
				tc.before(c)
			}
			plain := pair.RefreshToken
			if tc.present != nil {
				plain = tc.present(c, pair)
			}
			if tc.other {
				id, sec = c.other, c.otherSec
			}
			resp, err := c.Token(id, sec, refreshForm(plain, tc.form...))
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				return
			}
			if resp.Scope != tc.scope || resp.RefreshToken == "" || resp.RefreshToken == pair.RefreshToken || resp.TokenType != "Bearer" || resp.ExpiresIn != 3600 {
				t.Fatalf("response %+v", resp)
			}
			old, access, refresh := c.StoredToken(pair.RefreshToken), c.StoredToken(resp.AccessToken), c.StoredToken(resp.RefreshToken)
			if old.RotatedAt == nil || !old.RotatedAt.Equal(c.Now()) || old.RevokedAt != nil {
				t.Fatalf("the old refresh token was not rotated: %+v", old)
			}
			if access.FamilyID != old.FamilyID || refresh.FamilyID != old.FamilyID || access.Scope != tc.scope || !access.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
				t.Fatalf("new access token %+v (old refresh %+v)", access, old)
			}
			// The new refresh token keeps the original scope and the
			// original absolute expiry, and the sign-in time.
			if refresh.Scope != granted || !refresh.ExpiresAt.Equal(issued.Add(720*time.Hour)) || !refresh.AuthTime.Equal(*old.AuthTime) {
				t.Fatalf("new refresh token %+v", refresh)
			}
		})
	}
}

// After narrowing, the next refresh without scope gets the original
// scope back (the refresh token kept it); and the absolute lifetime
// holds across rotations.
func TestRule28_RotatedTokensKeepScopeAndLifetime(t *testing.T) {
	t.Parallel()
	c := newCodeCore(t)
	pair := c.CodeTokens(c.conf, c.confSec, c.alice, "openid user.read")
	c.Advance(100 * time.Hour)
	narrow, err := c.Token(c.conf, c.confSec, refreshForm(pair.RefreshToken, "scope", "openid"))
	if err != nil || narrow.Scope != "openid" {
		t.Fatalf("narrowed: %+v %v", narrow, err)
	}
	c.Advance(620*time.Hour - time.Second) // a second before the first token's expiry
	again, err := c.Token(c.conf, c.confSec, refreshForm(narrow.RefreshToken))
	if err != nil || again.Scope != "openid user.read" {
		t.Fatalf("after narrowing: %+v %v", again, err)
	}
	c.Advance(time.Second)
	_, err = c.Token(c.conf, c.confSec, refreshForm(again.RefreshToken))
	oauthtest.WantError(t, err, "invalid_grant", "the refresh token has expired")
}

// Rule 28 (RFC 9700 §4.14.2): a rotated refresh token presented again is
// reuse: invalid_grant, every token of the family (access and refresh,
// of every generation) is revoked, and SecurityRefreshReuse is reported.
// Tokens of other grants of the same user and client live on.
func TestRule28_ReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		generations int // refreshes before the first token is presented again
		revoked     int64
	}{
		{"reuse after one rotation", 1, 4},
		{"reuse after three rotations", 3, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCore(t)
			bystander := c.CodeTokens(c.conf, c.confSec, c.alice, "user.read")
			first := c.CodeTokens(c.conf, c.confSec, c.alice, "user.read")
			family := []*oauth.TokenResponse{first}
			for range tc.generations {
				next, err := c.Token(c.conf, c.confSec, refreshForm(family[len(family)-1].RefreshToken))
				if err != nil {
					t.Fatal(err)
				}
				family = append(family, next)
			}
			c.Advance(time.Minute)
			_, err := c.Token(c.conf, c.confSec, refreshForm(first.RefreshToken))
			oauthtest.WantError(t, err, "invalid_grant", "the refresh token was already used; every token of this grant has been revoked")
			for i, p := range family {
				for _, tok := range []string{p.AccessToken, p.RefreshToken} {
					if st := c.StoredToken(tok); st.RevokedAt == nil || !st.RevokedAt.Equal(c.Now()) {
						t.Fatalf("generation %d: %s %+v lives on", i, st.Kind, st)
					}
				}
			}
			for _, tok := range []string{bystander.AccessToken, bystander.RefreshToken} {
				if c.StoredToken(tok).RevokedAt != nil {
					t.Fatal("another grant's token was revoked")
				}
			}
			ev := c.Events()
			if len(ev) != 1 || ev[0].Kind != oauth.SecurityRefreshReuse || ev[0].Grant != oauth.GrantRefreshToken || ev[0].ClientID != c.conf ||
				ev[0].UserID == nil || *ev[0].UserID != c.alice.ID || ev[0].Revoked != tc.revoked || ev[0].RemoteAddr != "192.0.2.1" {
				t.Fatalf("events %+v", ev)
			}
			// The newest refresh token is dead too, as a revoked one (no
			// second report).
			_, err = c.Token(c.conf, c.confSec, refreshForm(family[len(family)-1].RefreshToken))
			oauthtest.WantError(t, err, "invalid_grant", "the refresh token has been revoked")
			if len(c.Events()) != 1 {
				t.Fatalf("events %+v", c.Events())
			}
		})
	}
}

// Rule 28 under concurrency: of simultaneous refreshes with one token
// exactly one gets tokens; the token was used more than once, so the
// whole family ends revoked, the winner's new tokens included.
func TestRule28_ConcurrentRotationOneWinner(t *testing.T) {
	t.Parallel()
	c := newCodeCore(t)
	for round := range 3 {
		pair := c.CodeTokens(c.conf, c.confSec, c.alice, "user.read")
		winner := oauthtest.OneWinner(t, 16, func() (*oauth.TokenResponse, error) {
			return c.Server.Token(context.Background(), c.ClientRequest(c.conf, c.confSec, refreshForm(pair.RefreshToken)))
		})
		for _, tok := range []string{pair.AccessToken, winner.AccessToken, winner.RefreshToken} {
			if c.StoredToken(tok).RevokedAt == nil {
				t.Fatalf("round %d: a token of the reused family survived", round)
			}
		}
	}
}

// Rule 34 (OIDC Core §12.2): a refresh with the openid scope answers a
// new ID token with the same sub and auth_time, at_hash of the new access
// token, and no nonce.
func TestRule34_RefreshedIDToken(t *testing.T) {
	t.Parallel()
	c := newCodeCore(t, oauthtest.WithSigner)
	params := oauthtest.PKCERequest(c.conf, "openid")
	params.Set("nonce", "n-1")
	code := c.Code(c.alice, params)
	signIn := c.Now()
	first, err := c.Token(c.conf, c.confSec, exchange(code))
	if err != nil {
		t.Fatal(err)
	}
	var before oauth.IDTokenClaims
	c.Claims(first.IDToken, oauth.TypeIDToken, &before)
	c.Advance(2 * time.Hour)
	resp, err := c.Token(c.conf, c.confSec, refreshForm(first.RefreshToken))
	if err != nil || resp.IDToken == "" {
		t.Fatalf("%+v %v", resp, err)
	}
	var after oauth.IDTokenClaims
	c.Claims(resp.IDToken, oauth.TypeIDToken, &after)
	if before.Nonce != "n-1" || after.Nonce != "" || after.Subject != before.Subject || after.AuthTime != signIn.Unix() || after.AuthTime != before.AuthTime ||
		after.IssuedAt != c.Now().Unix() || after.AtHash != oauthtest.AtHash(resp.AccessToken) || after.Audience != c.conf {
		t.Fatalf("before %+v\nafter %+v", before, after)
	}
	// Narrowed without openid: no ID token.
	if resp, err := c.Token(c.conf, c.confSec, refreshForm(resp.RefreshToken, "scope", "user.read")); err != nil || resp.IDToken != "" {
		t.Fatalf("without openid: %+v %v", resp, err)
	}
}

// Rule 50: within refresh_token_reuse_interval after a rotation, the
// same client may present the rotated refresh token again and gets a
// fresh pair of the same family (the pair the rotation gave keeps
// working); from the end of the interval on it is reuse again, and the
// family is revoked. Another client's presentation and a revoked family
// stay refused.
func TestRule50_ReuseInterval(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Second
	cases := []struct {
		name       string
		interval   time.Duration
		after      time.Duration // between the rotation and presenting the old token again
		other      bool          // the other client presents it
		revoke     bool          // the family is revoked in between
		code, desc string
	}{
		{name: "within the interval", interval: interval, after: 5 * time.Second},
		{name: "just before its end", interval: interval, after: interval - time.Microsecond},
		{name: "at its end: reuse", interval: interval, after: interval, code: "invalid_grant", desc: "already used; every token of this grant has been revoked"},
		{name: "interval 0: reuse at once", after: 0, code: "invalid_grant", desc: "already used"},
		{name: "another client within the interval", interval: interval, after: time.Second, other: true, code: "invalid_grant", desc: "issued to another client"},
		{name: "revoked family within the interval", interval: interval, after: time.Second, revoke: true, code: "invalid_grant", desc: "has been revoked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCore(t, oauthtest.WithPolicy(func(p *oauth.Policy) { p.RefreshTokenReuseInterval = tc.interval }))
			first := c.CodeTokens(c.conf, c.confSec, c.alice, "user.read")
			second, err := c.Token(c.conf, c.confSec, refreshForm(first.RefreshToken))
			if err != nil {
				t.Fatal(err)
			}
			c.Advance(tc.after)
			if tc.revoke {
				if _, err := c.Model.RevokeFamily(context.Background(), c.StoredToken(first.RefreshToken).FamilyID, c.Now()); err != nil {
					t.Fatal(err)
				}
			}
			id, sec := c.conf, c.confSec
			if tc.other {
				id, sec = c.other, c.otherSec
			}
			again, err := c.Token(id, sec, refreshForm(first.RefreshToken))
			if !oauthtest.WantTokens(t, again, err, tc.code, tc.desc) {
				if tc.other && c.StoredToken(second.RefreshToken).RevokedAt != nil {
					t.Fatal("another client's presentation revoked the family")
				}
				return
			}
			if fam := c.StoredToken(first.RefreshToken).FamilyID; c.StoredToken(again.RefreshToken).FamilyID != fam || c.StoredToken(again.AccessToken).FamilyID != fam {
				t.Fatal("the fresh pair is not of the same family")
			}
			if len(c.Events()) != 0 {
				t.Fatalf("a presentation within the interval was reported: %+v", c.Events())
			}
			// Both refresh tokens now in the client's hands work.
			for _, rt := range []string{second.RefreshToken, again.RefreshToken} {
				if _, err := c.Token(c.conf, c.confSec, refreshForm(rt)); err != nil {
					t.Fatalf("a refresh token of the family no longer works: %v", err)
				}
			}
		})
	}
}

// Rule 50 under concurrency: with a reuse interval, simultaneous
// refreshes with one token all get tokens, every new refresh token works,
// and nothing is revoked.
func TestRule50_ConcurrentRefreshesWithinTheInterval(t *testing.T) {
	t.Parallel()
	c := newCodeCore(t, oauthtest.WithPolicy(func(p *oauth.Policy) { p.RefreshTokenReuseInterval = 5 * time.Second }))
	pair := c.CodeTokens(c.conf, c.confSec, c.alice, "user.read")
	const n = 16
	resps := make([]*oauth.TokenResponse, n)
	for i, err := range oauthtest.Concurrently(n, func(i int) error {
		var err error
		resps[i], err = c.Server.Token(context.Background(), c.ClientRequest(c.conf, c.confSec, refreshForm(pair.RefreshToken)))
		return err
	}) {
		if err != nil {
			t.Fatalf("refresh %d of %d concurrent ones: %v", i, n, err)
		}
	}
	for i, r := range resps {
		if _, err := c.Token(c.conf, c.confSec, refreshForm(r.RefreshToken)); err != nil {
			t.Fatalf("new refresh token %d: %v", i, err)
		}
	}
	if c.StoredToken(pair.AccessToken).RevokedAt != nil || len(c.Events()) != 0 {
		t.Fatalf("the family was revoked: events %+v", c.Events())
	}
}

// Rule 50 per client: a client's own refresh token reuse interval wins
// over the policy's (refresh_token_reuse_interval) both ways — 0s turns
// the grace off for the client while the policy has one, and an interval
// gives the client grace while the policy has none — and nil follows the
// policy. Each case is run with a client following the policy too, to
// show that the client's interval made the difference.
func TestRule50_ClientReuseIntervalWinsOverPolicy(t *testing.T) {
	t.Parallel()
	dur := func(d time.Duration) *time.Duration { return &d }
	const reused = "already used; every token of this grant has been revoked"
	cases := []struct {
		name   string
		policy time.Duration
		client *time.Duration
		after  time.Duration
		desc   string // "" when the second use succeeds
	}{
		{name: "client 0s, policy 10s: reuse revokes", policy: 10 * time.Second, client: dur(0), after: time.Second, desc: reused},
		{name: "client 10s, policy 0: second use within 10s succeeds", client: dur(10 * time.Second), after: 5 * time.Second},
		{name: "client 10s, policy 0: at the end of the client's interval, reuse", client: dur(10 * time.Second), after: 10 * time.Second, desc: reused},
		{name: "client 5s, policy 30s: the client's shorter interval counts", policy: 30 * time.Second, client: dur(5 * time.Second), after: 6 * time.Second, desc: reused},
		{name: "client nil, policy 10s: the policy's", policy: 10 * time.Second, after: 5 * time.Second},
		{name: "client nil, policy 0: reuse", after: 0, desc: reused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCore(t, oauthtest.WithPolicy(func(p *oauth.Policy) { p.RefreshTokenReuseInterval = tc.policy }))
			own, ownSec := c.Client(oauth.Client{RedirectURIs: []string{codeRedirect}, RefreshTokenReuseInterval: tc.client})
			// The client with its own interval, and (c.conf) one that
			// follows the policy, rotate and present the old token again.
			rotate := func(id, sec string) (first, second *oauth.TokenResponse) {
				first = c.CodeTokens(id, sec, c.alice, "user.read")
				second, err := c.Token(id, sec, refreshForm(first.RefreshToken))
				if err != nil {
					t.Fatal(err)
				}
				return first, second
			}
			first, second := rotate(own, ownSec)
			pFirst, pSecond := rotate(c.conf, c.confSec)
			c.Advance(tc.after)
			again, err := c.Token(own, ownSec, refreshForm(first.RefreshToken))
			pAgain, pErr := c.Token(c.conf, c.confSec, refreshForm(pFirst.RefreshToken))

			if tc.desc != "" {
				oauthtest.WantTokens(t, again, err, "invalid_grant", tc.desc)
				for _, tok := range []string{first.AccessToken, second.AccessToken, second.RefreshToken} {
					if c.StoredToken(tok).RevokedAt == nil {
						t.Fatal("a token of the reused family survived")
					}
				}
				ev := c.Events()
				if len(ev) == 0 || ev[0].Kind != oauth.SecurityRefreshReuse || ev[0].ClientID != own {
					t.Fatalf("reuse not reported for the client: %+v", ev)
				}
			} else {
				oauthtest.WantTokens(t, again, err, "", "")
				if fam := c.StoredToken(first.RefreshToken).FamilyID; c.StoredToken(again.RefreshToken).FamilyID != fam {
					t.Fatal("the fresh pair is not of the same family")
				}
				for _, rt := range []string{second.RefreshToken, again.RefreshToken} {
					if _, err := c.Token(own, ownSec, refreshForm(rt)); err != nil {
						t.Fatalf("a refresh token of the family no longer works: %v", err)
					}
				}
				for _, ev := range c.Events() {
					if ev.ClientID == own {
						t.Fatalf("a presentation within the client's interval was reported: %+v", ev)
					}
				}
			}

			// The client following the policy gets the policy's answer.
			if tc.policy > tc.after {
				oauthtest.WantTokens(t, pAgain, pErr, "", "")
				if c.StoredToken(pSecond.RefreshToken).RevokedAt != nil {
					t.Fatal("the policy-following client's family was revoked within the policy's interval")
				}
			} else {
				oauthtest.WantTokens(t, pAgain, pErr, "invalid_grant", reused)
			}
		})
	}
}
