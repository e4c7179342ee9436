package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/trust"
	"github.com/gatehouse/gatehouse/models"
)

const trustUse = "usage: gatehouse trust create --issuer ISS (--jwks FILE | --jwks-uri URL) --subject SUB=USERNAME ... --scope S ... [--name N] [--max-lifetime D] [--json]\n" +
	"       gatehouse trust list [--json]\n" +
	"       gatehouse trust delete ISS"

// trustJSON is a trusted issuer as --json prints it.
type trustJSON struct {
	Issuer             string            `json:"issuer"`
	Name               string            `json:"name"`
	JWKS               json.RawMessage   `json:"jwks,omitempty"`
	JWKSURI            string            `json:"jwks_uri,omitempty"`
	Subjects           map[string]string `json:"subjects"`
	Scopes             []string          `json:"scopes"`
	MaxLifetimeSeconds int64             `json:"max_lifetime_seconds"`
	CreatedAt          time.Time         `json:"created_at"`
}

func toTrustJSON(ti *models.TrustedIssuer) trustJSON {
	out := trustJSON{Issuer: ti.Issuer, Name: ti.Name, JWKSURI: ti.JWKSURI, Subjects: ti.Subjects, Scopes: ti.Scopes,
		MaxLifetimeSeconds: ti.MaxLifetimeSeconds, CreatedAt: ti.CreatedAt}
	if ti.JWKS != "" {
		out.JWKS = json.RawMessage(ti.JWKS)
	}
	return out
}

// trustFlagNames are the flags of trust.Input's fields.
var trustFlagNames = map[string]string{
	trust.FieldIssuer: "--issuer", trust.FieldName: "--name", trust.FieldJWKS: "--jwks", trust.FieldJWKSURI: "--jwks-uri",
	trust.FieldSubjects: "--subject", trust.FieldScopes: "--scope", trust.FieldMaxLifetime: "--max-lifetime",
}

func cmdTrust(args []string, stdio IO) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "delete") {
		return usageErr(trustUse)
	}
	action := args[0]
	fs := newFlagSet("trust "+action, stdio)
	// --issuer is the trusted issuer here (SPEC.md §7.4): the common
	// flags but Gatehouse's own --issuer (GATEHOUSE_ISSUER or the config
	// file give that) are shared with a flag set of their own.
	cfgFS := flag.NewFlagSet("config", flag.ContinueOnError)
	flags := config.RegisterFlags(cfgFS)
	cfgFS.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "issuer" {
			fs.Var(fl.Value, fl.Name, fl.Usage)
		}
	})
	var in trust.Input
	var jwksFile string
	var subjects, scopes listFlag
	var asJSON *bool
	switch action {
	case "create":
		fs.StringVar(&in.Issuer, "issuer", "", "the iss of the issuer's assertions, exactly (required)")
		fs.StringVar(&in.Name, "name", "", "a name for people")
		fs.StringVar(&jwksFile, "jwks", "", "a file holding the issuer's public keys as a JWK Set (- for standard input)")
		fs.StringVar(&in.JWKSURI, "jwks-uri", "", "where the issuer publishes its JWK Set: https (http only when the server runs with GATEHOUSE_ALLOW_PRIVATE_FETCH=1)")
		fs.Var(&subjects, "subject", "SUB=USERNAME: the assertion sub that stands for that user (repeatable; at least one)")
		fs.Var(&scopes, "scope", "a scope the tokens may carry (repeatable; at least one)")
		fs.StringVar(&in.MaxLifetime, "max-lifetime", "", "the longest an assertion may live, from 1m to 24h (default 1h)")
		asJSON = fs.Bool("json", false, "print the issuer as JSON")
	case "list":
		asJSON = fs.Bool("json", false, "print a JSON array: issuer, name, jwks or jwks_uri, subjects, scopes, max_lifetime_seconds, created_at")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name != "issuer" && cfgFS.Lookup(fl.Name) != nil {
			_ = cfgFS.Set(fl.Name, fl.Value.String()) // marks it given for flags.Load
		}
	})
	switch {
	case action == "delete" && len(pos) != 1:
		return usageErr("usage: gatehouse trust delete ISS")
	case action != "delete" && len(pos) > 0:
		return usageErr("trust %s takes no arguments (got %q)", action, pos[0])
	}
	if action == "create" {
		in.Subjects, in.Scopes = subjects, scopes
		if jwksFile != "" {
			b, err := readJWKSFile(jwksFile, stdio.Stdin)
			if err != nil {
				return err
			}
			in.JWKS = string(b)
		}
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	switch action {
	case "list":
		list, err := e.store.ListTrustedIssuers(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]trustJSON, 0, len(list))
			for i := range list {
				out = append(out, toTrustJSON(&list[i]))
			}
			return json.NewEncoder(stdio.Stdout).Encode(out)
		}
		for i := range list {
			ti := &list[i]
			fmt.Fprintf(stdio.Stdout, "%-40s %-6s %-24s %s  [%s]\n", ti.Issuer, (time.Duration(ti.MaxLifetimeSeconds) * time.Second).String(),
				strings.Join(ti.Scopes, ","), strings.Join(trust.SubjectLines(ti), ","), trust.KeysLabel(ti))
		}
		return nil
	case "delete":
		ti, err := e.store.GetTrustedIssuer(ctx, pos[0])
		if err == nil {
			err = trust.Delete(ctx, e.store, pos[0])
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			return usageErr("no trusted issuer %q is registered (run \"gatehouse trust list\"; the issuer is matched exactly)", pos[0])
		case err != nil:
			return err
		}
		_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "trust.deleted", Target: ti.Issuer, Success: true,
			Details: trust.Details(ti)})
		fmt.Fprintf(stdio.Stdout, "deleted trusted issuer %s\n", ti.Issuer)
		return nil
	}
	in.PrivateFetch = e.cfg.AllowPrivateFetch
	ti, errs, err := trust.Create(ctx, e.store, in)
	switch {
	case errors.Is(err, trust.ErrInvalid):
		named := map[string]string{}
		for k, v := range errs {
			named[trustFlagNames[k]] = v
		}
		return fieldErrors(named)
	case err != nil:
		return err
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "trust.created", Target: ti.Issuer, Success: true,
		Details: trust.Details(ti)})
	if *asJSON {
		return json.NewEncoder(stdio.Stdout).Encode(toTrustJSON(ti))
	}
	fmt.Fprintf(stdio.Stdout, "trusted issuer %s registered: %d subject(s), scopes %s, assertions live at most %s\n",
		ti.Issuer, len(ti.Subjects), strings.Join(ti.Scopes, " "), time.Duration(ti.MaxLifetimeSeconds)*time.Second)
	return nil
}

// readJWKSFile reads --jwks: a file, or standard input for "-", at most
// a little over trust.MaxJWKSBytes (the rules say when it is too long).
func readJWKSFile(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if stdin == nil {
			return nil, usageErr("--jwks -: nothing on standard input")
		}
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErr("--jwks: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, trust.MaxJWKSBytes+1))
	if err != nil {
		return nil, usageErr("--jwks: %v", err)
	}
	return b, nil
}
