package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

const clientsUse = "usage: gatehouse clients create --name N --redirect-uri URI ... --grant-type G ... --scope S ... [--public] [--owner USERNAME] " +
	clientFieldsUse + " [--json]\n" +
	"       gatehouse clients update CLIENT_ID " + clientFieldsUse + " [--json]\n" +
	"       gatehouse clients registration-token [--expires D] [--json]"

// clientFieldsUse are the flags of clientFieldFlags, for the usage line.
const clientFieldsUse = "[--post-logout-redirect-uri URI ...] [--backchannel-logout-uri URI [--backchannel-logout-session-required]] " +
	"[--frontchannel-logout-uri URI [--frontchannel-logout-session-required]] [--refresh-token-reuse-interval D] " +
	"[--token-endpoint-auth-method M] [--jwks FILE | --jwks-uri URL] [--id-token-signed-response-alg RS256|ES256] " +
	"[--dpop-bound] [--require-par] [--may-act CLIENT_ID ...]"

func cmdClients(args []string, stdio IO) error {
	if len(args) == 0 {
		return usageErr(clientsUse)
	}
	switch args[0] {
	case "create":
		return cmdClientsCreate(args[1:], stdio)
	case "update":
		return cmdClientsUpdate(args[1:], stdio)
	case "registration-token":
		return cmdClientsRegistrationToken(args[1:], stdio)
	}
	return usageErr(clientsUse)
}

// clientFieldFlags are the flags of client fields that `clients create`
// and `clients update` share: create applies all of them, update only
// those given on its command line, so that the other fields keep what is
// stored. A field that update learns to change gets its flag here (a
// field, a line in register, a case in apply) instead of in create.
type clientFieldFlags struct {
	postLogoutRedirectURIs            listFlag
	backchannelLogoutURI              string
	backchannelLogoutSessionRequired  bool
	frontchannelLogoutURI             string
	frontchannelLogoutSessionRequired bool
	refreshTokenReuseInterval         string
	tokenEndpointAuthMethod           string
	jwksFile, jwksURI                 string
	idTokenAlg                        string
	dpopBound, requirePAR             bool
	mayAct                            listFlag
	// update: the flags change a stored client (clients update).
	update bool
}

// Names of the flags of clientFieldFlags.
const (
	flagPostLogoutRedirectURI             = "post-logout-redirect-uri"
	flagBackchannelLogoutURI              = "backchannel-logout-uri"
	flagBackchannelLogoutSessionRequired  = "backchannel-logout-session-required"
	flagFrontchannelLogoutURI             = "frontchannel-logout-uri"
	flagFrontchannelLogoutSessionRequired = "frontchannel-logout-session-required"
	flagRefreshTokenReuseInterval         = "refresh-token-reuse-interval"
	flagTokenEndpointAuthMethod           = "token-endpoint-auth-method"
	flagJWKS                              = "jwks"
	flagJWKSURI                           = "jwks-uri"
	flagIDTokenAlg                        = "id-token-signed-response-alg"
	flagDPoPBound                         = "dpop-bound"
	flagRequirePAR                        = "require-par"
	flagMayAct                            = "may-act"
)

// clientFieldFlagNames are the names of the flags of clientFieldFlags.
var clientFieldFlagNames = []string{flagPostLogoutRedirectURI, flagBackchannelLogoutURI, flagBackchannelLogoutSessionRequired,
	flagFrontchannelLogoutURI, flagFrontchannelLogoutSessionRequired, flagRefreshTokenReuseInterval,
	flagTokenEndpointAuthMethod, flagJWKS, flagJWKSURI, flagIDTokenAlg, flagDPoPBound, flagRequirePAR, flagMayAct}

func (f *clientFieldFlags) register(fs *flag.FlagSet, update bool) {
	f.update = update
	listNote, clearNote, boolNote := "repeatable", "", ""
	if update {
		listNote = "repeatable; replaces the list; once with \"\" empties it"
		clearNote = "; \"\" removes it"
		boolNote = " (=false turns it off)"
	}
	fs.Var(&f.postLogoutRedirectURIs, flagPostLogoutRedirectURI, "where RP-initiated logout may send the browser back to, matched exactly ("+listNote+")")
	fs.StringVar(&f.backchannelLogoutURI, flagBackchannelLogoutURI, "", "where Gatehouse POSTs a logout token when a user signs out"+clearNote)
	fs.BoolVar(&f.backchannelLogoutSessionRequired, flagBackchannelLogoutSessionRequired, false,
		"logout tokens must carry the session ID (sid); needs --backchannel-logout-uri")
	fs.StringVar(&f.frontchannelLogoutURI, flagFrontchannelLogoutURI, "", "loaded in an iframe of the signed-out page when a user signs out"+clearNote)
	fs.BoolVar(&f.frontchannelLogoutSessionRequired, flagFrontchannelLogoutSessionRequired, false,
		"add iss and sid to the front-channel logout URI; needs --frontchannel-logout-uri")
	fs.StringVar(&f.refreshTokenReuseInterval, flagRefreshTokenReuseInterval, "",
		`how long a just-rotated refresh token may be presented again, 0s to 60s (0s: off for this client); "" or default: the refresh_token_reuse_interval setting`)
	methodNote := "client_secret_basic (default for confidential clients), client_secret_post, client_secret_jwt (needs GATEHOUSE_KEY_SECRET: the secret is kept encrypted), private_key_jwt (with --jwks or --jwks-uri), or none (a public client)"
	if update {
		methodNote += "; switching to client_secret_jwt makes a new secret, printed once (the old one is kept only hashed); to private_key_jwt or none deletes the secret"
	}
	fs.StringVar(&f.tokenEndpointAuthMethod, flagTokenEndpointAuthMethod, "", "how the client authenticates at the token endpoint: "+methodNote)
	fs.StringVar(&f.jwksFile, flagJWKS, "", `a file with the client's public keys for private_key_jwt, as a JWK Set ({"keys": [...]}; "-" reads stdin)`+clearNote)
	fs.StringVar(&f.jwksURI, flagJWKSURI, "", "where the client publishes its public keys for private_key_jwt (https)"+clearNote)
	fs.StringVar(&f.idTokenAlg, flagIDTokenAlg, "", "the ID token signing algorithm: RS256 (default) or ES256")
	fs.BoolVar(&f.dpopBound, flagDPoPBound, false, "the client's access tokens must be DPoP-bound (dpop_bound_access_tokens)"+boolNote)
	fs.BoolVar(&f.requirePAR, flagRequirePAR, false, "the client must use pushed authorization requests (require_pushed_authorization_requests)"+boolNote)
	fs.Var(&f.mayAct, flagMayAct, "the client ID of another client whose tokens this client may present as actor_token in a token exchange ("+listNote+")")
}

// readJWKS reads the --jwks file ("-": stdin; "": none), at most a little
// over clients.MaxJWKSBytes (the service says when it is too large).
func (f *clientFieldFlags) readJWKS(stdin io.Reader) (string, error) {
	var r io.Reader
	switch f.jwksFile {
	case "":
		return "", nil
	case "-":
		r = stdin
	default:
		file, err := os.Open(f.jwksFile)
		if err != nil {
			return "", usageErr("--%s: %v", flagJWKS, errors.Unwrap(err))
		}
		defer file.Close()
		r = file
	}
	b, err := io.ReadAll(io.LimitReader(r, clients.MaxJWKSBytes+1))
	if err != nil {
		return "", usageErr("--%s: %v", flagJWKS, err)
	}
	return string(b), nil
}

// apply sets the fields whose flags given reports as on the command line
// (jwks is the --jwks file's content). Removing a logout URI (given as
// "") also turns its session-required flag off, unless that flag is given
// too: it means nothing without the URI. The method decides the client
// type (none: public); on update, a method other than private_key_jwt
// drops the stored keys, and new keys of one kind (a JWK Set, a URL)
// replace those of the other.
func (f *clientFieldFlags) apply(in *clients.Input, given func(name string) bool, jwks string) {
	if given(flagPostLogoutRedirectURI) {
		in.PostLogoutRedirectURIs = nil
		for _, v := range f.postLogoutRedirectURIs {
			in.PostLogoutRedirectURIs = append(in.PostLogoutRedirectURIs, oauth.ParseRedirectURIs(v)...)
		}
	}
	if given(flagBackchannelLogoutURI) {
		in.BackchannelLogoutURI = f.backchannelLogoutURI
		if strings.TrimSpace(f.backchannelLogoutURI) == "" && !given(flagBackchannelLogoutSessionRequired) {
			in.BackchannelLogoutSessionRequired = false
		}
	}
	if given(flagBackchannelLogoutSessionRequired) {
		in.BackchannelLogoutSessionRequired = f.backchannelLogoutSessionRequired
	}
	if given(flagFrontchannelLogoutURI) {
		in.FrontchannelLogoutURI = f.frontchannelLogoutURI
		if strings.TrimSpace(f.frontchannelLogoutURI) == "" && !given(flagFrontchannelLogoutSessionRequired) {
			in.FrontchannelLogoutSessionRequired = false
		}
	}
	if given(flagFrontchannelLogoutSessionRequired) {
		in.FrontchannelLogoutSessionRequired = f.frontchannelLogoutSessionRequired
	}
	if given(flagRefreshTokenReuseInterval) {
		in.RefreshTokenReuseInterval = f.refreshTokenReuseInterval
	}
	if given(flagTokenEndpointAuthMethod) {
		m := strings.TrimSpace(f.tokenEndpointAuthMethod)
		in.TokenEndpointAuthMethod = m
		switch {
		case m == clients.AuthNone:
			in.Public = true
		case f.update && slices.Contains(clients.AuthMethods, m):
			in.Public = false
		}
		if f.update && m != clients.AuthPrivateKeyJWT && !given(flagJWKS) && !given(flagJWKSURI) {
			in.JWKS, in.JWKSURI = "", ""
		}
	}
	if given(flagJWKS) {
		in.JWKS = jwks
		if !given(flagJWKSURI) {
			in.JWKSURI = ""
		}
	}
	if given(flagJWKSURI) {
		in.JWKSURI = f.jwksURI
		if !given(flagJWKS) {
			in.JWKS = ""
		}
	}
	if given(flagIDTokenAlg) {
		in.IDTokenSignedResponseAlg = f.idTokenAlg
	}
	if given(flagDPoPBound) {
		in.DPoPBoundAccessTokens = f.dpopBound
	}
	if given(flagRequirePAR) {
		in.RequirePushedAuthorizationRequests = f.requirePAR
	}
	if given(flagMayAct) {
		in.MayAct = nil
		for _, v := range f.mayAct {
			in.MayAct = append(in.MayAct, strings.Fields(v)...)
		}
	}
}

// clientJSON is what `clients create --json` and `clients update --json`
// print of a client: its ID, the secret made now (if any) and how it
// authenticates, with its RFC 7591 names; flags at their defaults (false,
// an empty list, no keys) are left out.
func clientJSON(c *models.Client, plainSecret string) map[string]any {
	out := map[string]any{"client_id": c.ClientID,
		clients.FieldTokenEndpointAuthMethod:  clients.AuthMethodOf(c.Public, c.TokenEndpointAuthMethod),
		clients.FieldIDTokenSignedResponseAlg: cmp.Or(c.IDTokenSignedResponseAlg, clients.AlgRS256)}
	if plainSecret != "" {
		out["client_secret"] = plainSecret
	}
	if c.JWKS != "" {
		out[clients.FieldJWKS] = json.RawMessage(c.JWKS)
	}
	if c.JWKSURI != "" {
		out[clients.FieldJWKSURI] = c.JWKSURI
	}
	if c.DPoPBoundAccessTokens {
		out[clients.FieldDPoPBoundAccessTokens] = true
	}
	if c.RequirePushedAuthorizationRequests {
		out[clients.FieldRequirePushedAuthorizationRequests] = true
	}
	if len(c.MayAct) > 0 {
		out[clients.FieldMayAct] = c.MayAct
	}
	return out
}

// givenFlags returns whether a flag of fs was on the command line.
func givenFlags(fs *flag.FlagSet) func(name string) bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return func(name string) bool { return set[name] }
}

func cmdClientsCreate(args []string, stdio IO) error {
	fs := newFlagSet("clients create", stdio)
	flags := config.RegisterFlags(fs)
	name := fs.String("name", "", "the client's name, shown on the consent screen (required)")
	description := fs.String("description", "", "a description")
	homepage := fs.String("homepage", "", "the client's home page")
	icon := fs.String("icon", "", "an https URL of the client's icon")
	var redirects, grants, scopes listFlag
	fs.Var(&redirects, "redirect-uri", "a redirect URI (repeatable)")
	fs.Var(&grants, "grant-type", "a grant type (repeatable; default authorization_code and refresh_token)")
	fs.Var(&scopes, "scope", "a scope the client may request (repeatable; default any)")
	public := fs.Bool("public", false, "a public client (no secret; must use PKCE)")
	owner := fs.String("owner", "", "username of the owning developer")
	var fields clientFieldFlags
	fields.register(fs, false)
	asJSON := fs.Bool("json", false, `print {"client_id": ..., "client_secret": ...}`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("clients create takes no arguments (got %q)", pos[0])
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	var ownerID *int64
	if *owner != "" {
		u, err := e.store.GetUserByUsername(ctx, accounts.NormalizeUsername(*owner))
		if errors.Is(err, store.ErrNotFound) {
			return usageErr("--owner: no user %q", *owner)
		}
		if err != nil {
			return err
		}
		ownerID = &u.ID
	}
	var uris []string
	for _, r := range redirects {
		uris = append(uris, oauth.ParseRedirectURIs(r)...)
	}
	jwks, err := fields.readJWKS(stdio.Stdin)
	if err != nil {
		return err
	}
	in := clients.Input{Name: *name, Description: *description, Homepage: *homepage, Icon: *icon,
		RedirectURIs: uris, GrantTypes: grants, Scopes: scopes, Public: *public}
	fields.apply(&in, givenFlags(fs), jwks)
	c, plain, errs, err := clients.Create(ctx, e.store, in, ownerID, clients.WithKeySecret(e.cfg.KeySecret.Reveal()), clients.WithPrivateFetch(e.cfg.AllowPrivateFetch))
	if errors.Is(err, clients.ErrInvalid) {
		return clientFlagErrors(errs)
	}
	if err != nil {
		return err
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "client.created", Target: c.ClientID, Success: true,
		Details: map[string]string{"name": c.Name, clients.FieldTokenEndpointAuthMethod: c.TokenEndpointAuthMethod}})
	if *asJSON {
		return json.NewEncoder(stdio.Stdout).Encode(clientJSON(c, plain))
	}
	fmt.Fprintf(stdio.Stdout, "created client %q\nclient_id:     %s\n", c.Name, c.ClientID)
	switch {
	case plain != "" && c.TokenEndpointAuthMethod == clients.AuthSecretJWT:
		fmt.Fprintf(stdio.Stdout, "client_secret: %s\n(shown only now: store it safely; it signs the client's client_secret_jwt assertions)\n", plain)
	case plain != "":
		fmt.Fprintf(stdio.Stdout, "client_secret: %s\n(shown only now: store it safely)\n", plain)
	case c.Public:
		fmt.Fprintln(stdio.Stdout, "public client: no secret; it must use PKCE")
	default:
		fmt.Fprintln(stdio.Stdout, "private_key_jwt: no secret; the client signs its assertions with its private key")
	}
	return nil
}

// cmdClientsUpdate changes the fields of a client whose flags are given,
// on the operator's authority (as `clients create`), and prints what
// changed.
func cmdClientsUpdate(args []string, stdio IO) error {
	fs := newFlagSet("clients update", stdio)
	flags := config.RegisterFlags(fs)
	var fields clientFieldFlags
	fields.register(fs, true)
	asJSON := fs.Bool("json", false, `print {"client_id": ..., "changed": [field, ...], "client_secret": (when a new one was made), "token_endpoint_auth_method": ..., ...}`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("clients update takes one CLIENT_ID (run \"gatehouse clients update -h\" for its flags)")
	}
	clientID := pos[0]
	given := givenFlags(fs)
	if !slices.ContainsFunc(clientFieldFlagNames, given) {
		return usageErr("clients update: nothing to change; give the flags of the fields to change (run \"gatehouse clients update -h\")")
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	jwks, err := fields.readJWKS(stdio.Stdin)
	if err != nil {
		return err
	}
	saved, errs, err := clients.Edit(ctx, e.store, clients.Operator, clientID, func(in *clients.Input) {
		fields.apply(in, given, jwks)
	}, clients.WithKeySecret(e.cfg.KeySecret.Reveal()), clients.WithPrivateFetch(e.cfg.AllowPrivateFetch))
	switch {
	case errors.Is(err, clients.ErrInvalid):
		return clientFlagErrors(errs)
	case errors.Is(err, store.ErrNotFound):
		return usageErr("no client %q", clientID)
	case errors.Is(err, clients.ErrSelfRegistered):
		return usageErr("client %q registered itself and manages its own metadata: promote it in the dashboard first", clientID)
	case err != nil:
		return err
	}
	before, after := saved.Before, saved.After
	changed := clients.Changes(before, after)
	details := clients.AuditDetails(before, after)
	if saved.Secret != clients.SecretKept {
		details["secret"] = saved.Secret.String()
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "client.updated", Target: clientID, Success: true,
		Details: details})
	if *asJSON {
		c, err := e.store.GetClient(ctx, clientID)
		if err != nil {
			return err
		}
		out := clientJSON(c, saved.NewSecret)
		out["changed"] = append([]string{}, changed...)
		return json.NewEncoder(stdio.Stdout).Encode(out)
	}
	if len(changed) == 0 {
		fmt.Fprintf(stdio.Stdout, "client %q (%s): nothing changed\n", after.Name, clientID)
		return nil
	}
	fmt.Fprintf(stdio.Stdout, "updated client %q (%s):\n", after.Name, clientID)
	for _, f := range changed {
		fmt.Fprintf(stdio.Stdout, "  %s: %s -> %s\n", f, clientFieldText(before, f), clientFieldText(after, f))
	}
	switch saved.Secret {
	case clients.SecretIssued, clients.SecretRotated:
		note := "shown only now: store it safely"
		if saved.Secret == clients.SecretRotated {
			note += "; the old secret no longer works (client_secret_jwt keeps a new one, encrypted)"
		}
		fmt.Fprintf(stdio.Stdout, "client_secret: %s\n(%s)\n", saved.NewSecret, note)
	case clients.SecretDeleted:
		fmt.Fprintln(stdio.Stdout, "the client secret was deleted: the client has none with this method")
	}
	return nil
}

// clientFieldText shows a field of in for `clients update`'s report:
// lists space-separated, "(none)" for nothing, "default" for an interval
// that follows the setting.
func clientFieldText(in clients.Input, field string) string {
	var s string
	switch field {
	case clients.FieldPostLogoutRedirectURIs:
		s = strings.Join(in.PostLogoutRedirectURIs, " ")
	case clients.FieldBackchannelLogoutURI:
		s = in.BackchannelLogoutURI
	case clients.FieldBackchannelLogoutSessionRequired:
		s = fmt.Sprint(in.BackchannelLogoutSessionRequired)
	case clients.FieldFrontchannelLogoutURI:
		s = in.FrontchannelLogoutURI
	case clients.FieldFrontchannelLogoutSessionRequired:
		s = fmt.Sprint(in.FrontchannelLogoutSessionRequired)
	case clients.FieldRefreshTokenReuseInterval:
		s = clients.ReuseIntervalText(in.RefreshTokenReuseInterval)
	case clients.FieldPublic:
		s = fmt.Sprint(in.Public)
	case clients.FieldTokenEndpointAuthMethod:
		s = clients.AuthMethodText(in)
	case clients.FieldJWKS:
		s = clients.JWKSSummary(in.JWKS)
	case clients.FieldJWKSURI:
		s = in.JWKSURI
	case clients.FieldIDTokenSignedResponseAlg:
		s = in.IDTokenSignedResponseAlg
	case clients.FieldDPoPBoundAccessTokens:
		s = fmt.Sprint(in.DPoPBoundAccessTokens)
	case clients.FieldRequirePushedAuthorizationRequests:
		s = fmt.Sprint(in.RequirePushedAuthorizationRequests)
	case clients.FieldMayAct:
		s = strings.Join(in.MayAct, " ")
	default:
		return "(changed)"
	}
	if s == "" {
		return "(none)"
	}
	return s
}

// clientFlagOf names the flag of each field of a client, for messages.
var clientFlagOf = map[string]string{
	clients.FieldName: "name", clients.FieldDescription: "description", clients.FieldIcon: "icon", clients.FieldHomepage: "homepage",
	clients.FieldRedirectURIs: "redirect-uri", clients.FieldGrantTypes: "grant-type", clients.FieldScopes: "scope", clients.FieldPublic: "public",
	clients.FieldPostLogoutRedirectURIs: flagPostLogoutRedirectURI, clients.FieldBackchannelLogoutURI: flagBackchannelLogoutURI,
	clients.FieldBackchannelLogoutSessionRequired: flagBackchannelLogoutSessionRequired, clients.FieldFrontchannelLogoutURI: flagFrontchannelLogoutURI,
	clients.FieldFrontchannelLogoutSessionRequired: flagFrontchannelLogoutSessionRequired, clients.FieldRefreshTokenReuseInterval: flagRefreshTokenReuseInterval,
	clients.FieldTokenEndpointAuthMethod: flagTokenEndpointAuthMethod, clients.FieldJWKS: flagJWKS, clients.FieldJWKSURI: flagJWKSURI,
	clients.FieldIDTokenSignedResponseAlg: flagIDTokenAlg, clients.FieldDPoPBoundAccessTokens: flagDPoPBound,
	clients.FieldRequirePushedAuthorizationRequests: flagRequirePAR, clients.FieldMayAct: flagMayAct,
}

// clientFlagErrors reports the problems with a client's fields by the
// flags that set them ("--redirect-uri: ..."), as `scopes create` does.
func clientFlagErrors(errs clients.Errors) error {
	named := map[string]string{}
	for k, v := range errs {
		named["--"+cmp.Or(clientFlagOf[k], k)] = v
	}
	return fieldErrors(named)
}

// cmdClientsRegistrationToken prints a new initial access token (RFC 7591
// §3): with it, one client can register itself while the
// dynamic_registration setting is token. It is single-use, valid for
// --expires (default 24h, at most 30 days), stored only as its digest and
// printed once.
func cmdClientsRegistrationToken(args []string, stdio IO) error {
	fs := newFlagSet("clients registration-token", stdio)
	flags := config.RegisterFlags(fs)
	expires := fs.String("expires", "24h", "how long the token is valid: a duration such as 1h, 24h or 7d (at most 30d)")
	asJSON := fs.Bool("json", false, `print {"initial_access_token": ..., "expires_at": ..., "registration_endpoint": ...}`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("clients registration-token takes no arguments (got %q)", pos[0])
	}
	ttl, err := parseDays(*expires)
	if err != nil || ttl <= 0 || ttl > clients.MaxInitialTokenTTL {
		return usageErr("--expires %q: give a duration such as 1h, 24h or 7d, at most 30d", *expires)
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	token, exp, err := clients.NewInitialAccessToken(ctx, e.store, ttl, time.Now())
	if err != nil {
		return err
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "client.registration_token_created", Success: true,
		Details: map[string]string{"expires_at": exp.Format(time.RFC3339)}})
	mode := ""
	if v, err := e.store.GetSettings(ctx); err == nil {
		mode = v["dynamic_registration"]
	}
	endpoint := e.cfg.EndpointURL("register")
	if *asJSON {
		return json.NewEncoder(stdio.Stdout).Encode(map[string]string{"initial_access_token": token, "expires_at": exp.Format(time.RFC3339),
			"registration_endpoint": endpoint})
	}
	fmt.Fprintf(stdio.Stdout, "initial access token: %s\nexpires:              %s\n(shown only now; it registers one client)\n"+
		"register with:        POST %s with \"Authorization: Bearer <token>\"\n", token, exp.Format(time.RFC3339), endpoint)
	if mode != "token" {
		fmt.Fprintln(stdio.Stdout, "note: the dynamic_registration setting is not token: turn it on with \"gatehouse settings set dynamic_registration token\"")
	}
	return nil
}

// parseDays parses a Go duration, or a whole number of days ("7d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
