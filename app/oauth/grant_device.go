package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// deviceCodeGrant is the device access token request (RFC 8628 §3.4,
// §3.5): the device polls with its device code until the user has
// decided.
type deviceCodeGrant struct{ s *Server }

var _ GrantHandler = deviceCodeGrant{}

// Info implements GrantHandler.
func (deviceCodeGrant) Info() GrantTypeInfo {
	return GrantTypeInfo{GrantDeviceCode, "Device code", "For TVs, consoles and command-line tools without a browser: the device shows a short code that the user enters at /device on their phone or computer (RFC 8628).", false}
}

func (deviceCodeGrant) bind(s *Server) GrantHandler { return deviceCodeGrant{s} }

func (deviceCodeGrant) Enabled(Policy) bool { return true }

// maxPollAttempts bounds how often one poll re-reads the authorization
// when a concurrent poll or decision changed it under its feet.
const maxPollAttempts = 3

// Handle answers a poll. The device code must be this client's
// (invalid_grant otherwise, and for unknown codes). Then, in order:
// redeemed before → invalid_grant; denied → access_denied; past its
// expiry → expired_token; approved → the tokens, exactly once however
// many polls arrive together; pending → authorization_pending, or
// slow_down when this poll came sooner than the interval after the
// previous one (the interval then grows by 5 s for good). Every poll of a
// pending authorization is recorded, slow ones and fast ones.
func (g deviceCodeGrant) Handle(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	s := g.s
	code := r.Form.Get("device_code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("the request has no device_code")
	}
	hash := secret.Digest(code)
	for range maxPollAttempts {
		now := s.now()
		d, err := s.model.GetDeviceCode(ctx, hash)
		if err != nil {
			if isNotFound(err) {
				return nil, ErrInvalidGrant.WithDescription("the device code is invalid")
			}
			return nil, serverError(err)
		}
		if d.ClientID != r.Client.ID {
			return nil, ErrInvalidGrant.WithDescription("the device code was issued to another client")
		}
		switch d.Status {
		case DeviceRedeemed:
			return nil, ErrInvalidGrant.WithDescription("the device code was already used")
		case DeviceDenied:
			return nil, errDeviceAccessDenied.WithDescription("the user denied the request")
		}
		if !now.Before(d.ExpiresAt) {
			return nil, ErrExpiredToken.WithDescription("the device code has expired; start again")
		}
		if d.Status == DeviceApproved {
			// resource parameters must name resources of the grant: checked
			// before redemption, so that a wrong one does not use the code up.
			// (An approved authorization's scope and resources no longer
			// change: the redemption uses this answer.)
			grant, aud, e := g.s.storedGrantAudience(ctx, d.Scope, d.Resources, r.Resources)
			if e != nil {
				return nil, e
			}
			resp, e, retry := g.redeem(ctx, r, hash, now, grant, aud)
			if retry {
				continue
			}
			return resp, e
		}
		// Pending.
		fast := d.LastPolledAt != nil && now.Sub(*d.LastPolledAt) < d.Interval-pollSlack(d.Interval)
		interval := d.Interval
		if fast {
			interval = min(d.Interval+slowDownStep, maxPollInterval)
		}
		if err := s.model.RecordDevicePoll(ctx, d, now, interval); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue // another poll or the user's decision came first
			}
			return nil, serverError(err)
		}
		if fast {
			return nil, slowDown(interval)
		}
		return nil, ErrAuthorizationPending.WithDescription("the user has not decided yet; poll again in %d seconds", int64(interval/time.Second))
	}
	// Polls racing each other for this long are too fast by definition.
	return nil, ErrSlowDown.WithDescription("poll less often")
}

// pollSlack is how much sooner than the interval a poll may come without
// being too fast: clients poll on a timer of exactly the interval (x/oauth2
// does), and network and scheduling jitter make some gaps a few
// milliseconds short. A fifth of the interval, at most a second.
func pollSlack(interval time.Duration) time.Duration {
	return min(interval/5, time.Second)
}

func slowDown(interval time.Duration) *Error {
	return ErrSlowDown.WithDescription("polling too fast; wait at least %d seconds between requests", int64(interval/time.Second))
}

// redeem exchanges an approved authorization for tokens. retry is true
// when the authorization changed since it was read (redeemed by a
// concurrent poll, denied by the user revoking the app, expired): the
// caller reads it again and answers for its new state. grant and aud are
// the audiences the caller worked out for it (storedGrantAudience).
func (g deviceCodeGrant) redeem(ctx context.Context, r *TokenRequest, hash []byte, now time.Time, grant, aud []string) (*TokenResponse, error, bool) {
	s := g.s
	d, err := s.model.RedeemDeviceCode(ctx, hash, now)
	switch {
	case errors.Is(err, store.ErrConflict), isNotFound(err):
		return nil, nil, true
	case err != nil:
		return nil, serverError(err), false
	}
	if d.UserID == nil || d.AuthTime == nil {
		return nil, serverError(errors.New("approved device code without user or auth time")), false
	}
	u, uerr := s.activeUser(ctx, *d.UserID, ErrInvalidGrant)
	if uerr != nil {
		return nil, uerr, false
	}
	uid, at := *d.UserID, *d.AuthTime
	resp, e := s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client.Client, userID: &uid, user: u, scope: d.Scope, authTime: &at,
		refresh: r.Client.HasGrant(GrantRefreshToken), audience: aud, refreshAudience: grant, jkt: r.DPoPJkt})
	return resp, e, false
}
