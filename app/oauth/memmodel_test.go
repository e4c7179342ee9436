package oauth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// memModel is an in-memory Model for core tests without a database. It
// keeps what the grants under test need; the device flow is not
// supported.
type memModel struct {
	mu       sync.Mutex
	clients  map[string]*Client
	users    map[int64]*User
	scopes   []Scope
	tokens   map[string]*Token
	codes    map[string]*AuthorizationCode
	consents map[string]string
	families map[string]bool
}

var _ Model = (*memModel)(nil)

func newMemModel() *memModel {
	return &memModel{clients: map[string]*Client{}, users: map[int64]*User{}, tokens: map[string]*Token{},
		codes: map[string]*AuthorizationCode{}, consents: map[string]string{}, families: map[string]bool{}}
}

func notFound(what string) error { return fmt.Errorf("%s: %w", what, store.ErrNotFound) }

func (m *memModel) GetClient(_ context.Context, id string) (*Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return nil, notFound("client")
	}
	cp := *c
	return &cp, nil
}

func (m *memModel) GetUserByUsername(_ context.Context, username string) (*User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Username == username {
			cp := *u
			return &cp, nil
		}
	}
	return nil, notFound("user")
}

func (m *memModel) GetUserByID(_ context.Context, id int64) (*User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return nil, notFound("user")
	}
	cp := *u
	return &cp, nil
}

func (m *memModel) SaveTokens(_ context.Context, tokens ...*Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range tokens {
		cp := *t
		m.tokens[string(t.Hash)] = &cp
	}
	return nil
}

func (m *memModel) GetToken(_ context.Context, hash []byte) (*Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok {
		return nil, notFound("token")
	}
	cp := *t
	return &cp, nil
}

func (m *memModel) RotateRefreshToken(_ context.Context, hash []byte, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok {
		return notFound("token")
	}
	if t.RotatedAt != nil {
		return store.ErrConflict
	}
	t.RotatedAt = &now
	return nil
}

func (m *memModel) RevokeToken(_ context.Context, hash []byte, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok {
		return notFound("token")
	}
	t.RevokedAt = &now
	return nil
}

func (m *memModel) RevokeFamily(_ context.Context, family string, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.families[family] = true
	var n int64
	for _, t := range m.tokens {
		if t.FamilyID == family && t.RevokedAt == nil {
			t.RevokedAt = &now
			n++
		}
	}
	return n, nil
}

func (m *memModel) FamilyRevoked(_ context.Context, family string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.families[family], nil
}

func (m *memModel) SaveAuthorizationCode(_ context.Context, c *AuthorizationCode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *c
	m.codes[string(c.Hash)] = &cp
	return nil
}

func (m *memModel) RedeemAuthorizationCode(_ context.Context, hash []byte, _ time.Time) (*AuthorizationCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.codes[string(hash)]
	if !ok {
		return nil, notFound("code")
	}
	delete(m.codes, string(hash))
	cp := *c
	return &cp, nil
}

func (m *memModel) ListScopes(context.Context) ([]Scope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Scope(nil), m.scopes...), nil
}

func (m *memModel) GetConsent(_ context.Context, userID int64, clientID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.consents[fmt.Sprint(userID, " ", clientID)], nil
}

func (m *memModel) SaveConsent(_ context.Context, userID int64, clientID, scope string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consents[fmt.Sprint(userID, " ", clientID)] = scope
	return nil
}

func (m *memModel) SaveDeviceCode(context.Context, *DeviceCode) error {
	return fmt.Errorf("device codes are not supported by memModel")
}

func (m *memModel) GetDeviceCode(context.Context, []byte) (*DeviceCode, error) {
	return nil, notFound("device code")
}

func (m *memModel) GetDeviceCodeByUserCode(context.Context, string) (*DeviceCode, error) {
	return nil, notFound("device code")
}

func (m *memModel) DecideDeviceCode(context.Context, int64, string, int64, time.Time, string, time.Time) error {
	return notFound("device code")
}

func (m *memModel) RecordDevicePoll(context.Context, *DeviceCode, time.Time, time.Duration) error {
	return notFound("device code")
}

func (m *memModel) RedeemDeviceCode(context.Context, []byte, time.Time) (*DeviceCode, error) {
	return nil, notFound("device code")
}

// defaultPolicy is the policy of the default settings.
var defaultPolicy = Policy{
	EnforceState: true, RequireExactRedirectURI: true, RequirePKCE: "public", RememberConsent: true,
	AccessTokenFormat: "opaque", AccessTokenLifetime: time.Hour, RefreshTokenLifetime: 720 * time.Hour,
	AuthorizationCodeLifetime: 5 * time.Minute, DeviceCodeLifetime: 10 * time.Minute, DevicePollInterval: 5 * time.Second,
}

// coreFixture is a Server over a memModel with the built-in scopes.
type coreFixture struct {
	t     *testing.T
	model *memModel
	srv   *Server
}

// builtinScopes are the scopes every Gatehouse has out of the box (none
// of them is a machine scope).
var builtinScopes = []Scope{
	{ID: "email"}, {ID: "offline_access"}, {ID: "openid"}, {ID: "profile"},
	{ID: "user.read", ResourcePath: "/api/user", Method: "GET", Default: true},
}

func newCoreFixture(t *testing.T, scopes ...Scope) *coreFixture {
	t.Helper()
	m := newMemModel()
	m.scopes = append(append([]Scope(nil), builtinScopes...), scopes...)
	srv := New(Options{Issuer: "https://gatehouse.test", Model: m, Policy: defaultPolicy})
	return &coreFixture{t: t, model: m, srv: srv}
}

// client registers a confidential client with these grant types and
// scopes and returns its ID and secret.
func (f *coreFixture) client(grants []string, scopes ...string) (id, sec string) {
	f.t.Helper()
	cred := NewCredentials(false)
	f.model.clients[cred.ClientID] = &Client{ID: cred.ClientID, SecretHash: cred.SecretHash, Name: "Test",
		GrantTypes: grants, Scopes: scopes}
	return cred.ClientID, cred.Secret
}

// token makes a token request authenticated with HTTP Basic.
func (f *coreFixture) token(id, sec string, form url.Values) (*TokenResponse, error) {
	f.t.Helper()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
	return f.srv.Token(context.Background(), &ClientRequest{Form: form, Authorization: basic, RemoteAddr: "192.0.2.1"})
}

// stored returns the stored token of an access token.
func (f *coreFixture) stored(access string) *Token {
	f.t.Helper()
	t, err := f.model.GetToken(context.Background(), secret.Digest(access))
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}
