package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/resources"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

const resourcesUse = "usage: gatehouse resources create --uri URI --name NAME [--description TEXT] [--icon ICON] [--json]\n" +
	"       gatehouse resources list [--json]\n" +
	"       gatehouse resources delete URI"

// resourceJSON is a resource as --json prints it.
type resourceJSON struct {
	URI         string   `json:"uri"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Icon        string   `json:"icon"`
	Builtin     bool     `json:"builtin"`
	Scopes      []string `json:"scopes"`
}

func cmdResources(args []string, stdio IO) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "delete") {
		return usageErr(resourcesUse)
	}
	action := args[0]
	fs := newFlagSet("resources "+action, stdio)
	flags := config.RegisterFlags(fs)
	var in resources.Input
	var asJSON *bool
	switch action {
	case "create":
		fs.StringVar(&in.URI, "uri", "", "the resource's absolute URI, the audience of its tokens: https (http only on loopback hosts) (required)")
		fs.StringVar(&in.Name, "name", "", "display name (required)")
		fs.StringVar(&in.Description, "description", "", "what the API is")
		fs.StringVar(&in.Icon, "icon", "", "a Font Awesome class (fa-solid fa-server) or an https:// image URL")
		asJSON = fs.Bool("json", false, `print the resource as JSON: {"uri": ..., "name": ...}`)
	case "list":
		asJSON = fs.Bool("json", false, "print a JSON array: uri, name, description, icon, builtin, scopes")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case action == "delete" && len(pos) != 1:
		return usageErr("usage: gatehouse resources delete URI")
	case action != "delete" && len(pos) > 0:
		return usageErr("resources %s takes no arguments (got %q)", action, pos[0])
	}
	cfg, err := flags.Load(stdio.Getenv)
	if err != nil {
		return err
	}
	if action == "create" {
		// The same checks as the dashboard's form, before the database
		// is opened.
		if _, errs := resources.Check(cfg.Issuer, in, true); len(errs) > 0 {
			return resourceFlagErrors(errs)
		}
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	issuer := e.cfg.Issuer
	switch action {
	case "list":
		list, err := resources.List(ctx, e.store, issuer)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]resourceJSON, 0, len(list))
			for _, r := range list {
				out = append(out, resourceJSON{URI: r.URI, Name: r.Name, Description: r.Description, Icon: r.Icon,
					Builtin: r.Builtin, Scopes: append([]string{}, r.Scopes...)})
			}
			return json.NewEncoder(stdio.Stdout).Encode(out)
		}
		for _, r := range list {
			mark := ""
			if r.Builtin {
				mark = "built in"
			}
			scopes := cmp.Or(strings.Join(r.Scopes, ","), "-")
			fmt.Fprintf(stdio.Stdout, "%-40s %-8s %-24s %s\n", r.URI, mark, scopes, r.Name)
		}
		return nil
	case "delete":
		uri, err := resources.Delete(ctx, e.store, issuer, pos[0])
		var inUse *models.ResourceInUseError
		switch {
		case errors.Is(err, resources.ErrBuiltin):
			return usageErr("%s is Gatehouse's own API, built in: it cannot be deleted", uri)
		case errors.As(err, &inUse):
			return usageErr("resource %s was not deleted: %s", inUse.URI, resources.InUseMessage(inUse))
		case errors.Is(err, store.ErrNotFound):
			return usageErr("no resource %q is registered (run \"gatehouse resources list\")", pos[0])
		case err != nil:
			return err
		}
		_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "resource.deleted", Target: uri, Success: true})
		fmt.Fprintf(stdio.Stdout, "deleted resource %s\n", uri)
		return nil
	}
	r, errs, err := resources.Create(ctx, e.store, issuer, in)
	switch {
	case errors.Is(err, resources.ErrInvalid):
		return resourceFlagErrors(errs)
	case err != nil:
		return err
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "resource.created", Target: r.URI, Success: true,
		Details: resources.Details(r)})
	if *asJSON {
		return json.NewEncoder(stdio.Stdout).Encode(resourceJSON{URI: r.URI, Name: r.Name, Description: r.Description, Icon: r.Icon, Scopes: []string{}})
	}
	fmt.Fprintf(stdio.Stdout, "registered resource %s (%s)\n", r.URI, r.Name)
	return nil
}

// resourceFlagErrors reports the resource rules' messages under the
// flags' names.
func resourceFlagErrors(errs resources.Errors) error {
	named := map[string]string{}
	for k, v := range errs {
		named["--"+k] = v
	}
	return fieldErrors(named)
}
