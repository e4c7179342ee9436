package oauth

import (
	"context"
	"slices"
	"sort"
)

// ValidateScope decides the scopes a client gets for a request
// (validateScope): every requested scope must exist and be allowed to the
// client (otherwise invalid_scope); the default scopes the client may have
// are added. With resources (RFC 8707, canonical: ParseResources) they
// must be known and every requested scope that belongs to a resource
// must belong to one of them (invalid_target otherwise); default scopes
// of other resources are left out. The result is sorted; its details
// carry each scope's resolved resource.
func (s *Server) ValidateScope(ctx context.Context, client *Client, requested, resources []string) ([]string, []Scope, error) {
	if err := s.checkKnownResources(ctx, resources); err != nil {
		return nil, nil, err
	}
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]Scope, len(all))
	for _, sc := range all {
		byID[sc.ID] = sc
	}
	allowed := func(id string) bool {
		if len(client.Scopes) == 0 {
			return true
		}
		for _, x := range client.Scopes {
			if x == id {
				return true
			}
		}
		return false
	}
	set := map[string]bool{}
	for _, r := range requested {
		if _, ok := byID[r]; !ok {
			return nil, nil, ErrInvalidScope.WithDescription("unknown scope %q", truncate(r, 64))
		}
		if !allowed(r) {
			return nil, nil, ErrInvalidScope.WithDescription("scope %q is not allowed for this client", r)
		}
		set[r] = true
	}
	if e := outsideResources(all, requested, resources); e != nil {
		return nil, nil, e
	}
	for _, sc := range all {
		if sc.Default && allowed(sc.ID) && inResources(sc, resources) {
			set[sc.ID] = true
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	details := make([]Scope, 0, len(ids))
	for _, id := range ids {
		details = append(details, byID[id])
	}
	return ids, details, nil
}

// ValidateMachineScope decides the scopes of a token without a user (the
// client_credentials grant; SPEC.md §7.1, RFC-CHECKLIST rule 51): only
// scopes with the machine flag that the client lists by name. An empty
// client list grants none (it means "any scope" only when a user
// consents). Without requested scopes the request gets every such scope
// (possibly none); otherwise the requested ones plus the default scopes
// among them. A requested scope outside them is invalid_scope, saying
// why. Resources (canonical) are checked as ValidateScope checks them;
// scopes of other resources are not added. The result is sorted.
func (s *Server) ValidateMachineScope(ctx context.Context, client *Client, requested, resources []string) ([]string, error) {
	if err := s.checkKnownResources(ctx, resources); err != nil {
		return nil, err
	}
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, err
	}
	if e := checkMachineScope(all, client, requested); e != nil {
		return nil, e
	}
	if e := outsideResources(all, requested, resources); e != nil {
		return nil, e
	}
	allowed := machineScopes(all, client)
	set := make(map[string]bool, len(allowed))
	for _, r := range requested {
		set[r] = true
	}
	for _, sc := range all {
		if allowed[sc.ID] && (len(requested) == 0 || sc.Default) && inResources(sc, resources) {
			set[sc.ID] = true
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// machineScopes returns the scopes the client may have without a user, by
// ID: the machine scopes of all that the client lists.
func machineScopes(all []Scope, client *Client) map[string]bool {
	out := map[string]bool{}
	for _, sc := range all {
		if sc.Machine && slices.Contains(client.Scopes, sc.ID) {
			out[sc.ID] = true
		}
	}
	return out
}

// checkMachineScope returns invalid_scope for the first of scopes that the
// client may not have without a user (unknown, not a machine scope, or not
// listed for the client), and nil when it may have them all.
func checkMachineScope(all []Scope, client *Client, scopes []string) error {
	byID := make(map[string]Scope, len(all))
	for _, sc := range all {
		byID[sc.ID] = sc
	}
	for _, id := range scopes {
		sc, ok := byID[id]
		switch {
		case !ok:
			return ErrInvalidScope.WithDescription("unknown scope %q", truncate(id, 64))
		case !sc.Machine:
			return ErrInvalidScope.WithDescription("scope %q is not a machine scope: it is granted only with a user's consent, never to a token without a user", id)
		case !slices.Contains(client.Scopes, id):
			return ErrInvalidScope.WithDescription("scope %q is not listed for this client: a token without a user gets only the machine scopes an admin listed for the client", id)
		}
	}
	return nil
}

// stillAllowed keeps the scopes that still exist and that the client may
// still have (for refreshes of grants made before a change).
func (s *Server) stillAllowed(ctx context.Context, client *Client, scopes []string) ([]string, error) {
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, err
	}
	exists := make(map[string]bool, len(all))
	for _, sc := range all {
		exists[sc.ID] = true
	}
	allowed := make(map[string]bool, len(client.Scopes))
	for _, x := range client.Scopes {
		allowed[x] = true
	}
	out := scopes[:0:0]
	for _, sc := range scopes {
		if exists[sc] && (len(client.Scopes) == 0 || allowed[sc]) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// VerifyScope decides whether a token with the granted scopes may make a
// request with method to resource (verifyScope): it may when one granted
// scope guards that method and path. needed lists the scopes that would
// have allowed it (for the insufficient_scope answer); none means no scope
// guards the resource at all, which is denied too (deny by default).
func VerifyScope(all []Scope, granted []string, method, resource string) (ok bool, needed []string) {
	p, valid := CleanResourcePath(resource)
	if !valid {
		return false, nil
	}
	have := make(map[string]bool, len(granted))
	for _, g := range granted {
		have[g] = true
	}
	for _, sc := range all {
		if !Guards(sc, method, p) {
			continue
		}
		if have[sc.ID] {
			return true, nil
		}
		needed = append(needed, sc.ID)
	}
	sort.Strings(needed)
	return false, needed
}
