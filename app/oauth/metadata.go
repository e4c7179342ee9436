package oauth

import (
	"context"
	"slices"
	"sort"
)

// Endpoints are the absolute URLs of the endpoints in force (the
// configuration may move each one).
type Endpoints struct {
	Authorization, Token, Revocation, Introspection, UserInfo, JWKS, DeviceAuthorization, EndSession string
	// Registration is the dynamic client registration endpoint (RFC 7591),
	// "" while the dynamic_registration setting is off: the caller, which
	// reads the settings, decides.
	Registration string
	// PushedAuthorizationRequest is the PAR endpoint (RFC 9126).
	PushedAuthorizationRequest string
}

// Metadata is the discovery document (OpenID Connect Discovery §3,
// RFC 8414 §2), served at both well-known addresses. It describes the
// server as configured now: the grant and response types listed are those
// enabled by the settings in force.
type Metadata struct {
	Issuer                      string `json:"issuer"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
	UserInfoEndpoint            string `json:"userinfo_endpoint"`
	JWKSURI                     string `json:"jwks_uri"`
	RevocationEndpoint          string `json:"revocation_endpoint"`
	IntrospectionEndpoint       string `json:"introspection_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// PAR (RFC 9126 §5): the endpoint, and whether every authorization
	// request must come through it.
	PushedAuthorizationRequestEndpoint        string   `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests        bool     `json:"require_pushed_authorization_requests"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	// The algorithms of client assertions (client_secret_jwt,
	// private_key_jwt) at each client-authenticated endpoint.
	TokenEndpointAuthSigningAlgValuesSupported         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethodsSupported                      []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                                    []string `json:"claims_supported"`
	PromptValuesSupported                              []string `json:"prompt_values_supported"`
	ClaimsParameterSupported                           bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                          bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported                       bool     `json:"request_uri_parameter_supported"`
	AuthorizationResponseIssParameterSupported         bool     `json:"authorization_response_iss_parameter_supported"`
	// Logout: RP-Initiated (end_session_endpoint), Back-Channel and
	// Front-Channel Logout 1.0, each with the session ID (sid).
	EndSessionEndpoint string `json:"end_session_endpoint,omitempty"`
	// RegistrationEndpoint is advertised while dynamic registration is on
	// (RFC 8414 §2, RFC 7591 §3).
	RegistrationEndpoint               string `json:"registration_endpoint,omitempty"`
	BackchannelLogoutSupported         bool   `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported  bool   `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported        bool   `json:"frontchannel_logout_supported"`
	FrontchannelLogoutSessionSupported bool   `json:"frontchannel_logout_session_supported"`
	// ClientIDMetadataDocumentSupported: https client_id URLs are
	// fetched (draft-ietf-oauth-client-id-metadata-document).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// DPoPSigningAlgValuesSupported are the algorithms of DPoP proofs
	// accepted (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// Metadata builds the discovery document for the settings in force.
func (s *Server) Metadata(ctx context.Context, ep Endpoints) (*Metadata, error) {
	pol, e := s.loadPolicy(ctx)
	if e != nil {
		return nil, e
	}
	scopes, err := s.model.ListScopes(ctx)
	if err != nil {
		return nil, serverError(err)
	}
	ids := make([]string, len(scopes))
	for i, sc := range scopes {
		ids[i] = sc.ID
	}
	sort.Strings(ids)
	grants := s.SupportedGrants(pol)
	responseTypes := []string{ResponseTypeCode}
	if pol.AllowImplicitGrant {
		responseTypes = append(responseTypes, ResponseTypeToken)
	}
	m := &Metadata{
		Issuer: s.issuer, AuthorizationEndpoint: ep.Authorization, TokenEndpoint: ep.Token, UserInfoEndpoint: ep.UserInfo,
		JWKSURI: ep.JWKS, RevocationEndpoint: ep.Revocation, IntrospectionEndpoint: ep.Introspection,
		ScopesSupported: ids, ResponseTypesSupported: responseTypes, ResponseModesSupported: []string{ModeQuery, ModeFragment, ModeFormPost}, GrantTypesSupported: grants,
		SubjectTypesSupported: []string{"public"},
		RegistrationEndpoint:  ep.Registration,
		// ID tokens are RS256 unless the client's
		// id_token_signed_response_alg is ES256; both keys are in the
		// JWKS.
		IDTokenSigningAlgValuesSupported: IDTokenSigningAlgs,
		// none is always listed: public clients (PKCE), and the MCP
		// clients that register themselves as such, look for it.
		TokenEndpointAuthMethodsSupported:      slices.Clone(AuthMethods),
		RevocationEndpointAuthMethodsSupported: slices.Clone(AuthMethods),
		// Public clients cannot introspect.
		IntrospectionEndpointAuthMethodsSupported:          []string{AuthSecretBasic, AuthSecretPost, AuthSecretJWT, AuthPrivateKeyJWT},
		TokenEndpointAuthSigningAlgValuesSupported:         assertionAlgs(),
		RevocationEndpointAuthSigningAlgValuesSupported:    assertionAlgs(),
		IntrospectionEndpointAuthSigningAlgValuesSupported: assertionAlgs(),
		CodeChallengeMethodsSupported:                      []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid",
			"name", "preferred_username", "email", "email_verified"},
		PromptValuesSupported:                      []string{"none", "login", "consent", "select_account"},
		AuthorizationResponseIssParameterSupported: true,
		EndSessionEndpoint:                         ep.EndSession,
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
		FrontchannelLogoutSupported:                true,
		FrontchannelLogoutSessionSupported:         true,
		ClientIDMetadataDocumentSupported:          pol.ClientIDMetadataDocuments,
		PushedAuthorizationRequestEndpoint:         ep.PushedAuthorizationRequest,
		RequirePushedAuthorizationRequests:         pol.RequirePushedAuthorizationRequests,
		DPoPSigningAlgValuesSupported:              append([]string(nil), DPoPSigningAlgs...),
	}
	for _, g := range grants {
		if g == GrantDeviceCode {
			m.DeviceAuthorizationEndpoint = ep.DeviceAuthorization
		}
	}
	return m, nil
}

// assertionAlgs lists the algorithms of client assertions: the public
// key ones (private_key_jwt), then HS256 (client_secret_jwt).
func assertionAlgs() []string {
	return append(slices.Clone(AssertionPublicKeyAlgs), AssertionSecretAlgs...)
}

// SupportedGrants lists the grant types usable under pol, in the order of
// GrantTypes, then any other registered extension grants sorted: the
// registered grants their handlers enable, and implicit while
// allow_implicit_grant is on.
func (s *Server) SupportedGrants(pol Policy) []string {
	var out []string
	listed := map[string]bool{}
	for _, t := range GrantTypes {
		listed[t.ID] = true
		if t.ID == GrantImplicit {
			if pol.AllowImplicitGrant {
				out = append(out, t.ID)
			}
			continue
		}
		if h, ok := s.grants[t.ID]; ok && h.Enabled(pol) {
			out = append(out, t.ID)
		}
	}
	var extra []string
	for id, h := range s.grants {
		if !listed[id] && h.Enabled(pol) {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}
