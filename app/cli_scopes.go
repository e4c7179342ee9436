package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/scopes"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func cmdScopes(args []string, stdio IO) error {
	const use = "usage: gatehouse scopes create --id ID --name NAME [--description TEXT] [--icon ICON] [--method M --path /api/...] [--resource URI] [--default] [--machine] | gatehouse scopes list"
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
		fs.StringVar(&in.Resource, "resource", "", "the URI of the resource (RFC 8707) the scope belongs to: a registered one or the built-in {issuer}/api")
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
			res := cmp.Or(oauth.ResolveResource(e.cfg.Issuer, s.Resource), "-")
			fmt.Fprintf(stdio.Stdout, "%-24s %-28s %-7s %-7s  %-32s %s\n", s.ScopeID, guard, def, machine, res, s.Name)
		}
		return nil
	}
	sc, errs, err := scopes.Create(ctx, e.store, e.cfg.Issuer, in)
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
