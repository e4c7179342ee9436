package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// Response types and modes of the authorization endpoint.
const (
	ResponseTypeCode  = "code"
	ResponseTypeToken = "token"
	ModeQuery         = "query"
	ModeFragment      = "fragment"
	// ModeFormPost answers with a page that posts the parameters to the
	// redirect URI (OAuth 2.0 Form Post Response Mode).
	ModeFormPost = "form_post"
)

// AuthorizeRequest is a validated authorization request (RFC 6749 §4.1.1,
// §4.2.1; RFC 7636 §4.3; OIDC Core §3.1.2.1).
type AuthorizeRequest struct {
	Client *Client
	// RedirectURI is where the answer goes; RedirectURIParam is the
	// redirect_uri parameter as sent ("" when omitted, RFC 6749 §4.1.3).
	RedirectURI      string
	RedirectURIParam string
	ResponseType     string
	ResponseMode     string
	// Scopes are the scopes to grant (requested plus defaults), sorted,
	// and ScopeDetails their definitions for the consent screen.
	Scopes       []string
	ScopeDetails []Scope
	// Resources are the resources the tokens are requested for (RFC 8707
	// resource parameters): canonical, sorted, known.
	Resources           []string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	Nonce               string
	// DPoPJkt is the dpop_jkt parameter (RFC 9449 §10): the thumbprint
	// of the DPoP key the code is bound to, "" for none.
	DPoPJkt       string
	PromptNone    bool
	PromptLogin   bool
	PromptConsent bool
	// MaxAge is the max_age parameter in seconds; -1 when absent.
	MaxAge int
	// Policy is the policy the request was validated under.
	Policy Policy
	// Params are the parameters the request was validated from: those
	// sent, or for a pushed request (RFC 9126) those pushed.
	Params url.Values
	// Pushed: the parameters came from the PAR endpoint. RequestURIHash
	// is the digest of the request_uri that brought them, when it was
	// used just now (RequestURIDigest).
	Pushed         bool
	RequestURIHash []byte
}

// AuthorizeError is a refused authorization request. When Redirect is
// false the client or its redirect URI could not be trusted: the user
// gets an error page and is never redirected (RFC 6749 §4.1.2.1).
// Otherwise the error goes back to the client at Location.
type AuthorizeError struct {
	Err          *Error
	Redirect     bool
	RedirectURI  string
	ResponseMode string
	State        string
}

// Error implements error.
func (e *AuthorizeError) Error() string { return e.Err.Error() }

// Unwrap exposes the OAuth error to errors.As.
func (e *AuthorizeError) Unwrap() error { return e.Err }

// AuthorizeResponse is an answer for the client at the end of an
// authorization request: the parameters (a code or token, or an error,
// with state and iss), the redirect URI and the response mode that
// carries them there.
type AuthorizeResponse struct {
	RedirectURI string
	Mode        string
	Params      url.Values
}

// Location is the URL the browser is redirected to: the parameters in
// the redirect URI's query, keeping the query it has (RFC 6749 §3.1.2),
// or in its fragment. It is "" for no answer (nil), and for form_post,
// whose parameters go in the body of a POST (the handler renders the
// page that sends it).
func (r *AuthorizeResponse) Location() string {
	if r == nil {
		return ""
	}
	switch r.Mode {
	case ModeFormPost:
		return ""
	case ModeFragment:
		return r.RedirectURI + "#" + r.Params.Encode()
	}
	if strings.Contains(r.RedirectURI, "?") {
		return r.RedirectURI + "&" + r.Params.Encode()
	}
	return r.RedirectURI + "?" + r.Params.Encode()
}

// ErrorResponse is the answer a redirectable error sends to the client.
func (s *Server) ErrorResponse(e *AuthorizeError) *AuthorizeResponse {
	v := url.Values{"error": {e.Err.Code}}
	if e.Err.Description != "" {
		v.Set("error_description", e.Err.Description)
	}
	if e.State != "" {
		v.Set("state", e.State)
	}
	return s.respond(e.RedirectURI, e.ResponseMode, v)
}

// respond adds iss (RFC 9207) to the response parameters.
func (s *Server) respond(redirectURI, mode string, v url.Values) *AuthorizeResponse {
	v.Set("iss", s.issuer)
	return &AuthorizeResponse{RedirectURI: redirectURI, Mode: mode, Params: v}
}

// defaultResponseMode is where a response type's answers go unless
// response_mode says otherwise (OAuth 2.0 Multiple Response Type Encoding
// Practices §2.1, §5): the fragment for every type that returns a token or an
// ID token (token, id_token, code id_token, ...), so that they never
// appear in a query; the query otherwise. Unsupported types count too:
// their unsupported_response_type error goes where the client looks.
func defaultResponseMode(responseType string) string {
	for _, t := range strings.Fields(responseType) {
		if t == "token" || t == "id_token" {
			return ModeFragment
		}
	}
	return ModeQuery
}

// RedirectOrigin is the origin the browser is sent to at the end of the
// request (for the pages' CSP form-action).
func (r *AuthorizeRequest) RedirectOrigin() string { return originOf(r.RedirectURI) }

// codeChallengeRE is the form of an S256 challenge and of a verifier
// (RFC 7636 §4.1, §4.2): 43 to 128 unreserved characters.
var codeChallengeRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// jktRE is the form of a dpop_jkt (RFC 9449 §10, RFC 7638): a SHA-256
// thumbprint, base64url without padding.
var jktRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// ParseAuthorizeRequest validates an authorization request as it arrives
// at the authorization endpoint. The client and the redirect URI are
// checked first; until both are trusted, errors are not redirectable
// (Redirect false). The error is *AuthorizeError. A request with
// request_uri uses up the pushed request it names (RFC 9126 §4) and is
// validated from the pushed parameters alone.
func (s *Server) ParseAuthorizeRequest(ctx context.Context, params url.Values) (*AuthorizeRequest, error) {
	if params.Has("request_uri") {
		return s.usePushed(ctx, params)
	}
	return s.parseAuthorize(ctx, params, false)
}

// ParseAuthorizeParams validates again the parameters of a request in
// flight (AuthorizeRequest.Params, kept between the sign-in page and the
// consent form), pushed when they came from the PAR endpoint: they are
// not looked up again, and the requirement to push is met.
func (s *Server) ParseAuthorizeParams(ctx context.Context, params url.Values, pushed bool) (*AuthorizeRequest, error) {
	return s.parseAuthorize(ctx, params, pushed)
}

// parseAuthorize validates the parameters of an authorization request;
// pushed: they came from the PAR endpoint (or are being pushed).
func (s *Server) parseAuthorize(ctx context.Context, params url.Values, pushed bool) (*AuthorizeRequest, error) {
	page := func(e error) error { return &AuthorizeError{Err: AsError(e)} }
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(params[k]) > 1 {
			return nil, page(ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", k))
		}
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, page(ErrInvalidRequest.WithDescription("the request has no client_id"))
	}
	if !validText(clientID) || !validText(params.Get("redirect_uri")) {
		return nil, page(ErrInvalidRequest.WithDescription("the client_id or redirect_uri is not valid UTF-8 text"))
	}
	client, err := s.model.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, page(ErrInvalidClient.WithDescription("no application is registered with this client_id"))
	}
	var refused *Error
	if errors.As(err, &refused) { // a client refused with a reason (ClientModel)
		return nil, page(refused)
	}
	if err != nil {
		return nil, serverError(err)
	}
	pol, perr := s.loadPolicy(ctx)
	if perr != nil {
		return nil, perr
	}
	req := &AuthorizeRequest{Client: client, RedirectURIParam: params.Get("redirect_uri"), MaxAge: -1, Policy: pol, Params: params, Pushed: pushed}
	switch {
	case req.RedirectURIParam != "":
		if !MatchRedirectURI(client.RedirectURIs, req.RedirectURIParam, pol.RequireExactRedirectURI) {
			return nil, page(ErrInvalidRequest.WithDescription("the redirect_uri is not registered for this application"))
		}
		req.RedirectURI = req.RedirectURIParam
	case len(client.RedirectURIs) == 1:
		req.RedirectURI = client.RedirectURIs[0]
	case len(client.RedirectURIs) == 0:
		return nil, page(ErrInvalidRequest.WithDescription("this application has no registered redirect URI"))
	default:
		return nil, page(ErrInvalidRequest.WithDescription("the request has no redirect_uri and the application registered several"))
	}

	// From here on errors go back to the client.
	rt := params.Get("response_type")
	req.ResponseMode = defaultResponseMode(rt)
	req.State = params.Get("state")
	fail := func(e error) error { return req.failBeforeConsent(e) }
	switch m := params.Get("response_mode"); m {
	case "":
	case ModeQuery:
		if req.ResponseMode == ModeFragment {
			return nil, fail(ErrInvalidRequest.WithDescription("response_mode=query is not allowed with response_type=%s: tokens must not appear in a query", truncate(rt, 32)))
		}
	case ModeFormPost:
		// The page posts to the redirect URI: a browser cannot post to a
		// private-use scheme (an app's), only to a web address.
		if u, err := url.Parse(req.RedirectURI); err != nil || (!strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) {
			return nil, fail(ErrInvalidRequest.WithDescription("response_mode=form_post needs an http or https redirect URI; this one uses another scheme"))
		}
		req.ResponseMode = m
	case ModeFragment:
		req.ResponseMode = m
	default:
		return nil, fail(ErrInvalidRequest.WithDescription("unsupported response_mode %q", truncate(m, 32)))
	}
	if !pushed && (pol.RequirePushedAuthorizationRequests || client.RequirePAR) {
		return nil, fail(ErrInvalidRequest.WithDescription("this client must use pushed authorization requests (RFC 9126): push the request, then send request_uri"))
	}
	if dup, ok := singleValues(params); !ok {
		return nil, fail(ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", truncate(dup, 32)))
	}
	for k := range params {
		if !validText(k) || !validText(params.Get(k)) {
			return nil, fail(ErrInvalidRequest.WithDescription("the %s parameter is not valid UTF-8 text", truncate(strings.ToValidUTF8(k, "?"), 32)))
		}
	}
	if params.Get("request") != "" {
		return nil, fail(ErrRequestNotSupported.WithDescription("request objects are not supported"))
	}
	if params.Has("request_uri") {
		return nil, fail(ErrInvalidRequest.WithDescription("request_uri cannot be part of a pushed request"))
	}
	switch rt {
	case "":
		return nil, fail(ErrInvalidRequest.WithDescription("the request has no response_type"))
	case ResponseTypeCode:
		if !client.HasGrant(GrantAuthorizationCode) {
			return nil, fail(ErrUnauthorizedClient.WithDescription("this application may not use the authorization code grant"))
		}
	case ResponseTypeToken:
		if !pol.AllowImplicitGrant {
			return nil, fail(ErrUnsupportedResponseType.WithDescription("the implicit grant is disabled on this server"))
		}
		if !client.HasGrant(GrantImplicit) {
			return nil, fail(ErrUnauthorizedClient.WithDescription("this application may not use the implicit grant"))
		}
	default:
		return nil, fail(ErrUnsupportedResponseType.WithDescription("response_type %q is not supported", truncate(rt, 32)))
	}
	req.ResponseType = rt
	if req.State == "" && pol.EnforceState {
		return nil, fail(ErrInvalidRequest.WithDescription("the request has no state parameter"))
	}

	requested, serr := ParseScope(params.Get("scope"))
	if serr != nil {
		return nil, fail(serr)
	}
	if req.Resources, serr = ParseResources(params["resource"]); serr != nil {
		return nil, fail(serr)
	}
	req.Scopes, req.ScopeDetails, serr = s.ValidateScope(ctx, client, requested, req.Resources)
	if serr != nil {
		if errors.Is(serr, ErrServerError) {
			return nil, serr
		}
		return nil, fail(serr)
	}

	if rt == ResponseTypeCode {
		challenge, method := params.Get("code_challenge"), params.Get("code_challenge_method")
		switch {
		case challenge == "" && method != "":
			return nil, fail(ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge"))
		case challenge != "" && method == "":
			return nil, fail(ErrInvalidRequest.WithDescription("code_challenge_method is missing, which means plain; only S256 is supported"))
		case challenge != "" && method != "S256":
			return nil, fail(ErrInvalidRequest.WithDescription("code_challenge_method %q is not supported; use S256", truncate(method, 16)))
		case challenge != "" && !codeChallengeRE.MatchString(challenge):
			return nil, fail(ErrInvalidRequest.WithDescription("code_challenge is malformed"))
		case challenge == "" && (pol.RequirePKCE == "all" || (pol.RequirePKCE == "public" && client.Public)):
			return nil, fail(ErrInvalidRequest.WithDescription("PKCE is required: send code_challenge and code_challenge_method=S256"))
		}
		req.CodeChallenge, req.CodeChallengeMethod = challenge, method
	}

	for _, p := range strings.Fields(params.Get("prompt")) {
		switch p {
		case "none":
			req.PromptNone = true
		case "login":
			req.PromptLogin = true
		case "consent":
			req.PromptConsent = true
		case "select_account":
			// One account per session: nothing to select.
		default:
			return nil, fail(ErrInvalidRequest.WithDescription("unsupported prompt value %q", truncate(p, 32)))
		}
	}
	if req.PromptNone && (req.PromptLogin || req.PromptConsent) {
		return nil, fail(ErrInvalidRequest.WithDescription("prompt=none cannot be combined with other values"))
	}
	if ma := params.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return nil, fail(ErrInvalidRequest.WithDescription("max_age must be a non-negative number of seconds"))
		}
		req.MaxAge = n
	}
	req.Nonce = params.Get("nonce")
	if len(req.Nonce) > 512 {
		return nil, fail(ErrInvalidRequest.WithDescription("nonce is too long"))
	}
	if params.Has("dpop_jkt") {
		req.DPoPJkt = params.Get("dpop_jkt")
		if !jktRE.MatchString(req.DPoPJkt) {
			return nil, fail(ErrInvalidRequest.WithDescription("dpop_jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key (43 characters)"))
		}
	}
	return req, nil
}

// NeedsLogin reports whether the user must (again) enter their password
// before this request can go on: nobody is signed in, or the last sign-in
// happened before the request started and prompt=login asks for a new
// one or it is older than max_age (OIDC Core §3.1.2.1).
func (r *AuthorizeRequest) NeedsLogin(signedIn bool, authTime, started, now time.Time) bool {
	if !signedIn {
		return true
	}
	if !authTime.Before(started) {
		// Signed in while this request was under way: that sign-in
		// satisfies prompt=login and max_age, however long the user then
		// takes on the consent screen.
		return false
	}
	if r.PromptLogin {
		return true
	}
	return r.MaxAge >= 0 && now.Sub(authTime) > time.Duration(r.MaxAge)*time.Second
}

// Next is what an authorization request needs next (Server.Decide).
type Next int

// The steps Decide chooses.
const (
	// NextLogin: the user must sign in (again) first.
	NextLogin Next = iota + 1
	// NextConsent: the user must be asked on the consent screen.
	NextConsent
	// NextRedirect: the request is answered; send the browser to the
	// location (the code or token, or login_required / consent_required
	// for prompt=none).
	NextRedirect
)

// Visitor is who the browser is, as far as the authorization request is
// concerned.
type Visitor struct {
	// User is the signed-in user (nil: nobody is signed in).
	User *User
	// AuthTime is when they last signed in.
	AuthTime time.Time
	// Started is when the authorization request arrived (prompt=login,
	// max_age: a sign-in since then counts).
	Started time.Time
	// SID is the browser session's public ID (the ID token's sid): what
	// is issued now remembers it, so that ending the session can revoke
	// it and notify the client.
	SID string
}

// Decide takes a validated request as far as it can go without asking
// the user (OIDC Core §3.1.2.3-§3.1.2.4): sign-in needed, consent needed,
// or an answer for the client. prompt=none never asks: it answers
// login_required or consent_required instead. When consent is remembered
// the code (or token) is issued here and the answer carries it.
func (s *Server) Decide(ctx context.Context, r *AuthorizeRequest, v Visitor) (Next, *AuthorizeResponse, error) {
	if r.NeedsLogin(v.User != nil, v.AuthTime, v.Started, s.now()) {
		if r.PromptNone {
			return s.answerBeforeConsent(r, ErrLoginRequired.WithDescription("the user is not signed in"))
		}
		return NextLogin, nil, nil
	}
	need, err := s.NeedsConsent(ctx, r, v.User.ID)
	if err != nil {
		return 0, nil, err
	}
	if !need {
		resp, err := s.Approve(ctx, r, v, false)
		if err != nil {
			return 0, nil, err
		}
		return NextRedirect, resp, nil
	}
	if r.PromptNone {
		return s.answerBeforeConsent(r, ErrConsentRequired.WithDescription("the user has not approved this application"))
	}
	return NextConsent, nil, nil
}

// answerBeforeConsent is Decide's answer for prompt=none when the user
// must sign in or approve: a redirect to the client, or for an unverified
// client the error page (failBeforeConsent).
func (s *Server) answerBeforeConsent(r *AuthorizeRequest, err error) (Next, *AuthorizeResponse, error) {
	ae := r.failBeforeConsent(err)
	if !ae.Redirect {
		return 0, nil, ae
	}
	return NextRedirect, s.ErrorResponse(ae), nil
}

// failBeforeConsent is Fail for errors found before the user took part:
// for an unverified client (a Client ID Metadata Document or a dynamic
// registration, whose redirect URIs anyone can choose) they are shown on
// Gatehouse's error page, not redirected, so that the authorization
// endpoint is no open redirector (RFC 9700 §4.11.2). Once the user has
// seen the consent screen, a denial goes back to the client as usual.
func (r *AuthorizeRequest) failBeforeConsent(err error) *AuthorizeError {
	ae := r.Fail(err)
	if r.Client != nil && r.Client.Unverified {
		ae.Redirect = false
	}
	return ae
}

// Fail turns an error into the redirect the client receives.
func (r *AuthorizeRequest) Fail(err error) *AuthorizeError {
	return &AuthorizeError{Err: AsError(err), Redirect: true, RedirectURI: r.RedirectURI, ResponseMode: r.ResponseMode, State: r.State}
}

// NeedsConsent reports whether the user must be asked: always with
// prompt=consent; otherwise unless remember_consent is on and an earlier
// consent covers every scope of the request.
func (s *Server) NeedsConsent(ctx context.Context, r *AuthorizeRequest, userID int64) (bool, error) {
	if r.PromptConsent || !r.Policy.RememberConsent {
		return true, nil
	}
	granted, err := s.model.GetConsent(ctx, userID, r.Client.ID)
	if err != nil {
		return false, err
	}
	return !subset(r.Scopes, strings.Fields(granted)), nil
}

// Approve completes the request for a user who consented (or whose
// consent is remembered): it records the consent, issues the code (or,
// for the implicit grant, the access token) and returns the answer for the
// client. v.User is the user; v.AuthTime and v.SID go into what is
// issued.
func (s *Server) Approve(ctx context.Context, r *AuthorizeRequest, v Visitor, recordConsent bool) (*AuthorizeResponse, error) {
	u, authTime := v.User, v.AuthTime
	if recordConsent {
		prev, err := s.model.GetConsent(ctx, u.ID, r.Client.ID)
		if err != nil {
			return nil, serverError(err)
		}
		merged, _ := ParseScope(strings.TrimSpace(prev + " " + JoinScope(r.Scopes)))
		if err := s.model.SaveConsent(ctx, u.ID, r.Client.ID, JoinScope(merged)); err != nil {
			return nil, serverError(err)
		}
	}
	q := url.Values{}
	if r.State != "" {
		q.Set("state", r.State)
	}
	if r.ResponseType == ResponseTypeToken {
		uid, at := u.ID, authTime
		aud, e := s.audienceOf(ctx, JoinScope(r.Scopes), r.Resources)
		if e != nil {
			return nil, e
		}
		resp, e := s.issueTokens(ctx, issue{pol: r.Policy, client: r.Client, userID: &uid, user: u, scope: JoinScope(r.Scopes), authTime: &at,
			sid: v.SID, noIDToken: true, audience: aud})
		if e != nil {
			return nil, e
		}
		q.Set("access_token", resp.AccessToken)
		q.Set("token_type", resp.TokenType)
		q.Set("expires_in", strconv.FormatInt(resp.ExpiresIn, 10))
		q.Set("scope", resp.Scope)
		return s.respond(r.RedirectURI, r.ResponseMode, q), nil
	}
	code, err := s.issueCode(ctx, r, u, authTime, v.SID)
	if err != nil {
		return nil, err
	}
	q.Set("code", code)
	return s.respond(r.RedirectURI, r.ResponseMode, q), nil
}

// issueCode stores a new authorization code bound to the client, the
// redirect_uri, the PKCE challenge, the nonce, the scope and the
// requested resources.
func (s *Server) issueCode(ctx context.Context, r *AuthorizeRequest, u *User, authTime time.Time, sid string) (string, error) {
	now := s.now()
	plain := s.gen.AuthorizationCode()
	c := &AuthorizationCode{
		Hash: secret.Digest(plain), ClientID: r.Client.ID, UserID: u.ID, RedirectURI: r.RedirectURIParam,
		Scope: JoinScope(r.Scopes), CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod,
		Nonce: r.Nonce, FamilyID: newFamilyID(), SID: sid, Resources: r.Resources, DPoPJkt: r.DPoPJkt, AuthTime: authTime.UTC(),
		ExpiresAt: now.Add(r.Policy.AuthorizationCodeLifetime),
	}
	if err := s.model.SaveAuthorizationCode(ctx, c); err != nil {
		return "", serverError(err)
	}
	return plain, nil
}

// Deny is the answer when the user refuses (access_denied).
func (s *Server) Deny(r *AuthorizeRequest) *AuthorizeResponse {
	return s.ErrorResponse(r.Fail(ErrAccessDenied.WithDescription("the user denied the request")))
}

// HeadlessResult is the answer of a headless authorization.
type HeadlessResult struct {
	Code  string `json:"code"`
	State string `json:"state,omitempty"`
	Iss   string `json:"iss"`
}

// HeadlessError is a refused headless authorization: the OAuth error plus
// the request's state and the issuer, like every authorization response
// (RFC 9207).
type HeadlessError struct {
	Err   *Error
	State string
	Iss   string
}

// Error implements error.
func (e *HeadlessError) Error() string { return e.Err.Error() }

// Unwrap exposes the OAuth error to errors.As.
func (e *HeadlessError) Unwrap() error { return e.Err }

// MarshalJSON writes the answer's body: error, error_description, state
// and iss.
func (e *HeadlessError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		*Error
		State string `json:"state,omitempty"`
		Iss   string `json:"iss"`
	}{e.Err, e.State, e.Iss})
}

// AuthorizeHeadless is the authorization endpoint for first-party apps
// that collect the user's credentials themselves (POST with username and
// password, JSON answer). It exists only while allow_password_grant is on,
// validates the request exactly like the browser flow, and checks the
// password like the sign-in form (same throttle, same time for unknown
// users). Consent is implied: the user typed their password into the app.
// A refusal is a *HeadlessError.
func (s *Server) AuthorizeHeadless(ctx context.Context, params url.Values, address string) (*HeadlessResult, error) {
	fail := func(e error) error {
		he := &HeadlessError{Err: AsError(e), Iss: s.issuer}
		if len(params["state"]) == 1 {
			he.State = params.Get("state")
		}
		return he
	}
	pol, perr := s.loadPolicy(ctx)
	if perr != nil {
		return nil, fail(perr)
	}
	if !pol.AllowPasswordGrant {
		return nil, fail(ErrAccessDenied.WithDescription("headless authorization is disabled on this server (allow_password_grant is off)"))
	}
	req, err := s.ParseAuthorizeRequest(ctx, params)
	if err != nil {
		return nil, fail(err)
	}
	if req.ResponseType != ResponseTypeCode {
		return nil, fail(ErrUnsupportedResponseType.WithDescription("headless authorization only answers response_type=code"))
	}
	if !req.Client.HasGrant(GrantPassword) {
		// The client collects the user's password: the same trust as
		// the password grant.
		return nil, fail(ErrUnauthorizedClient.WithDescription("this application may not collect passwords (it lacks the password grant type)"))
	}
	u, e := s.checkPassword(ctx, params.Get("username"), params.Get("password"), address)
	s.passwordSignIn(ctx, SignInHeadless, req.Client.ID, address, params.Get("username"), u, e)
	if e != nil {
		return nil, fail(e)
	}
	code, err := s.issueCode(ctx, req, u, s.now(), "")
	if err != nil {
		return nil, fail(err)
	}
	return &HeadlessResult{Code: code, State: req.State, Iss: s.issuer}, nil
}
