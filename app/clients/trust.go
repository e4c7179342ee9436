package clients

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
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
	// Actors are the clients whose tokens the client may present as
	// actor_token in a token exchange (may_act): the tokens it gets then
	// name that client as the one acting for the user, so a client that
	// a token of another reaches (sent to its API, say) could pose as
	// that client. Listing a client the acting developer owns is not
	// trust (Actor.Owning); any other is. Sorted.
	Actors []string
}

// Actor is who registers or edits a client; its role decides whether it
// may give a client trust.
type Actor struct {
	// Role is the acting user's role (models.RoleAdmin, RoleDeveloper).
	Role string
	// UserID is the acting user's ID (0 for the operator).
	UserID int64
	// owns are the client IDs, among those Owning looked up, of the
	// clients the acting user owns: those a developer may list in
	// may_act without an admin.
	owns map[string]bool
	// missing are the client IDs Owning found no client for: CheckRefs
	// reports them, CheckTrust leaves them alone.
	missing map[string]bool
}

// Owning returns the actor knowing which of the clients ids it owns, for
// CheckTrust: a developer may list their own clients in may_act, and
// only those. An actor that gives trust needs no lookup; clients not
// looked up count as another's, and unknown ones are left to CheckRefs.
func (a Actor) Owning(ctx context.Context, st ClientGetter, ids []string) (Actor, error) {
	if a.GivesTrust() || a.UserID == 0 {
		return a, nil
	}
	owns, missing := map[string]bool{}, map[string]bool{}
	for _, id := range ids {
		c, err := st.GetClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			missing[id] = true
			continue
		}
		if err != nil {
			return a, err
		}
		if c.OwnerID != nil && *c.OwnerID == a.UserID {
			owns[id] = true
		}
	}
	a.owns, a.missing = owns, missing
	return a, nil
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
	if len(in.MayAct) > 0 {
		t.Actors = slices.Sorted(slices.Values(in.MayAct))
		t.Actors = slices.Compact(t.Actors)
	}
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
// exist. The actor must know the clients it owns among in's may_act
// (Owning): any other it adds is refused.
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
	var others []string
	for _, id := range now.Actors {
		if !slices.Contains(had.Actors, id) && !actor.owns[id] && !actor.missing[id] {
			others = append(others, id)
		}
	}
	if len(others) > 0 {
		add(FieldMayAct, "Only an admin can let a client act with the tokens of a client you do not own ("+quoteList(others)+
			"): a token of that client reaching your app would get tokens saying that client acts for its user. List only your own clients, or ask an admin.")
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// quoteList writes scope or client IDs as `"a"`, `"a" and "b"`, `"a", "b" and "c"`.
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
