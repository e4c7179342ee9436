// Package resources validates, registers, updates and deletes resources
// (RFC 8707): the APIs tokens can be issued for, each an absolute URI
// that is its tokens' audience. The dashboard's resource pages and
// `gatehouse resources` both go through it, so the rules are the same
// everywhere. URIs are stored and compared in the protocol core's
// canonical form (oauth.CanonicalResource); Gatehouse's own API,
// {issuer}/api, is built in (oauth.BuiltinResource) and not registered.
// Callers record the audit events (resource.created, resource.updated,
// resource.deleted) with Details and Changes, as for scopes.
package resources

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/scopes"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// Limits of a resource.
const (
	MaxNameLength        = 100
	MaxDescriptionLength = 500
)

// Field names, as used by Errors and by the dashboard's form.
const (
	FieldURI         = "uri"
	FieldName        = "name"
	FieldDescription = "description"
	FieldIcon        = "icon"
)

// Messages shared with the callers' tests.
const (
	MsgRegistered = "A resource with this URI is already registered."
	MsgBuiltin    = "This is Gatehouse's own API, built in: scopes can belong to it without registering it."
)

// Input is a resource as entered.
type Input struct {
	// URI is the resource's absolute URI (the audience of its tokens):
	// https, or http on a loopback host. It cannot change once registered.
	URI         string
	Name        string
	Description string
	// Icon is a Font Awesome class or an https image URL, as scope icons
	// (scopes.CheckIcon), or empty.
	Icon string
}

// Errors maps a field name (FieldURI, ...) to a message for the person
// entering it.
type Errors map[string]string

// ErrInvalid is returned by Create and Update with the field errors.
var ErrInvalid = errors.New("invalid resource")

// Normalize trims the input's fields, in place.
func (in *Input) Normalize() {
	in.URI = strings.TrimSpace(in.URI)
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	in.Icon = strings.TrimSpace(in.Icon)
}

// Check is the input normalized, with the URI (only when isNew: an
// existing resource keeps its URI) and the icon in their canonical forms
// when valid, and its problems (none: empty Errors). issuer is
// Gatehouse's, whose built-in {issuer}/api cannot be registered.
func Check(issuer string, in Input, isNew bool) (Input, Errors) {
	in.Normalize()
	errs := Errors{}
	if isNew {
		if uri, msg := checkURI(issuer, in.URI); msg != "" {
			errs[FieldURI] = msg
		} else {
			in.URI = uri
		}
	}
	switch {
	case in.Name == "":
		errs[FieldName] = "Give the resource a name."
	case !utf8.ValidString(in.Name) || utf8.RuneCountInString(in.Name) > MaxNameLength || strings.ContainsAny(in.Name, "\r\n\t\x00"):
		errs[FieldName] = fmt.Sprintf("Use at most %d characters on one line.", MaxNameLength)
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > MaxDescriptionLength || strings.ContainsRune(in.Description, 0) {
		errs[FieldDescription] = fmt.Sprintf("Use at most %d characters.", MaxDescriptionLength)
	}
	if icon, msg := scopes.CheckIcon(in.Icon); msg != "" {
		errs[FieldIcon] = msg
	} else {
		in.Icon = icon
	}
	return in, errs
}

// checkURI returns the canonical form of a new resource's URI, or a
// message.
func checkURI(issuer, raw string) (string, string) {
	if raw == "" {
		return "", "Enter the resource's URI, such as https://api.example.com."
	}
	uri, err := oauth.CanonicalResource(raw)
	if err != nil {
		msg := err.Error()
		return "", strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", "Enter an absolute URI, such as https://api.example.com."
	}
	if h := u.Hostname(); u.Scheme != "https" && !oauth.IsLoopbackHost(h) && !strings.HasSuffix(h, ".localhost") {
		return "", "Use https: plain http is only for loopback hosts (localhost, 127.0.0.1, [::1])."
	}
	if uri == oauth.BuiltinResource(issuer).URI {
		return "", MsgBuiltin
	}
	return uri, ""
}

// Apply copies the input's fields onto r, but not the URI.
func (in *Input) Apply(r *models.Resource) {
	r.Name, r.Description, r.Icon = in.Name, in.Description, in.Icon
}

// FromResource is a stored resource as input (the form's values).
func FromResource(r *models.Resource) Input {
	return Input{URI: r.URI, Name: r.Name, Description: r.Description, Icon: r.Icon}
}

// Details are a resource's fields for the audit log (all but its URI,
// the event's target, and its description).
func Details(r *models.Resource) map[string]string {
	return map[string]string{"name": r.Name, "icon": r.Icon}
}

// Changes lists the fields that differ from a to b, description included,
// as "field" -> "old → new", for the audit log.
func Changes(a, b *models.Resource) map[string]string {
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

// Creator is the storage Create needs.
type Creator interface {
	CreateResource(ctx context.Context, r *models.Resource) error
}

// Create checks the input as entered (Check) and registers the resource
// under its canonical URI. Problems come back as Errors with ErrInvalid: a
// URI registered already (in any spelling with the same canonical form)
// and the built-in URI among them.
func Create(ctx context.Context, st Creator, issuer string, in Input) (*models.Resource, Errors, error) {
	in, errs := Check(issuer, in, true)
	if len(errs) > 0 {
		return nil, errs, ErrInvalid
	}
	r := &models.Resource{URI: in.URI}
	in.Apply(r)
	switch err := st.CreateResource(ctx, r); {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, Errors{FieldURI: MsgRegistered}, ErrInvalid
	case err != nil:
		return nil, nil, err
	}
	return r, nil, nil
}

// Updater is the storage Update needs.
type Updater interface {
	UpdateResource(ctx context.Context, uri string, fn func(*models.Resource) error) error
}

// Update checks the input as entered (Check; its URI is ignored: a
// resource keeps its URI) and saves it over the resource uri. It returns
// the resource as it was and as it is now. Problems come back as Errors
// with ErrInvalid, and nothing is saved; an unknown resource is the
// store's ErrNotFound.
func Update(ctx context.Context, st Updater, issuer, uri string, in Input) (before, after models.Resource, errs Errors, err error) {
	in, errs = Check(issuer, in, false)
	if len(errs) > 0 {
		return before, after, errs, ErrInvalid
	}
	err = st.UpdateResource(ctx, uri, func(x *models.Resource) error {
		before = *x
		in.Apply(x)
		after = *x
		return nil
	})
	return before, after, nil, err
}

// Deleter is the storage Delete needs.
type Deleter interface {
	DeleteResource(ctx context.Context, uri string) error
}

// Delete deletes the resource uri (canonicalised first, so any spelling
// of it names it). While scopes belong to it, it is refused with the
// store's *models.ResourceInUseError, naming them; the built-in resource
// is refused with ErrBuiltin; an unknown one is store.ErrNotFound.
func Delete(ctx context.Context, st Deleter, issuer, uri string) (canonical string, err error) {
	canonical, err = oauth.CanonicalResource(strings.TrimSpace(uri))
	if err != nil {
		return "", fmt.Errorf("resource %q: %w", uri, store.ErrNotFound)
	}
	if canonical == oauth.BuiltinResource(issuer).URI {
		return canonical, ErrBuiltin
	}
	return canonical, st.DeleteResource(ctx, canonical)
}

// ErrBuiltin refuses to change or delete the built-in resource.
var ErrBuiltin = errors.New("the built-in resource cannot be changed or deleted")

// InUseMessage words a refused deletion for people.
func InUseMessage(e *models.ResourceInUseError) string {
	return fmt.Sprintf("%s still %s: %s. Move %s to another resource (or none), or delete %s, first.",
		plural(len(e.Scopes), "scope", "scopes"), verb(len(e.Scopes)), strings.Join(e.Scopes, ", "),
		pronoun(len(e.Scopes)), pronoun(len(e.Scopes)))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func verb(n int) string {
	if n == 1 {
		return "belongs to it"
	}
	return "belong to it"
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// Entry is a resource as the dashboard and `resources list` show it:
// the built-in one or a registered one, with its scopes.
type Entry struct {
	ID                     int64 // 0 for the built-in resource
	URI, Name, Description string
	Icon                   string
	Builtin                bool
	// Scopes are the IDs of the scopes that belong to it, ordered.
	Scopes               []string
	CreatedAt, UpdatedAt time.Time
}

// Lister is the storage List needs.
type Lister interface {
	ListResources(ctx context.Context) ([]models.Resource, error)
	ListScopes(ctx context.Context) ([]models.Scope, error)
}

// List returns the built-in resource of issuer first, then the
// registered ones by URI, each with the scopes that belong to it.
func List(ctx context.Context, st Lister, issuer string) ([]Entry, error) {
	list, err := st.ListResources(ctx)
	if err != nil {
		return nil, err
	}
	scs, err := st.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	byURI := map[string][]string{}
	for _, sc := range scs {
		if sc.Resource != "" {
			uri := oauth.ResolveResource(issuer, sc.Resource)
			byURI[uri] = append(byURI[uri], sc.ScopeID)
		}
	}
	b := oauth.BuiltinResource(issuer)
	out := []Entry{{URI: b.URI, Name: b.Name, Description: b.Description, Icon: b.Icon, Builtin: true, Scopes: byURI[b.URI]}}
	for _, r := range list {
		out = append(out, Entry{ID: r.ID, URI: r.URI, Name: r.Name, Description: r.Description, Icon: r.Icon,
			Scopes: byURI[r.URI], CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt})
	}
	return out, nil
}
