package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/database"
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
                 [--post-logout-redirect-uri URI ...]
                 [--backchannel-logout-uri URI [--backchannel-logout-session-required]]
                 [--frontchannel-logout-uri URI [--frontchannel-logout-session-required]]
                 [--refresh-token-reuse-interval D]
                                 register a client (repeat the list flags)
  clients update CLIENT_ID [--json] with flags of the last four lines above
                                 change only the fields whose flags are given
  clients registration-token [--expires D] [--json]
                                 a single-use initial access token for dynamic
                                 client registration (default 24h, at most 30d)
  scopes create --id ID --name NAME [--description TEXT] [--icon ICON]
                [--method M --path /api/...] [--resource URI] [--default] [--machine]
                                 define a scope, validated as in the dashboard
  scopes list                    the scopes, what they guard and their resource
  resources create --uri URI --name N [--description D] [--icon I] [--json]
                                 register a resource (RFC 8707): an API tokens
                                 can be issued for, its URI their audience
  resources list [--json]        the resources, the built-in {issuer}/api first
  resources delete URI           delete a resource no scope belongs to
  trust create --issuer ISS (--jwks FILE | --jwks-uri URL) --subject SUB=USERNAME ...
               --scope S ... [--name N] [--max-lifetime D] [--json]
                                 trust an issuer's JWT assertions (RFC 7523
                                 JWT bearer grant) for the users mapped
  trust list [--json]            the trusted issuers
  trust delete ISS               stop trusting an issuer
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
	if ce := (*config.Error)(nil); errors.As(err, &ce) {
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
	case "resources":
		return cmdResources(args, stdio)
	case "trust":
		return cmdTrust(args, stdio)
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
