package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// The device authorization grant (RFC 8628): a device without a browser
// (a TV, a CLI) asks for a device code and a user code; the user types
// the user code on the /device page of any browser, signs in, and approves
// or denies on the consent screen; meanwhile the device polls the token
// endpoint with the device code (grant_device.go).

// DeviceCodePrefix starts every device code, so that leaked ones are
// recognisable.
const DeviceCodePrefix = "gdc_"

// User codes (RFC 8628 §6.1): UserCodeLength characters from
// UserCodeAlphabet, shown as two groups of four. The alphabet has no
// vowels (no words can form) and none of the characters people confuse
// (0/O, 1/I/L are absent or unambiguous in upper case): 20^8 ≈ 2^34.6
// codes, which with the throttle on user-code entry and the short
// lifetime is far more than an attacker can try.
const (
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	UserCodeLength   = 8
)

// Device authorization states.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceRedeemed = "redeemed"
)

// slowDownStep is what slow_down adds to the polling interval (RFC 8628
// §3.5), and maxPollInterval caps the interval however often a device
// is told to slow down.
const (
	slowDownStep    = 5 * time.Second
	maxPollInterval = 5 * time.Minute
)

// The RFC 8628 §3.5 errors of the token endpoint (HTTP 400, like every
// token endpoint error of RFC 6749 §5.2).
var (
	ErrAuthorizationPending = newError("authorization_pending", http.StatusBadRequest)
	ErrSlowDown             = newError("slow_down", http.StatusBadRequest)
	ErrExpiredToken         = newError("expired_token", http.StatusBadRequest)
	// errDeviceAccessDenied is access_denied as the token endpoint
	// answers it (400, where the authorization endpoint's is 403).
	errDeviceAccessDenied = newError(ErrAccessDenied.Code, http.StatusBadRequest)
)

// Why a user code typed on the /device page cannot be used; the page
// shows a message for each. Anything else LookupUserCode returns is an
// *Error (the client or its scopes are no longer allowed) or an internal
// failure.
var (
	// ErrUserCodeMalformed: not 8 characters of the alphabet (no lookup
	// was made, so it is no guess to count).
	ErrUserCodeMalformed = errors.New("oauth: malformed user code")
	// ErrUserCodeUnknown: no device authorization has this code.
	ErrUserCodeUnknown = errors.New("oauth: unknown user code")
	// ErrUserCodeExpired: the code's lifetime is over.
	ErrUserCodeExpired = errors.New("oauth: user code expired")
	// ErrUserCodeUsed: the code was approved or denied already.
	ErrUserCodeUsed = errors.New("oauth: user code already used")
)

// DeviceCode is a device authorization (RFC 8628 §3.2) as stored: only
// the SHA-256 of the device code and of the user code are kept.
type DeviceCode struct {
	ID   int64
	Hash []byte // SHA-256 of the device code
	// UserCodeDigest is UserCodeDigest(user code): the hex SHA-256 of the
	// code's canonical form (8 upper-case letters, no dash).
	UserCodeDigest string
	ClientID       string
	// Scope is the scope asked for (validated, defaults added) until the
	// user decides, then the scope granted.
	Scope        string
	Resources    []string // requested resources (RFC 8707), canonical, sorted
	Status       string   // DevicePending, DeviceApproved, DeviceDenied, DeviceRedeemed
	UserID       *int64   // who decided
	AuthTime     *time.Time
	Interval     time.Duration // minimum time between polls (whole seconds)
	LastPolledAt *time.Time
	ExpiresAt    time.Time
}

// DeviceModel stores device authorizations. Every change of state is one
// conditional write, so that concurrent polls, decisions and redemptions
// cannot both succeed, on any database.
type DeviceModel interface {
	// SaveDeviceCode stores a new pending authorization and sets its ID.
	// A user code (or device code) in use gives store.ErrAlreadyExists.
	SaveDeviceCode(ctx context.Context, d *DeviceCode) error
	// GetDeviceCode returns the authorization with that device code hash,
	// whatever its state.
	GetDeviceCode(ctx context.Context, hash []byte) (*DeviceCode, error)
	// GetDeviceCodeByUserCode returns the authorization with that user
	// code digest, whatever its state.
	GetDeviceCodeByUserCode(ctx context.Context, digest string) (*DeviceCode, error)
	// DecideDeviceCode records the user's answer (status DeviceApproved
	// or DeviceDenied, the user, the time they signed in and the scope
	// granted) on an authorization that is still pending and has not
	// expired at now. Otherwise it changes nothing and returns
	// store.ErrConflict (store.ErrNotFound when there is no such row).
	DecideDeviceCode(ctx context.Context, id int64, status string, userID int64, authTime time.Time, scope string, now time.Time) error
	// RecordDevicePoll stores a poll of a pending authorization: last
	// polled at now, and the interval from then on. It writes only when
	// the row is still as d describes it (pending, same last poll, same
	// interval); otherwise another poll or a decision came first, and it
	// returns store.ErrConflict.
	RecordDevicePoll(ctx context.Context, d *DeviceCode, now time.Time, interval time.Duration) error
	// RedeemDeviceCode marks an approved authorization that has not
	// expired at now redeemed and returns it: of concurrent calls exactly
	// one succeeds. Otherwise it returns store.ErrConflict
	// (store.ErrNotFound for an unknown hash).
	RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time) (*DeviceCode, error)
}

// DeviceAuthorizationResponse is the answer of the device authorization
// endpoint (RFC 8628 §3.2).
type DeviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceVerificationPath is the page where users type user codes, below
// the issuer.
const DeviceVerificationPath = "/device"

// maxUserCodeAttempts bounds the retries when a fresh user code collides
// with one in use (each has a chance of about n/2^34.6).
const maxUserCodeAttempts = 5

// DeviceAuthorization is the device authorization endpoint (RFC 8628 §3.1,
// §3.2): it refuses repeated parameters, authenticates the client like the
// token endpoint (public clients send client_id alone), checks that the
// client may use the device grant, validates the scope like the
// authorization endpoint (defaults added), and stores a new pending
// authorization.
func (s *Server) DeviceAuthorization(ctx context.Context, r *ClientRequest) (*DeviceAuthorizationResponse, error) {
	if dup, ok := singleValues(r.Form); !ok {
		return nil, ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", truncate(dup, 32))
	}
	pol, perr := s.loadPolicy(ctx)
	if perr != nil {
		return nil, perr
	}
	if h, ok := s.grants[GrantDeviceCode]; !ok || !h.Enabled(pol) {
		return nil, ErrUnsupportedGrantType.WithDescription("the device authorization grant is disabled on this server")
	}
	client, cerr := s.AuthenticateClient(ctx, r)
	if cerr != nil {
		return nil, cerr
	}
	if !client.HasGrant(GrantDeviceCode) {
		return nil, ErrUnauthorizedClient.WithDescription("this client may not use the device authorization grant")
	}
	asked, serr := ParseScope(r.Form.Get("scope"))
	if serr != nil {
		return nil, serr
	}
	resources, serr := ParseResources(r.Form["resource"])
	if serr != nil {
		return nil, serr
	}
	scopes, _, serr := s.ValidateScope(ctx, client.Client, asked, resources)
	if serr != nil {
		return nil, serr
	}

	now := s.now()
	interval := pol.DevicePollInterval.Round(time.Second)
	if interval < time.Second {
		interval = time.Second
	}
	lifetime := pol.DeviceCodeLifetime
	deviceCode := secret.New(DeviceCodePrefix)
	var userCode string
	for attempt := 1; ; attempt++ {
		userCode = NewUserCode()
		d := &DeviceCode{Hash: secret.Digest(deviceCode), UserCodeDigest: UserCodeDigest(userCode), ClientID: client.ID,
			Scope: JoinScope(scopes), Resources: resources, Status: DevicePending, Interval: interval, ExpiresAt: now.Add(lifetime)}
		err := s.model.SaveDeviceCode(ctx, d)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrAlreadyExists) || attempt == maxUserCodeAttempts {
			return nil, serverError(err)
		}
	}
	verify := s.VerificationURI()
	return &DeviceAuthorizationResponse{
		DeviceCode: deviceCode, UserCode: FormatUserCode(userCode),
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {FormatUserCode(userCode)}}.Encode(),
		ExpiresIn:               int64(lifetime / time.Second), Interval: int64(interval / time.Second),
	}, nil
}

// VerificationURI is the page where users type user codes (RFC 8628
// §3.2 verification_uri).
func (s *Server) VerificationURI() string {
	return strings.TrimSuffix(s.issuer, "/") + DeviceVerificationPath
}

// NewUserCode returns a random user code in canonical form: UserCodeLength
// characters of UserCodeAlphabet, each drawn uniformly from crypto/rand.
func NewUserCode() string {
	const n = len(UserCodeAlphabet)
	// Bytes at or above the largest multiple of n are rejected, so that
	// every character is equally likely.
	const limit = 256 - 256%n
	out := make([]byte, 0, UserCodeLength)
	buf := make([]byte, 2*UserCodeLength)
	for len(out) < UserCodeLength {
		if _, err := rand.Read(buf); err != nil {
			panic("oauth: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < UserCodeLength {
				out = append(out, UserCodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out)
}

// NormalizeUserCode turns what a person typed into the canonical form of a
// user code: case is ignored, and so are dashes, spaces and other
// separators people type or paste ("bcdf-ghjk", "BCDF GHJK"). ok is false
// when the result is not UserCodeLength characters of UserCodeAlphabet.
func NormalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == '–' || r == '—' || r == '.' || r == '_' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u00a0':
			continue
		case r < 0x80 && strings.IndexByte(UserCodeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != UserCodeLength {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a canonical user code as two groups: BCDF-GHJK.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLength {
		return code
	}
	return code[:UserCodeLength/2] + "-" + code[UserCodeLength/2:]
}

// UserCodeDigest is how a canonical user code is stored and looked up: its
// SHA-256 in hex. A database reader (a backup, a replica) does not see the
// codes of pending authorizations, and the lookup compares digests, so
// its timing says nothing about the code. (2^34.6 codes can be hashed
// exhaustively, so this is a speed bump, not a wall; the code only works
// together with a signed-in account, for minutes, and through the
// throttled page. The device code, the bearer secret, has 256 bits.)
func UserCodeDigest(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// DeviceRequest is a pending device authorization found by its user code,
// as the /device page shows it on the consent screen.
type DeviceRequest struct {
	ID int64
	// UserCode is the code in display form (BCDF-GHJK).
	UserCode string
	Client   *Client
	// Scopes are the scopes the device asked for (defaults added),
	// re-validated now, and ScopeDetails their definitions.
	Scopes       []string
	ScopeDetails []Scope
	// Resources are the resources the device asked for (RFC 8707).
	Resources []string
	ExpiresAt time.Time
}

// LookupUserCode finds the pending authorization of a typed user code for
// the /device page. It returns ErrUserCodeMalformed, ErrUserCodeUnknown,
// ErrUserCodeExpired or ErrUserCodeUsed when the code cannot be used, and
// an *Error when the client may no longer use the grant or its scopes are
// no longer valid (so that approving cannot grant what is not allowed
// today).
func (s *Server) LookupUserCode(ctx context.Context, typed string) (*DeviceRequest, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return nil, ErrUserCodeMalformed
	}
	d, err := s.model.GetDeviceCodeByUserCode(ctx, UserCodeDigest(code))
	if isNotFound(err) {
		return nil, ErrUserCodeUnknown
	}
	if err != nil {
		return nil, serverError(err)
	}
	if d.Status != DevicePending {
		return nil, ErrUserCodeUsed
	}
	if !s.now().Before(d.ExpiresAt) {
		return nil, ErrUserCodeExpired
	}
	client, err := s.model.GetClient(ctx, d.ClientID)
	if isNotFound(err) {
		return nil, ErrUserCodeUnknown // deleted with its codes a moment ago
	}
	if err != nil {
		return nil, serverError(err)
	}
	if !client.HasGrant(GrantDeviceCode) {
		return nil, ErrUnauthorizedClient.WithDescription("this application may no longer use device sign-in")
	}
	scopes, details, serr := s.ValidateScope(ctx, client, strings.Fields(d.Scope), d.Resources)
	if serr != nil {
		return nil, serr
	}
	return &DeviceRequest{ID: d.ID, UserCode: FormatUserCode(code), Client: client, Scopes: scopes, ScopeDetails: details,
		Resources: d.Resources, ExpiresAt: d.ExpiresAt}, nil
}

// ApproveDevice records that the user approved the device's request: the
// consent (merged with earlier ones, like the authorization endpoint) and
// the approval, with the time the user signed in, so that the device's
// next poll gets the tokens. It returns ErrUserCodeExpired or
// ErrUserCodeUsed when the authorization expired or was decided
// meanwhile.
func (s *Server) ApproveDevice(ctx context.Context, r *DeviceRequest, u *User, authTime time.Time) error {
	// The consent first: once approved, the device can have its tokens
	// at once, and revoking them on the Authorized apps page needs the
	// consent to be there.
	prev, err := s.model.GetConsent(ctx, u.ID, r.Client.ID)
	if err != nil {
		return serverError(err)
	}
	merged, _ := ParseScope(strings.TrimSpace(prev + " " + JoinScope(r.Scopes)))
	if err := s.model.SaveConsent(ctx, u.ID, r.Client.ID, JoinScope(merged)); err != nil {
		return serverError(err)
	}
	return s.decideDevice(ctx, r, DeviceApproved, u, authTime)
}

// DenyDevice records that the user denied the device's request: its next
// poll gets access_denied. Errors are those of ApproveDevice.
func (s *Server) DenyDevice(ctx context.Context, r *DeviceRequest, u *User) error {
	return s.decideDevice(ctx, r, DeviceDenied, u, s.now())
}

func (s *Server) decideDevice(ctx context.Context, r *DeviceRequest, status string, u *User, authTime time.Time) error {
	now := s.now()
	err := s.model.DecideDeviceCode(ctx, r.ID, status, u.ID, authTime.UTC(), JoinScope(r.Scopes), now)
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		return ErrUserCodeUnknown
	case errors.Is(err, store.ErrConflict):
		if !now.Before(r.ExpiresAt) {
			return ErrUserCodeExpired
		}
		return ErrUserCodeUsed
	default:
		return serverError(err)
	}
}
