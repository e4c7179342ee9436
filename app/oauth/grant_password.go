package oauth

import (
	"context"
	"errors"
	"strings"
)

// passwordGrant is the resource owner password credentials grant
// (RFC 6749 §4.3), off unless allow_password_grant is on (RFC 9700 §2.4
// advises against it).
type passwordGrant struct{ s *Server }

var _ GrantHandler = passwordGrant{}

// Info implements GrantHandler.
func (passwordGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantPassword, "Resource owner password", "Your app collects the user's password itself. Discouraged: only for trusted first-party apps, and only while an admin allows it.", true}
}

func (passwordGrant) bind(s *Server) GrantHandler { return passwordGrant{s} }

func (passwordGrant) Enabled(pol Policy) bool { return pol.AllowPasswordGrant }

// Handle checks the user's password and issues tokens for the validated
// scope.
func (g passwordGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	asked, perr := ParseScope(r.Form.Get("scope"))
	if perr != nil {
		return nil, perr
	}
	scopes, _, serr := s.ValidateScope(ctx, r.Client.Client, asked, r.Resources)
	if serr != nil {
		return nil, serr
	}
	aud, aerr := s.audienceOf(ctx, JoinScope(scopes), r.Resources)
	if aerr != nil {
		return nil, aerr
	}
	u, e := s.checkPassword(ctx, r.Form.Get("username"), r.Form.Get("password"), r.RemoteAddr)
	s.passwordSignIn(ctx, GrantPassword, r.Client.ID, r.RemoteAddr, r.Form.Get("username"), u, e)
	if e != nil {
		return nil, e
	}
	uid, at := u.ID, s.now()
	return s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: &uid, user: u, scope: JoinScope(scopes), authTime: &at,
		refresh: r.Client.HasGrant(GrantRefreshToken), audience: aud, refreshAudience: aud, jkt: r.DPoPJkt})
}

// MaxUsernameBytes is the longest username, in bytes (the same as
// accounts.MaxUsernameBytes: no account has a longer one).
const MaxUsernameBytes = 64

// checkPassword verifies a user's password for the password grant and
// the headless authorization: throttled like the sign-in form, and an
// unknown user costs the same time and gets the same invalid_grant as a
// wrong password. A username longer than any account's is a malformed
// request (invalid_request, RFC 6749 §5.2), refused before the throttle
// counts it or the audit log records it: nothing an attacker sends grows
// either.
func (s *Server) checkPassword(ctx context.Context, username, pw, address string) (*User, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if username == "" || pw == "" {
		return nil, ErrInvalidRequest.WithDescription("username and password are required")
	}
	if len(username) > MaxUsernameBytes {
		return nil, ErrInvalidRequest.WithDescription("username is too long")
	}
	if s.passwords == nil {
		return nil, serverError(errors.New("oauth: no PasswordChecker (Options.Passwords)"))
	}
	var attempt Attempt
	if s.loginThrottle != nil {
		a, wait, err := s.loginThrottle.Begin(ctx, username, address)
		if err != nil {
			return nil, serverError(err)
		}
		if wait > 0 {
			return nil, TooManyRequests(wait, "too many failed sign-in attempts; try again later")
		}
		attempt = a
	}
	u, err := s.model.GetUserByUsername(ctx, username)
	ok := false
	switch {
	case err == nil:
		ok, err = s.passwords.Verify(pw, u.PasswordHash)
		if err != nil {
			s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID)
			ok = false
		}
	case isNotFound(err):
		s.passwords.VerifyDummy(pw)
	default:
		return nil, serverError(err)
	}
	if !ok {
		return nil, ErrInvalidGrant.WithDescription("invalid username or password")
	}
	if attempt != nil {
		if err := attempt.Succeeded(ctx); err != nil {
			return nil, serverError(err)
		}
	}
	if u.Disabled {
		return nil, ErrInvalidGrant.WithDescription("this account is disabled")
	}
	return u, nil
}
