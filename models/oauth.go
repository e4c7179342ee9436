package models

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// OAuthModel implements the OAuth core's storage interfaces (oauth.Model)
// over the Store.
type OAuthModel struct {
	S *Store
	// Secrets opens the sealed client secrets of client_secret_jwt
	// clients (oauth.Client.SecretKey); nil leaves SecretKey empty.
	Secrets *secret.ClientSecretSealer
}

var _ oauth.Model = OAuthModel{}

// OAuthClient converts a client for the core.
func OAuthClient(c *Client) *oauth.Client {
	oc := &oauth.Client{ID: c.ClientID, SecretHash: c.SecretHash, Public: c.Public, Name: c.Name, Icon: c.Icon,
		Homepage: c.Homepage, RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes, Scopes: c.Scopes,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Unverified: c.Registration != ClientRegisteredByAdmin,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKS: c.JWKS, JWKSURI: c.JWKSURI,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
		RequirePAR: c.RequirePushedAuthorizationRequests, MayAct: c.MayAct}
	if c.RefreshTokenReuseSeconds != nil {
		iv := time.Duration(*c.RefreshTokenReuseSeconds) * time.Second
		oc.RefreshTokenReuseInterval = &iv
	}
	return oc
}

// OAuthUser converts a user for the core.
func OAuthUser(u *User) *oauth.User {
	return &oauth.User{ID: u.ID, Subject: u.Subject, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		Name: u.Name, Role: u.Role, Disabled: u.Disabled, PasswordHash: u.PasswordHash}
}

// OAuthScope converts a scope for the core. Its Resource goes as stored
// ("", "/api" for the built-in resource, or a URI): the core resolves it
// against the issuer.
func OAuthScope(sc *Scope) oauth.Scope {
	return oauth.Scope{ID: sc.ScopeID, Name: sc.Name, Description: sc.Description, Icon: sc.Icon,
		ResourcePath: sc.ResourcePath, Method: sc.Method, Resource: sc.Resource, Default: sc.IsDefault, Machine: sc.Machine}
}

// OAuthResource converts a registered resource for the core.
func OAuthResource(r *Resource) oauth.Resource {
	return oauth.Resource{URI: r.URI, Name: r.Name, Description: r.Description, Icon: r.Icon}
}

// GetClient implements oauth.ClientModel.
func (m OAuthModel) GetClient(ctx context.Context, clientID string) (*oauth.Client, error) {
	c, err := m.S.GetClient(ctx, clientID)
	if err != nil {
		return nil, err
	}
	oc := OAuthClient(c)
	oc.SecretKey = m.secretKey(ctx, c)
	return oc, nil
}

// secretKey opens the sealed secret of a client_secret_jwt client: nil
// for other clients, without a sealed secret, or when it does not open
// (another key secret): the core then says to rotate the secret.
func (m OAuthModel) secretKey(ctx context.Context, c *Client) []byte {
	if c.TokenEndpointAuthMethod != oauth.AuthSecretJWT || len(c.SecretSealed) == 0 || m.Secrets == nil {
		return nil
	}
	key, err := m.Secrets.Open(c.ClientID, c.SecretSealed)
	if err != nil {
		slog.WarnContext(ctx, "client_secret_jwt client: its sealed secret does not open with this key secret", "client_id", c.ClientID)
		return nil
	}
	return key
}

// GetUserByUsername implements oauth.UserModel.
func (m OAuthModel) GetUserByUsername(ctx context.Context, username string) (*oauth.User, error) {
	u, err := m.S.GetUserByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	return OAuthUser(u), nil
}

// GetUserByID implements oauth.UserModel.
func (m OAuthModel) GetUserByID(ctx context.Context, id int64) (*oauth.User, error) {
	u, err := m.S.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return OAuthUser(u), nil
}

func tokenRow(t *oauth.Token) *Token {
	return &Token{TokenHash: t.Hash, Kind: t.Kind, ClientID: t.ClientID, UserID: t.UserID, Scope: t.Scope,
		FamilyID: t.FamilyID, SID: t.SID, Audience: oauth.JoinResources(t.Audience), Jkt: t.Jkt, Act: t.Act, AuthTime: t.AuthTime, ExpiresAt: t.ExpiresAt, RotatedAt: t.RotatedAt, RevokedAt: t.RevokedAt,
		CreatedAt: t.IssuedAt}
}

func oauthToken(t *Token) *oauth.Token {
	return &oauth.Token{Hash: t.TokenHash, Kind: t.Kind, ClientID: t.ClientID, UserID: t.UserID, Scope: t.Scope,
		FamilyID: t.FamilyID, SID: t.SID, Audience: splitList(t.Audience), Jkt: t.Jkt, Act: t.Act, AuthTime: t.AuthTime, IssuedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RotatedAt: t.RotatedAt,
		RevokedAt: t.RevokedAt}
}

// SaveTokens implements oauth.TokenModel: one INSERT for all of them.
func (m OAuthModel) SaveTokens(ctx context.Context, tokens ...*oauth.Token) error {
	rows := make([]*Token, len(tokens))
	refresh := false
	for i, t := range tokens {
		rows[i] = tokenRow(t)
		refresh = refresh || t.Kind == oauth.KindRefresh
	}
	if err := m.S.CreateTokens(ctx, rows...); err != nil {
		return err
	}
	// Tokens of a browser session reach a client its code did not name
	// when they come without a code (implicit grant, token exchange);
	// a refresh is always by a client recorded already.
	if len(tokens) > 0 && tokens[0].SID != "" && !refresh {
		return m.S.RecordSessionClient(ctx, tokens[0].SID, tokens[0].ClientID)
	}
	return nil
}

// GetToken implements oauth.TokenModel.
func (m OAuthModel) GetToken(ctx context.Context, hash []byte) (*oauth.Token, error) {
	t, err := m.S.GetToken(ctx, hash)
	if err != nil {
		return nil, err
	}
	return oauthToken(t), nil
}

// RotateRefreshToken implements oauth.TokenModel.
func (m OAuthModel) RotateRefreshToken(ctx context.Context, hash []byte, now time.Time) error {
	_, err := m.S.RotateRefreshToken(ctx, hash, now)
	return err
}

// RevokeToken implements oauth.TokenModel.
func (m OAuthModel) RevokeToken(ctx context.Context, hash []byte, now time.Time) error {
	return m.S.RevokeToken(ctx, hash, now)
}

// RevokeFamily implements oauth.TokenModel.
func (m OAuthModel) RevokeFamily(ctx context.Context, familyID string, now time.Time) (int64, error) {
	return m.S.RevokeFamily(ctx, familyID, now)
}

// FamilyRevoked implements oauth.TokenModel.
func (m OAuthModel) FamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	return m.S.FamilyRevoked(ctx, familyID)
}

// SaveAuthorizationCode implements oauth.CodeModel.
func (m OAuthModel) SaveAuthorizationCode(ctx context.Context, c *oauth.AuthorizationCode) error {
	return m.S.CreateAuthorizationCode(ctx, &AuthorizationCode{CodeHash: c.Hash, ClientID: c.ClientID, UserID: c.UserID,
		RedirectURI: c.RedirectURI, Scope: c.Scope, CodeChallenge: c.CodeChallenge, CodeChallengeMethod: c.CodeChallengeMethod,
		Nonce: c.Nonce, FamilyID: c.FamilyID, SID: c.SID, Resource: oauth.JoinResources(c.Resources), DPoPJkt: c.DPoPJkt, AuthTime: c.AuthTime,
		ExpiresAt: c.ExpiresAt})
}

// RedeemAuthorizationCode implements oauth.CodeModel.
func (m OAuthModel) RedeemAuthorizationCode(ctx context.Context, hash []byte, now time.Time) (*oauth.AuthorizationCode, error) {
	c, err := m.S.RedeemAuthorizationCode(ctx, hash, now)
	if c == nil {
		return nil, err
	}
	return &oauth.AuthorizationCode{Hash: c.CodeHash, ClientID: c.ClientID, UserID: c.UserID, RedirectURI: c.RedirectURI,
		Scope: c.Scope, CodeChallenge: c.CodeChallenge, CodeChallengeMethod: c.CodeChallengeMethod, Nonce: c.Nonce,
		FamilyID: c.FamilyID, SID: c.SID, Resources: splitList(c.Resource), DPoPJkt: c.DPoPJkt, AuthTime: c.AuthTime, ExpiresAt: c.ExpiresAt}, err
}

// splitList reads a stored list of resources (oauth.JoinResources): nil
// for none.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return oauth.SplitResources(s)
}

// ListResources implements oauth.ResourceModel: the registered resources
// by URI (the built-in one is the core's).
func (m OAuthModel) ListResources(ctx context.Context) ([]oauth.Resource, error) {
	rs, err := m.S.ListResources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]oauth.Resource, len(rs))
	for i := range rs {
		out[i] = OAuthResource(&rs[i])
	}
	return out, nil
}

// ListScopes implements oauth.ScopeModel.
func (m OAuthModel) ListScopes(ctx context.Context) ([]oauth.Scope, error) {
	scopes, err := m.S.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]oauth.Scope, len(scopes))
	for i := range scopes {
		out[i] = OAuthScope(&scopes[i])
	}
	return out, nil
}

// GetConsent implements oauth.ConsentModel.
func (m OAuthModel) GetConsent(ctx context.Context, userID int64, clientID string) (string, error) {
	c, err := m.S.GetConsent(ctx, userID, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return c.Scope, nil
}

// SaveConsent implements oauth.ConsentModel.
func (m OAuthModel) SaveConsent(ctx context.Context, userID int64, clientID, scope string) error {
	return m.S.UpsertConsent(ctx, userID, clientID, scope)
}

// ---- device authorizations (RFC 8628) --------------------------------

func deviceRow(d *oauth.DeviceCode) *DeviceCode {
	return &DeviceCode{ID: d.ID, DeviceCodeHash: d.Hash, UserCode: d.UserCodeDigest, ClientID: d.ClientID, Scope: d.Scope,
		Resource: oauth.JoinResources(d.Resources), Status: d.Status, UserID: d.UserID, AuthTime: d.AuthTime, IntervalSeconds: int(d.Interval / time.Second),
		LastPolledAt: d.LastPolledAt, ExpiresAt: d.ExpiresAt}
}

func oauthDevice(d *DeviceCode) *oauth.DeviceCode {
	return &oauth.DeviceCode{ID: d.ID, Hash: d.DeviceCodeHash, UserCodeDigest: d.UserCode, ClientID: d.ClientID, Scope: d.Scope,
		Resources: splitList(d.Resource), Status: d.Status, UserID: d.UserID, AuthTime: d.AuthTime, Interval: time.Duration(d.IntervalSeconds) * time.Second,
		LastPolledAt: d.LastPolledAt, ExpiresAt: d.ExpiresAt}
}

// SaveDeviceCode implements oauth.DeviceModel. The user_code column holds
// the user code's digest (oauth.UserCodeDigest), never the code.
func (m OAuthModel) SaveDeviceCode(ctx context.Context, d *oauth.DeviceCode) error {
	row := deviceRow(d)
	if err := m.S.CreateDeviceCode(ctx, row); err != nil {
		return err
	}
	d.ID = row.ID
	return nil
}

// GetDeviceCode implements oauth.DeviceModel.
func (m OAuthModel) GetDeviceCode(ctx context.Context, hash []byte) (*oauth.DeviceCode, error) {
	d, err := m.S.GetDeviceCode(ctx, hash)
	if err != nil {
		return nil, err
	}
	return oauthDevice(d), nil
}

// GetDeviceCodeByUserCode implements oauth.DeviceModel.
func (m OAuthModel) GetDeviceCodeByUserCode(ctx context.Context, digest string) (*oauth.DeviceCode, error) {
	d, err := m.S.GetDeviceCodeByUserCode(ctx, digest)
	if err != nil {
		return nil, err
	}
	return oauthDevice(d), nil
}

// DecideDeviceCode implements oauth.DeviceModel.
func (m OAuthModel) DecideDeviceCode(ctx context.Context, id int64, status string, userID int64, authTime time.Time, scope string, now time.Time) error {
	return m.S.DecideDeviceCode(ctx, id, status, userID, authTime, scope, now)
}

// RecordDevicePoll implements oauth.DeviceModel.
func (m OAuthModel) RecordDevicePoll(ctx context.Context, d *oauth.DeviceCode, now time.Time, interval time.Duration) error {
	return m.S.PollDeviceCode(ctx, deviceRow(d), now, int(interval/time.Second))
}

// RedeemDeviceCode implements oauth.DeviceModel.
func (m OAuthModel) RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time) (*oauth.DeviceCode, error) {
	d, err := m.S.RedeemDeviceCode(ctx, hash, now)
	if err != nil {
		return nil, err
	}
	return oauthDevice(d), nil
}
