package clients

import (
	"slices"
	"strconv"
	"strings"
)

// Changes names the fields (FieldName, ...) that differ between two
// normalized inputs, in the order of the form. Grant types and scopes are
// compared as sets; redirect URIs and post-logout redirect URIs as lists.
func Changes(before, after Input) []string {
	var out []string
	add := func(name string, differs bool) {
		if differs {
			out = append(out, name)
		}
	}
	add(FieldName, before.Name != after.Name)
	add(FieldDescription, before.Description != after.Description)
	add(FieldIcon, before.Icon != after.Icon)
	add(FieldHomepage, before.Homepage != after.Homepage)
	add(FieldRedirectURIs, !slices.Equal(before.RedirectURIs, after.RedirectURIs))
	add(FieldGrantTypes, !sameSet(before.GrantTypes, after.GrantTypes))
	add(FieldScopes, !sameSet(before.Scopes, after.Scopes))
	add(FieldPublic, before.Public != after.Public)
	add(FieldPostLogoutRedirectURIs, !slices.Equal(before.PostLogoutRedirectURIs, after.PostLogoutRedirectURIs))
	add(FieldBackchannelLogoutURI, before.BackchannelLogoutURI != after.BackchannelLogoutURI)
	add(FieldBackchannelLogoutSessionRequired, before.BackchannelLogoutSessionRequired != after.BackchannelLogoutSessionRequired)
	add(FieldFrontchannelLogoutURI, before.FrontchannelLogoutURI != after.FrontchannelLogoutURI)
	add(FieldFrontchannelLogoutSessionRequired, before.FrontchannelLogoutSessionRequired != after.FrontchannelLogoutSessionRequired)
	add(FieldRefreshTokenReuseInterval, before.RefreshTokenReuseInterval != after.RefreshTokenReuseInterval)
	add(FieldTokenEndpointAuthMethod, before.TokenEndpointAuthMethod != after.TokenEndpointAuthMethod)
	add(FieldJWKS, before.JWKS != after.JWKS)
	add(FieldJWKSURI, before.JWKSURI != after.JWKSURI)
	add(FieldIDTokenSignedResponseAlg, before.IDTokenSignedResponseAlg != after.IDTokenSignedResponseAlg)
	add(FieldDPoPBoundAccessTokens, before.DPoPBoundAccessTokens != after.DPoPBoundAccessTokens)
	add(FieldRequirePushedAuthorizationRequests, before.RequirePushedAuthorizationRequests != after.RequirePushedAuthorizationRequests)
	add(FieldMayAct, !sameSet(before.MayAct, after.MayAct))
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// AuditDetails are the details of a client.updated audit event: "changed"
// lists the changed fields (Changes, comma-separated), and what widens a
// client's reach or weakens a protection — where users are sent, where
// Gatehouse sends logout tokens or loads pages, grants, scopes, the
// client type, the refresh token reuse interval, how the client
// authenticates and with which keys, the DPoP and PAR requirements, the
// ID token algorithm, whom it may act for — is recorded with its values
// as "before -> after" (a pasted JWK Set by its key IDs, JWKSSummary).
func AuditDetails(before, after Input) map[string]string {
	changed := Changes(before, after)
	details := map[string]string{"changed": strings.Join(changed, ",")}
	for _, ch := range changed {
		switch ch {
		case FieldRedirectURIs:
			details[ch] = strings.Join(before.RedirectURIs, " ") + " -> " + strings.Join(after.RedirectURIs, " ")
		case FieldGrantTypes:
			details[ch] = strings.Join(before.GrantTypes, " ") + " -> " + strings.Join(after.GrantTypes, " ")
		case FieldScopes:
			details[ch] = strings.Join(before.Scopes, " ") + " -> " + strings.Join(after.Scopes, " ")
		case FieldPublic:
			details[ch] = strconv.FormatBool(before.Public) + " -> " + strconv.FormatBool(after.Public)
		case FieldPostLogoutRedirectURIs:
			details[ch] = strings.Join(before.PostLogoutRedirectURIs, " ") + " -> " + strings.Join(after.PostLogoutRedirectURIs, " ")
		case FieldBackchannelLogoutURI:
			details[ch] = before.BackchannelLogoutURI + " -> " + after.BackchannelLogoutURI
		case FieldFrontchannelLogoutURI:
			details[ch] = before.FrontchannelLogoutURI + " -> " + after.FrontchannelLogoutURI
		case FieldRefreshTokenReuseInterval:
			details[ch] = ReuseIntervalText(before.RefreshTokenReuseInterval) + " -> " + ReuseIntervalText(after.RefreshTokenReuseInterval)
		case FieldTokenEndpointAuthMethod:
			details[ch] = AuthMethodText(before) + " -> " + AuthMethodText(after)
		case FieldJWKS:
			details[ch] = JWKSSummary(before.JWKS) + " -> " + JWKSSummary(after.JWKS)
		case FieldJWKSURI:
			details[ch] = before.JWKSURI + " -> " + after.JWKSURI
		case FieldIDTokenSignedResponseAlg:
			details[ch] = before.IDTokenSignedResponseAlg + " -> " + after.IDTokenSignedResponseAlg
		case FieldDPoPBoundAccessTokens:
			details[ch] = strconv.FormatBool(before.DPoPBoundAccessTokens) + " -> " + strconv.FormatBool(after.DPoPBoundAccessTokens)
		case FieldRequirePushedAuthorizationRequests:
			details[ch] = strconv.FormatBool(before.RequirePushedAuthorizationRequests) + " -> " + strconv.FormatBool(after.RequirePushedAuthorizationRequests)
		case FieldMayAct:
			details[ch] = strings.Join(before.MayAct, " ") + " -> " + strings.Join(after.MayAct, " ")
		}
	}
	return details
}

// ReuseIntervalText shows Input.RefreshTokenReuseInterval to a person:
// "default" for "" (the server setting), else the interval.
func ReuseIntervalText(v string) string {
	if v == "" {
		return "default"
	}
	return v
}

// AuthMethodText shows Input.TokenEndpointAuthMethod to a person: the
// method, or for a client stored before it could be chosen what it
// accepts ("client_secret_basic or client_secret_post", or "none").
func AuthMethodText(in Input) string {
	switch {
	case in.TokenEndpointAuthMethod != "":
		return in.TokenEndpointAuthMethod
	case in.Public:
		return AuthNone
	}
	return AuthSecretBasic + " or " + AuthSecretPost
}
