// Package oauthtest is the conformance suite of the OAuth core's storage
// Model (oauth.Model) and an in-memory Model that passes it, in the manner
// of dex's storage/conformance and storage/memory: RunModelTests turns
// each comment contract of model.go (and device.go's DeviceModel) into
// subtests, and every backend runs them — MemModel here, the GORM models
// on SQLite and PostgreSQL in models/.
package oauthtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
)

// MemModel is an oauth.Model kept in memory, for tests of the core
// without a database. It honours every contract of the Model as the GORM
// store does: lookups of unknown keys wrap store.ErrNotFound, the
// single-winner operations (rotation, redemptions, device decisions and
// polls) let exactly one of concurrent calls win and give the others
// store.ErrConflict, RevokeFamily leaves a tombstone, and every value
// goes in and comes out as a copy. Like the store, it keeps times in UTC
// with microsecond precision and usernames in lower case.
//
// It also implements Seeder (clients, users, scopes and resources, which
// the Model only reads) and offers Update methods for tests that change them. It
// checks only the unique keys the Model looks things up by (client ID,
// user ID and username, scope ID, token, code and device code hashes,
// user code digests), not references between rows.
//
// A MemModel is safe for concurrent use; one mutex guards it all.
type MemModel struct {
	mu        sync.Mutex
	clients   map[string]*oauth.Client
	users     map[int64]*oauth.User
	nextUser  int64
	scopes    map[string]oauth.Scope
	tokens    map[string]*oauth.Token
	codes     map[string]*memCode
	consents  map[consentKey]string
	families  map[string]time.Time // tombstones of revoked families
	devices   map[int64]*oauth.DeviceCode
	nextDev   int64
	resources map[string]oauth.Resource
	used      map[string]time.Time            // single-use identifiers until their expiry
	pushed    map[string]*oauth.PushedRequest // by hash (memmodel_par.go)
	trusted   map[string]oauth.TrustedIssuer
}

// memCode is a stored authorization code and whether it was redeemed.
type memCode struct {
	code     oauth.AuthorizationCode
	redeemed bool
}

type consentKey struct {
	userID   int64
	clientID string
}

var (
	_ oauth.Model = (*MemModel)(nil)
	_ Seeder      = (*MemModel)(nil)
)

// NewMemModel returns an empty MemModel: no clients, users or scopes.
func NewMemModel() *MemModel {
	return &MemModel{
		clients:   map[string]*oauth.Client{},
		users:     map[int64]*oauth.User{},
		scopes:    map[string]oauth.Scope{},
		tokens:    map[string]*oauth.Token{},
		codes:     map[string]*memCode{},
		consents:  map[consentKey]string{},
		families:  map[string]time.Time{},
		devices:   map[int64]*oauth.DeviceCode{},
		resources: map[string]oauth.Resource{},
		used:      map[string]time.Time{},
	}
}

func notFound(entity string) error { return fmt.Errorf("%s: %w", entity, store.ErrNotFound) }

func alreadyExists(entity string) error { return fmt.Errorf("%s: %w", entity, store.ErrAlreadyExists) }

func conflict(entity string) error { return fmt.Errorf("%s: %w", entity, store.ErrConflict) }

// ts normalizes a time the way the GORM store does: UTC, microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyClient(c *oauth.Client) *oauth.Client {
	cp := *c
	cp.SecretHash = bytes.Clone(c.SecretHash)
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	cp.Scopes = slices.Clone(c.Scopes)
	return &cp
}

func copyUser(u *oauth.User) *oauth.User {
	cp := *u
	return &cp
}

// copyToken copies t, normalizing its times.
func copyToken(t *oauth.Token) *oauth.Token {
	cp := *t
	cp.Hash = bytes.Clone(t.Hash)
	cp.UserID = clonePtr(t.UserID)
	cp.AuthTime = tsp(t.AuthTime)
	cp.IssuedAt = ts(t.IssuedAt)
	cp.ExpiresAt = ts(t.ExpiresAt)
	cp.RotatedAt = tsp(t.RotatedAt)
	cp.RevokedAt = tsp(t.RevokedAt)
	cp.Audience = cloneList(t.Audience)
	return &cp
}

// cloneList copies a list of resources; empty is nil, as the store reads
// an empty column back.
func cloneList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

func copyCode(c *oauth.AuthorizationCode) *oauth.AuthorizationCode {
	cp := *c
	cp.Hash = bytes.Clone(c.Hash)
	cp.AuthTime = ts(c.AuthTime)
	cp.ExpiresAt = ts(c.ExpiresAt)
	cp.Resources = cloneList(c.Resources)
	return &cp
}

func copyDevice(d *oauth.DeviceCode) *oauth.DeviceCode {
	cp := *d
	cp.Hash = bytes.Clone(d.Hash)
	cp.UserID = clonePtr(d.UserID)
	cp.AuthTime = tsp(d.AuthTime)
	cp.Interval = d.Interval.Truncate(time.Second) // stored in whole seconds
	cp.LastPolledAt = tsp(d.LastPolledAt)
	cp.ExpiresAt = ts(d.ExpiresAt)
	cp.Resources = cloneList(d.Resources)
	return &cp
}

// ---- Seeder and test helpers -----------------------------------------

// CreateClient implements Seeder: it stores a copy of c. A taken client
// ID gives store.ErrAlreadyExists.
func (m *MemModel) CreateClient(_ context.Context, c *oauth.Client) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[c.ID]; ok {
		return alreadyExists(fmt.Sprintf("client %q", c.ID))
	}
	m.clients[c.ID] = copyClient(c)
	return nil
}

// CreateUser implements Seeder: it lower-cases u.Username, gives u the
// next free ID when u.ID is zero, and stores a copy. A taken ID or
// username gives store.ErrAlreadyExists.
func (m *MemModel) CreateUser(_ context.Context, u *oauth.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := strings.ToLower(u.Username)
	for _, x := range m.users {
		if x.Username == name {
			return alreadyExists(fmt.Sprintf("user %q", name))
		}
	}
	if u.ID != 0 {
		if _, ok := m.users[u.ID]; ok {
			return alreadyExists(fmt.Sprintf("user #%d", u.ID))
		}
	} else {
		for {
			m.nextUser++
			if _, ok := m.users[m.nextUser]; !ok {
				break
			}
		}
		u.ID = m.nextUser
	}
	u.Username = name
	m.users[u.ID] = copyUser(u)
	return nil
}

// CreateScope implements Seeder. A taken scope ID gives
// store.ErrAlreadyExists.
func (m *MemModel) CreateScope(_ context.Context, sc oauth.Scope) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.scopes[sc.ID]; ok {
		return alreadyExists(fmt.Sprintf("scope %q", sc.ID))
	}
	m.scopes[sc.ID] = sc
	return nil
}

// CreateResource implements Seeder. A taken URI gives
// store.ErrAlreadyExists.
func (m *MemModel) CreateResource(_ context.Context, r oauth.Resource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.resources[r.URI]; ok {
		return alreadyExists(fmt.Sprintf("resource %q", r.URI))
	}
	m.resources[r.URI] = r
	return nil
}

// DeleteResource removes a registered resource (tests of resources that
// go away); unknown URIs are store.ErrNotFound.
func (m *MemModel) DeleteResource(uri string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.resources[uri]; !ok {
		return notFound(fmt.Sprintf("resource %q", uri))
	}
	delete(m.resources, uri)
	return nil
}

// UpdateClient changes the stored client through fn (on a copy, stored
// when fn returns nil). An unknown client ID gives store.ErrNotFound.
func (m *MemModel) UpdateClient(clientID string, fn func(*oauth.Client) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[clientID]
	if !ok {
		return notFound(fmt.Sprintf("client %q", clientID))
	}
	cp := copyClient(c)
	if err := fn(cp); err != nil {
		return err
	}
	cp.ID = clientID
	m.clients[clientID] = cp
	return nil
}

// UpdateUser changes the stored user through fn (on a copy, stored when
// fn returns nil; its ID stays, its username is lower-cased). An unknown
// ID gives store.ErrNotFound.
func (m *MemModel) UpdateUser(id int64, fn func(*oauth.User) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return notFound(fmt.Sprintf("user #%d", id))
	}
	cp := copyUser(u)
	if err := fn(cp); err != nil {
		return err
	}
	cp.ID, cp.Username = id, strings.ToLower(cp.Username)
	m.users[id] = cp
	return nil
}

// UpdateScope changes the stored scope through fn (stored when fn returns
// nil; its ID stays). An unknown scope ID gives store.ErrNotFound.
func (m *MemModel) UpdateScope(scopeID string, fn func(*oauth.Scope) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	sc, ok := m.scopes[scopeID]
	if !ok {
		return notFound(fmt.Sprintf("scope %q", scopeID))
	}
	if err := fn(&sc); err != nil {
		return err
	}
	sc.ID = scopeID
	m.scopes[scopeID] = sc
	return nil
}

// ---- ClientModel, UserModel, ScopeModel ------------------------------

// GetClient implements oauth.ClientModel.
func (m *MemModel) GetClient(_ context.Context, clientID string) (*oauth.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[clientID]
	if !ok {
		return nil, notFound(fmt.Sprintf("client %q", clientID))
	}
	return copyClient(c), nil
}

// GetUserByUsername implements oauth.UserModel: usernames are compared
// without case (both sides lower-cased, as models.Store does).
func (m *MemModel) GetUserByUsername(_ context.Context, username string) (*oauth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := strings.ToLower(username)
	for _, u := range m.users {
		if u.Username == name {
			return copyUser(u), nil
		}
	}
	return nil, notFound(fmt.Sprintf("user %q", username))
}

// GetUserByID implements oauth.UserModel.
func (m *MemModel) GetUserByID(_ context.Context, id int64) (*oauth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return nil, notFound(fmt.Sprintf("user #%d", id))
	}
	return copyUser(u), nil
}

// ListScopes implements oauth.ScopeModel: every scope, ordered by ID.
func (m *MemModel) ListScopes(context.Context) ([]oauth.Scope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]oauth.Scope, 0, len(m.scopes))
	for _, sc := range m.scopes {
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b oauth.Scope) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ListResources implements oauth.ResourceModel: every registered
// resource, ordered by URI.
func (m *MemModel) ListResources(context.Context) ([]oauth.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]oauth.Resource, 0, len(m.resources))
	for _, r := range m.resources {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b oauth.Resource) int { return strings.Compare(a.URI, b.URI) })
	return out, nil
}

// ---- TokenModel ------------------------------------------------------

// SaveTokens implements oauth.TokenModel: all the tokens or none. A hash
// in use (or twice in the call) gives store.ErrAlreadyExists.
func (m *MemModel) SaveTokens(_ context.Context, tokens ...*oauth.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		k := string(t.Hash)
		if _, ok := m.tokens[k]; ok || seen[k] {
			return alreadyExists("token")
		}
		seen[k] = true
	}
	for _, t := range tokens {
		m.tokens[string(t.Hash)] = copyToken(t)
	}
	return nil
}

// GetToken implements oauth.TokenModel.
func (m *MemModel) GetToken(_ context.Context, hash []byte) (*oauth.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok {
		return nil, notFound("token")
	}
	return copyToken(t), nil
}

// RotateRefreshToken implements oauth.TokenModel. As in models.Store, a
// hash that is not a refresh token's gives store.ErrNotFound, and a
// refresh token rotated or revoked before gives store.ErrConflict.
// Expiry is the caller's to check.
func (m *MemModel) RotateRefreshToken(_ context.Context, hash []byte, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok || t.Kind != oauth.KindRefresh {
		return notFound("refresh token")
	}
	if t.RotatedAt != nil || t.RevokedAt != nil {
		return conflict("refresh token already used or revoked")
	}
	t.RotatedAt = tsp(&now)
	return nil
}

// RevokeToken implements oauth.TokenModel. Revoking a revoked token is
// no error and keeps the first revocation time.
func (m *MemModel) RevokeToken(_ context.Context, hash []byte, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok {
		return notFound("token")
	}
	if t.RevokedAt == nil {
		t.RevokedAt = tsp(&now)
	}
	return nil
}

// RevokeFamily implements oauth.TokenModel: it leaves the tombstone and
// revokes the family's tokens not revoked yet, returning how many.
func (m *MemModel) RevokeFamily(_ context.Context, familyID string, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.families[familyID]; !ok {
		m.families[familyID] = ts(now)
	}
	var n int64
	for _, t := range m.tokens {
		if t.FamilyID == familyID && t.RevokedAt == nil {
			t.RevokedAt = tsp(&now)
			n++
		}
	}
	return n, nil
}

// FamilyRevoked implements oauth.TokenModel.
func (m *MemModel) FamilyRevoked(_ context.Context, familyID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.families[familyID]
	return ok, nil
}

// ---- CodeModel -------------------------------------------------------

// SaveAuthorizationCode implements oauth.CodeModel. A hash in use gives
// store.ErrAlreadyExists.
func (m *MemModel) SaveAuthorizationCode(_ context.Context, c *oauth.AuthorizationCode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.codes[string(c.Hash)]; ok {
		return alreadyExists("authorization code")
	}
	m.codes[string(c.Hash)] = &memCode{code: *copyCode(c)}
	return nil
}

// RedeemAuthorizationCode implements oauth.CodeModel. As in models.Store,
// expiry is not checked (the caller refuses an expired code, and a
// replay of one still comes back with store.ErrConflict).
func (m *MemModel) RedeemAuthorizationCode(_ context.Context, hash []byte, _ time.Time) (*oauth.AuthorizationCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.codes[string(hash)]
	if !ok {
		return nil, notFound("authorization code")
	}
	if c.redeemed {
		return copyCode(&c.code), conflict("authorization code already redeemed")
	}
	c.redeemed = true
	return copyCode(&c.code), nil
}

// ---- ConsentModel ----------------------------------------------------

// GetConsent implements oauth.ConsentModel.
func (m *MemModel) GetConsent(_ context.Context, userID int64, clientID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.consents[consentKey{userID, clientID}], nil
}

// SaveConsent implements oauth.ConsentModel: it replaces the scope of an
// earlier consent (merging is the caller's).
func (m *MemModel) SaveConsent(_ context.Context, userID int64, clientID, scope string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consents[consentKey{userID, clientID}] = scope
	return nil
}

// ---- DeviceModel -----------------------------------------------------

func (m *MemModel) deviceByHash(hash []byte) *oauth.DeviceCode {
	for _, d := range m.devices {
		if bytes.Equal(d.Hash, hash) {
			return d
		}
	}
	return nil
}

// SaveDeviceCode implements oauth.DeviceModel.
func (m *MemModel) SaveDeviceCode(_ context.Context, d *oauth.DeviceCode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.devices {
		if bytes.Equal(x.Hash, d.Hash) || x.UserCodeDigest == d.UserCodeDigest {
			return alreadyExists("device code")
		}
	}
	m.nextDev++
	cp := copyDevice(d)
	cp.ID = m.nextDev
	m.devices[cp.ID] = cp
	d.ID = cp.ID
	return nil
}

// GetDeviceCode implements oauth.DeviceModel.
func (m *MemModel) GetDeviceCode(_ context.Context, hash []byte) (*oauth.DeviceCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.deviceByHash(hash); d != nil {
		return copyDevice(d), nil
	}
	return nil, notFound("device code")
}

// GetDeviceCodeByUserCode implements oauth.DeviceModel.
func (m *MemModel) GetDeviceCodeByUserCode(_ context.Context, digest string) (*oauth.DeviceCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.devices {
		if d.UserCodeDigest == digest {
			return copyDevice(d), nil
		}
	}
	return nil, notFound("device code")
}

// DecideDeviceCode implements oauth.DeviceModel.
func (m *MemModel) DecideDeviceCode(_ context.Context, id int64, status string, userID int64, authTime time.Time, scope string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	entity := fmt.Sprintf("device code #%d", id)
	if status != oauth.DeviceApproved && status != oauth.DeviceDenied {
		return fmt.Errorf("%s: decision %q is neither approved nor denied", entity, status)
	}
	d, ok := m.devices[id]
	if !ok {
		return notFound(entity)
	}
	if d.Status != oauth.DevicePending || !ts(now).Before(d.ExpiresAt) {
		return conflict(entity + " is no longer pending")
	}
	d.Status, d.UserID, d.AuthTime, d.Scope = status, &userID, tsp(&authTime), scope
	return nil
}

// RecordDevicePoll implements oauth.DeviceModel: a compare-and-set on
// the state, the last poll time and the interval that prev was read with.
func (m *MemModel) RecordDevicePoll(_ context.Context, prev *oauth.DeviceCode, now time.Time, interval time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	entity := fmt.Sprintf("device code #%d", prev.ID)
	d, ok := m.devices[prev.ID]
	if !ok {
		return notFound(entity)
	}
	last := tsp(prev.LastPolledAt)
	samePoll := (d.LastPolledAt == nil && last == nil) || (d.LastPolledAt != nil && last != nil && d.LastPolledAt.Equal(*last))
	if d.Status != oauth.DevicePending || d.Interval != prev.Interval.Truncate(time.Second) || !samePoll {
		return conflict(entity + " changed concurrently")
	}
	d.LastPolledAt = tsp(&now)
	d.Interval = interval.Truncate(time.Second)
	return nil
}

// RedeemDeviceCode implements oauth.DeviceModel; it returns the
// authorization as redeemed.
func (m *MemModel) RedeemDeviceCode(_ context.Context, hash []byte, now time.Time) (*oauth.DeviceCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.deviceByHash(hash)
	if d == nil {
		return nil, notFound("device code")
	}
	if d.Status != oauth.DeviceApproved || !ts(now).Before(d.ExpiresAt) {
		return nil, conflict("device code is not approved or has expired")
	}
	d.Status = oauth.DeviceRedeemed
	return copyDevice(d), nil
}
