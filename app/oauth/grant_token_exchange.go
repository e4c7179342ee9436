package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/app/secret"
)

// TokenTypeAccessToken is RFC 8693's type URI for access tokens.
const TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// tokenExchangeGrant is an extension grant (RFC 6749 §4.5), and the
// example of how one is added: this file plus one line in builtinGrants. It
// implements the down-scoping case of RFC 8693 token exchange: a client
// trades one of its own access tokens for a new one with a subset of the
// scopes (and of the audience: resource and audience parameters) that
// expires no later. The new token joins the subject token's
// family, so revoking the grant revokes it too. With an actor_token it
// is delegation (RFC 8693 §1.1): the new token carries act naming the
// actor, and the subject token's act nested in it.
//
// Known limit: a delegated token expires with its actor token at the
// latest, but revoking the actor token (or the actor's grant) does not
// revoke it, as it joins the subject's family and stores nothing that
// identifies the actor token (act is a public claim: it names the actor,
// never its token). Linking them needs storage: the actor tokens' hashes
// and families per delegated token (several for chains), revoked with
// them by RevokeToken and RevokeFamily.
type tokenExchangeGrant struct{ s *Server }

var _ GrantHandler = tokenExchangeGrant{}

// Info implements GrantHandler.
func (tokenExchangeGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantTokenExchange, "Token exchange (down-scoping, delegation)", "Your app trades one of its access tokens for a shorter-lived token with fewer scopes, or for one that names the service acting for the user (RFC 8693).", false}
}

func (tokenExchangeGrant) bind(s *Server) GrantHandler { return tokenExchangeGrant{s} }

func (tokenExchangeGrant) Enabled(Policy) bool { return true }

func (g tokenExchangeGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	subject := r.Form.Get("subject_token")
	if subject == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no subject_token")
	}
	if tt := r.Form.Get("subject_token_type"); tt != TokenTypeAccessToken {
		return nil, ErrInvalidRequest.WithDescription("subject_token_type must be %s", TokenTypeAccessToken)
	}
	if rt := r.Form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
		return nil, ErrInvalidRequest.WithDescription("only access tokens can be requested")
	}
	actorToken, actorType := r.Form.Get("actor_token"), r.Form.Get("actor_token_type")
	switch {
	case actorToken == "" && actorType != "":
		return nil, ErrInvalidRequest.WithDescription("actor_token_type was sent without an actor_token")
	case actorToken != "" && actorType == "":
		return nil, ErrInvalidRequest.WithDescription("the request has an actor_token but no actor_token_type")
	case actorToken != "" && actorType != TokenTypeAccessToken:
		return nil, ErrInvalidRequest.WithDescription("actor_token_type must be %s", TokenTypeAccessToken)
	}
	// resource and audience (RFC 8693 §2.1) name where the new token is
	// for. Gatehouse's audiences are resource URIs, so both are resource
	// indicators here, canonicalised and checked like RFC 8707's: a
	// subset of the subject token's audience.
	requested, perr := ParseResources(append(append([]string(nil), r.Resources...), r.Audience...))
	if perr != nil {
		return nil, perr
	}
	t, err := s.model.GetToken(ctx, secret.Digest(subject))
	if err != nil {
		if isNotFound(err) {
			return nil, ErrInvalidRequest.WithDescription("the subject_token is invalid")
		}
		return nil, serverError(err)
	}
	// A subject token that is invalid or unacceptable (another client's)
	// is invalid_request, not invalid_grant: RFC 8693 §2.2.2 says so for
	// both the subject and the actor token.
	now := s.now()
	if t.Kind != KindAccess || t.RevokedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, ErrInvalidRequest.WithDescription("the subject_token is invalid, expired or revoked")
	}
	if t.ClientID != r.Client.ID {
		return nil, ErrInvalidRequest.WithDescription("the subject_token was issued to another client")
	}
	// A DPoP-bound subject token is exchanged only with a proof of its
	// key: otherwise whoever stole it could trade it for an unbound one
	// (a public client authenticates with nothing else).
	if err := dpopKeyMatches(t.Jkt, r.DPoPJkt, "the subject_token"); err != nil {
		return nil, err
	}
	// Delegation (RFC 8693 §1.1, §4.1): the new token says who acts for
	// the subject. Without an actor token it keeps the subject token's
	// act, so that an exchange never turns a delegated token into one
	// that looks like the subject's own.
	act, err := parseAct(t.Act)
	if err != nil {
		return nil, serverError(err)
	}
	expiry := t.ExpiresAt
	if actorToken != "" {
		at, actor, e := s.actor(ctx, r.Client.Client, actorToken, subject)
		if e != nil {
			return nil, e
		}
		actor.Act = act // the earlier actors, nested under the current one
		if actor.depth() > MaxDelegationDepth {
			return nil, ErrInvalidRequest.WithDescription("the delegation chain would have more than %d actors", MaxDelegationDepth)
		}
		act = actor
		if at.ExpiresAt.Before(expiry) {
			// A delegation lasts no longer than the actor's authority.
			expiry = at.ExpiresAt
		}
	}
	scope, serr := narrowScope(r.Form.Get("scope"), strings.Fields(t.Scope), "the subject token's")
	if serr != nil {
		return nil, serr
	}
	if t.UserID == nil {
		// A client-credentials token: the new one may carry only the
		// machine scopes the client lists now (rule 51).
		if scope, serr = s.machineSubset(ctx, r.Client.Client, scope, r.Form.Get("scope") != ""); serr != nil {
			return nil, serr
		}
	}
	if t.UserID != nil {
		// A subject token whose user is gone or disabled is invalid
		// too (RFC 8693 §2.2.2).
		if _, uerr := s.activeUser(ctx, *t.UserID, ErrInvalidRequest); uerr != nil {
			return nil, uerr
		}
	}
	aud, aerr := s.narrowAudience(ctx, t.Audience, requested, JoinScope(scope), true)
	if aerr != nil {
		return nil, aerr
	}
	resp, e := s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: t.UserID, scope: JoinScope(scope), familyID: t.FamilyID,
		sid: t.SID, authTime: t.AuthTime, accessExpiry: expiry, noIDToken: true, recheck: true, audience: aud, act: act,
		jkt: r.DPoPJkt})
	if e != nil {
		return nil, e
	}
	resp.IssuedTokenType = TokenTypeAccessToken
	return resp, nil
}

// Actor is the act claim of a delegated token (RFC 8693 §4.1): the party
// acting for the token's subject, by its subject (a user's sub, or the
// client ID for a client-credentials token, as the token's own sub would
// be) and the client its token was issued to; Act nests the actors
// before it, the outermost being the current one.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// MaxDelegationDepth is the most actors one token's act chain may name:
// every exchange with an actor token adds one, and tokens must not grow
// without end.
const MaxDelegationDepth = 8

// depth is the number of actors in the chain (0 for nil).
func (a *Actor) depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// parseAct reads a stored act claim (Token.Act; "" is none).
func parseAct(stored string) (*Actor, error) {
	if stored == "" {
		return nil, nil
	}
	var a Actor
	if err := json.Unmarshal([]byte(stored), &a); err != nil {
		return nil, fmt.Errorf("stored act claim: %w", err)
	}
	return &a, nil
}

// storedAct is the Token.Act of a (none: "").
func storedAct(a *Actor) string {
	if a == nil {
		return ""
	}
	b, _ := json.Marshal(a) // strings and pointers only: cannot fail
	return string(b)
}

// actor checks the actor_token of a token exchange by client (RFC 8693
// §2.1) and returns it and the actor it names. It must be a live access
// token of this server, not the subject token, not itself delegated, and
// issued to the client or to one the client's may_act lists (SPEC.md
// §7.4). Every refusal is invalid_request, as RFC 8693 §2.2.2 requires
// for an actor token that is invalid or unacceptable by policy.
//
// RFC 8693 leaves to policy which actor tokens a client may present;
// Gatehouse's adds one rule on the audience: another client's token (one
// of may_act) acts only when it was issued for Gatehouse itself, that is
// for no resource or only for the built-in API ({issuer}/api) or the
// issuer. A token issued for a resource server (RFC 8707) is meant to be
// spent there, and the party that presents it elsewhere is that resource
// server, not the client that got it: the client whose API received a
// token of another must not become able to name that other as its actor.
// The client's own tokens act whatever their audience, as it holds them
// anyway.
func (s *Server) actor(ctx context.Context, client *Client, plain, subject string) (*Token, *Actor, error) {
	if plain == subject {
		return nil, nil, ErrInvalidRequest.WithDescription("the actor_token is the subject_token: present a token of the party that acts")
	}
	t, err := s.model.GetToken(ctx, secret.Digest(plain))
	if err != nil {
		if isNotFound(err) {
			return nil, nil, ErrInvalidRequest.WithDescription("the actor_token is invalid")
		}
		return nil, nil, serverError(err)
	}
	if t.Kind != KindAccess || t.RevokedAt != nil || !s.now().Before(t.ExpiresAt) {
		return nil, nil, ErrInvalidRequest.WithDescription("the actor_token is invalid, expired or revoked")
	}
	if t.Act != "" {
		return nil, nil, ErrInvalidRequest.WithDescription("the actor_token is itself a delegated token (it has an act claim): present a token of the actor's own")
	}
	if t.ClientID != client.ID && !slices.Contains(client.MayAct, t.ClientID) {
		return nil, nil, ErrInvalidRequest.WithDescription("the actor_token was issued to client %s, which this client's may_act does not list", t.ClientID)
	}
	if t.ClientID != client.ID {
		for _, aud := range t.Audience {
			if !s.isOwnAudience(aud) {
				return nil, nil, ErrInvalidRequest.WithDescription("the actor_token was issued to client %s for the resource %s: another client's token acts only when issued for no resource or for Gatehouse's own API, not one meant for a resource server",
					t.ClientID, truncate(aud, 200))
			}
		}
	}
	a := &Actor{Subject: t.ClientID, ClientID: t.ClientID}
	if t.UserID != nil {
		u, uerr := s.activeUser(ctx, *t.UserID, ErrInvalidRequest)
		if uerr != nil {
			if errors.Is(uerr, ErrServerError) {
				return nil, nil, uerr
			}
			return nil, nil, ErrInvalidRequest.WithDescription("the user of the actor_token no longer exists or is disabled")
		}
		a.Subject = u.Subject
	}
	return t, a, nil
}

// isOwnAudience reports whether the audience value aud (a canonical
// resource URI) is Gatehouse itself: the built-in resource {issuer}/api,
// or the issuer.
func (s *Server) isOwnAudience(aud string) bool {
	if aud == BuiltinResource(s.issuer).URI {
		return true
	}
	iss, err := CanonicalResource(s.issuer)
	return err == nil && aud == iss
}

// machineSubset keeps the scopes a token without a user may still carry:
// the machine scopes the client lists now. When the request named the
// scopes (asked), one it may not have is invalid_scope instead; scopes
// only inherited from the subject token are dropped quietly, as a refresh
// drops scopes taken from a client.
func (s *Server) machineSubset(ctx context.Context, client *Client, scopes []string, asked bool) ([]string, error) {
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, err
	}
	if asked {
		if e := checkMachineScope(all, client, scopes); e != nil {
			return nil, e
		}
		return scopes, nil
	}
	allowed := machineScopes(all, client)
	out := scopes[:0:0]
	for _, sc := range scopes {
		if allowed[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}
