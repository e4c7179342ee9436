// Package oauth is Gatehouse's OAuth 2.0 protocol core: the authorization
// and token endpoints, client authentication, grants, scopes and bearer
// token checks. It knows nothing of HTTP frameworks or databases: requests
// come in as url.Values and small structs, answers go out as structs.
//
// Errors: every function returns a plain error; refusals carry an *Error
// (the OAuth error code, description and HTTP status), sometimes inside a
// wrapper with more to say (*AuthorizeError: where to redirect and the
// state; *ScopeError: the scopes that would do; *HeadlessError: state and
// iss). The transport turns an error into an answer once, with AsError
// and errors.As. Internal failures become server_error, their cause kept
// for the log.
//
// What it needs from the application it declares: storage as the small
// interfaces of model.go (models/ implements them; oauthtest holds an
// in-memory one and the conformance suite), the settings in force as a
// Policy (PolicySource), throttles as a Limiter and password checks as a
// PasswordChecker (limits.go). One file per endpoint or grant; the tests
// sit beside them.
package oauth
