package oauth

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

// Resource indicators (RFC 8707) in the core. A request names the
// resources it wants tokens for with repeated resource parameters
// (ParseResources canonicalises them); the known resources are the
// registered ones plus the built-in {issuer}/api. The rules, in one place:
//
//   - an unknown resource is invalid_target;
//   - a requested scope that belongs to a resource the request did not
//     name is invalid_target; default scopes of such resources are left
//     out; scopes in no resource go with anything;
//   - the audience of the grant is the requested resources or, when none
//     were requested, the resources its scopes belong to (possibly none:
//     an empty audience, as every token issued before resources existed);
//   - at the token endpoint after a code, a device code, a refresh token
//     or for a subject token, resource parameters must name a subset of
//     the grant's audience and narrow the new access token's audience; the
//     refresh token keeps the grant's.

// Audience is the aud claim of a JWT access token and of an
// introspection answer: a string for one value, an array for several
// (RFC 7519 §4.1.3), omitted (with omitempty) for none.
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON implements json.Unmarshaler (a string or an array).
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// listScopes is the Model's scope list with each scope's Resource
// resolved (ResolveResource): the one place where the built-in path
// becomes {issuer}/api. Storage failures are server errors.
func (s *Server) listScopes(ctx context.Context) ([]Scope, error) {
	all, err := s.model.ListScopes(ctx)
	if err != nil {
		return nil, serverError(err)
	}
	for i := range all {
		all[i].Resource = ResolveResource(s.issuer, all[i].Resource)
	}
	return all, nil
}

// Resources lists the known resources: the built-in {issuer}/api first,
// then the registered ones by URI.
func (s *Server) Resources(ctx context.Context) ([]Resource, error) {
	reg, err := s.model.ListResources(ctx)
	if err != nil {
		return nil, serverError(err)
	}
	builtin := BuiltinResource(s.issuer)
	out := make([]Resource, 0, len(reg)+1)
	out = append(out, builtin)
	for _, r := range reg {
		if r.URI != builtin.URI {
			out = append(out, r)
		}
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].URI < out[1+j].URI })
	return out, nil
}

// Resource returns the known resource with that URI (compared
// canonically); ok is false when there is none or uri is malformed.
func (s *Server) Resource(ctx context.Context, uri string) (r Resource, ok bool, err error) {
	c, cerr := CanonicalResource(uri)
	if cerr != nil {
		return Resource{}, false, nil
	}
	all, err := s.Resources(ctx)
	if err != nil {
		return Resource{}, false, err
	}
	for _, x := range all {
		if x.URI == c {
			return x, true, nil
		}
	}
	return Resource{}, false, nil
}

// checkKnownResources refuses (invalid_target) the first requested
// resource (canonical) that is neither registered nor the built-in one.
func (s *Server) checkKnownResources(ctx context.Context, requested []string) error {
	if len(requested) == 0 {
		return nil
	}
	all, err := s.Resources(ctx)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(all))
	for _, r := range all {
		known[r.URI] = true
	}
	for _, r := range requested {
		if !known[r] {
			return ErrInvalidTarget.WithDescription("the resource %s is not known to this server", truncate(r, 200))
		}
	}
	return nil
}

// outsideResources returns invalid_target for the first of scopes that
// belongs to a resource not among resources (when resources were
// requested at all), and nil otherwise. all is listScopes's list.
func outsideResources(all []Scope, scopes, resources []string) error {
	if len(resources) == 0 {
		return nil
	}
	byID := make(map[string]Scope, len(all))
	for _, sc := range all {
		byID[sc.ID] = sc
	}
	for _, id := range scopes {
		if r := byID[id].Resource; r != "" && !slices.Contains(resources, r) {
			return ErrInvalidTarget.WithDescription("scope %q belongs to resource %s, which was not requested", id, truncate(r, 200))
		}
	}
	return nil
}

// inResources reports whether a scope may go with the requested
// resources: it belongs to none, or to one of them, or none were
// requested.
func inResources(sc Scope, resources []string) bool {
	return len(resources) == 0 || sc.Resource == "" || slices.Contains(resources, sc.Resource)
}

// scopeForAudience keeps of scope (space-separated) the scopes in no
// resource and those of a resource in audience. all is listScopes's list.
func scopeForAudience(all []Scope, scope string, audience []string) string {
	res := make(map[string]string, len(all))
	for _, sc := range all {
		res[sc.ID] = sc.Resource
	}
	var out []string
	for _, id := range strings.Fields(scope) {
		if r := res[id]; r == "" || slices.Contains(audience, r) {
			out = append(out, id)
		}
	}
	return JoinScope(out)
}

// grantAudience is the audience of a grant of scopes when no resources
// were requested: the resources the scopes belong to (sorted, none for
// scopes in no resource). all is listScopes's list.
func grantAudience(all []Scope, scopes []string) []string {
	res := map[string]Scope{}
	for _, sc := range all {
		res[sc.ID] = sc
	}
	var out []string
	for _, id := range scopes {
		if r := res[id].Resource; r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// audienceOf is grantAudience with the scopes listed (a space-separated
// scope).
func (s *Server) audienceOf(ctx context.Context, scope string, requested []string) ([]string, error) {
	if len(requested) > 0 {
		return slices.Clone(requested), nil
	}
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, err
	}
	return grantAudience(all, strings.Fields(scope)), nil
}

// storedGrantAudience is the audience of a stored grant (an authorization
// code or an approved device authorization: its scope and the resources
// its request named) and the new access token's, narrowed by the token
// request's resource parameters, which must name resources of the grant
// (invalid_target).
func (s *Server) storedGrantAudience(ctx context.Context, scope string, stored, requested []string) (grant, aud []string, err error) {
	if grant, err = s.audienceOf(ctx, scope, stored); err != nil {
		return nil, nil, err
	}
	if aud, err = s.narrowAudience(ctx, grant, requested, scope, false); err != nil {
		return nil, nil, err
	}
	return grant, aud, nil
}

// narrowAudience applies the resource parameters of a token request
// (requested, canonical) to a grant's audience: none keep it; otherwise
// they must be a subset of it (invalid_target) and become the new access
// token's audience. A grant without an audience: when open is set (a
// refresh token or subject token issued before resources existed, or
// for scopes in no resource), the request is checked as a new one
// against scope (known resources, no scope outside them); otherwise
// any resource is invalid_target.
func (s *Server) narrowAudience(ctx context.Context, granted, requested []string, scope string, open bool) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(granted), nil
	}
	if len(granted) == 0 {
		if !open {
			return nil, ErrInvalidTarget.WithDescription("the grant was issued for no resource; resource %s was not part of it", truncate(requested[0], 200))
		}
		if err := s.checkKnownResources(ctx, requested); err != nil {
			return nil, err
		}
		all, err := s.listScopes(ctx)
		if err != nil {
			return nil, err
		}
		if err := outsideResources(all, strings.Fields(scope), requested); err != nil {
			return nil, err
		}
		return slices.Clone(requested), nil
	}
	for _, r := range requested {
		if !slices.Contains(granted, r) {
			return nil, ErrInvalidTarget.WithDescription("the resource %s was not part of the grant (its resources: %s)", truncate(r, 200),
				truncate(strings.Join(granted, " "), 400))
		}
	}
	return slices.Clone(requested), nil
}

// CheckAudience refuses an access token whose audience does not include
// resource (a canonical URI) with invalid_token (RFC 6750 §3.1: a token
// for another resource is not valid here). A token with an empty
// audience (issued before resources existed, or for scopes in no
// resource) is accepted only with acceptNone: where tokens of the previous
// release must keep working (/api/user), not where the check is new (a
// route {P}/verify is told is a resource; the MCP authorization spec:
// servers MUST reject tokens that do not name them in their audience).
func CheckAudience(t *Token, resource string, acceptNone bool) error {
	if slices.Contains(t.Audience, resource) {
		return nil
	}
	if len(t.Audience) == 0 {
		if acceptNone {
			return nil
		}
		return ErrInvalidToken.WithDescription("the access token was not issued for a resource; this one (%s) needs a token requested with resource=%s", truncate(resource, 200), truncate(resource, 200))
	}
	return ErrInvalidToken.WithDescription("the access token was issued for another resource: its audience does not include %s", truncate(resource, 200))
}

// ProtectedResourceMetadataPath is the well-known path of RFC 9728 §3.
const ProtectedResourceMetadataPath = "/.well-known/oauth-protected-resource"

// ProtectedResourceMetadataURL is where the metadata of a resource (a
// canonical URI) lives by RFC 9728 §3.1: the well-known path inserted
// between the resource's origin and its path and query, on the
// resource's own origin.
func ProtectedResourceMetadataURL(resource string) string {
	origin, rest := splitOrigin(resource)
	return origin + ProtectedResourceMetadataPath + rest
}

// splitOrigin splits a canonical resource URI into its origin
// (scheme://host[:port]) and the rest (path and query).
func splitOrigin(uri string) (origin, rest string) {
	i := strings.Index(uri, "://")
	if i < 0 {
		return uri, ""
	}
	j := strings.IndexAny(uri[i+3:], "/?")
	if j < 0 {
		return uri, ""
	}
	return uri[:i+3+j], uri[i+3+j:]
}

// ProtectedResourceMetadata is the RFC 9728 §2 document of a resource.
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	// DPoPSigningAlgValuesSupported: the resource takes DPoP-bound tokens
	// with proofs of these algorithms (RFC 9728 §2, RFC 9449).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// ResourceMetadata answers a GET of ProtectedResourceMetadataPath + suffix
// (RFC 9728 §3.1) asked of host (the Host the client used, which a proxy
// keeps when it routes the well-known path of a resource's origin to
// Gatehouse). The suffix is the path (and query) of the resource; the
// resource is the known one with that path on host. On the issuer's
// origin (or a host that is no resource's: Gatehouse under another name),
// an empty suffix is the built-in resource {issuer}/api, Gatehouse's own
// API (SPEC.md §7.3), and a path also finds a resource on the issuer's
// origin; on a resource's origin, only that origin's resources. ok is
// false when no resource matches.
func (s *Server) ResourceMetadata(ctx context.Context, host, suffix string) (*ProtectedResourceMetadata, bool, error) {
	all, err := s.Resources(ctx)
	if err != nil {
		return nil, false, err
	}
	builtin := all[0]
	issuerOrigin, _ := splitOrigin(builtin.URI)
	issuerHost := hostOf(issuerOrigin)
	// The suffix as a resource's path and query compare (CanonicalResource:
	// no trailing slash on the path).
	path, query := suffix, ""
	if i := strings.IndexByte(suffix, '?'); i >= 0 {
		path, query = suffix[:i], suffix[i:]
	}
	suffix = strings.TrimSuffix(path, "/") + query
	host = strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(host), ":443"), ":80")
	var found, onIssuer *Resource
	resourceHost := false // host is the origin of a resource not on Gatehouse's
	for i := range all {
		origin, rest := splitOrigin(all[i].URI)
		if hostOf(origin) == host && origin != issuerOrigin {
			resourceHost = true
		}
		if rest != suffix {
			continue
		}
		if hostOf(origin) == host && found == nil {
			found = &all[i]
		}
		if origin == issuerOrigin && onIssuer == nil {
			onIssuer = &all[i]
		}
	}
	// On the origin of a resource other than Gatehouse's (a proxy routes
	// its well-known path here), only that origin's resources: a client
	// checks that the resource named equals the address it asked (RFC 9728
	// §3.3). Any other Host is Gatehouse's own origin under another name
	// (an internal address, say).
	if host == issuerHost || !resourceHost {
		switch {
		case suffix == "":
			// The bare well-known address on Gatehouse's origin: its own API.
			found = &builtin
		default:
			found = onIssuer
		}
	}
	if found == nil {
		return nil, false, nil
	}
	scopes, err := s.listScopes(ctx)
	if err != nil {
		return nil, false, err
	}
	m := &ProtectedResourceMetadata{Resource: found.URI, AuthorizationServers: []string{s.issuer},
		BearerMethodsSupported: []string{"header"}, ResourceName: found.Name, DPoPSigningAlgValuesSupported: append([]string(nil), DPoPSigningAlgs...)}
	for _, sc := range scopes {
		if sc.Resource == found.URI {
			m.ScopesSupported = append(m.ScopesSupported, sc.ID)
		}
	}
	sort.Strings(m.ScopesSupported)
	return m, true, nil
}

// hostOf is the host[:port] of an origin.
func hostOf(origin string) string {
	if i := strings.Index(origin, "://"); i >= 0 {
		return origin[i+3:]
	}
	return origin
}
