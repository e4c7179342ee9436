package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

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
