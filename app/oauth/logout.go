package oauth

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// LogoutRequest is a validated request to the end-session endpoint
// (OpenID Connect RP-Initiated Logout 1.0 §2).
type LogoutRequest struct {
	// Client is the relying party: the one client_id names, or the
	// audience of id_token_hint (nil when the request names neither).
	Client *Client
	// Hint is what a valid id_token_hint says (nil without one).
	Hint *LogoutHint
	// PostLogoutRedirectURI is where to send the browser afterwards: one
	// registered for Client, exactly ("" when none was asked for).
	PostLogoutRedirectURI string
	State                 string
	UILocales             string
}

// LogoutHint is what a valid id_token_hint tells about the session the
// relying party wants ended.
type LogoutHint struct {
	Subject string
	SID     string // "" for ID tokens issued outside a browser session
}

// ParseLogoutRequest validates the parameters of an end-session request
// (RP-Initiated Logout §2-§3). id_token_hint must be an ID token this
// server signed, for a client that exists; expired ones are accepted,
// since relying parties send the last one they have. client_id, when
// given too, must be its audience. post_logout_redirect_uri needs a
// client (from either) and must exactly match one of its
// post_logout_redirect_uris. Every refusal is an invalid_request *Error
// whose description says what was wrong: the endpoint shows it and
// redirects nowhere.
func (s *Server) ParseLogoutRequest(ctx context.Context, params url.Values) (*LogoutRequest, error) {
	for _, name := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint"} {
		if len(params[name]) > 1 {
			return nil, ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", name)
		}
	}
	r := &LogoutRequest{State: params.Get("state"), UILocales: params.Get("ui_locales")}
	clientID := params.Get("client_id")
	if hint := params.Get("id_token_hint"); hint != "" {
		claims, err := s.verifyIDTokenHint(ctx, hint)
		if err != nil {
			return nil, err
		}
		if clientID != "" && clientID != claims.Audience {
			return nil, ErrInvalidRequest.WithDescription("the id_token_hint was issued to another application than client_id names")
		}
		clientID = claims.Audience
		r.Hint = &LogoutHint{Subject: claims.Subject, SID: claims.SessionID}
	}
	if clientID != "" {
		c, err := s.model.GetClient(ctx, clientID)
		if err != nil {
			if isNotFound(err) {
				return nil, ErrInvalidRequest.WithDescription("no application is registered with this client_id")
			}
			return nil, AsError(err) // a client refused with a reason (ClientModel), or server_error
		}
		r.Client = c
	}
	if uri := params.Get("post_logout_redirect_uri"); uri != "" {
		if r.Client == nil {
			return nil, ErrInvalidRequest.WithDescription("post_logout_redirect_uri needs client_id or id_token_hint, to tell which application registered it")
		}
		if !slices.Contains(r.Client.PostLogoutRedirectURIs, uri) {
			return nil, ErrInvalidRequest.WithDescription("the post_logout_redirect_uri is not registered for this application")
		}
		r.PostLogoutRedirectURI = uri
	}
	return r, nil
}

// verifyIDTokenHint checks that hint is an ID token this server signed,
// whatever its expiry, for a client that exists.
func (s *Server) verifyIDTokenHint(ctx context.Context, hint string) (*IDTokenClaims, error) {
	bad := ErrInvalidRequest.WithDescription("the id_token_hint is not a valid ID token of this server")
	if s.signer == nil || len(hint) > 16<<10 {
		return nil, bad
	}
	payload, err := s.signer.Verify(ctx, hint, TypeIDToken)
	if err != nil {
		return nil, bad
	}
	var c IDTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.issuer || c.Audience == "" || c.Subject == "" {
		return nil, bad
	}
	return &c, nil
}

// ForSession reports whether the hint names the browser session sid of
// the user with subject: such a request ends it without asking.
func (r *LogoutRequest) ForSession(sid, subject string) bool {
	return r.Hint != nil && r.Hint.SID != "" && r.Hint.SID == sid && r.Hint.Subject == subject
}

// Location is where the browser goes once signed out: the
// post_logout_redirect_uri with state ("" when none was asked for).
func (r *LogoutRequest) Location() string {
	if r.PostLogoutRedirectURI == "" {
		return ""
	}
	if r.State == "" {
		return r.PostLogoutRedirectURI
	}
	sep := "?"
	if strings.Contains(r.PostLogoutRedirectURI, "?") {
		sep = "&"
	}
	return r.PostLogoutRedirectURI + sep + url.Values{"state": {r.State}}.Encode()
}

// RedirectOrigin is the origin of the post_logout_redirect_uri ("" for
// none): the confirmation form's CSP must allow the redirect after it.
func (r *LogoutRequest) RedirectOrigin() string { return originOf(r.PostLogoutRedirectURI) }

// FrontChannelLogoutURL is the address of the iframe that tells a client
// of the end of session sid (Front-Channel Logout 1.0 §2-§3): its
// frontchannel_logout_uri with iss and sid added, which lets it tell
// which session ended whether or not it registered
// frontchannel_logout_session_required. origin is the iframe's origin,
// for the page's CSP ("" and "" when uri is not a URL).
func (s *Server) FrontChannelLogoutURL(uri, sid string) (src, origin string) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", ""
	}
	q := u.Query()
	q.Set("iss", s.issuer)
	q.Set("sid", sid)
	u.RawQuery = q.Encode()
	src = u.String()
	return src, originOf(src)
}
