package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/scopes"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Version is set at build time with -ldflags "-X .../app.Version=v1.2.3".
var Version = "dev"

// VersionString is the version with the VCS revision when known.
func VersionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}

// IO is where a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// userError is a mistake of the person running the command (exit 1).
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &userError{fmt.Sprintf(format, args...)}
}

const usage = `Gatehouse: an OAuth 2.0 / OpenID Connect authorization server.

Usage: gatehouse <command> [flags]

Commands:
  serve                          run migrations, then serve (the default)
  migrate [up|down|status]       apply, roll back one, or list SQL migrations
  users create --username U --password-stdin [--email E [--email-verified]] [--name N] [--role admin|developer|user]
  clients create --name N --redirect-uri URI ... --grant-type G ... --scope S ...
                 [--public] [--owner USERNAME] [--json]
                                 register a client (repeat the list flags)
  scopes create --id ID --name NAME [--description TEXT] [--icon ICON]
                [--method M --path /api/...] [--default] [--machine]
                                 define a scope, validated as in the dashboard
  scopes list                    the scopes and what they guard
  settings get [KEY]             print one setting, or every key=value
  settings set KEY VALUE         validate and store a setting
  keys rotate [--withdraw-old]   new signing keys; the old ones stay published
                                 until every token they signed has expired
                                 (--withdraw-old: unpublish them now, for a leak)
  keys rotate --sessions         new session and device cookie keys; every
                                 session ends
  keys list                      the signing keys, current and retired
  version                        print the version

Flags of every command that uses the database:
  --config FILE  --addr HOST:PORT  --issuer URL  --database-url URL
  --oauth-prefix PATH  --trusted-proxies CIDRS  --key-secret SECRET
Run "gatehouse <command> -h" for a command's flags.
`

// Main runs the command line and returns the exit status: 0 on success, 1
// on an error, with a message starting "error: " on stderr.
func Main(args []string, stdio IO) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stdio.Stderr, "error: internal error: %v\n", r)
			status = 1
		}
	}()
	if stdio.Getenv == nil {
		stdio.Getenv = os.Getenv
	}
	err := run(args, stdio)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := err.Error()
	if ce, ok := err.(*config.Error); ok {
		for _, p := range ce.Problems {
			fmt.Fprintln(stdio.Stderr, "error: "+p)
		}
		return 1
	}
	fmt.Fprintln(stdio.Stderr, "error: "+msg)
	return 1
}

func run(args []string, stdio IO) error {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "--help" || a == "-help" || a == "--version" || a == "-version":
			cmd, args = strings.TrimLeft(a, "-"), args[1:]
		case !strings.HasPrefix(a, "-"):
			cmd, args = a, args[1:]
		}
	}
	switch cmd {
	case "serve":
		return cmdServe(args, stdio)
	case "migrate":
		return cmdMigrate(args, stdio)
	case "users":
		return cmdUsers(args, stdio)
	case "settings":
		return cmdSettings(args, stdio)
	case "clients":
		return cmdClients(args, stdio)
	case "scopes":
		return cmdScopes(args, stdio)
	case "keys":
		return cmdKeys(args, stdio)
	case "version":
		fmt.Fprintln(stdio.Stdout, "gatehouse "+VersionString())
		return nil
	case "help", "h":
		fmt.Fprint(stdio.Stdout, usage)
		return nil
	}
	return usageErr("unknown command %q (run \"gatehouse help\")", cmd)
}

// newFlagSet returns a flag set that reports problems as user errors.
func newFlagSet(name string, stdio IO) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	// -h prints the flags to stdout; parse errors are reported once, as
	// "error: ..." lines, by Main.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdio.Stdout)
		fmt.Fprintf(stdio.Stdout, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments
// ("settings set k v --database-url x"), and returns the positionals. A
// negative number ("-5m") is a positional argument, not a flag.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && args[0][1] >= '0' && args[0][1] <= '9' {
			pos = append(pos, args[0])
			args = args[1:]
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%v (run \"%s -h\" for help)", err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// env is an opened, migrated database with the configuration.
type env struct {
	cfg   *config.Config
	store *models.Store
	log   *slog.Logger
}

func (e *env) close() {
	if sqlDB, err := e.store.DB().DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// openEnv loads the configuration, opens the database and applies pending
// migrations (every command works on an up-to-date schema).
// Commands other than serve log only warnings and errors, so that their
// own output stays readable.
func openEnv(ctx context.Context, flags *config.Flags, stdio IO, migrate, serving bool) (*env, error) {
	cfg, err := flags.Load(stdio.Getenv)
	if err != nil {
		return nil, err
	}
	level := cfg.LogLevel
	if !serving && (level == "info" || level == "debug") {
		level = "warn"
	}
	log := NewLogger(stdio.Stderr, level, cfg.LogFormat)
	db, err := database.Open(cfg.Database, database.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, store: models.New(db), log: log}
	e.store.SetKeySecret(cfg.KeySecret.Reveal())
	if migrate {
		m, err := database.NewMigrator(db, cfg.Database)
		if err != nil {
			e.close()
			return nil, err
		}
		n, err := m.Up(ctx)
		if err != nil {
			e.close()
			return nil, err
		}
		if n > 0 {
			log.Info("database migrated", "applied", n)
		}
	}
	return e, nil
}

func cmdServe(args []string, stdio IO) error {
	fs := newFlagSet("serve", stdio)
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("serve takes no arguments (got %q)", pos[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e, err := openEnv(ctx, flags, stdio, true, true)
	if err != nil {
		return err
	}
	defer e.close()
	srv, err := NewServer(ctx, e.cfg, e.store, e.log)
	if err != nil {
		return err
	}
	setupURL, err := srv.Handlers.EnsureSetupToken(ctx)
	if err != nil {
		return err
	}
	if setupURL != "" {
		e.log.Warn("no administrator yet: open this one-time link to create one (valid 24h)", "url", setupURL)
		if e.cfg.LogFormat == "text" {
			fmt.Fprintf(stdio.Stderr, "\n  No administrator yet. Create the first one here (the link works once, for 24 hours):\n\n    %s\n\n", setupURL)
		}
	}
	go srv.sweep(ctx)
	return srv.Listen(ctx)
}

func cmdMigrate(args []string, stdio IO) error {
	fs := newFlagSet("migrate", stdio)
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	action := "up"
	if len(pos) > 0 {
		action = pos[0]
	}
	if len(pos) > 1 || (action != "up" && action != "down" && action != "status") {
		return usageErr("usage: gatehouse migrate [up|down|status]")
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, false, false)
	if err != nil {
		return err
	}
	defer e.close()
	m, err := database.NewMigrator(e.store.DB(), e.cfg.Database)
	if err != nil {
		return err
	}
	switch action {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		v, _ := m.Version(ctx)
		fmt.Fprintf(stdio.Stdout, "applied %d migration(s); database at version %d\n", n, v)
	case "down":
		ok, err := m.Down(ctx)
		if err != nil {
			return err
		}
		v, _ := m.Version(ctx)
		if !ok {
			fmt.Fprintln(stdio.Stdout, "nothing to roll back; database at version 0")
		} else {
			fmt.Fprintf(stdio.Stdout, "rolled back one migration; database at version %d\n", v)
		}
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdio.Stdout, "%05d  %-40s %s\n", s.Version, s.Name, state)
		}
	}
	return nil
}

func cmdUsers(args []string, stdio IO) error {
	if len(args) == 0 || args[0] != "create" {
		return usageErr("usage: gatehouse users create --username U --password-stdin [--email E [--email-verified]] [--name N] [--role admin|developer|user]")
	}
	fs := newFlagSet("users create", stdio)
	flags := config.RegisterFlags(fs)
	username := fs.String("username", "", "username (required)")
	email := fs.String("email", "", "email address")
	emailVerified := fs.Bool("email-verified", false, "the email address is known to be the user's (apps get email_verified true)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", models.RoleUser, "admin, developer or user")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("users create takes no arguments (got %q)", pos[0])
	}
	if *username == "" {
		return usageErr("--username is required")
	}
	if !*pwStdin {
		return usageErr("--password-stdin is required: pipe the password in (passwords never go on the command line)")
	}
	data, err := io.ReadAll(io.LimitReader(stdio.Stdin, 4096))
	if err != nil {
		return usageErr("cannot read the password from stdin: %v", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	u, errs, err := accounts.Create(ctx, e.store, accounts.Input{Username: *username, Email: *email, EmailVerified: *emailVerified, Name: *name, Password: pw, Role: *role, Admin: true})
	if errors.Is(err, accounts.ErrInvalid) {
		return fieldErrors(errs)
	}
	if err != nil {
		return err
	}
	details := map[string]string{"role": u.Role}
	if u.EmailVerified {
		details["email_verified"] = "true"
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "user.created", Target: u.Username, Success: true,
		Details: details})
	fmt.Fprintf(stdio.Stdout, "created %s %q (id %d)\n", u.Role, u.Username, u.ID)
	return nil
}

// fieldErrors reports a form's field errors as one user error, sorted by
// field.
func fieldErrors[M ~map[string]string](errs M) error {
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, 0, len(keys))
	for _, k := range keys {
		msgs = append(msgs, k+": "+errs[k])
	}
	return usageErr("%s", strings.Join(msgs, "; "))
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdClients(args []string, stdio IO) error {
	const use = "usage: gatehouse clients create --name N --redirect-uri URI ... --grant-type G ... --scope S ... [--public] [--owner USERNAME] [--json]"
	if len(args) == 0 || args[0] != "create" {
		return usageErr(use)
	}
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
	asJSON := fs.Bool("json", false, `print {"client_id": ..., "client_secret": ...}`)
	pos, err := parseFlags(fs, args[1:])
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
	in := clients.Input{Name: *name, Description: *description, Homepage: *homepage, Icon: *icon,
		RedirectURIs: uris, GrantTypes: grants, Scopes: scopes, Public: *public}
	c, plain, errs, err := clients.Create(ctx, e.store, in, ownerID)
	if errors.Is(err, clients.ErrInvalid) {
		return fieldErrors(errs)
	}
	if err != nil {
		return err
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "client.created", Target: c.ClientID, Success: true,
		Details: map[string]string{"name": c.Name}})
	if *asJSON {
		out := map[string]string{"client_id": c.ClientID}
		if plain != "" {
			out["client_secret"] = plain
		}
		enc := json.NewEncoder(stdio.Stdout)
		return enc.Encode(out)
	}
	fmt.Fprintf(stdio.Stdout, "created client %q\nclient_id:     %s\n", c.Name, c.ClientID)
	if plain != "" {
		fmt.Fprintf(stdio.Stdout, "client_secret: %s\n(shown only now: store it safely)\n", plain)
	} else {
		fmt.Fprintln(stdio.Stdout, "public client: no secret; it must use PKCE")
	}
	return nil
}

func cmdScopes(args []string, stdio IO) error {
	const use = "usage: gatehouse scopes create --id ID --name NAME [--description TEXT] [--icon ICON] [--method M --path /api/...] [--default] [--machine] | gatehouse scopes list"
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		return usageErr(use)
	}
	action := args[0]
	fs := newFlagSet("scopes "+action, stdio)
	flags := config.RegisterFlags(fs)
	var in scopes.Input
	if action == "create" {
		fs.StringVar(&in.ScopeID, "id", "", "the scope ID clients request, e.g. calendar.read (required)")
		fs.StringVar(&in.Name, "name", "", "display name (required)")
		fs.StringVar(&in.Description, "description", "", "consent-screen text; {user} and {client_name} are filled in")
		fs.StringVar(&in.Icon, "icon", "", "a Font Awesome class (fa-solid fa-calendar) or an https:// image URL")
		fs.StringVar(&in.Method, "method", "", "the HTTP method the scope guards: GET, POST, PUT, PATCH, DELETE or *")
		fs.StringVar(&in.ResourcePath, "path", "", "the resource path the scope guards; a trailing * matches a subtree")
		fs.BoolVar(&in.IsDefault, "default", false, "granted even when a request's scope omits it")
		fs.BoolVar(&in.Machine, "machine", false, "a machine scope: can be granted without a user (client credentials), to clients an admin gives it")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("scopes %s takes no arguments (got %q)", action, pos[0])
	}
	var checked scopes.Input
	if action == "create" {
		// The same checks as the dashboard's form, before the database
		// is opened.
		var errs scopes.Errors
		if checked, errs = scopes.Check(in, true); len(errs) > 0 {
			return scopeFlagErrors(errs)
		}
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	if action == "list" {
		list, err := e.store.ListScopes(ctx)
		if err != nil {
			return err
		}
		for _, s := range list {
			guard, def, machine := "-", "", ""
			if s.Method != "" {
				guard = s.Method + " " + s.ResourcePath
			}
			if s.IsDefault {
				def = "default"
			}
			if s.Machine {
				machine = "machine"
			}
			fmt.Fprintf(stdio.Stdout, "%-24s %-28s %-7s %-7s  %s\n", s.ScopeID, guard, def, machine, s.Name)
		}
		return nil
	}
	sc, errs, err := scopes.Create(ctx, e.store, in)
	switch {
	case errors.Is(err, scopes.ErrInvalid):
		return scopeFlagErrors(errs)
	case errors.Is(err, store.ErrAlreadyExists):
		return usageErr("--id: a scope %q exists already", checked.ScopeID)
	case err != nil:
		return err
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "scope.created", Target: sc.ScopeID, Success: true,
		Details: scopes.Details(sc)})
	fmt.Fprintf(stdio.Stdout, "created scope %q\n", sc.ScopeID)
	return nil
}

// scopeFlagErrors reports the scope rules' messages under the flags' names.
func scopeFlagErrors(errs scopes.Errors) error {
	flagOf := map[string]string{scopes.FieldScopeID: "id", scopes.FieldResourcePath: "path"}
	named := map[string]string{}
	for k, v := range errs {
		named["--"+cmp.Or(flagOf[k], k)] = v
	}
	return fieldErrors(named)
}

func cmdSettings(args []string, stdio IO) error {
	if len(args) == 0 || (args[0] != "get" && args[0] != "set") {
		return usageErr("usage: gatehouse settings get [KEY] | gatehouse settings set KEY VALUE")
	}
	action := args[0]
	fs := newFlagSet("settings "+action, stdio)
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case action == "get" && len(pos) > 1:
		return usageErr("usage: gatehouse settings get [KEY]")
	case action == "set" && len(pos) != 2:
		return usageErr("usage: gatehouse settings set KEY VALUE")
	}
	if len(pos) > 0 {
		if _, ok := settings.Lookup(pos[0]); !ok {
			return usageErr("unknown setting %q (known: %s)", pos[0], strings.Join(settings.Keys(), ", "))
		}
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	svc := settings.NewService(e.store)
	if action == "set" {
		v, err := svc.Set(ctx, pos[0], pos[1])
		var ve *settings.ValidationError
		if errors.As(err, &ve) {
			return usageErr("%v", ve)
		}
		if err != nil {
			return err
		}
		_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "setting.changed", Target: pos[0], Success: true,
			Details: map[string]string{"value": v}})
		fmt.Fprintf(stdio.Stdout, "%s=%s\n", pos[0], v)
		return nil
	}
	raw, err := svc.Raw(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		fmt.Fprintln(stdio.Stdout, raw[pos[0]])
		return nil
	}
	for _, k := range settings.Keys() {
		fmt.Fprintf(stdio.Stdout, "%s=%s\n", k, raw[k])
	}
	return nil
}

func cmdKeys(args []string, stdio IO) error {
	const use = "usage: gatehouse keys rotate [--withdraw-old] | gatehouse keys rotate --sessions | gatehouse keys list"
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return usageErr(use)
	}
	action := args[0]
	fs := newFlagSet("keys "+action, stdio)
	flags := config.RegisterFlags(fs)
	withdraw := fs.Bool("withdraw-old", false, "rotate: unpublish the old keys at once instead of keeping them until their tokens expire (for a key that may have leaked)")
	sessionKeys := fs.Bool("sessions", false, "rotate: replace the session cookie keys instead of the signing keys; every browser session ends (everyone signs in again)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("keys %s takes no arguments (got %q)", action, pos[0])
	}
	if *sessionKeys && (action != "rotate" || *withdraw) {
		return usageErr("--sessions goes with keys rotate alone: gatehouse keys rotate --sessions")
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	if *sessionKeys {
		if _, _, err := SessionKeys(ctx, e.store); err != nil {
			fmt.Fprintf(stdio.Stderr, "warning: the stored session keys cannot be read with this configuration (%v); "+
				"servers started with another key secret will not be able to read the new keys either: run this with their GATEHOUSE_KEY_SECRET\n", err)
		}
		ended, err := RotateSessionKeys(ctx, e.store)
		if err != nil {
			return err
		}
		_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "keys.rotate_sessions", Success: true,
			Details: map[string]string{"sessions_ended": strconv.FormatInt(ended, 10)}})
		fmt.Fprintf(stdio.Stdout, "new session keys; %d signed-in sessions ended (everyone signs in again)\n", ended)
		fmt.Fprintln(stdio.Stdout, "running servers switch to the new keys on their next request")
		if !e.store.EncryptingSecrets() {
			fmt.Fprintln(stdio.Stderr, "warning: no key secret is configured (GATEHOUSE_KEY_SECRET), so the new session keys are stored unencrypted")
		}
		return nil
	}
	m := keys.New(keys.Options{Store: e.store, Secret: e.cfg.KeySecret.Reveal(), Log: e.log})
	if action == "list" {
		list, err := m.List(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(stdio.Stdout, "no signing keys yet: the server makes them on its first start")
			return nil
		}
		for _, k := range list {
			printKey(stdio.Stdout, k)
		}
		return nil
	}
	rot, err := m.Rotate(ctx)
	if err != nil {
		return err
	}
	details := rot.AuditDetails()
	var gone []string
	if *withdraw {
		if gone, err = m.WithdrawRetired(ctx); err != nil {
			return err
		}
		details["withdrawn"] = strings.Join(gone, " ")
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "keys.rotate", Target: rot.New[0].KID, Success: true,
		Details: details})
	fmt.Fprintln(stdio.Stdout, "new signing keys, used from now on:")
	for _, k := range rot.New {
		printKey(stdio.Stdout, k)
	}
	list, err := m.List(ctx)
	if err != nil {
		return err
	}
	var published []keys.Key
	for _, k := range list {
		if k.Status == keys.StatusRetired {
			published = append(published, k)
		}
	}
	switch {
	case len(gone) > 0:
		fmt.Fprintln(stdio.Stdout, "old keys withdrawn (tokens they signed no longer verify):", strings.Join(gone, " "))
	case len(published) == 0:
		fmt.Fprintln(stdio.Stdout, "there were no keys before: nothing stays published")
	default:
		fmt.Fprintln(stdio.Stdout, "retired keys, still published until every token they signed has expired:")
		for _, k := range published {
			printKey(stdio.Stdout, k)
		}
	}
	fmt.Fprintln(stdio.Stdout, "running servers switch to the new keys on their next request")
	if !m.Encrypting() {
		fmt.Fprintln(stdio.Stderr, "warning: no key secret is configured (GATEHOUSE_KEY_SECRET), so the new private keys are stored unencrypted")
	}
	return nil
}

// printKey prints one signing key as a line of `keys list`.
func printKey(w io.Writer, k keys.Key) {
	status := k.Status
	switch {
	case k.Status == keys.StatusCurrent:
		status = "current"
	case k.ExpiresAt != nil && k.Status == keys.StatusRetired:
		status = "published until " + k.ExpiresAt.UTC().Format(time.RFC3339)
	case k.ExpiresAt != nil:
		status = "expired " + k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	enc := "unencrypted"
	if k.Encrypted {
		enc = "encrypted"
	}
	fmt.Fprintf(w, "  %-5s  %-43s  created %s  %-11s  %s\n", k.Alg, k.KID, k.CreatedAt.UTC().Format(time.RFC3339), enc, status)
}
