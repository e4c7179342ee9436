package pages

// LogoutConfirmData is the sign-out confirmation of an end-session
// request: the validated request, carried by the form.
type LogoutConfirmData struct {
	Username   string
	ClientID   string // "" when the request named no app
	ClientName string
	// PostLogoutRedirectURI and State are the validated request's, sent
	// back with the form (and checked again).
	PostLogoutRedirectURI string
	State                 string
	// OtherSession: the request's id_token_hint names another session
	// than this one.
	OtherSession bool
}

// SignedOutData is the signed-out page.
type SignedOutData struct {
	// FrontChannel are the front-channel logout addresses to load.
	FrontChannel []string
	// Continue is where the app that asked for the sign-out wants the
	// browser back ("" for none), and ContinueName that app's name.
	Continue     string
	ContinueName string
}
