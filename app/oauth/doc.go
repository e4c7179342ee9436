// Package oauth is Gatehouse's OAuth 2.0 protocol core: the authorization
// and token endpoints, client authentication, grants, scopes and bearer
// token checks. It knows nothing of HTTP frameworks or databases: requests
// come in as url.Values and small structs, answers go out as structs or
// *Error values, and storage is reached through the small interfaces of
// model.go, which models/ implements. One file per endpoint or grant; the
// tests sit beside them.
package oauth
