package pages

import (
	"strconv"

	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/components"
)

// View models of the resource pages (RFC 8707) and of the scope form's
// resource choice.

// ResourceChoice is a resource a scope can belong to, in the scope form.
type ResourceChoice struct {
	URI, Name string
	Builtin   bool
}

// label is the choice as the select shows it.
func (r ResourceChoice) label() string {
	if r.Builtin {
		return r.Name + " (built in) · " + r.URI
	}
	return r.Name + " · " + r.URI
}

// resourceName is the name of the resource with that URI among the
// choices, or the URI itself.
func (f ScopeForm) resourceName() string {
	for _, r := range f.Resources {
		if r.URI == f.Resource {
			return r.Name
		}
	}
	return f.Resource
}

// ResourceListData is the resources list (GET /dashboard/resources).
type ResourceListData struct {
	Resources []ResourceRow // the built-in one first
	CanEdit   bool          // admins; developers read only
}

// ResourceRow is one resource in the list.
type ResourceRow struct {
	ID                           int64 // 0 for the built-in one
	URI, Name, Description, Icon string
	Builtin                      bool
	Scopes                       []string // IDs of the scopes that belong to it
}

// Registered counts the registered resources (all but the built-in one).
func (d ResourceListData) Registered() int {
	n := 0
	for _, r := range d.Resources {
		if !r.Builtin {
			n++
		}
	}
	return n
}

// ResourceURL is the address of a registered resource's page.
func ResourceURL(id int64) string { return "/dashboard/resources/" + strconv.FormatInt(id, 10) }

// ResourceForm is the resource form (new and edit) or, for developers,
// the read-only view of a resource.
type ResourceForm struct {
	New     bool // registering: the URI is editable
	CanEdit bool // admins
	ID      int64
	URI     string
	Name    string
	// Description says what the API is, for admins and developers.
	Description string
	Icon        string
	Errors      views.FieldErrors // keys: uri, name, description, icon, views.FormError

	// Edit page only: Heading is the stored name (the form may hold an
	// edited one); Scopes belong to the resource.
	Heading string
	Scopes  []string
	// DeleteError is the message of a refused deletion (the confirm box
	// left unticked, or scopes that still belong to it).
	DeleteError string
	// ConfirmError marks the confirm box as the refusal's cause.
	ConfirmError bool
}

var resourceErrorFields = []components.ErrorField{
	{Key: "uri", Label: "URI"},
	{Key: "name", Label: "Name"},
	{Key: "description", Label: "Description"},
	{Key: "icon", Label: "Icon"},
}

func (f ResourceForm) errorItems() []components.ErrorItem {
	return components.ErrorItems(f.Errors, resourceErrorFields...)
}

// autofocus reports whether the field key takes the focus: the first
// invalid field, or the URI of a new, unrefused form.
func (f ResourceForm) autofocus(key string) bool {
	if first := components.FirstInvalid(f.errorItems()); first != "" {
		return key == first
	}
	return f.New && key == "uri" && f.Errors.Form() == ""
}

func (f ResourceForm) action() string {
	if f.New {
		return "/dashboard/resources"
	}
	return ResourceURL(f.ID)
}

// previewIcon is the icon shown beside the icon field.
func (f ResourceForm) previewIcon() string {
	if f.Icon == "" || f.Errors.Get("icon") != "" {
		return resourceFallbackIcon
	}
	return f.Icon
}

const resourceFallbackIcon = "fa-solid fa-server"

func resourceIconOr(icon string) string {
	if icon == "" {
		return resourceFallbackIcon
	}
	return icon
}
