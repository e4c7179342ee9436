package oauthtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
)

// Seeder writes what the Model only reads: clients, users and scopes. Each
// backend under test implements it (MemModel directly; the GORM models
// through models.Store's Create methods).
type Seeder interface {
	// CreateClient stores a new client. A taken client ID gives
	// store.ErrAlreadyExists.
	CreateClient(ctx context.Context, c *oauth.Client) error
	// CreateUser stores a new user and sets u.ID (and lower-cases
	// u.Username, as the store keeps it). A taken username gives
	// store.ErrAlreadyExists.
	CreateUser(ctx context.Context, u *oauth.User) error
	// CreateScope stores a new scope (its Resource as stored: "",
	// oauth.BuiltinResourcePath or a canonical URI). A taken scope ID
	// gives store.ErrAlreadyExists.
	CreateScope(ctx context.Context, sc oauth.Scope) error
	// CreateResource registers a resource (r.URI canonical; Builtin
	// false). A taken URI gives store.ErrAlreadyExists.
	CreateResource(ctx context.Context, r oauth.Resource) error
	// CreateTrustedIssuer registers a trusted issuer of the JWT bearer
	// grant. A taken issuer gives store.ErrAlreadyExists.
	CreateTrustedIssuer(ctx context.Context, ti oauth.TrustedIssuer) error
}

// Fixture is one backend under test: a Model and the Seeder that writes
// to the same storage. The storage may hold other rows (built-in scopes,
// even another test's data): every test makes keys of its own (random
// IDs and hashes), so RunModelTests may be given fresh storage per test,
// as models does, or shared storage.
type Fixture struct {
	Model oauth.Model
	Seed  Seeder
}

// Test is one contract test, run on a fresh Fixture.
type Test struct {
	Name string
	Fn   func(t *testing.T, f Fixture)
}

// Tests lists the contract tests in the order RunModelTests runs them.
var Tests = []Test{
	{"Lookup/UnknownKeysNotFound", testNotFound},
	{"Lookup/NoneIsNoError", testNoneIsNoError},
	{"Lookup/ReturnsCopies", testReturnsCopies},

	{"Client/Get", testClient},
	{"User/Get", testUser},
	{"User/UsernameIgnoresCase", testUsernameCase},
	{"Scope/List", testListScopes},
	{"Resource/List", testListResources},

	{"Token/SaveGet", testTokenSaveGet},
	{"Token/SaveIsOneWrite", testTokenSaveDuplicate},
	{"Token/GetAnyState", testTokenAnyState},
	{"Token/Rotate", testTokenRotate},
	{"Token/RotateConcurrent", testTokenRotateConcurrent},
	{"Token/Revoke", testTokenRevoke},
	{"Family/Revoke", testFamilyRevoke},
	{"Family/RevokeWithoutTokens", testFamilyRevokeEmpty},
	{"Family/SavedAfterRevocation", testFamilySavedAfter},
	{"Family/ConcurrentRecheck", testFamilyConcurrentRecheck},

	{"Code/SaveRedeem", testCodeRedeem},
	{"Code/SaveDuplicate", testCodeDuplicate},
	{"Code/RedeemTwice", testCodeRedeemTwice},
	{"Code/RedeemConcurrent", testCodeRedeemConcurrent},
	{"Code/Expired", testCodeExpired},

	{"Consent/SaveGetMerge", testConsent},

	{"Device/SaveGet", testDeviceSaveGet},
	{"Device/SaveDuplicate", testDeviceDuplicate},
	{"Device/Decide", testDeviceDecide},
	{"Device/DecideConcurrent", testDeviceDecideConcurrent},
	{"Device/Poll", testDevicePoll},
	{"Device/PollConcurrent", testDevicePollConcurrent},
	{"Device/Redeem", testDeviceRedeem},
	{"Device/RedeemConcurrent", testDeviceRedeemConcurrent},

	{"Replay/Once", testReplayOnce},
	{"Replay/Concurrent", testReplayConcurrent},

	{"PAR/SaveUse", testPARSaveUse},
	{"PAR/Duplicate", testPARDuplicate},
	{"PAR/Concurrent", testPARConcurrent},
	{"Trust/Get", testTrustedIssuer},
}

// RunModelTests runs every contract test as a parallel subtest, each on its
// own Fixture from newModel.
func RunModelTests(t *testing.T, newModel func(t *testing.T) Fixture) {
	for _, tc := range Tests {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			tc.Fn(t, newModel(t))
		})
	}
}

// ---- helpers ---------------------------------------------------------

// concurrency is how many calls race in the single-winner tests.
const concurrency = 8

// now is a current time as every backend keeps it (UTC, microseconds).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// hash is a random 32-byte hash, the size of secret.Digest (the caching
// model caches only those).
func hash() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// name is a random name with a prefix.
func name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want one wrapping %v", what, err, want)
	}
}

// same compares two values of one struct type field by field: times by
// instant (time.Time.Equal), pointers by what they point to, and an
// empty slice equals a nil one.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Kind() == reflect.Pointer {
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				t.Errorf("%s = %v, want %v", what, got, want)
			}
			return
		}
		g, w = g.Elem(), w.Elem()
	}
	for i := range g.NumField() {
		if !equalValue(g.Field(i), w.Field(i)) {
			t.Errorf("%s.%s = %s, want %s", what, g.Type().Field(i).Name, show(g.Field(i)), show(w.Field(i)))
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

func equalValue(a, b reflect.Value) bool {
	switch {
	case a.Type() == timeType:
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	case a.Kind() == reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0:
		return true
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nil"
		}
		return "&" + show(v.Elem())
	}
	return fmt.Sprintf("%v", v.Interface())
}

// Concurrently runs fn(0) … fn(n-1) in n goroutines released together
// and returns their errors, in order: the start of every single-winner
// test (here, in the core's tests, in models/storetest).
func Concurrently(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one of errs is nil and the others wrap
// store.ErrConflict, and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: calls %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: call %d: error = %v, want store.ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no call succeeded: %v", what, errs)
	}
	return winner
}

// seeded is a fixture with a client and a user stored.
type seeded struct {
	Fixture
	ctx    context.Context
	client *oauth.Client
	user   *oauth.User
}

func seed(t *testing.T, f Fixture) *seeded {
	t.Helper()
	s := &seeded{Fixture: f, ctx: t.Context()}
	s.client = s.newClient(t)
	s.user = s.newUser(t, name("user"))
	return s
}

func (s *seeded) newClient(t *testing.T) *oauth.Client {
	t.Helper()
	c := &oauth.Client{ID: name("client-"), SecretHash: hash(), Name: "Test app", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}}
	ok(t, s.Seed.CreateClient(s.ctx, c))
	return c
}

func (s *seeded) newUser(t *testing.T, username string) *oauth.User {
	t.Helper()
	u := &oauth.User{Subject: name("sub-"), Username: username, Name: "Name of " + username, Role: "user",
		PasswordHash: "$argon2id$x"}
	ok(t, s.Seed.CreateUser(s.ctx, u))
	if u.ID == 0 {
		t.Fatal("CreateUser did not set the user's ID")
	}
	return u
}

// token is a token of the seeded client and user, not stored yet.
func (s *seeded) token(kind, family string, at time.Time) *oauth.Token {
	uid := s.user.ID
	auth := at.Add(-time.Minute)
	return &oauth.Token{Hash: hash(), Kind: kind, ClientID: s.client.ID, UserID: &uid, Scope: "openid profile",
		FamilyID: family, Audience: []string{"https://api.example/v1", "https://gatehouse.test/api"}, AuthTime: &auth, IssuedAt: at,
		ExpiresAt: at.Add(time.Hour)}
}

// saved stores tokens and returns them.
func (s *seeded) saved(t *testing.T, tokens ...*oauth.Token) []*oauth.Token {
	t.Helper()
	ok(t, s.Model.SaveTokens(s.ctx, tokens...))
	return tokens
}

func (s *seeded) get(t *testing.T, h []byte) *oauth.Token {
	t.Helper()
	tok, err := s.Model.GetToken(s.ctx, h)
	ok(t, err)
	return tok
}

func (s *seeded) code(family string, at time.Time) *oauth.AuthorizationCode {
	return &oauth.AuthorizationCode{Hash: hash(), ClientID: s.client.ID, UserID: s.user.ID, RedirectURI: "https://app.example/cb",
		Scope: "openid profile", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		Nonce: "n-0S6_WzA2Mj", FamilyID: family, Resources: []string{"https://api.example/v1", "https://mcp.example:8443/mcp?x=1"},
		AuthTime: at.Add(-time.Minute), ExpiresAt: at.Add(time.Minute)}
}

// device stores a pending device authorization of the seeded client.
func (s *seeded) device(t *testing.T, exp time.Time) *oauth.DeviceCode {
	t.Helper()
	d := &oauth.DeviceCode{Hash: hash(), UserCodeDigest: oauth.UserCodeDigest(oauth.NewUserCode()), ClientID: s.client.ID,
		Scope: "openid profile", Resources: []string{"https://api.example/v1"}, Status: oauth.DevicePending, Interval: 5 * time.Second,
		ExpiresAt: exp}
	ok(t, s.Model.SaveDeviceCode(s.ctx, d))
	if d.ID == 0 {
		t.Fatal("SaveDeviceCode did not set the ID")
	}
	return d
}

func (s *seeded) getDevice(t *testing.T, h []byte) *oauth.DeviceCode {
	t.Helper()
	d, err := s.Model.GetDeviceCode(s.ctx, h)
	ok(t, err)
	return d
}

// ---- lookups ---------------------------------------------------------

// Lookups of unknown keys return an error wrapping store.ErrNotFound
// (model.go), and so do the writers that name an unknown row.
func testNotFound(t *testing.T, f Fixture) {
	s := seed(t, f) // not empty: a lookup must not match some other row
	s.saved(t, s.token(oauth.KindRefresh, name("fam-"), now()))
	ok(t, s.Model.SaveAuthorizationCode(s.ctx, s.code(name("fam-"), now())))
	known := s.device(t, now().Add(time.Hour))
	m, ctx, at := s.Model, s.ctx, now()
	cases := []struct {
		name string
		call func() error
	}{
		{"GetClient", func() error { _, err := m.GetClient(ctx, name("no-such-client-")); return err }},
		{"GetUserByUsername", func() error { _, err := m.GetUserByUsername(ctx, name("no-such-user-")); return err }},
		{"GetUserByID", func() error { _, err := m.GetUserByID(ctx, -s.user.ID); return err }},
		{"GetToken", func() error { _, err := m.GetToken(ctx, hash()); return err }},
		{"RotateRefreshToken", func() error { return m.RotateRefreshToken(ctx, hash(), at) }},
		{"RevokeToken", func() error { return m.RevokeToken(ctx, hash(), at) }},
		{"RedeemAuthorizationCode", func() error { _, err := m.RedeemAuthorizationCode(ctx, hash(), at); return err }},
		{"GetDeviceCode", func() error { _, err := m.GetDeviceCode(ctx, hash()); return err }},
		{"GetDeviceCodeByUserCode", func() error {
			_, err := m.GetDeviceCodeByUserCode(ctx, oauth.UserCodeDigest(oauth.NewUserCode()))
			return err
		}},
		{"DecideDeviceCode", func() error {
			return m.DecideDeviceCode(ctx, -known.ID, oauth.DeviceApproved, s.user.ID, at, "openid", at)
		}},
		{"RecordDevicePoll", func() error {
			d := *known
			d.ID = -d.ID
			return m.RecordDevicePoll(ctx, &d, at, 5*time.Second)
		}},
		{"RedeemDeviceCode", func() error { _, err := m.RedeemDeviceCode(ctx, hash(), at); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isErr(t, c.name, c.call(), store.ErrNotFound)
		})
	}
}

// FamilyRevoked of a family never revoked is false, and GetConsent
// without a consent is "", both without error.
func testNoneIsNoError(t *testing.T, f Fixture) {
	s := seed(t, f)
	fam := name("fam-")
	s.saved(t, s.token(oauth.KindAccess, fam, now()))
	revoked, err := s.Model.FamilyRevoked(s.ctx, fam)
	ok(t, err)
	if revoked {
		t.Error("FamilyRevoked of a live family = true")
	}
	if revoked, err = s.Model.FamilyRevoked(s.ctx, name("no-such-family-")); err != nil || revoked {
		t.Errorf("FamilyRevoked of an unknown family = %v, %v; want false, nil", revoked, err)
	}
	scope, err := s.Model.GetConsent(s.ctx, s.user.ID, s.client.ID)
	if err != nil || scope != "" {
		t.Errorf("GetConsent without consent = %q, %v; want \"\", nil", scope, err)
	}
}

// What a lookup returns is the caller's: changing it changes nothing
// stored (nor cached).
func testReturnsCopies(t *testing.T, f Fixture) {
	s := seed(t, f)
	ok(t, s.Seed.CreateScope(s.ctx, oauth.Scope{ID: name("copies.read-"), Name: "Read copies"}))
	tok := s.saved(t, s.token(oauth.KindAccess, name("fam-"), now()))[0]
	d := s.device(t, now().Add(time.Hour))
	for range 2 { // the second round reads what a cache may hold
		c, err := s.Model.GetClient(s.ctx, s.client.ID)
		ok(t, err)
		c.Name, c.Public = "changed", true
		u, err := s.Model.GetUserByID(s.ctx, s.user.ID)
		ok(t, err)
		u.Name, u.Disabled = "changed", true
		u, err = s.Model.GetUserByUsername(s.ctx, s.user.Username)
		ok(t, err)
		u.Name, u.Disabled = "changed", true
		all, err := s.Model.ListScopes(s.ctx)
		ok(t, err)
		for i := range all {
			all[i].Name = "changed"
		}
		gt := s.get(t, tok.Hash)
		gt.Scope, gt.RevokedAt = "changed", ptr(now())
		gt.Audience[0] = "https://changed.example"
		gd := s.getDevice(t, d.Hash)
		gd.Status = oauth.DeviceApproved
		gd.Resources[0] = "https://changed.example"
	}
	c, err := s.Model.GetClient(s.ctx, s.client.ID)
	ok(t, err)
	same(t, "client", c, s.client)
	u, err := s.Model.GetUserByID(s.ctx, s.user.ID)
	ok(t, err)
	same(t, "user", u, s.user)
	all, err := s.Model.ListScopes(s.ctx)
	ok(t, err)
	for _, sc := range all {
		if sc.Name == "changed" {
			t.Errorf("scope %q: the change to a listed copy was kept", sc.ID)
		}
	}
	same(t, "token", s.get(t, tok.Hash), tok)
	same(t, "device", s.getDevice(t, d.Hash), d)
}

// ---- clients, users, scopes ------------------------------------------

// GetClient returns every field of the client as stored (ClientModel).
func testClient(t *testing.T, f Fixture) {
	ctx := t.Context()
	conf := &oauth.Client{ID: name("conf-"), SecretHash: hash(), Name: "Confidential", Icon: "https://app.example/icon.png",
		Homepage: "https://app.example", RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials},
		Scopes:     []string{"openid", "profile"}}
	pub := &oauth.Client{ID: name("pub-"), Public: true, Name: "Public", RedirectURIs: []string{"com.example.app:/cb"}}
	for _, c := range []*oauth.Client{conf, pub} {
		ok(t, f.Seed.CreateClient(ctx, c))
	}
	for _, want := range []*oauth.Client{conf, pub} {
		for range 2 {
			got, err := f.Model.GetClient(ctx, want.ID)
			ok(t, err)
			same(t, "client "+want.ID, got, want)
		}
	}
	if _, err := f.Model.GetClient(ctx, conf.ID+"x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient of a longer ID: error = %v, want store.ErrNotFound", err)
	}
}

// GetUserByID and GetUserByUsername return every field of the user.
func testUser(t *testing.T, f Fixture) {
	ctx := t.Context()
	u := &oauth.User{Subject: name("sub-"), Username: name("ann"), Email: "ann@example.com", EmailVerified: true, Name: "Ann Example",
		Role: "admin", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA"}
	other := &oauth.User{Subject: name("sub-"), Username: name("bob"), Name: "Bob", Role: "user", Disabled: true, PasswordHash: "x"}
	ok(t, f.Seed.CreateUser(ctx, u))
	ok(t, f.Seed.CreateUser(ctx, other))
	if u.ID == other.ID {
		t.Fatalf("two users got ID %d", u.ID)
	}
	for _, want := range []*oauth.User{u, other} {
		got, err := f.Model.GetUserByID(ctx, want.ID)
		ok(t, err)
		same(t, "GetUserByID", got, want)
		got, err = f.Model.GetUserByUsername(ctx, want.Username)
		ok(t, err)
		same(t, "GetUserByUsername", got, want)
	}
}

// Usernames are kept in lower case and looked up without case, as
// models.Store does (strings.ToLower on both sides, so Unicode letters
// fold too); nothing else is folded.
func testUsernameCase(t *testing.T, f Fixture) {
	ctx := t.Context()
	tag := name("")
	lower := "alice.zoë-" + tag
	u := &oauth.User{Subject: name("sub-"), Username: "Alice.Zoë-" + tag, Name: "Alice", Role: "user", PasswordHash: "x"}
	ok(t, f.Seed.CreateUser(ctx, u))
	for _, typed := range []string{lower, strings.ToUpper(lower), "Alice.Zoë-" + tag, "aLiCe.ZoË-" + strings.ToUpper(tag)} {
		got, err := f.Model.GetUserByUsername(ctx, typed)
		if err != nil {
			t.Errorf("GetUserByUsername(%q): %v", typed, err)
			continue
		}
		if got.ID != u.ID || got.Username != lower {
			t.Errorf("GetUserByUsername(%q) = #%d %q, want #%d %q", typed, got.ID, got.Username, u.ID, lower)
		}
	}
	for _, typed := range []string{"alice.zoe-" + tag, lower + " ", " " + lower, "alice.zoë-", "alice_zoë-" + tag, "alice.zoë-%", lower[:len(lower)-1] + "_"} {
		if _, err := f.Model.GetUserByUsername(ctx, typed); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByUsername(%q): error = %v, want store.ErrNotFound", typed, err)
		}
	}
}

// ListScopes lists every defined scope once, with every field; a scope
// defined after a listing is in the next one.
func testListScopes(t *testing.T, f Fixture) {
	ctx := t.Context()
	prefix := name("files")
	// A scope may belong only to a registered resource.
	files := "https://" + prefix + ".example/api"
	ok(t, f.Seed.CreateResource(ctx, oauth.Resource{URI: files, Name: "Files"}))
	defined := []oauth.Scope{
		{ID: prefix + ".read", Name: "Read files", Description: "{client_name} will read the files of {user}.", Icon: "fa-solid fa-file",
			ResourcePath: "/api/files/*", Method: "GET", Default: true},
		{ID: prefix + ".write", Name: "Write files", ResourcePath: "/api/files/*", Method: "POST", Machine: true,
			Resource: files},
		// The built-in resource comes back as stored: the core resolves it.
		{ID: prefix + ".profile", Name: "Profile", Resource: oauth.BuiltinResourcePath},
	}
	for _, sc := range defined {
		ok(t, f.Seed.CreateScope(ctx, sc))
	}
	check := func(want []oauth.Scope) {
		t.Helper()
		all, err := f.Model.ListScopes(ctx)
		ok(t, err)
		byID := map[string]oauth.Scope{}
		for _, sc := range all {
			if _, dup := byID[sc.ID]; dup {
				t.Errorf("scope %q listed twice", sc.ID)
			}
			byID[sc.ID] = sc
		}
		for _, w := range want {
			got, found := byID[w.ID]
			if !found {
				t.Errorf("scope %q not listed", w.ID)
				continue
			}
			same(t, "scope "+w.ID, got, w)
		}
	}
	check(defined)
	later := oauth.Scope{ID: prefix + ".delete", Name: "Delete files", Method: "DELETE"}
	ok(t, f.Seed.CreateScope(ctx, later))
	check(append(defined, later))
}

// ListResources lists every registered resource once, with every field,
// ordered by URI; one registered after a listing is in the next one (and
// the caching model sees it: resources share the scopes' counter).
func testListResources(t *testing.T, f Fixture) {
	ctx := t.Context()
	tag := name("")
	defined := []oauth.Resource{
		{URI: "https://mcp-" + tag + ".example/mcp", Name: "MCP server", Description: "Tools", Icon: "fa-solid fa-robot"},
		{URI: "https://api-" + tag + ".example:8443/v1?tenant=a", Name: "API"},
	}
	check := func(want []oauth.Resource) {
		t.Helper()
		all, err := f.Model.ListResources(ctx)
		ok(t, err)
		byURI := map[string]oauth.Resource{}
		for i, r := range all {
			if _, dup := byURI[r.URI]; dup {
				t.Errorf("resource %q listed twice", r.URI)
			}
			if i > 0 && all[i-1].URI > r.URI {
				t.Errorf("resources not ordered by URI: %q before %q", all[i-1].URI, r.URI)
			}
			byURI[r.URI] = r
		}
		for _, w := range want {
			got, found := byURI[w.URI]
			if !found {
				t.Errorf("resource %q not listed", w.URI)
				continue
			}
			same(t, "resource "+w.URI, got, w)
		}
		// What the caller changes is its own.
		for i := range all {
			all[i].Name = "changed"
		}
	}
	ok(t, f.Seed.CreateResource(ctx, defined[0]))
	check(defined[:1])
	ok(t, f.Seed.CreateResource(ctx, defined[1]))
	check(defined)
	isErr(t, "CreateResource with a URI in use", f.Seed.CreateResource(ctx, defined[0]), store.ErrAlreadyExists)
	check(defined)
}

// ---- tokens ----------------------------------------------------------

// SaveTokens stores every token of a response, each with every field;
// GetToken returns them. A token without a user keeps a nil UserID.
func testTokenSaveGet(t *testing.T, f Fixture) {
	s := seed(t, f)
	at, fam := now(), name("fam-")
	access := s.token(oauth.KindAccess, fam, at)
	refresh := s.token(oauth.KindRefresh, fam, at)
	refresh.Scope, refresh.ExpiresAt = "offline_access openid profile", at.Add(30*24*time.Hour)
	machine := &oauth.Token{Hash: hash(), Kind: oauth.KindAccess, ClientID: s.client.ID, Scope: "", FamilyID: name("fam-"),
		IssuedAt: at, ExpiresAt: at.Add(time.Hour)}
	// A delegated token (token exchange with an actor, RFC 8693) keeps its
	// act claim, as JSON.
	delegated := s.token(oauth.KindAccess, name("fam-"), at)
	delegated.Act = `{"sub":"svc-b","client_id":"svc-b","act":{"sub":"svc-a","client_id":"svc-a"}}`
	ok(t, s.Model.SaveTokens(s.ctx))
	s.saved(t, access, refresh)
	s.saved(t, machine)
	s.saved(t, delegated)
	for _, want := range []*oauth.Token{access, refresh, machine, delegated} {
		same(t, want.Kind+" token", s.get(t, want.Hash), want)
	}
}

// SaveTokens stores the tokens of one response in one write: when one
// of them cannot be stored (its hash is taken: store.ErrAlreadyExists),
// none is.
func testTokenSaveDuplicate(t *testing.T, f Fixture) {
	s := seed(t, f)
	fam := name("fam-")
	old := s.saved(t, s.token(oauth.KindAccess, fam, now()))[0]
	fresh := s.token(oauth.KindAccess, fam, now())
	taken := s.token(oauth.KindRefresh, fam, now())
	taken.Hash = old.Hash
	isErr(t, "SaveTokens with a taken hash", s.Model.SaveTokens(s.ctx, fresh, taken), store.ErrAlreadyExists)
	if _, err := s.Model.GetToken(s.ctx, fresh.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the other token of the failed write: GetToken error = %v, want store.ErrNotFound", err)
	}
	same(t, "the token whose hash was taken", s.get(t, old.Hash), old)
}

// GetToken returns a token whatever its state: rotated, revoked,
// expired.
func testTokenAnyState(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	rotated := s.token(oauth.KindRefresh, name("fam-"), at)
	revoked := s.token(oauth.KindAccess, name("fam-"), at)
	expired := s.token(oauth.KindAccess, name("fam-"), at.Add(-2*time.Hour))
	s.saved(t, rotated, revoked, expired)
	ok(t, s.Model.RotateRefreshToken(s.ctx, rotated.Hash, at))
	rotated.RotatedAt = ptr(at)
	ok(t, s.Model.RevokeToken(s.ctx, revoked.Hash, at))
	revoked.RevokedAt = ptr(at)
	for _, want := range []*oauth.Token{rotated, revoked, expired} {
		same(t, "token", s.get(t, want.Hash), want)
	}
}

// RotateRefreshToken marks an unused refresh token used, once: a
// rotated token cannot rotate again, nor can a revoked one
// (store.ErrConflict, nothing changed); an access token is no refresh
// token (store.ErrNotFound, as models.Store has it).
func testTokenRotate(t *testing.T, f Fixture) {
	s := seed(t, f)
	at, fam := now(), name("fam-")
	access, refresh := s.token(oauth.KindAccess, fam, at), s.token(oauth.KindRefresh, fam, at)
	revoked := s.token(oauth.KindRefresh, name("fam-"), at)
	s.saved(t, access, refresh, revoked)

	ok(t, s.Model.RotateRefreshToken(s.ctx, refresh.Hash, at.Add(time.Second)))
	refresh.RotatedAt = ptr(at.Add(time.Second))
	same(t, "rotated token", s.get(t, refresh.Hash), refresh)
	isErr(t, "second rotation", s.Model.RotateRefreshToken(s.ctx, refresh.Hash, at.Add(2*time.Second)), store.ErrConflict)
	same(t, "token rotated twice", s.get(t, refresh.Hash), refresh)

	ok(t, s.Model.RevokeToken(s.ctx, revoked.Hash, at))
	revoked.RevokedAt = ptr(at)
	isErr(t, "rotation of a revoked token", s.Model.RotateRefreshToken(s.ctx, revoked.Hash, at.Add(time.Second)), store.ErrConflict)
	same(t, "revoked token", s.get(t, revoked.Hash), revoked)

	isErr(t, "rotation of an access token", s.Model.RotateRefreshToken(s.ctx, access.Hash, at), store.ErrNotFound)
	same(t, "access token", s.get(t, access.Hash), access)
}

// Of concurrent rotations of one refresh token exactly one wins; the
// others get store.ErrConflict.
func testTokenRotateConcurrent(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	refresh := s.saved(t, s.token(oauth.KindRefresh, name("fam-"), at))[0]
	errs := Concurrently(concurrency, func(i int) error {
		return s.Model.RotateRefreshToken(s.ctx, refresh.Hash, at.Add(time.Duration(i+1)*time.Millisecond))
	})
	w := oneWinner(t, "RotateRefreshToken", errs)
	refresh.RotatedAt = ptr(at.Add(time.Duration(w+1) * time.Millisecond))
	same(t, "rotated token", s.get(t, refresh.Hash), refresh)
	isErr(t, "later rotation", s.Model.RotateRefreshToken(s.ctx, refresh.Hash, at.Add(time.Second)), store.ErrConflict)
}

// RevokeToken revokes one token: GetToken shows it at once (also where
// it was read before); again is no error and keeps the first time; the
// other tokens of its family live on, and no tombstone is left.
func testTokenRevoke(t *testing.T, f Fixture) {
	s := seed(t, f)
	at, fam := now(), name("fam-")
	access, refresh := s.token(oauth.KindAccess, fam, at), s.token(oauth.KindRefresh, fam, at)
	s.saved(t, access, refresh)
	same(t, "access token before revocation", s.get(t, access.Hash), access)

	ok(t, s.Model.RevokeToken(s.ctx, access.Hash, at.Add(time.Second)))
	access.RevokedAt = ptr(at.Add(time.Second))
	same(t, "revoked access token", s.get(t, access.Hash), access)
	ok(t, s.Model.RevokeToken(s.ctx, access.Hash, at.Add(2*time.Second)))
	same(t, "access token revoked twice", s.get(t, access.Hash), access)
	same(t, "refresh token of the family", s.get(t, refresh.Hash), refresh)
	if revoked, err := s.Model.FamilyRevoked(s.ctx, fam); err != nil || revoked {
		t.Errorf("FamilyRevoked after RevokeToken = %v, %v; want false, nil", revoked, err)
	}

	ok(t, s.Model.RevokeToken(s.ctx, refresh.Hash, at.Add(3*time.Second)))
	refresh.RevokedAt = ptr(at.Add(3 * time.Second))
	same(t, "revoked refresh token", s.get(t, refresh.Hash), refresh)
}

// RevokeFamily revokes every token of the family (access and refresh,
// rotated or not), returns how many it revoked (those revoked before keep
// their time and are not counted), leaves the tombstone FamilyRevoked
// reports, and touches no other family. Again is no error and revokes 0.
func testFamilyRevoke(t *testing.T, f Fixture) {
	s := seed(t, f)
	at, fam, other := now(), name("fam-"), name("fam-")
	access, refresh, earlier := s.token(oauth.KindAccess, fam, at), s.token(oauth.KindRefresh, fam, at), s.token(oauth.KindAccess, fam, at)
	bystander := s.token(oauth.KindAccess, other, at)
	s.saved(t, access, refresh, earlier)
	s.saved(t, bystander)
	same(t, "access token before revocation", s.get(t, access.Hash), access)
	ok(t, s.Model.RotateRefreshToken(s.ctx, refresh.Hash, at))
	refresh.RotatedAt = ptr(at)
	ok(t, s.Model.RevokeToken(s.ctx, earlier.Hash, at))
	earlier.RevokedAt = ptr(at)

	when := at.Add(time.Minute)
	n, err := s.Model.RevokeFamily(s.ctx, fam, when)
	ok(t, err)
	if n != 2 {
		t.Errorf("RevokeFamily revoked %d tokens, want 2", n)
	}
	access.RevokedAt, refresh.RevokedAt = &when, &when
	for _, want := range []*oauth.Token{access, refresh, earlier, bystander} {
		same(t, "token", s.get(t, want.Hash), want)
	}
	for fid, want := range map[string]bool{fam: true, other: false} {
		if got, err := s.Model.FamilyRevoked(s.ctx, fid); err != nil || got != want {
			t.Errorf("FamilyRevoked(%s) = %v, %v; want %v, nil", fid, got, err, want)
		}
	}
	if n, err = s.Model.RevokeFamily(s.ctx, fam, when.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("second RevokeFamily = %d, %v; want 0, nil", n, err)
	}
	same(t, "access token revoked twice", s.get(t, access.Hash), access)
}

// RevokeFamily of a family that has no tokens yet (a code replayed
// before its first redemption stored any) still leaves the tombstone.
func testFamilyRevokeEmpty(t *testing.T, f Fixture) {
	s := seed(t, f)
	fam := name("fam-")
	n, err := s.Model.RevokeFamily(s.ctx, fam, now())
	ok(t, err)
	if n != 0 {
		t.Errorf("RevokeFamily of a family without tokens revoked %d", n)
	}
	if revoked, err := s.Model.FamilyRevoked(s.ctx, fam); err != nil || !revoked {
		t.Errorf("FamilyRevoked = %v, %v; want true, nil", revoked, err)
	}
}

// recheck is what issueTokens does after storing tokens of a family that
// may be revoked concurrently: look for the tombstone, and revoke the
// family again when it is there.
func recheck(ctx context.Context, m oauth.Model, family string, at time.Time) error {
	revoked, err := m.FamilyRevoked(ctx, family)
	if err != nil || !revoked {
		return err
	}
	_, err = m.RevokeFamily(ctx, family, at)
	return err
}

// Tokens of a revoked family stored afterwards are stored (the winner of
// a redemption still answers), and the recheck of issueTokens revokes
// them: GetToken then shows them revoked, also where it read them
// before.
func testFamilySavedAfter(t *testing.T, f Fixture) {
	s := seed(t, f)
	at, fam := now(), name("fam-")
	_, err := s.Model.RevokeFamily(s.ctx, fam, at)
	ok(t, err)
	access, refresh := s.token(oauth.KindAccess, fam, at), s.token(oauth.KindRefresh, fam, at)
	s.saved(t, access, refresh)
	same(t, "access token stored after the revocation", s.get(t, access.Hash), access)

	revoked, err := s.Model.FamilyRevoked(s.ctx, fam)
	ok(t, err)
	if !revoked {
		t.Fatal("FamilyRevoked = false after RevokeFamily")
	}
	when := at.Add(time.Second)
	n, err := s.Model.RevokeFamily(s.ctx, fam, when)
	ok(t, err)
	if n != 2 {
		t.Errorf("RevokeFamily of the recheck revoked %d tokens, want 2", n)
	}
	access.RevokedAt, refresh.RevokedAt = &when, &when
	same(t, "access token after the recheck", s.get(t, access.Hash), access)
	same(t, "refresh token after the recheck", s.get(t, refresh.Hash), refresh)
}

// However RevokeFamily and the writers storing tokens of the family
// interleave, once both are done and each writer has rechecked, every
// token of the family is revoked (the tombstone closes the race between
// a replay's revocation and the winner's write).
func testFamilyConcurrentRecheck(t *testing.T, f Fixture) {
	s := seed(t, f)
	const writers, rounds = 4, 5
	for range rounds {
		at, fam := now(), name("fam-")
		var tokens [writers][2]*oauth.Token
		errs := Concurrently(writers+1, func(i int) error {
			if i == writers {
				_, err := s.Model.RevokeFamily(s.ctx, fam, at)
				return err
			}
			tokens[i] = [2]*oauth.Token{s.token(oauth.KindAccess, fam, at), s.token(oauth.KindRefresh, fam, at)}
			if err := s.Model.SaveTokens(s.ctx, tokens[i][:]...); err != nil {
				return err
			}
			return recheck(s.ctx, s.Model, fam, at)
		})
		for i, err := range errs {
			ok(t, err)
			if i < writers {
				for _, tok := range tokens[i] {
					if got := s.get(t, tok.Hash); got.RevokedAt == nil {
						t.Errorf("%s token of writer %d is live after the revocation of its family", tok.Kind, i)
					}
				}
			}
		}
	}
}

// ---- authorization codes ---------------------------------------------

// RedeemAuthorizationCode returns the saved code with every field.
func testCodeRedeem(t *testing.T, f Fixture) {
	s := seed(t, f)
	c := s.code(name("fam-"), now())
	bare := s.code(name("fam-"), now())
	bare.RedirectURI, bare.CodeChallenge, bare.CodeChallengeMethod, bare.Nonce = "", "", "", ""
	for _, want := range []*oauth.AuthorizationCode{c, bare} {
		ok(t, s.Model.SaveAuthorizationCode(s.ctx, want))
		got, err := s.Model.RedeemAuthorizationCode(s.ctx, want.Hash, now())
		ok(t, err)
		same(t, "redeemed code", got, want)
	}
}

// A code hash in use cannot be saved again (store.ErrAlreadyExists), and
// the first code stays as it was.
func testCodeDuplicate(t *testing.T, f Fixture) {
	s := seed(t, f)
	c := s.code(name("fam-"), now())
	ok(t, s.Model.SaveAuthorizationCode(s.ctx, c))
	dup := s.code(name("fam-"), now())
	dup.Hash = c.Hash
	isErr(t, "SaveAuthorizationCode of a taken hash", s.Model.SaveAuthorizationCode(s.ctx, dup), store.ErrAlreadyExists)
	got, err := s.Model.RedeemAuthorizationCode(s.ctx, c.Hash, now())
	ok(t, err)
	same(t, "first code", got, c)
}

// A code redeemed before comes back together with store.ErrConflict (so
// that the caller can revoke its family), every time.
func testCodeRedeemTwice(t *testing.T, f Fixture) {
	s := seed(t, f)
	c := s.code(name("fam-"), now())
	ok(t, s.Model.SaveAuthorizationCode(s.ctx, c))
	_, err := s.Model.RedeemAuthorizationCode(s.ctx, c.Hash, now())
	ok(t, err)
	for range 2 {
		got, err := s.Model.RedeemAuthorizationCode(s.ctx, c.Hash, now())
		isErr(t, "second redemption", err, store.ErrConflict)
		if got == nil {
			t.Fatal("second redemption returned no code")
		}
		same(t, "code of the second redemption", got, c)
	}
}

// Of concurrent redemptions of one code exactly one succeeds; each of the
// others gets the code together with store.ErrConflict.
func testCodeRedeemConcurrent(t *testing.T, f Fixture) {
	s := seed(t, f)
	c := s.code(name("fam-"), now())
	ok(t, s.Model.SaveAuthorizationCode(s.ctx, c))
	got := make([]*oauth.AuthorizationCode, concurrency)
	errs := Concurrently(concurrency, func(i int) (err error) {
		got[i], err = s.Model.RedeemAuthorizationCode(s.ctx, c.Hash, now())
		return err
	})
	oneWinner(t, "RedeemAuthorizationCode", errs)
	for i, g := range got {
		if g == nil {
			t.Errorf("redemption %d (error %v) returned no code", i, errs[i])
			continue
		}
		if g.FamilyID != c.FamilyID || g.ClientID != c.ClientID {
			t.Errorf("redemption %d returned family %q of client %q, want %q of %q", i, g.FamilyID, g.ClientID, c.FamilyID, c.ClientID)
		}
	}
}

// Expiry is the caller's to check (it answers "expired"): an expired
// code is redeemed and returned with its ExpiresAt, and a replay of it
// still comes back with store.ErrConflict, so that the family is revoked
// however late the replay.
func testCodeExpired(t *testing.T, f Fixture) {
	s := seed(t, f)
	c := s.code(name("fam-"), now().Add(-time.Hour))
	ok(t, s.Model.SaveAuthorizationCode(s.ctx, c))
	got, err := s.Model.RedeemAuthorizationCode(s.ctx, c.Hash, now())
	ok(t, err)
	same(t, "expired code", got, c)
	got, err = s.Model.RedeemAuthorizationCode(s.ctx, c.Hash, now())
	isErr(t, "replay of an expired code", err, store.ErrConflict)
	if got == nil || got.FamilyID != c.FamilyID {
		t.Errorf("replay of an expired code returned %v, want the code", got)
	}
}

// ---- consents --------------------------------------------------------

// GetConsent returns what SaveConsent saved for that user and client
// only; SaveConsent replaces the scope (the core merges: it reads the
// consent, merges, and saves the union).
func testConsent(t *testing.T, f Fixture) {
	s := seed(t, f)
	client2 := s.newClient(t)
	user2 := s.newUser(t, name("user"))
	ok(t, s.Model.SaveConsent(s.ctx, s.user.ID, s.client.ID, "openid profile"))
	check := func(uid int64, cid, want string) {
		t.Helper()
		got, err := s.Model.GetConsent(s.ctx, uid, cid)
		ok(t, err)
		if got != want {
			t.Errorf("GetConsent(#%d, %s) = %q, want %q", uid, cid, got, want)
		}
	}
	check(s.user.ID, s.client.ID, "openid profile")
	check(user2.ID, s.client.ID, "")
	check(s.user.ID, client2.ID, "")

	prev, err := s.Model.GetConsent(s.ctx, s.user.ID, s.client.ID)
	ok(t, err)
	merged, _ := oauth.ParseScope(prev + " email")
	ok(t, s.Model.SaveConsent(s.ctx, s.user.ID, s.client.ID, oauth.JoinScope(merged)))
	check(s.user.ID, s.client.ID, "email openid profile")

	ok(t, s.Model.SaveConsent(s.ctx, s.user.ID, s.client.ID, "openid"))
	check(s.user.ID, s.client.ID, "openid")
	ok(t, s.Model.SaveConsent(s.ctx, user2.ID, client2.ID, "profile"))
	check(user2.ID, client2.ID, "profile")
	check(s.user.ID, s.client.ID, "openid")
}

// ---- device authorizations -------------------------------------------

// SaveDeviceCode stores a pending authorization and sets its ID; it is
// found by device code hash and by user code digest, with every field.
func testDeviceSaveGet(t *testing.T, f Fixture) {
	s := seed(t, f)
	exp := now().Add(10 * time.Minute)
	d1, d2 := s.device(t, exp), s.device(t, exp)
	if d1.ID == d2.ID {
		t.Errorf("two device codes got ID %d", d1.ID)
	}
	for _, want := range []*oauth.DeviceCode{d1, d2} {
		same(t, "GetDeviceCode", s.getDevice(t, want.Hash), want)
		got, err := s.Model.GetDeviceCodeByUserCode(s.ctx, want.UserCodeDigest)
		ok(t, err)
		same(t, "GetDeviceCodeByUserCode", got, want)
	}
}

// A user code or device code in use gives store.ErrAlreadyExists.
func testDeviceDuplicate(t *testing.T, f Fixture) {
	s := seed(t, f)
	exp := now().Add(10 * time.Minute)
	d := s.device(t, exp)
	sameUser := &oauth.DeviceCode{Hash: hash(), UserCodeDigest: d.UserCodeDigest, ClientID: s.client.ID, Status: oauth.DevicePending,
		Interval: 5 * time.Second, ExpiresAt: exp}
	isErr(t, "SaveDeviceCode with a user code in use", s.Model.SaveDeviceCode(s.ctx, sameUser), store.ErrAlreadyExists)
	sameDevice := &oauth.DeviceCode{Hash: d.Hash, UserCodeDigest: oauth.UserCodeDigest(oauth.NewUserCode()), ClientID: s.client.ID,
		Status: oauth.DevicePending, Interval: 5 * time.Second, ExpiresAt: exp}
	isErr(t, "SaveDeviceCode with a device code in use", s.Model.SaveDeviceCode(s.ctx, sameDevice), store.ErrAlreadyExists)
	if _, err := s.Model.GetDeviceCodeByUserCode(s.ctx, sameDevice.UserCodeDigest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused authorization: GetDeviceCodeByUserCode error = %v, want store.ErrNotFound", err)
	}
	same(t, "first authorization", s.getDevice(t, d.Hash), d)
}

// DecideDeviceCode records the answer on a pending, unexpired
// authorization; on one decided before or expired at now (now at
// ExpiresAt included) it changes nothing and returns store.ErrConflict.
// A status other than approved or denied is refused.
func testDeviceDecide(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	approved, denied := s.device(t, at.Add(10*time.Minute)), s.device(t, at.Add(10*time.Minute))
	expired, atExpiry := s.device(t, at.Add(-time.Second)), s.device(t, at)
	auth := at.Add(-30 * time.Second)

	ok(t, s.Model.DecideDeviceCode(s.ctx, approved.ID, oauth.DeviceApproved, s.user.ID, auth, "openid", at))
	approved.Status, approved.UserID, approved.AuthTime, approved.Scope = oauth.DeviceApproved, ptr(s.user.ID), &auth, "openid"
	same(t, "approved", s.getDevice(t, approved.Hash), approved)
	for _, status := range []string{oauth.DeviceDenied, oauth.DeviceApproved} {
		isErr(t, "second decision", s.Model.DecideDeviceCode(s.ctx, approved.ID, status, s.user.ID, at, "profile", at), store.ErrConflict)
	}
	same(t, "approved, decided twice", s.getDevice(t, approved.Hash), approved)

	ok(t, s.Model.DecideDeviceCode(s.ctx, denied.ID, oauth.DeviceDenied, s.user.ID, at, "openid profile", at))
	denied.Status, denied.UserID, denied.AuthTime = oauth.DeviceDenied, ptr(s.user.ID), &at
	same(t, "denied", s.getDevice(t, denied.Hash), denied)

	for what, d := range map[string]*oauth.DeviceCode{"expired": expired, "at its expiry": atExpiry} {
		isErr(t, "decision on an authorization "+what,
			s.Model.DecideDeviceCode(s.ctx, d.ID, oauth.DeviceApproved, s.user.ID, at, "openid", at), store.ErrConflict)
		same(t, what, s.getDevice(t, d.Hash), d)
	}

	pending := s.device(t, at.Add(10*time.Minute))
	for _, status := range []string{oauth.DevicePending, oauth.DeviceRedeemed, "maybe"} {
		if err := s.Model.DecideDeviceCode(s.ctx, pending.ID, status, s.user.ID, at, "openid", at); err == nil {
			t.Errorf("DecideDeviceCode with status %q succeeded", status)
		}
	}
	same(t, "pending after refused decisions", s.getDevice(t, pending.Hash), pending)
}

// Of concurrent decisions on one authorization exactly one takes effect.
func testDeviceDecideConcurrent(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	d := s.device(t, at.Add(10*time.Minute))
	users := make([]*oauth.User, concurrency)
	for i := range users {
		users[i] = s.newUser(t, name("user"))
	}
	status := func(i int) string { return []string{oauth.DeviceApproved, oauth.DeviceDenied}[i%2] }
	errs := Concurrently(concurrency, func(i int) error {
		return s.Model.DecideDeviceCode(s.ctx, d.ID, status(i), users[i].ID, at, fmt.Sprintf("scope%d", i), at)
	})
	w := oneWinner(t, "DecideDeviceCode", errs)
	d.Status, d.UserID, d.AuthTime, d.Scope = status(w), ptr(users[w].ID), &at, fmt.Sprintf("scope%d", w)
	same(t, "decided", s.getDevice(t, d.Hash), d)
}

// RecordDevicePoll stores the poll time and the interval only while the
// authorization is as the caller read it (pending, same last poll, same
// interval); otherwise it changes nothing and returns store.ErrConflict.
func testDevicePoll(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	d := s.device(t, at.Add(10*time.Minute))

	read := s.getDevice(t, d.Hash)
	ok(t, s.Model.RecordDevicePoll(s.ctx, read, at, 5*time.Second))
	d.LastPolledAt = ptr(at)
	same(t, "after the first poll", s.getDevice(t, d.Hash), d)

	isErr(t, "poll recorded from a stale read", s.Model.RecordDevicePoll(s.ctx, read, at.Add(time.Second), 10*time.Second), store.ErrConflict)
	same(t, "after a stale poll", s.getDevice(t, d.Hash), d)

	read = s.getDevice(t, d.Hash)
	ok(t, s.Model.RecordDevicePoll(s.ctx, read, at.Add(2*time.Second), 10*time.Second))
	d.LastPolledAt, d.Interval = ptr(at.Add(2*time.Second)), 10*time.Second
	same(t, "after a slow_down poll", s.getDevice(t, d.Hash), d)

	read = s.getDevice(t, d.Hash)
	wrong := *read
	wrong.Interval = 15 * time.Second
	isErr(t, "poll recorded with another interval", s.Model.RecordDevicePoll(s.ctx, &wrong, at.Add(3*time.Second), 15*time.Second), store.ErrConflict)
	same(t, "after a poll with another interval", s.getDevice(t, d.Hash), d)

	ok(t, s.Model.DecideDeviceCode(s.ctx, d.ID, oauth.DeviceApproved, s.user.ID, at, "openid", at))
	isErr(t, "poll recorded after the decision", s.Model.RecordDevicePoll(s.ctx, read, at.Add(4*time.Second), 10*time.Second), store.ErrConflict)
	isErr(t, "poll recorded on an approved authorization",
		s.Model.RecordDevicePoll(s.ctx, s.getDevice(t, d.Hash), at.Add(4*time.Second), 10*time.Second), store.ErrConflict)
	if got := s.getDevice(t, d.Hash); !got.LastPolledAt.Equal(at.Add(2*time.Second)) || got.Status != oauth.DeviceApproved {
		t.Errorf("after polls of an approved authorization: last poll %v, status %q", got.LastPolledAt, got.Status)
	}
}

// Of concurrent polls recorded from one read exactly one is stored.
func testDevicePollConcurrent(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	d := s.device(t, at.Add(10*time.Minute))
	read := s.getDevice(t, d.Hash)
	errs := Concurrently(concurrency, func(i int) error {
		cp := *read
		return s.Model.RecordDevicePoll(s.ctx, &cp, at.Add(time.Duration(i+1)*time.Millisecond), time.Duration(5+i)*time.Second)
	})
	w := oneWinner(t, "RecordDevicePoll", errs)
	d.LastPolledAt, d.Interval = ptr(at.Add(time.Duration(w+1)*time.Millisecond)), time.Duration(5+w)*time.Second
	same(t, "polled", s.getDevice(t, d.Hash), d)
}

// RedeemDeviceCode marks an approved, unexpired authorization redeemed
// and returns it with the decision; pending, denied, redeemed or expired
// ones give store.ErrConflict and change nothing.
func testDeviceRedeem(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	auth := at.Add(-time.Minute)
	approve := func(d *oauth.DeviceCode) {
		t.Helper()
		ok(t, s.Model.DecideDeviceCode(s.ctx, d.ID, oauth.DeviceApproved, s.user.ID, auth, "openid email", at))
		d.Status, d.UserID, d.AuthTime, d.Scope = oauth.DeviceApproved, ptr(s.user.ID), &auth, "openid email"
	}
	d := s.device(t, at.Add(10*time.Minute))
	_, err := s.Model.RedeemDeviceCode(s.ctx, d.Hash, at)
	isErr(t, "redemption of a pending authorization", err, store.ErrConflict)
	same(t, "pending", s.getDevice(t, d.Hash), d)

	approve(d)
	got, err := s.Model.RedeemDeviceCode(s.ctx, d.Hash, at)
	ok(t, err)
	d.Status = oauth.DeviceRedeemed
	same(t, "redeemed", got, d)
	same(t, "redeemed, read again", s.getDevice(t, d.Hash), d)
	_, err = s.Model.RedeemDeviceCode(s.ctx, d.Hash, at)
	isErr(t, "second redemption", err, store.ErrConflict)

	denied := s.device(t, at.Add(10*time.Minute))
	ok(t, s.Model.DecideDeviceCode(s.ctx, denied.ID, oauth.DeviceDenied, s.user.ID, at, "openid", at))
	_, err = s.Model.RedeemDeviceCode(s.ctx, denied.Hash, at)
	isErr(t, "redemption of a denied authorization", err, store.ErrConflict)
	if got := s.getDevice(t, denied.Hash); got.Status != oauth.DeviceDenied {
		t.Errorf("denied authorization after redemption: status %q", got.Status)
	}

	late := s.device(t, at.Add(time.Minute))
	approve(late)
	for _, when := range []time.Time{late.ExpiresAt, late.ExpiresAt.Add(time.Second)} {
		_, err = s.Model.RedeemDeviceCode(s.ctx, late.Hash, when)
		isErr(t, "redemption of an expired authorization", err, store.ErrConflict)
	}
	same(t, "approved, expired", s.getDevice(t, late.Hash), late)
}

// Of concurrent redemptions of one approved authorization exactly one
// succeeds.
func testDeviceRedeemConcurrent(t *testing.T, f Fixture) {
	s := seed(t, f)
	at := now()
	d := s.device(t, at.Add(10*time.Minute))
	ok(t, s.Model.DecideDeviceCode(s.ctx, d.ID, oauth.DeviceApproved, s.user.ID, at, "openid", at))
	errs := Concurrently(concurrency, func(int) error {
		_, err := s.Model.RedeemDeviceCode(s.ctx, d.Hash, at)
		return err
	})
	oneWinner(t, "RedeemDeviceCode", errs)
	if got := s.getDevice(t, d.Hash); got.Status != oauth.DeviceRedeemed {
		t.Errorf("status = %q, want redeemed", got.Status)
	}
}
