package clients

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

func metadata(t *testing.T, body string) *oauth.ClientMetadata {
	t.Helper()
	md, err := oauth.ParseClientMetadata([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// Register: a dynamic client with hashed credentials and no owner; its
// stored metadata reads back as registered.
func TestRegister(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	r, err := Register(ctx, st, metadata(t, `{"redirect_uris": ["https://app.example.com/cb"], "client_name": "Agent",
		"token_endpoint_auth_method": "client_secret_post", "grant_types": ["authorization_code", "refresh_token"], "scope": "openid user.read",
		"contacts": ["ops@app.example.com"], "tos_uri": "https://app.example.com/tos", "software_id": "agent", "software_version": "1.2"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := st.clients[r.Client.ClientID]
	if c == nil || c.Registration != models.ClientRegisteredDynamic || c.OwnerID != nil || c.Public || c.Name != "Agent" {
		t.Fatalf("stored %+v", c)
	}
	if !strings.HasPrefix(r.Secret, "gcs_") || !secret.Equal(c.SecretHash, secret.Digest(r.Secret)) {
		t.Error("client secret not stored as its digest")
	}
	if !strings.HasPrefix(r.Token, oauth.RegistrationAccessTokenPrefix) || !RegistrationTokenOK(c, r.Token) || RegistrationTokenOK(c, r.Secret) {
		t.Error("registration access token")
	}
	md := RegisteredMetadata(c)
	if md.TokenEndpointAuthMethod != oauth.AuthSecretPost || !slices.Equal(md.Contacts, []string{"ops@app.example.com"}) || md.TOSURI == "" ||
		md.SoftwareVersion != "1.2" || !slices.Equal(md.ResponseTypes, []string{"code"}) || !slices.Equal(md.Scope, []string{"openid", "user.read"}) {
		t.Errorf("metadata read back: %+v", md)
	}
	// Through JSON (as the database has it), contacts come back as []any.
	c.ClientMetadata = models.JSONObject{"contacts": []any{"a@b.example"}, "token_endpoint_auth_method": "client_secret_basic"}
	if md := RegisteredMetadata(c); !slices.Equal(md.Contacts, []string{"a@b.example"}) || md.TokenEndpointAuthMethod != oauth.AuthSecretBasic {
		t.Errorf("from JSON: %+v", md)
	}

	// Public, unnamed: named after its redirect host, no secret.
	r, err = Register(ctx, st, metadata(t, `{"redirect_uris": ["http://127.0.0.1:3000/cb"], "token_endpoint_auth_method": "none"}`))
	if err != nil || r.Secret != "" || !r.Client.Public || r.Client.SecretHash != nil || r.Client.Name != "127.0.0.1" {
		t.Fatalf("public: %v %+v", err, r)
	}
	if RegisteredMetadata(r.Client).TokenEndpointAuthMethod != oauth.AuthNone {
		t.Error("public auth method")
	}
}

// Refused registrations store nothing and answer RFC 7591 errors.
func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	st := &trustStore{clients: map[string]*models.Client{}}
	for _, c := range []struct{ name, body, code, mention string }{
		{"unknown scope", `{"redirect_uris": ["https://a.example/cb"], "scope": "openid nope"}`, "invalid_client_metadata", `scope: "nope"`},
		{"machine scope", `{"redirect_uris": ["https://a.example/cb"], "scope": "files.write"}`, "invalid_client_metadata", "machine scope"},
		{"svg logo", `{"redirect_uris": ["https://a.example/cb"], "logo_uri": "https://a.example/l.svg"}`, "invalid_client_metadata", "logo_uri: SVG"},
		{"long name", `{"redirect_uris": ["https://a.example/cb"], "client_name": "` + strings.Repeat("x", 150) + `"}`, "invalid_client_metadata", "client_name"},
		{"too many redirects", `{"redirect_uris": [` + strings.TrimSuffix(strings.Repeat(`"https://a.example/cb",`, 1), ",") + manyRedirects(51) + `]}`, "invalid_redirect_uri", "at most 50"},
		{"front-channel origin", `{"redirect_uris": ["https://a.example/cb"], "frontchannel_logout_uri": "https://b.example/fc"}`, "invalid_client_metadata", "frontchannel_logout_uri"},
		{"session required without uri", `{"redirect_uris": ["https://a.example/cb"], "backchannel_logout_session_required": true}`, "invalid_client_metadata", "backchannel_logout_uri"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Register(context.Background(), st, metadata(t, c.body))
			var e *oauth.Error
			if !errors.As(err, &e) || e.Code != c.code || !strings.Contains(e.Description, c.mention) {
				t.Fatalf("got %v, want %s mentioning %q", err, c.code, c.mention)
			}
		})
	}
	if len(st.clients) != 0 {
		t.Fatalf("refusals stored %d clients", len(st.clients))
	}
}

func manyRedirects(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(`,"https://a.example/cb` + strings.Repeat("x", i+1) + `"`)
	}
	return b.String()
}

// UpdateRegistered replaces the metadata (RFC 7592 §2.2): client_id must
// match, a client_secret must be the client's; going confidential issues
// a secret, going public drops it. Admin-made clients are not touched.
func TestUpdateRegistered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	st := &trustStore{clients: map[string]*models.Client{}}
	r, err := Register(ctx, st, metadata(t, `{"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none", "client_name": "A"}`))
	if err != nil {
		t.Fatal(err)
	}
	id := r.Client.ClientID
	upd := func(body string) (*models.Client, string, error) {
		return UpdateRegistered(ctx, st, id, metadata(t, body), now)
	}
	if _, _, err := upd(`{"client_id": "other", "redirect_uris": ["http://127.0.0.1/cb"]}`); !errors.Is(err, oauth.ErrInvalidClientMetadata) {
		t.Fatalf("other client_id: %v", err)
	}
	if _, _, err := upd(`{"redirect_uris": ["http://127.0.0.1/cb"]}`); !errors.Is(err, oauth.ErrInvalidClientMetadata) {
		t.Fatalf("no client_id: %v", err)
	}
	bad := metadata(t, `{"client_id": "`+id+`", "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}`)
	bad.RedirectURIs = []string{"http://evil.example/cb"} // past the core's check: the service checks again
	if _, _, err := UpdateRegistered(ctx, st, id, bad, now); !errors.Is(err, oauth.ErrInvalidRedirectURI) || st.clients[id].Name != "A" {
		t.Fatalf("bad redirect: %v", err)
	}
	c, plain, err := upd(`{"client_id": "` + id + `", "redirect_uris": ["https://b.example/cb"], "client_name": "B", "grant_types": ["authorization_code"]}`)
	if err != nil || plain == "" || c.Public || !secret.Equal(c.SecretHash, secret.Digest(plain)) || c.Name != "B" || c.RedirectURIs[0] != "https://b.example/cb" {
		t.Fatalf("to confidential: %v %q %+v", err, plain, c)
	}
	if !RegistrationTokenOK(st.clients[id], r.Token) {
		t.Error("the registration access token changed")
	}
	// Sending the secret back is fine; another one is refused.
	if _, again, err := upd(`{"client_id": "` + id + `", "client_secret": "` + plain + `", "redirect_uris": ["https://b.example/cb"]}`); err != nil || again != "" {
		t.Fatalf("own secret: %v %q", err, again)
	}
	if _, _, err := upd(`{"client_id": "` + id + `", "client_secret": "gcs_mine", "redirect_uris": ["https://b.example/cb"]}`); !errors.Is(err, oauth.ErrInvalidClientMetadata) {
		t.Fatalf("chosen secret: %v", err)
	}
	c, _, err = upd(`{"client_id": "` + id + `", "token_endpoint_auth_method": "none", "redirect_uris": ["https://b.example/cb"]}`)
	if err != nil || !c.Public || c.SecretHash != nil {
		t.Fatalf("to public: %v %+v", err, c)
	}

	// Promoted: no longer self-managed, the token stops working, the
	// dashboard may edit it.
	if err := Promote(ctx, st, id); err != nil {
		t.Fatal(err)
	}
	if RegistrationTokenOK(st.clients[id], r.Token) || st.clients[id].Registration != "" {
		t.Error("promoted client still self-registered")
	}
	if _, _, err := upd(`{"client_id": "` + id + `", "redirect_uris": ["https://b.example/cb"]}`); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("update after promotion: %v", err)
	}
	if err := Promote(ctx, st, id); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("promote twice: %v", err)
	}
}

// A self-registered client cannot be edited as admin-made ones are.
func TestEditRefusesSelfRegistered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	r, err := Register(ctx, st, metadata(t, `{"redirect_uris": ["https://a.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Edit(ctx, st, admin, r.Client.ClientID, func(in *Input) { in.GrantTypes = []string{"client_credentials"} })
	if !errors.Is(err, ErrSelfRegistered) {
		t.Fatalf("edit: %v", err)
	}
}

type ottStore struct{ tokens []*models.OneTimeToken }

func (s *ottStore) CreateOneTimeToken(_ context.Context, t *models.OneTimeToken) error {
	s.tokens = append(s.tokens, t)
	return nil
}

// Initial access tokens: hashed, 24 h by default, at most 30 days.
func TestNewInitialAccessToken(t *testing.T) {
	t.Parallel()
	st := &ottStore{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	plain, exp, err := NewInitialAccessToken(context.Background(), st, 0, now)
	if err != nil || !strings.HasPrefix(plain, oauth.InitialAccessTokenPrefix) || !exp.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("%q %v %v", plain, exp, err)
	}
	if tok := st.tokens[0]; !secret.Equal(tok.TokenHash, secret.Digest(plain)) || tok.Purpose != InitialTokenPurpose || !tok.ExpiresAt.Equal(exp) {
		t.Fatalf("stored %+v", tok)
	}
	for _, ttl := range []time.Duration{-time.Hour, 31 * 24 * time.Hour} {
		if _, _, err := NewInitialAccessToken(context.Background(), st, ttl, now); !errors.Is(err, ErrInitialTokenTTL) {
			t.Errorf("ttl %v: %v", ttl, err)
		}
	}
	if _, _, err := NewInitialAccessToken(context.Background(), st, 30*24*time.Hour, now); err != nil || len(st.tokens) != 2 {
		t.Errorf("30 days: %v", err)
	}
}

// A private_key_jwt registration goes through the dashboard's rules (its
// method and keys are Input fields): no secret, its keys stored and read
// back; a set the form would refuse (more than MaxJWKSKeys keys) is
// refused naming jwks; switching to a secret method issues a secret and
// drops the keys, switching back drops the secret.
func TestRegisterPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	testKeys(t)
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	keys := set(jwk(t, ecKey.Public(), "k1", "ES256", "sig"))
	r, err := Register(ctx, st, metadata(t, `{"redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": `+keys+`}`))
	if err != nil {
		t.Fatal(err)
	}
	c := st.clients[r.Client.ClientID]
	if r.Secret != "" || c.SecretHash != nil || c.TokenEndpointAuthMethod != AuthPrivateKeyJWT || c.JWKS == "" || c.JWKSURI != "" {
		t.Fatalf("stored %+v (secret %q)", c, r.Secret)
	}
	if md := RegisteredMetadata(c); md.TokenEndpointAuthMethod != AuthPrivateKeyJWT || md.JWKS != c.JWKS {
		t.Errorf("read back %+v", md)
	}
	many := make([]string, MaxJWKSKeys+1)
	for i := range many {
		many[i] = jwk(t, ecKey.Public(), "k"+strings.Repeat("x", i), "", "")
	}
	_, err = Register(ctx, st, metadata(t, `{"redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": `+set(many...)+`}`))
	var oe *oauth.Error
	if !errors.As(err, &oe) || !errors.Is(err, oauth.ErrInvalidClientMetadata) || !strings.Contains(oe.Description, "jwks: The JWK Set has 11 keys") {
		t.Fatalf("11 keys: %v", err)
	}

	id := r.Client.ClientID
	now := time.Now()
	x, plain, err := UpdateRegistered(ctx, st, id, metadata(t, `{"client_id": "`+id+`", "redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "client_secret_basic"}`), now)
	if err != nil || plain == "" || !secret.Equal(x.SecretHash, secret.Digest(plain)) || x.JWKS != "" || x.TokenEndpointAuthMethod != AuthSecretBasic {
		t.Fatalf("to client_secret_basic: %v %q %+v", err, plain, x)
	}
	x, plain, err = UpdateRegistered(ctx, st, id, metadata(t, `{"client_id": "`+id+`", "redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks"}`), now)
	if err != nil || plain != "" || x.SecretHash != nil || x.SecretRotatedAt != nil || x.JWKSURI != "https://app.example.com/jwks" || x.JWKS != "" {
		t.Fatalf("back to private_key_jwt: %v %q %+v", err, plain, x)
	}
}
