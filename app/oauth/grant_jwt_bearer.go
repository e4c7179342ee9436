package oauth

import (
	"context"
	"slices"
	"strings"
)

// GrantJWTBearer is the JWT bearer authorization grant (RFC 7523 §2.1).
const GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// Security event kinds of the JWT bearer grant (also the audit log's
// action names): an assertion of a trusted issuer exchanged for a token,
// or refused (for a cause in SecurityEvent.Reason). Assertions naming an
// issuer nobody trusts are refused without an event: anyone can make one.
const (
	SecurityAssertionAccepted = "trust.assertion_accepted"
	SecurityAssertionRefused  = "trust.assertion_refused"
)

// jwtBearerGrant exchanges a JWT assertion signed by a trusted issuer
// (TrustModel) for an access token of the user its subject is mapped to
// (RFC 7523 §2.1, §3):
//
//   - the client is authenticated and confidential, and has the grant
//     (the token endpoint checks both before Handle): RFC 7521 §4.1 makes
//     client authentication optional, but the tokens must belong to a
//     client, whose allowed scopes bound them and whose revocation ends
//     them;
//   - iss names a trusted issuer; the signature verifies with its keys
//     (pasted JWK Set or jwks_uri, through the KeySource; RS256, PS256,
//     ES256, EdDSA); aud is Gatehouse's issuer or the token endpoint; exp
//     is present, and neither exp - iat nor exp - now exceeds the issuer's
//     maximum lifetime; nbf and iat are not in the future; the jti is
//     single use (ReplayJWTBearer, per issuer) until exp, and an
//     assertion without jti (RFC 7523 §3 makes it optional;
//     golang.org/x/oauth2/jwt sends none) is itself single use: its signed
//     content (AssertionPolicy.JTIOptional);
//   - sub is one the admin mapped to a username; that user exists and is
//     not disabled;
//   - the scope parameter (or, without one, the assertion's scope claim,
//     space-separated as golang.org/x/oauth2/jwt and Google's libraries
//     sign it; with both, the parameter must stay within the claim)
//     names scopes within the issuer's; without either, the issuer's
//     scopes are asked for. They must exist and be allowed to the client
//     (ValidateScope); the default scopes it adds are kept only within
//     the issuer's scopes (and the claim);
//   - the answer is an access token only: no refresh token (RFC 7521 §4.1
//     leaves it to the server; the issuer signs a new assertion instead,
//     and refreshing would outlive a deleted trust) and no ID token (no
//     user signed in here).
//
// Every refusal is invalid_grant (invalid_scope for scopes) naming its
// cause.
type jwtBearerGrant struct{ s *Server }

var _ GrantHandler = jwtBearerGrant{}

// Info implements GrantHandler.
func (jwtBearerGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantJWTBearer, "JWT bearer (trusted issuers)", "Your confidential app exchanges a JWT signed by an issuer an admin trusts for an access token of the user it names (RFC 7523). No refresh token.", false}
}

func (jwtBearerGrant) bind(s *Server) GrantHandler { return jwtBearerGrant{s} }

// Enabled implements GrantHandler: always; it does nothing until an
// admin registers a trusted issuer and gives a client the grant.
func (jwtBearerGrant) Enabled(Policy) bool { return true }

// Handle implements GrantHandler.
func (g jwtBearerGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	if r.Client.Public {
		return nil, ErrUnauthorizedClient.WithDescription("public clients cannot use the JWT bearer grant: the client must authenticate")
	}
	raw := r.Form.Get("assertion")
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no assertion")
	}
	iss, _, err := PeekAssertion(raw)
	if err != nil {
		return nil, assertionGrantError(err)
	}
	if iss == "" {
		return nil, ErrInvalidGrant.WithDescription("the assertion has no iss")
	}
	ti, err := s.model.GetTrustedIssuer(ctx, iss)
	switch {
	case isNotFound(err):
		return nil, ErrInvalidGrant.WithDescription("the assertion's issuer %q is not trusted", truncate(iss, 100))
	case err != nil:
		return nil, serverError(err)
	}
	sub := "" // known once the assertion verified
	refuse := func(e error) error {
		if oe := AsError(e); oe.Code != ErrServerError.Code {
			s.securityEvent(ctx, SecurityEvent{Kind: SecurityAssertionRefused, Grant: GrantJWTBearer, ClientID: r.Client.ID,
				RemoteAddr: r.RemoteAddr, Issuer: ti.Issuer, Subject: sub, Reason: oe.Description})
		}
		return e
	}
	claims, err := s.VerifyAssertion(ctx, raw, AssertionPolicy{Namespace: ReplayJWTBearer, Issuer: ti.Issuer,
		Audiences: []string{s.issuer, s.tokenEndpoint}, JWKS: ti.JWKS, JWKSURI: ti.JWKSURI, MaxLifetime: ti.MaxLifetime, JTIOptional: true})
	if err != nil {
		return nil, refuse(assertionGrantError(err))
	}
	sub = claims.Subject
	u, uerr := g.mappedUser(ctx, ti, claims.Subject)
	if uerr != nil {
		return nil, refuse(uerr)
	}
	scopes, serr := g.scopes(ctx, r, ti, claims)
	if serr != nil {
		return nil, refuse(serr)
	}
	aud, aerr := s.audienceOf(ctx, JoinScope(scopes), r.Resources)
	if aerr != nil {
		return nil, refuse(aerr)
	}
	uid := u.ID
	resp, e := s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: &uid, user: u, scope: JoinScope(scopes),
		audience: aud, noIDToken: true, jkt: r.DPoPJkt})
	if e != nil {
		return nil, e
	}
	s.securityEvent(ctx, SecurityEvent{Kind: SecurityAssertionAccepted, Grant: GrantJWTBearer, ClientID: r.Client.ID, UserID: &uid,
		RemoteAddr: r.RemoteAddr, Issuer: ti.Issuer, Subject: claims.Subject, Username: u.Username})
	return resp, nil
}

// assertionGrantError is a refused assertion as invalid_grant with its
// cause; other errors are server errors.
func assertionGrantError(err error) error {
	if reason := AssertionReason(err); reason != "" {
		return ErrInvalidGrant.WithDescription("%s", reason)
	}
	return AsError(err) // an *Error as it is, anything else a server error
}

// mappedUser is the user the issuer's rule maps sub to: listed, existing
// and not disabled.
func (g jwtBearerGrant) mappedUser(ctx context.Context, ti *TrustedIssuer, sub string) (*User, error) {
	username, ok := ti.Subjects[sub]
	if !ok {
		return nil, ErrInvalidGrant.WithDescription("the assertion's sub %q is not mapped to a user for this issuer", truncate(sub, 100))
	}
	u, err := g.s.model.GetUserByUsername(ctx, username)
	switch {
	case isNotFound(err):
		return nil, ErrInvalidGrant.WithDescription("the user the assertion's sub is mapped to no longer exists")
	case err != nil:
		return nil, serverError(err)
	case u.Disabled:
		return nil, ErrInvalidGrant.WithDescription("the user the assertion's sub is mapped to is disabled")
	}
	return u, nil
}

// scopes decides the token's scopes (see jwtBearerGrant).
func (g jwtBearerGrant) scopes(ctx context.Context, r *TokenRequest, ti *TrustedIssuer, claims *AssertionClaims) ([]string, error) {
	asked, err := ParseScope(r.Form.Get("scope"))
	if err != nil {
		return nil, err
	}
	var claimed []string
	hasClaim := false
	if v, ok := claims.Extra["scope"]; ok {
		str, isStr := v.(string)
		if !isStr {
			return nil, ErrInvalidGrant.WithDescription("the assertion's scope claim is not a space-separated string")
		}
		if claimed, err = ParseScope(str); err != nil {
			return nil, ErrInvalidGrant.WithDescription("the assertion's scope claim is malformed: %s", AsError(err).Description)
		}
		hasClaim = len(claimed) > 0
	}
	switch {
	case len(asked) > 0 && hasClaim:
		if !subset(asked, claimed) {
			return nil, ErrInvalidScope.WithDescription("the requested scope is wider than the assertion's scope claim")
		}
	case len(asked) == 0 && hasClaim:
		asked = claimed
	}
	explicit := len(asked) > 0
	if !explicit {
		// The issuer's scopes that the client may have.
		for _, id := range ti.Scopes {
			if len(r.Client.Scopes) == 0 || slices.Contains(r.Client.Scopes, id) {
				asked = append(asked, id)
			}
		}
		slices.Sort(asked)
	}
	for _, id := range asked {
		if !slices.Contains(ti.Scopes, id) {
			return nil, ErrInvalidScope.WithDescription("scope %q is not allowed for assertions of this issuer (allowed: %s)",
				truncate(id, 64), strings.Join(ti.Scopes, " "))
		}
	}
	granted, _, serr := g.s.ValidateScope(ctx, r.Client.Client, asked, r.Resources)
	if serr != nil {
		return nil, serr
	}
	// Default scopes the validation added count only within the
	// issuer's scopes, and within the assertion's scope claim.
	out := granted[:0:0]
	for _, id := range granted {
		if slices.Contains(ti.Scopes, id) && (!hasClaim || slices.Contains(claimed, id)) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, ErrInvalidScope.WithDescription("none of this issuer's scopes (%s) is allowed for this client", strings.Join(ti.Scopes, " "))
	}
	return out, nil
}
