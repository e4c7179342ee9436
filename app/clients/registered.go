package clients

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// Clients that registered themselves (RFC 7591 dynamic registration) and
// manage their registration with their registration access token (RFC
// 7592). Their metadata goes through the same Validate as the dashboard's
// form, plus the rules of self-registered clients (checkRegistered); they
// have no owner, are marked unverified on the consent screen, and the
// dashboard only promotes (Promote) or deletes them: their metadata is
// their own until an admin vouches for them.

// ErrNotRegistered is returned for a client that did not register itself
// (or no longer does: promoted), where one that did is needed.
var ErrNotRegistered = errors.New("the client is not a dynamically registered client")

// ErrSelfRegistered is Edit's answer for a client that registered itself:
// its metadata is changed by the client (RFC 7592) until an admin
// promotes it.
var ErrSelfRegistered = errors.New("this client registered itself and manages its own metadata: promote it before editing it")

// selfRegistered is the actor of a client registering itself: it gives
// no trust.
var selfRegistered = Actor{}

// Registered is a client as it registered itself, with the credentials
// issued now, to be sent once.
type Registered struct {
	Client *models.Client
	// Secret is the client secret ("" for public clients).
	Secret string
	// Token is the registration access token.
	Token string
}

// Keys of models.Client.ClientMetadata: the registered metadata Gatehouse
// keeps only to return it.
const (
	metaAuthMethod      = "token_endpoint_auth_method"
	metaContacts        = "contacts"
	metaTOSURI          = "tos_uri"
	metaPolicyURI       = "policy_uri"
	metaSoftwareID      = "software_id"
	metaSoftwareVersion = "software_version"
)

// inputFromMetadata is the client input that registered metadata
// describes, its authentication method and keys included (so that they go
// through Validate and New as the dashboard's do). A client that gives no
// name is named after its first redirect URI's host (what users would see
// anyway).
func inputFromMetadata(md *oauth.ClientMetadata) Input {
	in := Input{
		Name: md.ClientName, Icon: md.LogoURI, Homepage: md.ClientURI,
		RedirectURIs: slices.Clone(md.RedirectURIs), GrantTypes: slices.Clone(md.GrantTypes), Scopes: slices.Clone(md.Scope),
		Public:                            md.Public(),
		PostLogoutRedirectURIs:            slices.Clone(md.PostLogoutRedirectURIs),
		BackchannelLogoutURI:              md.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  md.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             md.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: md.FrontchannelLogoutSessionRequired,
		TokenEndpointAuthMethod:           md.TokenEndpointAuthMethod,
		JWKS:                              md.JWKS, JWKSURI: md.JWKSURI,
	}
	if strings.TrimSpace(in.Name) == "" {
		in.Name = "Unnamed application"
		if len(md.RedirectURIs) > 0 {
			if u, err := url.Parse(md.RedirectURIs[0]); err == nil && u.Hostname() != "" {
				in.Name = u.Hostname()
			}
		}
	}
	return in
}

// extraMetadata is what of md Gatehouse keeps only to return it.
func extraMetadata(md *oauth.ClientMetadata) models.JSONObject {
	o := models.JSONObject{}
	if !md.Public() {
		o[metaAuthMethod] = md.TokenEndpointAuthMethod
	}
	if len(md.Contacts) > 0 {
		o[metaContacts] = slices.Clone(md.Contacts)
	}
	for k, v := range map[string]string{metaTOSURI: md.TOSURI, metaPolicyURI: md.PolicyURI, metaSoftwareID: md.SoftwareID, metaSoftwareVersion: md.SoftwareVersion} {
		if v != "" {
			o[k] = v
		}
	}
	return o
}

// RegisteredMetadata is the metadata of a stored client, as the client
// information response returns it (RFC 7592 §3).
func RegisteredMetadata(c *models.Client) *oauth.ClientMetadata {
	str := func(k string) string {
		s, _ := c.ClientMetadata[k].(string)
		return s
	}
	md := &oauth.ClientMetadata{
		RedirectURIs: slices.Clone(c.RedirectURIs), GrantTypes: slices.Clone(oauth.EffectiveGrantTypes(c.GrantTypes)),
		ClientName: c.Name, ClientURI: c.Homepage, LogoURI: c.Icon, Scope: slices.Clone(c.Scopes),
		TOSURI: str(metaTOSURI), PolicyURI: str(metaPolicyURI), SoftwareID: str(metaSoftwareID), SoftwareVersion: str(metaSoftwareVersion),
		PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs), BackchannelLogoutURI: c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired, FrontchannelLogoutURI: c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
	}
	switch m := str(metaAuthMethod); {
	case c.Public:
		md.TokenEndpointAuthMethod = oauth.AuthNone
	case c.TokenEndpointAuthMethod == oauth.AuthPrivateKeyJWT:
		md.TokenEndpointAuthMethod, md.JWKS, md.JWKSURI = c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI
	case m == oauth.AuthSecretPost:
		md.TokenEndpointAuthMethod = m
	default:
		md.TokenEndpointAuthMethod = oauth.AuthSecretBasic
	}
	if slices.Contains(md.GrantTypes, oauth.GrantAuthorizationCode) {
		md.ResponseTypes = []string{oauth.ResponseTypeCode}
	}
	switch l := c.ClientMetadata[metaContacts].(type) {
	case []string:
		md.Contacts = slices.Clone(l)
	case []any:
		for _, x := range l {
			if s, ok := x.(string); ok {
				md.Contacts = append(md.Contacts, s)
			}
		}
	}
	return md
}

// rfcField names the metadata field (RFC 7591 §2) behind each input field.
var rfcField = map[string]string{
	FieldName: "client_name", FieldIcon: "logo_uri", FieldHomepage: "client_uri", FieldRedirectURIs: "redirect_uris",
	FieldGrantTypes: "grant_types", FieldScopes: "scope", FieldPublic: "token_endpoint_auth_method",
}

// checkRegistered validates the input of a client registering itself:
// the rules of every client (Validate, CheckTrust, which gives it no
// trust), only the grant types of oauth.DynamicGrantTypes, and no machine
// scope. Problems come back as RFC 7591 §3.2.2 errors:
// invalid_redirect_uri for the redirect URIs, invalid_client_metadata
// naming the fields otherwise.
func checkRegistered(in *Input, scopes []models.Scope) error {
	in.Normalize()
	errs := check(selfRegistered, nil, *in, scopes)
	if errs == nil {
		errs = Errors{}
	}
	for _, g := range in.GrantTypes {
		if !slices.Contains(oauth.DynamicGrantTypes, g) && errs[FieldGrantTypes] == "" {
			errs[FieldGrantTypes] = fmt.Sprintf("%q cannot be registered by a client itself.", g)
		}
	}
	machine := MachineScopes(scopes)
	for _, s := range in.Scopes {
		if machine[s] && errs[FieldScopes] == "" {
			errs[FieldScopes] = fmt.Sprintf("%q is a machine scope, which clients cannot register for themselves.", s)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if msg := errs[FieldRedirectURIs]; msg != "" {
		return oauth.ErrInvalidRedirectURI.WithDescription("redirect_uris: %s", msg)
	}
	fields := make([]string, 0, len(errs))
	for f := range errs {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	parts := make([]string, len(fields))
	for i, f := range fields {
		name := rfcField[f]
		if name == "" {
			name = f // the logout fields have their RFC names
		}
		parts[i] = name + ": " + errs[f]
	}
	return oauth.ErrInvalidClientMetadata.WithDescription("%s", strings.Join(parts, " "))
}

// Register creates a client from the metadata it registered itself with
// (oauth.ParseClientMetadata), checked as checkRegistered says: a new
// client ID, a secret unless it is public, and a registration access
// token, returned in plain text to be sent once (only their digests are
// stored). Refused metadata is an *oauth.Error, and nothing is stored.
func Register(ctx context.Context, st Store, md *oauth.ClientMetadata) (*Registered, error) {
	scopes, err := st.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	in := inputFromMetadata(md)
	if err := checkRegistered(&in, scopes); err != nil {
		return nil, err
	}
	c, plain := New(in, nil)
	token, hash := oauth.NewRegistrationAccessToken()
	c.Registration, c.RegistrationTokenHash, c.ClientMetadata = models.ClientRegisteredDynamic, hash, extraMetadata(md)
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	return &Registered{Client: c, Secret: plain, Token: token}, nil
}

// RegistrationTokenOK reports whether token is the registration access
// token of c, a client that registered itself (compared in constant
// time).
func RegistrationTokenOK(c *models.Client, token string) bool {
	ok := oauth.RegistrationTokenMatches(c.RegistrationTokenHash, token)
	return ok && c.Registration == models.ClientRegisteredDynamic
}

// UpdateRegistered replaces the metadata of the self-registered client
// clientID with md (RFC 7592 §2.2): md's client_id must be the client's,
// and a client_secret in it must be the client's secret (the secret is
// never chosen by the client). Checked as Register checks. Becoming
// confidential issues a secret, returned in plain text to be sent once;
// becoming public drops the secret. The registration access token stays
// the same. It returns the client as saved. Refused metadata is an
// *oauth.Error, and nothing is saved; a client that is not
// self-registered is ErrNotRegistered, an unknown one store.ErrNotFound.
func UpdateRegistered(ctx context.Context, st UpdateStore, clientID string, md *oauth.ClientMetadata, now time.Time) (*models.Client, string, error) {
	scopes, err := st.ListScopes(ctx)
	if err != nil {
		return nil, "", err
	}
	var saved models.Client
	plain := ""
	err = st.UpdateClient(ctx, clientID, func(x *models.Client) error {
		if x.Registration != models.ClientRegisteredDynamic {
			return ErrNotRegistered
		}
		if md.ClientID != x.ClientID {
			return oauth.ErrInvalidClientMetadata.WithDescription("client_id must be the client's own client ID (RFC 7592 §2.2)")
		}
		if md.ClientSecret != "" && (x.Public || !secret.Equal(secret.Digest(md.ClientSecret), x.SecretHash)) {
			return oauth.ErrInvalidClientMetadata.WithDescription("client_secret does not match the client's secret: leave it out, a client cannot choose its secret (RFC 7592 §2.2)")
		}
		in := inputFromMetadata(md)
		if err := checkRegistered(&in, scopes); err != nil {
			return err
		}
		in.Apply(x)
		x.ClientMetadata = extraMetadata(md)
		_, plain = fitSecret(x, "", now) // no client_secret_jwt here: nothing to seal
		saved = *x
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return &saved, plain, nil
}

// Promote makes a self-registered client an ordinary one, as if an admin
// had made it: no longer marked unverified, editable in the dashboard,
// and its registration access token stops working (the client can no
// longer read, change or delete its registration). A client that is not
// self-registered is ErrNotRegistered.
func Promote(ctx context.Context, st UpdateStore, clientID string) error {
	return st.UpdateClient(ctx, clientID, func(x *models.Client) error {
		if x.Registration != models.ClientRegisteredDynamic {
			return ErrNotRegistered
		}
		x.Registration, x.RegistrationTokenHash = models.ClientRegisteredByAdmin, nil
		return nil
	})
}

// Initial access tokens (RFC 7591 §3) let a client register itself while
// the dynamic_registration setting is token: single-use, stored hashed
// as one-time tokens of this purpose.
const (
	InitialTokenPurpose    = "registration"
	DefaultInitialTokenTTL = 24 * time.Hour
	MaxInitialTokenTTL     = 30 * 24 * time.Hour
)

// OneTimeTokenStore stores one-time tokens.
type OneTimeTokenStore interface {
	CreateOneTimeToken(ctx context.Context, t *models.OneTimeToken) error
}

// ErrInitialTokenTTL is NewInitialAccessToken's answer for a lifetime out
// of bounds.
var ErrInitialTokenTTL = errors.New("an initial access token lasts more than 0 and at most 30 days (720h)")

// NewInitialAccessToken stores a new initial access token valid for ttl
// (0: DefaultInitialTokenTTL) from now, and returns it in plain text, to
// be shown once, with its expiry.
func NewInitialAccessToken(ctx context.Context, st OneTimeTokenStore, ttl time.Duration, now time.Time) (string, time.Time, error) {
	if ttl == 0 {
		ttl = DefaultInitialTokenTTL
	}
	if ttl < 0 || ttl > MaxInitialTokenTTL {
		return "", time.Time{}, ErrInitialTokenTTL
	}
	plain := secret.New(oauth.InitialAccessTokenPrefix)
	now = now.UTC()
	exp := now.Add(ttl)
	err := st.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: secret.Digest(plain), Purpose: InitialTokenPurpose, ExpiresAt: exp, CreatedAt: now})
	if err != nil {
		return "", time.Time{}, err
	}
	return plain, exp, nil
}
