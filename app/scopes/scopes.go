// Package scopes validates, creates and updates scope definitions. The
// dashboard's scope pages and `gatehouse scopes create` both go through
// it, so the rules are the same everywhere. What a scope guards (its
// method and resource path) follows the protocol core's grammar
// (oauth.ValidateResourcePath, oauth.ScopeMethods), beside the rules that
// match requests against it; the icon rules are in icon.go.
package scopes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// Limits of a scope definition.
const (
	MaxNameLength        = 100
	MaxDescriptionLength = 500
)

// Field names, as used by Errors and by the dashboard's form.
const (
	FieldScopeID      = "scope_id"
	FieldName         = "name"
	FieldDescription  = "description"
	FieldIcon         = "icon"
	FieldResourcePath = "resource_path"
	FieldMethod       = "method"
	FieldResource     = "resource"
)

// ReservedID is the one scope ID the dashboard keeps for itself (the
// new-scope page is /dashboard/scopes/new).
const ReservedID = "new"

// Input is a scope definition as entered.
type Input struct {
	ScopeID     string
	Name        string
	Description string // may contain {user} and {client_name}
	// Icon is a Font Awesome class ("fa-solid fa-user"; the style may be
	// left out) or an https URL of an image, or empty.
	Icon string
	// ResourcePath and Method are what the scope guards: both or
	// neither.
	ResourcePath string
	Method       string
	// Resource is the URI of the resource (RFC 8707) the scope belongs
	// to: "" for none, the built-in {issuer}/api or a registered one.
	Resource  string
	IsDefault bool
	// Machine: can be granted without a user (SPEC.md §7.1).
	Machine bool
}

// Errors maps a field name (FieldScopeID, ...) to a message for the person
// entering it.
type Errors map[string]string

// Normalize trims the input's fields and upper-cases the method, in
// place.
func (in *Input) Normalize() {
	in.ScopeID = strings.TrimSpace(in.ScopeID)
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	in.Icon = strings.TrimSpace(in.Icon)
	in.ResourcePath = strings.TrimSpace(in.ResourcePath)
	in.Method = strings.ToUpper(strings.TrimSpace(in.Method))
	in.Resource = strings.TrimSpace(in.Resource)
}

// Validate returns every problem with the (normalized) input, checking the
// scope ID only when isNew (an existing scope keeps its ID). A valid icon
// is put in its canonical form (CheckIcon), and a resource URI in its
// canonical form (oauth.CanonicalResource), in place. Whether the resource
// is registered is for Create and Update to find out.
func (in *Input) Validate(isNew bool) Errors {
	errs := Errors{}
	if isNew {
		if err := oauth.ValidateScopeID(in.ScopeID); err != nil {
			errs[FieldScopeID] = "The scope ID " + err.Error() + "."
		} else if in.ScopeID == ReservedID {
			errs[FieldScopeID] = `"new" is reserved by the dashboard; choose another scope ID.`
		}
	}
	switch {
	case in.Name == "":
		errs[FieldName] = "Give the scope a display name."
	case utf8.RuneCountInString(in.Name) > MaxNameLength || strings.ContainsAny(in.Name, "\r\n\t\x00"):
		errs[FieldName] = fmt.Sprintf("Use at most %d characters on one line.", MaxNameLength)
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > MaxDescriptionLength || strings.ContainsRune(in.Description, 0) {
		errs[FieldDescription] = fmt.Sprintf("Use at most %d characters.", MaxDescriptionLength)
	}
	if icon, msg := CheckIcon(in.Icon); msg != "" {
		errs[FieldIcon] = msg
	} else {
		in.Icon = icon
	}
	if err := oauth.ValidateResourcePath(in.ResourcePath); err != nil {
		errs[FieldResourcePath] = err.Error()
	}
	if in.Resource != "" {
		if uri, err := oauth.CanonicalResource(in.Resource); err != nil {
			errs[FieldResource] = upperFirst(err.Error()) + "."
		} else {
			in.Resource = uri
		}
	}
	switch {
	case in.Method != "" && !slices.Contains(oauth.ScopeMethods, in.Method):
		errs[FieldMethod] = "Choose GET, POST, PUT, PATCH, DELETE or any method (*)."
	case in.ResourcePath != "" && in.Method == "":
		errs[FieldMethod] = "Choose the method this path is guarded for."
	case in.ResourcePath == "" && in.Method != "" && errs[FieldResourcePath] == "":
		errs[FieldResourcePath] = "Enter the path the method applies to, or set the method to None."
	}
	return errs
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Check is the input as Create (isNew) and Update check it: normalized,
// with the icon in canonical form when valid, and its problems (none:
// empty Errors). The callers that show the input again (the dashboard's
// form) or report problems before going further (the command line, before
// it opens the database) use it; what they store goes through Create or
// Update, which check the input as entered again.
func Check(in Input, isNew bool) (Input, Errors) {
	in.Normalize()
	errs := in.Validate(isNew)
	return in, errs
}

// Apply copies the input's fields onto sc, but not the scope ID. The
// resource is stored as oauth.StoredResource has it for issuer (the
// built-in {issuer}/api as its path).
func (in *Input) Apply(issuer string, sc *models.Scope) {
	sc.Name, sc.Description, sc.Icon = in.Name, in.Description, in.Icon
	sc.ResourcePath, sc.Method, sc.IsDefault, sc.Machine = in.ResourcePath, in.Method, in.IsDefault, in.Machine
	sc.Resource = oauth.StoredResource(issuer, in.Resource)
}

// FromScope is a stored scope as input (the form's values), its resource
// resolved for issuer.
func FromScope(issuer string, sc *models.Scope) Input {
	return Input{ScopeID: sc.ScopeID, Name: sc.Name, Description: sc.Description, Icon: sc.Icon,
		ResourcePath: sc.ResourcePath, Method: sc.Method, Resource: oauth.ResolveResource(issuer, sc.Resource),
		IsDefault: sc.IsDefault, Machine: sc.Machine}
}

// Details are a scope's fields for the audit log (all but its ID and
// description). The resource is as stored ("/api" for the built-in one).
func Details(sc *models.Scope) map[string]string {
	return map[string]string{"name": sc.Name, "icon": sc.Icon, "method": sc.Method, "resource_path": sc.ResourcePath,
		"resource": sc.Resource, "default": strconv.FormatBool(sc.IsDefault), "machine": strconv.FormatBool(sc.Machine)}
}

// Changes lists the fields that differ from a to b, description included,
// as "field" -> "old → new", for the audit log.
func Changes(a, b *models.Scope) map[string]string {
	da, db := Details(a), Details(b)
	da["description"], db["description"] = a.Description, b.Description
	out := map[string]string{}
	for k, v := range da {
		if db[k] != v {
			out[k] = v + " → " + db[k]
		}
	}
	return out
}

// ErrInvalid is returned by Create and Update with the field errors.
var ErrInvalid = errors.New("invalid scope")

// Creator is the storage Create needs.
type Creator interface {
	CreateScope(ctx context.Context, sc *models.Scope) error
}

// unknownResource is the message of a resource that is not registered.
const unknownResource = "No resource with this URI is registered. Register it first, or choose the built-in one or none."

// resourceErrors turns the store's refusal of an unregistered resource
// into the field error.
func resourceErrors(err error) (Errors, error) {
	var unknown *models.UnknownResourceError
	if errors.As(err, &unknown) {
		return Errors{FieldResource: unknownResource}, ErrInvalid
	}
	return nil, err
}

// Create checks the input as entered (Check) and stores it as a new
// scope, its resource stored for issuer (Apply). Problems come back as
// Errors with ErrInvalid, an unregistered resource among them; a taken
// scope ID is the store's ErrAlreadyExists, for the caller to word.
func Create(ctx context.Context, st Creator, issuer string, in Input) (*models.Scope, Errors, error) {
	in, errs := Check(in, true)
	if len(errs) > 0 {
		return nil, errs, ErrInvalid
	}
	sc := &models.Scope{ScopeID: in.ScopeID}
	in.Apply(issuer, sc)
	if err := st.CreateScope(ctx, sc); err != nil {
		errs, err := resourceErrors(err)
		return nil, errs, err
	}
	return sc, nil, nil
}

// Updater is the storage Update needs.
type Updater interface {
	UpdateScope(ctx context.Context, scopeID string, fn func(*models.Scope) error) error
}

// Update checks the input as entered (Check; its ScopeID is ignored) and
// saves it over the scope scopeID. It returns the scope as it was and as
// it is now. Problems come back as Errors with ErrInvalid, and nothing is
// saved (an unregistered resource among them); an unknown scope is the
// store's ErrNotFound.
func Update(ctx context.Context, st Updater, issuer, scopeID string, in Input) (before, after models.Scope, errs Errors, err error) {
	in, errs = Check(in, false)
	if len(errs) > 0 {
		return before, after, errs, ErrInvalid
	}
	err = st.UpdateScope(ctx, scopeID, func(x *models.Scope) error {
		before = *x
		in.Apply(issuer, x)
		after = *x
		return nil
	})
	if err != nil {
		errs, err = resourceErrors(err)
		return before, after, errs, err
	}
	return before, after, nil, nil
}
