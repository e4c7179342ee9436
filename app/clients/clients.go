// Package clients validates, builds and saves OAuth client registrations.
// The dashboard's client pages and `gatehouse clients create` both go
// through it, so the rules are the same everywhere, including who may
// give a client trust (trust.go).
package clients

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// Limits of a registration.
const (
	MaxNameLength        = 100
	MaxDescriptionLength = 1000
	MaxURLLength         = 2000
	MaxRedirectURIs      = 50
	// MaxRefreshTokenReuseInterval bounds a client's refresh token reuse
	// interval, as the refresh_token_reuse_interval setting is bounded.
	MaxRefreshTokenReuseInterval = time.Minute
	// MaxIconBytes bounds an uploaded icon.
	MaxIconBytes = 256 << 10
)

// Field names, as used by Errors and by the dashboard's form.
const (
	FieldName         = "name"
	FieldDescription  = "description"
	FieldIcon         = "icon"
	FieldHomepage     = "homepage"
	FieldRedirectURIs = "redirect_uris"
	FieldGrantTypes   = "grant_types"
	FieldScopes       = "scopes"
	FieldPublic       = "public"
	// Logout (OpenID Connect RP-Initiated, Back-Channel and Front-Channel
	// Logout 1.0) and refresh tokens.
	FieldPostLogoutRedirectURIs            = "post_logout_redirect_uris"
	FieldBackchannelLogoutURI              = "backchannel_logout_uri"
	FieldBackchannelLogoutSessionRequired  = "backchannel_logout_session_required"
	FieldFrontchannelLogoutURI             = "frontchannel_logout_uri"
	FieldFrontchannelLogoutSessionRequired = "frontchannel_logout_session_required"
	FieldRefreshTokenReuseInterval         = "refresh_token_reuse_interval"
	// Client authentication and sender-constrained tokens (SPEC.md §7.4):
	// the RFC 7591 names, which are also the CLI flags' and the admin
	// API's.
	FieldTokenEndpointAuthMethod            = "token_endpoint_auth_method"
	FieldJWKS                               = "jwks"
	FieldJWKSURI                            = "jwks_uri"
	FieldIDTokenSignedResponseAlg           = "id_token_signed_response_alg"
	FieldDPoPBoundAccessTokens              = "dpop_bound_access_tokens"
	FieldRequirePushedAuthorizationRequests = "require_pushed_authorization_requests"
	FieldMayAct                             = "may_act"
)

// Input is a client registration as entered (everything but the owner and
// the generated credentials).
type Input struct {
	Name        string
	Description string
	// Icon is an https URL, or the path of an uploaded image
	// ("/icons/<hex SHA-256>", see IconPath), or empty.
	Icon         string
	Homepage     string
	RedirectURIs []string
	// GrantTypes empty means oauth.DefaultGrantTypes (SPEC.md §5).
	GrantTypes []string
	// Scopes empty means the client may request any scope.
	Scopes []string
	Public bool

	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// browser back to (exact match); the rules of redirect URIs apply.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI is where Gatehouse POSTs logout tokens ("":
	// none); BackchannelLogoutSessionRequired asks for sid in them, and
	// is refused without the URI.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// FrontchannelLogoutURI is loaded in an iframe of the signed-out page
	// ("": none); FrontchannelLogoutSessionRequired adds iss and sid to
	// it, and is refused without the URI.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// RefreshTokenReuseInterval is the client's own
	// refresh_token_reuse_interval as entered: "" (or "default") follows
	// the setting; otherwise a Go duration in whole seconds from 0s to
	// 60s ("0s" turns the grace off for this client). Normalize writes a
	// valid one as "<n>s".
	RefreshTokenReuseInterval string

	// TokenEndpointAuthMethod is how the client authenticates (AuthMethods):
	// none for public clients, any other for confidential ones. "" is
	// what clients stored before it existed have (the secret in Basic or
	// in the body); new clients get client_secret_basic or none.
	TokenEndpointAuthMethod string
	// JWKS is the client's public keys for private_key_jwt, a JWK Set as
	// JSON text; JWKSURI is where the client publishes them instead. One
	// of the two, with private_key_jwt only.
	JWKS    string
	JWKSURI string
	// IDTokenSignedResponseAlg is RS256 (the default; "" is RS256) or
	// ES256.
	IDTokenSignedResponseAlg string
	// DPoPBoundAccessTokens: the client's access tokens must be bound to
	// a DPoP key (RFC 9449).
	DPoPBoundAccessTokens bool
	// RequirePushedAuthorizationRequests: the client must push its
	// authorization requests (RFC 9126).
	RequirePushedAuthorizationRequests bool
	// MayAct are the client IDs of existing clients whose tokens this
	// client may present as actor_token in a token exchange (RFC 8693),
	// besides its own.
	MayAct []string
}

// Errors maps a field name (FieldName, ...) to a message for the person
// entering it.
type Errors map[string]string

// FromClient returns the input that describes an existing client.
func FromClient(c *models.Client) Input {
	return Input{
		Name: c.Name, Description: c.Description, Icon: c.Icon, Homepage: c.Homepage,
		RedirectURIs: slices.Clone(c.RedirectURIs), GrantTypes: slices.Clone(c.GrantTypes),
		Scopes: slices.Clone(c.Scopes), Public: c.Public,
		PostLogoutRedirectURIs:            slices.Clone(c.PostLogoutRedirectURIs),
		BackchannelLogoutURI:              c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		RefreshTokenReuseInterval:         FormatReuseInterval(c.RefreshTokenReuseSeconds),
		TokenEndpointAuthMethod:           c.TokenEndpointAuthMethod,
		JWKS:                              c.JWKS, JWKSURI: c.JWKSURI,
		IDTokenSignedResponseAlg:           c.IDTokenSignedResponseAlg,
		DPoPBoundAccessTokens:              c.DPoPBoundAccessTokens,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		MayAct:                             slices.Clone(c.MayAct),
	}
}

// Normalize trims the text fields and drops empty and repeated list
// entries, in place.
func (in *Input) Normalize() {
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(strings.ReplaceAll(in.Description, "\r\n", "\n"))
	in.Icon = strings.TrimSpace(in.Icon)
	in.Homepage = strings.TrimSpace(in.Homepage)
	in.RedirectURIs = dedupe(in.RedirectURIs)
	in.GrantTypes = dedupe(in.GrantTypes)
	in.Scopes = dedupe(in.Scopes)
	in.PostLogoutRedirectURIs = dedupe(in.PostLogoutRedirectURIs)
	in.BackchannelLogoutURI = strings.TrimSpace(in.BackchannelLogoutURI)
	in.FrontchannelLogoutURI = strings.TrimSpace(in.FrontchannelLogoutURI)
	in.RefreshTokenReuseInterval = strings.TrimSpace(in.RefreshTokenReuseInterval)
	if strings.EqualFold(in.RefreshTokenReuseInterval, "default") {
		in.RefreshTokenReuseInterval = ""
	}
	if secs, msg := parseReuseInterval(in.RefreshTokenReuseInterval); msg == "" && secs != nil {
		in.RefreshTokenReuseInterval = FormatReuseInterval(secs)
	}
	in.normalizeAuth()
}

// FormatReuseInterval writes a client's refresh token reuse interval in
// seconds as Input.RefreshTokenReuseInterval has it: "" for nil (the
// setting), else "<n>s".
func FormatReuseInterval(secs *int64) string {
	if secs == nil {
		return ""
	}
	return fmt.Sprintf("%ds", *secs)
}

// parseReuseInterval reads Input.RefreshTokenReuseInterval: nil for ""
// (the setting), else the seconds; msg says what is wrong with it.
func parseReuseInterval(raw string) (secs *int64, msg string) {
	if raw == "" {
		return nil, ""
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		if _, numErr := strconv.ParseFloat(raw, 64); numErr == nil {
			return nil, fmt.Sprintf("Add a unit to %q: write it as a duration such as 5s, or leave it empty to use the server setting.", raw)
		}
		return nil, fmt.Sprintf("%q is not a duration: write one such as 5s or 30s, or leave it empty to use the server setting.", raw)
	}
	switch {
	case d < 0:
		return nil, fmt.Sprintf("%q is negative: use 0s to turn the reuse interval off for this client, or up to 60s.", raw)
	case d > MaxRefreshTokenReuseInterval:
		return nil, fmt.Sprintf("%q is longer than 60s: use at most 60s, and keep it to a few seconds.", raw)
	case d%time.Second != 0:
		return nil, fmt.Sprintf("%q is not a whole number of seconds: use whole seconds, such as 2s.", raw)
	}
	n := int64(d / time.Second)
	return &n, ""
}

func dedupe(list []string) []string {
	out := []string{}
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Validate returns every problem with the (normalized) input. knownScopes
// are the scope IDs that exist; a scope outside them is refused.
func (in *Input) Validate(knownScopes []string) Errors {
	errs := Errors{}
	switch n := utf8.RuneCountInString(in.Name); {
	case n == 0:
		errs[FieldName] = "Give the client a name; users see it on the consent screen."
	case n > MaxNameLength || !utf8.ValidString(in.Name):
		errs[FieldName] = fmt.Sprintf("Use at most %d characters.", MaxNameLength)
	case strings.ContainsFunc(in.Name, isControl):
		errs[FieldName] = "Use a single line without control characters."
	}
	if utf8.RuneCountInString(in.Description) > MaxDescriptionLength || !utf8.ValidString(in.Description) {
		errs[FieldDescription] = fmt.Sprintf("Use at most %d characters.", MaxDescriptionLength)
	}
	if msg := CheckIcon(in.Icon); msg != "" {
		errs[FieldIcon] = msg
	}
	if msg := CheckHomepage(in.Homepage); msg != "" {
		errs[FieldHomepage] = msg
	}

	for _, g := range in.GrantTypes {
		if !oauth.KnownGrantType(g) {
			errs[FieldGrantTypes] = fmt.Sprintf("%q is not a grant type Gatehouse knows.", g)
			break
		}
	}
	if _, bad := errs[FieldGrantTypes]; !bad && in.Public && slices.Contains(in.GrantTypes, oauth.GrantClientCredentials) {
		errs[FieldGrantTypes] = "Public clients cannot use client credentials: they have no secret to prove who they are."
	}
	if _, bad := errs[FieldGrantTypes]; !bad && in.Public && slices.Contains(in.GrantTypes, oauth.GrantJWTBearer) {
		errs[FieldGrantTypes] = "Public clients cannot use the JWT bearer grant: the tokens must go to an app that proves who it is."
	}

	if len(in.RedirectURIs) > MaxRedirectURIs {
		errs[FieldRedirectURIs] = fmt.Sprintf("Register at most %d redirect URIs.", MaxRedirectURIs)
	} else {
		if msg := redirectURIProblems(in.RedirectURIs); msg != "" {
			errs[FieldRedirectURIs] = msg
		}
	}
	if _, bad := errs[FieldRedirectURIs]; !bad && len(in.RedirectURIs) == 0 && NeedsRedirectURI(in.GrantTypes) {
		errs[FieldRedirectURIs] = "Add at least one redirect URI: the authorization code and implicit grants send the user back to one."
	}

	for _, s := range in.Scopes {
		if !slices.Contains(knownScopes, s) {
			errs[FieldScopes] = fmt.Sprintf("%q is not a scope defined on this server.", s)
			break
		}
	}
	in.validateLogout(errs)
	if _, msg := parseReuseInterval(in.RefreshTokenReuseInterval); msg != "" {
		errs[FieldRefreshTokenReuseInterval] = msg
	}
	in.validateAuth(errs)
	return errs
}

// validateLogout adds the problems with the logout fields to errs.
func (in *Input) validateLogout(errs Errors) {
	if len(in.PostLogoutRedirectURIs) > MaxRedirectURIs {
		errs[FieldPostLogoutRedirectURIs] = fmt.Sprintf("Register at most %d post-logout redirect URIs.", MaxRedirectURIs)
	} else if msg := redirectURIProblems(in.PostLogoutRedirectURIs); msg != "" {
		errs[FieldPostLogoutRedirectURIs] = msg
	}
	if msg := checkLogoutURI("The back-channel logout URI", in.BackchannelLogoutURI); msg != "" {
		errs[FieldBackchannelLogoutURI] = msg
	} else if in.BackchannelLogoutURI == "" && in.BackchannelLogoutSessionRequired {
		errs[FieldBackchannelLogoutURI] = "Session required (sid in logout tokens) needs a back-channel logout URI: enter one, or turn session required off."
	}
	if msg := checkLogoutURI("The front-channel logout URI", in.FrontchannelLogoutURI); msg != "" {
		errs[FieldFrontchannelLogoutURI] = msg
	} else if in.FrontchannelLogoutURI == "" && in.FrontchannelLogoutSessionRequired {
		errs[FieldFrontchannelLogoutURI] = "Session required (iss and sid in the address) needs a front-channel logout URI: enter one, or turn session required off."
	} else if in.FrontchannelLogoutURI != "" && !sameOriginAsOne(in.FrontchannelLogoutURI, in.RedirectURIs) {
		// Front-Channel Logout 1.0 §2: the scheme, host and port are
		// those of a registered redirect URI.
		errs[FieldFrontchannelLogoutURI] = "The front-channel logout URI must be on the same scheme, host and port as one of the redirect URIs."
	}
}

// sameOriginAsOne reports whether raw has the scheme, host and port of
// one of uris.
func sameOriginAsOne(raw string, uris []string) bool {
	origin := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
	}
	want := origin(raw)
	for _, r := range uris {
		if want != "" && origin(r) == want {
			return true
		}
	}
	return false
}

// checkLogoutURI returns why raw, named what ("The back-channel logout
// URI"), is not a usable logout URI, or "" (empty is allowed): the rules
// of redirect URIs (Back-Channel Logout 1.0 §2.2, Front-Channel Logout
// 1.0 §2: absolute, no fragment; https, or http on a loopback host).
func checkLogoutURI(what, raw string) string {
	if raw == "" {
		return ""
	}
	if u, err := url.Parse(raw); err == nil && (!u.IsAbs() || u.Host == "") && !strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return what + " must be an absolute URL such as https://app.example.com/logout."
	}
	if err := oauth.ValidateRedirectURI(raw); err != nil {
		return what + " " + err.Error() + "."
	}
	return ""
}

// maxReportedURIs bounds how many invalid redirect URIs one message names;
// the rest are counted.
const maxReportedURIs = 5

// redirectURIProblems names every invalid redirect URI with what is wrong
// with it, in one message ("" when all are valid), so that a list with
// several mistakes is fixed in one go. URIs with the same problem share
// its explanation; past maxReportedURIs, the rest are counted.
func redirectURIProblems(uris []string) string {
	type problem struct {
		reason string
		uris   []string
	}
	var problems []*problem
	named, more := 0, 0
	for _, u := range uris {
		err := oauth.ValidateRedirectURI(u)
		if err == nil {
			continue
		}
		if named == maxReportedURIs {
			more++
			continue
		}
		named++
		i := slices.IndexFunc(problems, func(p *problem) bool { return p.reason == err.Error() })
		if i < 0 {
			problems = append(problems, &problem{reason: err.Error()})
			i = len(problems) - 1
		}
		problems[i].uris = append(problems[i].uris, quoteURI(u))
	}
	if len(problems) == 0 {
		return ""
	}
	parts := make([]string, len(problems))
	for i, p := range problems {
		switch n := len(p.uris); n {
		case 1:
			parts[i] = p.uris[0] + " " + p.reason
		default:
			parts[i] = strings.Join(p.uris[:n-1], ", ") + " and " + p.uris[n-1] + " each " + p.reason
		}
	}
	msg := strings.Join(parts, "; ")
	if more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg + "."
}

// quoteURI shows a URI in a message, shortened when very long.
func quoteURI(u string) string {
	if utf8.RuneCountInString(u) > 80 {
		r := []rune(u)
		u = string(r[:77]) + "..."
	}
	return fmt.Sprintf("%q", u)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// NeedsRedirectURI reports whether a client with these grant types (empty
// meaning the defaults) needs a registered redirect URI.
func NeedsRedirectURI(grantTypes []string) bool {
	gts := oauth.EffectiveGrantTypes(grantTypes)
	return slices.Contains(gts, oauth.GrantAuthorizationCode) || slices.Contains(gts, oauth.GrantImplicit)
}

var iconPathRE = regexp.MustCompile(`^/icons/[0-9a-f]{64}$`)

// IconPath is where an uploaded image is served.
func IconPath(imageID string) string { return "/icons/" + imageID }

// IsUploadedIcon reports whether icon is the path of an uploaded image.
func IsUploadedIcon(icon string) bool { return iconPathRE.MatchString(icon) }

// CheckIcon returns why icon is not usable as a client icon, or "" (empty
// is allowed).
func CheckIcon(icon string) string {
	if icon == "" || IsUploadedIcon(icon) {
		return ""
	}
	switch err := CheckImageURL(icon); {
	case errors.Is(err, ErrSVGImage):
		return "SVG images are not accepted as icons, by URL or by upload (they can carry scripts). Use a PNG, JPEG or WebP image."
	case err != nil:
		return "Upload an image or enter an https URL of one: the URL " + err.Error()
	}
	return ""
}

// ErrSVGImage is CheckImageURL's answer for the address of an SVG image:
// SVG can carry scripts.
var ErrSVGImage = errors.New("must not name an SVG image.")

// CheckImageURL returns why raw cannot be the address of an icon image,
// or nil. It must be an absolute https URL with a host, without spaces or
// credentials, of at most MaxURLLength bytes; the error's text then ends a
// sentence about the URL ("must start with https://."). And its path (not
// its query) must not name an SVG file (.svg or .svgz, in any case): the
// error is then ErrSVGImage. Client and scope icons are checked with it.
func CheckImageURL(raw string) error {
	if msg := checkURL(raw, false); msg != "" {
		return errors.New(msg)
	}
	if isSVGPath(raw) {
		return ErrSVGImage
	}
	return nil
}

// isSVGPath reports whether the URL's path (not its query) names an SVG
// file (.svg or .svgz, in any case).
func isSVGPath(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	p := strings.ToLower(u.Path)
	return strings.HasSuffix(p, ".svg") || strings.HasSuffix(p, ".svgz")
}

// CheckHomepage returns why homepage is not a usable home page address, or
// "" (empty is allowed).
func CheckHomepage(homepage string) string {
	if homepage == "" {
		return ""
	}
	if msg := checkURL(homepage, true); msg != "" {
		return "The home page " + msg
	}
	return ""
}

// checkURL returns why raw is not an absolute https (or, when allowHTTP,
// http) URL, as the end of a sentence, or "".
func checkURL(raw string, allowHTTP bool) string {
	want := "must start with https://"
	if allowHTTP {
		want = "must start with https:// or http://"
	}
	if len(raw) > MaxURLLength {
		return fmt.Sprintf("is longer than %d characters.", MaxURLLength)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return "must not contain spaces."
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return want + " and name a host, e.g. https://app.example.com."
	}
	if u.User != nil {
		return "must not contain a user name or password."
	}
	if u.Scheme != "https" && (!allowHTTP || u.Scheme != "http") {
		return want + "."
	}
	return ""
}

// Icon content types accepted for uploads.
var iconTypes = []string{"image/png", "image/jpeg", "image/webp"}

// ErrIconTooLarge and ErrIconType are returned by NewIcon.
var (
	ErrIconTooLarge = fmt.Errorf("the image is larger than %d KB", MaxIconBytes>>10)
	ErrIconType     = errors.New("the file is not a PNG, JPEG or WebP image")
)

// NewIcon checks an uploaded icon and returns it as an image to store: its
// type is sniffed from the bytes (what the browser claimed is ignored), and
// only PNG, JPEG and WebP are accepted (no SVG: it can carry scripts).
func NewIcon(data []byte) (*models.Image, error) {
	if len(data) == 0 {
		return nil, ErrIconType
	}
	if len(data) > MaxIconBytes {
		return nil, ErrIconTooLarge
	}
	ct := http.DetectContentType(data)
	if !slices.Contains(iconTypes, ct) {
		return nil, ErrIconType
	}
	sum := sha256.Sum256(data)
	return &models.Image{ID: hex.EncodeToString(sum[:]), ContentType: ct, Data: bytes.Clone(data)}, nil
}

// Messages about an uploaded icon, for the person uploading it.
const (
	MsgIconTooLarge = "This image is larger than 256 KB. Make it smaller (a 256×256 PNG is plenty) and upload it again."
	MsgIconType     = "Upload a PNG, JPEG or WebP image. Other files, SVG included, are not accepted."
)

// ReadIcon reads and checks an uploaded icon (NewIcon) of the announced
// size, opening it only when that size is within MaxIconBytes (and
// reading no more than one byte past it whatever the size said). msg says
// what is wrong with the image (MsgIconTooLarge, MsgIconType); err is a
// failure to open or read it.
func ReadIcon(size int64, open func() (io.ReadCloser, error)) (img *models.Image, msg string, err error) {
	if size > MaxIconBytes {
		return nil, MsgIconTooLarge, nil
	}
	f, err := open()
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxIconBytes+1))
	if err != nil {
		return nil, "", err
	}
	img, err = NewIcon(data)
	switch {
	case errors.Is(err, ErrIconTooLarge):
		return nil, MsgIconTooLarge, nil
	case errors.Is(err, ErrIconType):
		return nil, MsgIconType, nil
	case err != nil:
		return nil, "", err
	}
	return img, "", nil
}

// AllowedIconType reports whether an image of this content type may be
// served as an icon.
func AllowedIconType(ct string) bool { return slices.Contains(iconTypes, ct) }

// Apply copies the input's fields onto c (not the owner, the client ID or
// the credentials).
func (in *Input) Apply(c *models.Client) {
	c.Name = in.Name
	c.Description = in.Description
	c.Icon = in.Icon
	c.Homepage = in.Homepage
	c.RedirectURIs = slices.Clone(in.RedirectURIs)
	c.GrantTypes = slices.Clone(in.GrantTypes)
	c.Scopes = slices.Clone(in.Scopes)
	c.Public = in.Public
	c.PostLogoutRedirectURIs = slices.Clone(in.PostLogoutRedirectURIs)
	c.BackchannelLogoutURI = in.BackchannelLogoutURI
	c.BackchannelLogoutSessionRequired = in.BackchannelLogoutSessionRequired
	c.FrontchannelLogoutURI = in.FrontchannelLogoutURI
	c.FrontchannelLogoutSessionRequired = in.FrontchannelLogoutSessionRequired
	c.RefreshTokenReuseSeconds, _ = parseReuseInterval(in.RefreshTokenReuseInterval)
	c.TokenEndpointAuthMethod = in.TokenEndpointAuthMethod
	c.JWKS, c.JWKSURI = in.JWKS, in.JWKSURI
	c.IDTokenSignedResponseAlg = in.IDTokenSignedResponseAlg
	c.DPoPBoundAccessTokens = in.DPoPBoundAccessTokens
	c.RequirePushedAuthorizationRequests = in.RequirePushedAuthorizationRequests
	c.MayAct = slices.Clone(in.MayAct)
}

// New builds a client from the (validated) input with fresh credentials:
// a client ID and, unless the client is public or uses private_key_jwt,
// a secret, returned in plain text for showing once (only its digest is
// in the client; a client_secret_jwt client's is sealed by CreateAs).
func New(in Input, ownerID *int64) (c *models.Client, plainSecret string) {
	cred := oauth.NewCredentials(!NeedsSecret(in.Public, in.TokenEndpointAuthMethod))
	c = &models.Client{ClientID: cred.ClientID, SecretHash: cred.SecretHash, SecretHint: cred.SecretHint, OwnerID: ownerID}
	in.Apply(c)
	return c, cred.Secret
}

// ScopeIDs returns the IDs of scopes, for Validate.
func ScopeIDs(scopes []models.Scope) []string {
	ids := make([]string, len(scopes))
	for i, s := range scopes {
		ids[i] = s.ScopeID
	}
	return ids
}

// ErrInvalid is returned by Create, CreateAs and Update with the field
// errors.
var ErrInvalid = errors.New("invalid client")

// Store is the storage Create needs.
type Store interface {
	ListScopes(ctx context.Context) ([]models.Scope, error)
	CreateClient(ctx context.Context, c *models.Client) error
	GetClient(ctx context.Context, clientID string) (*models.Client, error)
}

// Create registers a client on the operator's authority (the command
// line): CreateAs with Operator, who may give any trust.
func Create(ctx context.Context, st Store, in Input, ownerID *int64, opts ...Option) (*models.Client, string, Errors, error) {
	return CreateAs(ctx, st, Operator, in, ownerID, opts...)
}

// CreateAs normalizes and validates the input against the scopes that
// exist, checks that actor may give the trust it asks for (CheckTrust,
// with the clients of may_act it owns looked up: Actor.Owning)
// and what depends on the server (CheckRefs), and stores a new client
// owned by ownerID (nil: nobody). A client without an authentication
// method gets client_secret_basic, or none when public. It returns the
// client and its secret in plain text (empty for public and
// private_key_jwt clients), to be shown once; a client_secret_jwt
// client's secret is also kept sealed under the key secret
// (WithKeySecret). Problems come back as Errors with ErrInvalid.
func CreateAs(ctx context.Context, st Store, actor Actor, in Input, ownerID *int64, opts ...Option) (*models.Client, string, Errors, error) {
	o := newOptions(opts)
	in.Normalize()
	in.TokenEndpointAuthMethod = AuthMethodOf(in.Public, in.TokenEndpointAuthMethod)
	scopes, err := st.ListScopes(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	if actor, err = actor.Owning(ctx, st, in.MayAct); err != nil {
		return nil, "", nil, err
	}
	if errs := check(actor, nil, in, scopes); len(errs) > 0 {
		return nil, "", errs, ErrInvalid
	}
	if errs, err := CheckRefs(ctx, st, "", in, o.server()); err != nil || len(errs) > 0 {
		return nil, "", errs, cmpErr(err, ErrInvalid)
	}
	c, plain := New(in, ownerID)
	if c.TokenEndpointAuthMethod == AuthSecretJWT {
		c.SecretSealed = secret.NewClientSecretSealer(o.keySecret).Seal(c.ClientID, plain)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, "", nil, err
	}
	return c, plain, nil, nil
}

// cmpErr is err, or else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// check is Validate and then, when the input is valid, CheckTrust.
func check(actor Actor, before *Input, in Input, scopes []models.Scope) Errors {
	if errs := in.Validate(ScopeIDs(scopes)); len(errs) > 0 {
		return errs
	}
	return CheckTrust(actor, before, in, scopes)
}

// UpdateStore is the storage Update needs.
type UpdateStore interface {
	ListScopes(ctx context.Context) ([]models.Scope, error)
	UpdateClient(ctx context.Context, clientID string, fn func(*models.Client) error) error
	GetClient(ctx context.Context, clientID string) (*models.Client, error)
}

// Saved is what Update and Edit saved.
type Saved struct {
	// Before and After describe the client as it was and as it is now
	// (both normalized, for Changes and AuditDetails).
	Before, After Input
	// Secret says what happened to the client's secret; NewSecret is the
	// secret made (SecretIssued, SecretRotated), in plain text, to be
	// shown once.
	Secret    SecretChange
	NewSecret string
}

// Update saves the input over the client clientID as actor, as Edit saves
// its edit: in replaces every field.
func Update(ctx context.Context, st UpdateStore, actor Actor, clientID string, in Input, opts ...Option) (Saved, Errors, error) {
	return Edit(ctx, st, actor, clientID, func(x *Input) { *x = in }, opts...)
}

// Edit changes some fields of the client clientID as actor: edit changes
// in place the input that describes the client as stored (FromClient),
// in the same update, so that the fields it leaves alone keep what they
// have even when someone else changed them meanwhile. The result is
// normalized, validated against the scopes that exist, its trust checked
// against the client as stored (what an admin changed meanwhile counts;
// the may_act clients the actor owns looked up first, Actor.Owning),
// and what depends on the server checked (CheckRefs). The secret then
// follows the client's type and method: a client that became public or
// uses private_key_jwt loses it; one that needs a secret and has none
// gets one; one that switches to client_secret_jwt gets a new one, sealed
// under the key secret (WithKeySecret), as the old one was kept only as a
// hash. Problems come back as Errors with ErrInvalid, and nothing is
// saved; an unknown client is store.ErrNotFound, one that registered
// itself ErrSelfRegistered.
func Edit(ctx context.Context, st UpdateStore, actor Actor, clientID string, edit func(in *Input), opts ...Option) (Saved, Errors, error) {
	o := newOptions(opts)
	var s Saved
	scopes, err := st.ListScopes(ctx)
	if err != nil {
		return s, nil, err
	}
	// What depends on other clients is checked before the update, on the
	// edit of the client as it is now.
	cur, err := st.GetClient(ctx, clientID)
	if err != nil {
		return s, nil, err
	}
	if cur.Registration == models.ClientRegisteredDynamic {
		return s, nil, ErrSelfRegistered
	}
	pre := FromClient(cur)
	edit(&pre)
	pre.Normalize()
	if errs, err := CheckRefs(ctx, st, clientID, pre, o.server()); err != nil || len(errs) > 0 {
		return s, errs, cmpErr(err, ErrInvalid)
	}
	if actor, err = actor.Owning(ctx, st, pre.MayAct); err != nil {
		return s, nil, err
	}
	var errs Errors
	err = st.UpdateClient(ctx, clientID, func(x *models.Client) error {
		if x.Registration == models.ClientRegisteredDynamic {
			return ErrSelfRegistered
		}
		s.Before = FromClient(x)
		s.Before.Normalize()
		s.After = FromClient(x)
		edit(&s.After)
		s.After.Normalize()
		if errs = check(actor, &s.Before, s.After, scopes); len(errs) > 0 {
			return ErrInvalid
		}
		s.After.Apply(x)
		if x.TokenEndpointAuthMethod == AuthSecretJWT && !x.Public && o.keySecret == "" {
			return ErrNoKeySecret // CheckRefs refused it, unless changed meanwhile
		}
		s.Secret, s.NewSecret = fitSecret(x, o.keySecret, o.now())
		return nil
	})
	if errors.Is(err, ErrInvalid) {
		return s, errs, err
	}
	return s, nil, err
}

// SecretHint is how a stored secret is shown after its creation: the
// prefix and its last 4 characters ("gcs_…a1b2"); "" for public clients.
func SecretHint(c *models.Client) string {
	if c.Public || c.SecretHint == "" {
		return ""
	}
	return oauth.ClientSecretPrefix + "…" + c.SecretHint
}
