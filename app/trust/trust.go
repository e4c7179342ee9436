// Package trust validates, registers and deletes the trusted issuers of
// the JWT bearer grant (RFC 7523 §2.1): parties whose signed assertions
// ("this is subject S") Gatehouse exchanges for access tokens of the users
// an admin mapped their subjects to. The dashboard's /dashboard/trust page
// and `gatehouse trust` both go through it, so the rules are the same
// everywhere. Callers record the audit events (trust.created,
// trust.deleted) with Details.
//
// The rules, and why:
//   - The issuer is the assertions' iss, compared exactly: any non-empty
//     string (RFC 7519 StringOrURI) of at most 255 characters on one line.
//   - Keys are a pasted JWK Set of public signing keys (RSA of 2048 bits or
//     more, EC P-256, Ed25519) or an https jwks_uri (http only on loopback
//     hosts), never both: the assertion verifier fetches the URI through
//     the SSRF-safe fetcher.
//   - Subjects are explicit SUB=USERNAME mappings to existing users. There
//     is no wildcard ("sub is the username"): one leaked issuer key would
//     then be every account, admins included; an explicit list bounds the
//     damage to the accounts an admin chose.
//   - Scopes are existing scopes, at least one, never offline_access: the
//     grant issues no refresh token (RFC 7521 §4.1), so it would promise
//     what it does not give. The tokens carry them without anyone's
//     consent, which is why only admins register issuers.
//   - The maximum assertion lifetime (exp - iat, and exp ahead of now) is
//     1 minute to 24 hours, 1 hour by default (what golang.org/x/oauth2/jwt
//     and Google's libraries sign).
package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Limits of a trusted issuer.
const (
	MaxIssuerLength  = 255
	MaxNameLength    = 100
	MaxSubjects      = 100
	MaxSubjectLength = 255
	MaxJWKSBytes     = 64 << 10
	MaxJWKSKeys      = 20
	MinLifetime      = time.Minute
	MaxLifetime      = 24 * time.Hour
	DefaultLifetime  = time.Hour
)

// Field names, as used by Errors and by the dashboard's form.
const (
	FieldIssuer      = "issuer"
	FieldName        = "name"
	FieldJWKS        = "jwks"
	FieldJWKSURI     = "jwks_uri"
	FieldSubjects    = "subjects"
	FieldScopes      = "scopes"
	FieldMaxLifetime = "max_lifetime"
)

// Messages shared with the callers' tests.
const (
	MsgRegistered = "This issuer is registered already. Delete it first to register it again with other settings."
	MsgNoKeys     = "Give the issuer's public keys: paste its JWK Set, or enter the URL where it publishes them (jwks_uri)."
	MsgBothKeys   = "Give either a JWK Set or a JWKS URL, not both."
)

// Input is a trusted issuer as entered.
type Input struct {
	Issuer  string
	Name    string
	JWKS    string
	JWKSURI string
	// Subjects are SUB=USERNAME mappings, one per entry (the dashboard
	// splits its text area into lines; the CLI repeats --subject).
	Subjects []string
	Scopes   []string
	// MaxLifetime is a duration such as 10m or 1h; "" means 1h.
	MaxLifetime string
	// PrivateFetch is not entered: the server fetches from private
	// addresses and over plain http (GATEHOUSE_ALLOW_PRIVATE_FETCH=1), so
	// an http JWKS URL is allowed (clients.CheckJWKSURI).
	PrivateFetch bool
}

// Errors maps a field name (FieldIssuer, ...) to a message for the person
// entering it.
type Errors map[string]string

// ErrInvalid is returned by Create with the field errors.
var ErrInvalid = errors.New("invalid trusted issuer")

// Normalize trims the input's fields, in place, and drops empty subject
// lines and scopes.
func (in *Input) Normalize() {
	in.Issuer = strings.TrimSpace(in.Issuer)
	in.Name = strings.TrimSpace(in.Name)
	in.JWKS = oauth.SingleJWKAsSet(strings.TrimSpace(in.JWKS))
	in.JWKSURI = strings.TrimSpace(in.JWKSURI)
	in.MaxLifetime = strings.TrimSpace(in.MaxLifetime)
	subjects := in.Subjects[:0:0]
	for _, s := range in.Subjects {
		if s = strings.TrimSpace(s); s != "" {
			subjects = append(subjects, s)
		}
	}
	in.Subjects = subjects
	var scopes []string
	for _, s := range in.Scopes {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	slices.Sort(scopes)
	in.Scopes = scopes
}

// Lookup is what Check reads: the users subjects map to and the scopes.
type Lookup interface {
	GetUserByUsername(ctx context.Context, username string) (*models.User, error)
	ListScopes(ctx context.Context) ([]models.Scope, error)
}

// Check returns the trusted issuer described by in (normalized) and the
// problems with it (none: empty Errors). A lookup failure is the error.
func Check(ctx context.Context, st Lookup, in Input) (*models.TrustedIssuer, Errors, error) {
	in.Normalize()
	errs := Errors{}
	ti := &models.TrustedIssuer{Issuer: in.Issuer, Name: in.Name}
	switch {
	case in.Issuer == "":
		errs[FieldIssuer] = "Enter the issuer: the iss its assertions carry, such as https://token.actions.githubusercontent.com."
	case !utf8.ValidString(in.Issuer) || utf8.RuneCountInString(in.Issuer) > MaxIssuerLength || hasControl(in.Issuer):
		errs[FieldIssuer] = fmt.Sprintf("Use at most %d characters on one line, exactly as the assertions' iss.", MaxIssuerLength)
	}
	if !utf8.ValidString(in.Name) || utf8.RuneCountInString(in.Name) > MaxNameLength || hasControl(in.Name) {
		errs[FieldName] = fmt.Sprintf("Use at most %d characters on one line.", MaxNameLength)
	}
	switch {
	case in.JWKS == "" && in.JWKSURI == "":
		errs[FieldJWKS] = MsgNoKeys
	case in.JWKS != "" && oauth.HoldsPrivateKey([]byte(in.JWKS)):
		// Before "not both": the private key is the urgent problem.
		_, msg := CheckJWKS(in.JWKS)
		errs[FieldJWKS] = clients.PrivateKeyMessage(msg)
	case in.JWKS != "" && in.JWKSURI != "":
		errs[FieldJWKS] = MsgBothKeys // on the same field as the client form's
	case in.JWKS != "":
		if set, msg := CheckJWKS(in.JWKS); msg != "" {
			errs[FieldJWKS] = msg
		} else {
			ti.JWKS = set
		}
	default:
		if msg := clients.CheckJWKSURI(in.JWKSURI, in.PrivateFetch); msg != "" { // the rules of clients' jwks_uri
			errs[FieldJWKSURI] = msg
		} else {
			ti.JWKSURI = in.JWKSURI
		}
	}
	subjects, msg, err := checkSubjects(ctx, st, in.Subjects)
	if err != nil {
		return nil, nil, err
	}
	if msg != "" {
		errs[FieldSubjects] = msg
	}
	ti.Subjects = subjects
	msg, err = checkScopes(ctx, st, in.Scopes)
	if err != nil {
		return nil, nil, err
	}
	if msg != "" {
		errs[FieldScopes] = msg
	}
	ti.Scopes = in.Scopes
	if ti.Scopes == nil {
		ti.Scopes = []string{}
	}
	d, msg := ParseLifetime(in.MaxLifetime)
	if msg != "" {
		errs[FieldMaxLifetime] = msg
	}
	ti.MaxLifetimeSeconds = int64(d / time.Second)
	return ti, errs, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// ParseLifetime reads a maximum assertion lifetime: "" is the default,
// otherwise a whole number of seconds as a duration (10m, 1h30m) from
// MinLifetime to MaxLifetime; msg says what is wrong.
func ParseLifetime(raw string) (d time.Duration, msg string) {
	if raw == "" {
		return DefaultLifetime, ""
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		if _, numErr := strconv.ParseFloat(raw, 64); numErr == nil {
			return 0, fmt.Sprintf("Add a unit to %q: write a duration such as 10m or 1h.", raw)
		}
		return 0, fmt.Sprintf("%q is not a duration: write one such as 10m or 1h.", raw)
	}
	switch {
	case d < MinLifetime || d > MaxLifetime:
		return 0, fmt.Sprintf("Use 1m to 24h (%s is outside).", raw)
	case d%time.Second != 0:
		return 0, fmt.Sprintf("Use whole seconds (%s is not).", raw)
	}
	return d, ""
}

// CheckJWKS reads a pasted JWK Set by the rules of every registered set
// (oauth.ParsePublicJWKSWith: public signing keys the assertion verifier
// can use) within MaxJWKSBytes and MaxJWKSKeys, and with a kid on each
// key when there are several (assertions name their key). It returns the
// set re-encoded (compact JSON) or a message.
func CheckJWKS(text string) (string, string) {
	set, err := oauth.ParsePublicJWKSWith([]byte(text), oauth.JWKSRules{MaxBytes: MaxJWKSBytes, MaxKeys: MaxJWKSKeys, KeyIDs: true})
	if err != nil {
		return "", oauth.JWKSSentence(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return "", "The JWK Set cannot be stored: " + err.Error() + "."
	}
	return string(b), ""
}

// checkSubjects reads SUB=USERNAME lines into the mapping, checking that
// each user exists.
func checkSubjects(ctx context.Context, st Lookup, lines []string) (map[string]string, string, error) {
	out := map[string]string{}
	if len(lines) == 0 {
		return out, "Map at least one subject to a user, as SUB=USERNAME (the assertion's sub, then the username).", nil
	}
	if len(lines) > MaxSubjects {
		return out, fmt.Sprintf("At most %d subjects.", MaxSubjects), nil
	}
	var missing []string
	for _, line := range lines {
		i := strings.LastIndex(line, "=")
		if i < 0 {
			return out, fmt.Sprintf("Write %q as SUB=USERNAME: the assertion's sub, =, then the username.", trunc(line)), nil
		}
		sub, username := strings.TrimSpace(line[:i]), accounts.NormalizeUsername(line[i+1:])
		switch {
		case sub == "":
			return out, fmt.Sprintf("%q has no subject before =.", trunc(line)), nil
		case username == "":
			return out, fmt.Sprintf("%q has no username after =.", trunc(line)), nil
		case !utf8.ValidString(sub) || utf8.RuneCountInString(sub) > MaxSubjectLength || hasControl(sub):
			return out, fmt.Sprintf("Subjects have at most %d characters on one line.", MaxSubjectLength), nil
		case sub == "*":
			return out, "There is no wildcard subject: map each subject to its user, so that the issuer's key can only ever act as the users listed.", nil
		}
		if _, dup := out[sub]; dup {
			return out, fmt.Sprintf("Subject %q is mapped twice: map it to one user.", trunc(sub)), nil
		}
		out[sub] = username
		if accounts.CheckUsername(username) != "" {
			missing = append(missing, username)
			continue
		}
		switch _, err := st.GetUserByUsername(ctx, username); {
		case errors.Is(err, store.ErrNotFound):
			missing = append(missing, username)
		case err != nil:
			return nil, "", err
		}
	}
	if len(missing) > 0 {
		return out, "No user " + quoteList(missing) + ": map subjects to existing usernames.", nil
	}
	return out, "", nil
}

// checkScopes checks the scopes the issuer's assertions may get.
func checkScopes(ctx context.Context, st Lookup, ids []string) (string, error) {
	if len(ids) == 0 {
		return "Choose at least one scope its tokens may carry.", nil
	}
	all, err := st.ListScopes(ctx)
	if err != nil {
		return "", err
	}
	exists := map[string]bool{}
	for _, sc := range all {
		exists[sc.ScopeID] = true
	}
	var unknown []string
	for _, id := range ids {
		if id == oauth.ScopeOfflineAccess {
			return "Leave out offline_access: this grant never issues refresh tokens; the issuer signs a new assertion instead.", nil
		}
		if !exists[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return "No scope " + quoteList(unknown) + ": choose existing scopes.", nil
	}
	return "", nil
}

func trunc(s string) string {
	if utf8.RuneCountInString(s) <= 60 {
		return s
	}
	return string([]rune(s)[:60]) + "…"
}

// quoteList writes names as "a", "a" or "b", "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(trunc(n))
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Store is the storage Create, List and Delete need.
type Store interface {
	Lookup
	CreateTrustedIssuer(ctx context.Context, ti *models.TrustedIssuer) error
}

// Create checks the input as entered (Check) and registers the issuer.
// Problems come back as Errors with ErrInvalid, a registered issuer among
// them.
func Create(ctx context.Context, st Store, in Input) (*models.TrustedIssuer, Errors, error) {
	ti, errs, err := Check(ctx, st, in)
	if err != nil {
		return nil, nil, err
	}
	if len(errs) > 0 {
		return nil, errs, ErrInvalid
	}
	switch err := st.CreateTrustedIssuer(ctx, ti); {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, Errors{FieldIssuer: MsgRegistered}, ErrInvalid
	case err != nil:
		return nil, nil, err
	}
	return ti, nil, nil
}

// Deleter is the storage Delete needs.
type Deleter interface {
	DeleteTrustedIssuer(ctx context.Context, issuer string) error
}

// Delete deletes the trusted issuer issuer (exactly as registered; an
// unknown one is store.ErrNotFound). Tokens issued from its assertions
// are not revoked: they expire.
func Delete(ctx context.Context, st Deleter, issuer string) error {
	return st.DeleteTrustedIssuer(ctx, issuer)
}

// KeysLabel says where the issuer's keys come from, for lists.
func KeysLabel(ti *models.TrustedIssuer) string {
	if ti.JWKSURI != "" {
		return ti.JWKSURI
	}
	var set jose.JSONWebKeySet
	if json.Unmarshal([]byte(ti.JWKS), &set) != nil {
		return "JWK Set"
	}
	if len(set.Keys) == 1 {
		return "JWK Set, 1 key"
	}
	return fmt.Sprintf("JWK Set, %d keys", len(set.Keys))
}

// SubjectLines are an issuer's subject mappings as SUB=USERNAME, sorted.
func SubjectLines(ti *models.TrustedIssuer) []string {
	out := make([]string, 0, len(ti.Subjects))
	for sub, u := range ti.Subjects {
		out = append(out, sub+"="+u)
	}
	slices.Sort(out)
	return out
}

// Details are an issuer's fields for the audit log (the issuer is the
// event's target).
func Details(ti *models.TrustedIssuer) map[string]string {
	keys := "jwks"
	if ti.JWKSURI != "" {
		keys = ti.JWKSURI
	}
	return map[string]string{"name": ti.Name, "keys": keys, "subjects": strings.Join(SubjectLines(ti), " "),
		"scopes": strings.Join(ti.Scopes, " "), "max_lifetime": (time.Duration(ti.MaxLifetimeSeconds) * time.Second).String()}
}
