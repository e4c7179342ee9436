package clients

import (
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// Trust is what a client may do without a user's consent on the consent
// screen (or without the user at all). Only an admin can give it (SPEC.md §7.1): a developer may keep
// or remove the trust an admin gave their client, never add to it.
type Trust struct {
	// Password: the password grant, and the headless authorization that
	// follows from it; the app collects users' passwords itself.
	Password bool
	// JWTBearer: the JWT bearer grant (RFC 7523); the app gets tokens
	// for the users trusted issuers' assertions name, without their
	// consent.
	JWTBearer bool
	// Machine are the machine scopes the client can get with no user at
	// all: those it lists, when it has the client_credentials grant.
	// Sorted.
	Machine []string
}

// Actor is who registers or edits a client; its role decides whether it
// may give a client trust.
type Actor struct {
	// Role is the acting user's role (models.RoleAdmin, RoleDeveloper).
	Role string
}

// Operator is the server's operator at the command line: it acts as an
// admin.
var Operator = Actor{Role: models.RoleAdmin}

// GivesTrust reports whether the actor may give clients trust: admins
// only.
func (a Actor) GivesTrust() bool { return a.Role == models.RoleAdmin }

// MachineScopes returns the IDs of the machine scopes among scopes.
func MachineScopes(scopes []models.Scope) map[string]bool {
	out := map[string]bool{}
	for _, sc := range scopes {
		if sc.Machine {
			out[sc.ScopeID] = true
		}
	}
	return out
}

// TrustOf returns the trust a client described by in has; machine names
// the machine scopes (MachineScopes).
func TrustOf(in Input, machine map[string]bool) Trust {
	grants := oauth.EffectiveGrantTypes(in.GrantTypes)
	t := Trust{Password: slices.Contains(grants, oauth.GrantPassword), JWTBearer: slices.Contains(grants, oauth.GrantJWTBearer)}
	if !in.Public && slices.Contains(grants, oauth.GrantClientCredentials) {
		for _, s := range in.Scopes {
			if machine[s] && !slices.Contains(t.Machine, s) {
				t.Machine = append(t.Machine, s)
			}
		}
		slices.Sort(t.Machine)
	}
	return t
}

// CheckTrust returns, when the actor may not give trust, the problems with
// the trust in would give a client that before (nil for a new client) did
// not have, by field; nil when there are none. scopes are the scopes that
// exist.
func CheckTrust(actor Actor, before *Input, in Input, scopes []models.Scope) Errors {
	if actor.GivesTrust() {
		return nil
	}
	machine := MachineScopes(scopes)
	var had Trust
	if before != nil {
		had = TrustOf(*before, machine)
	}
	now := TrustOf(in, machine)
	errs := Errors{}
	add := func(field, msg string) {
		if errs[field] != "" {
			msg = errs[field] + " " + msg
		}
		errs[field] = msg
	}
	if now.Password && !had.Password {
		add(FieldGrantTypes, "Only an admin can give a client the resource owner password grant: with it the app collects users' passwords. Leave it out, or ask an admin.")
	}
	if now.JWTBearer && !had.JWTBearer {
		add(FieldGrantTypes, "Only an admin can give a client the JWT bearer grant: with it the app gets tokens for users, without their consent, from trusted issuers' assertions. Leave it out, or ask an admin.")
	}
	var added []string
	for _, s := range now.Machine {
		if !slices.Contains(had.Machine, s) {
			added = append(added, s)
		}
	}
	if len(added) > 0 {
		names := quoteList(added)
		hadCC := before != nil && !before.Public && slices.Contains(oauth.EffectiveGrantTypes(before.GrantTypes), oauth.GrantClientCredentials)
		if hadCC {
			add(FieldScopes, "Only an admin can give a client with client credentials machine scopes, which it gets without any user: untick "+names+", or ask an admin.")
		} else {
			add(FieldGrantTypes, "Only an admin can give client credentials to a client that lists machine scopes ("+names+"), which it would get without any user: untick client credentials or those scopes, or ask an admin.")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// quoteList writes scope IDs as `"a"`, `"a" and "b"`, `"a", "b" and "c"`.
func quoteList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = `"` + id + `"`
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
