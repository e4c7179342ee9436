// Package components holds small templ building blocks shared by pages:
// form fields, flash messages, icons, badges, page headers, empty states.
package components

import "strings"

// Field describes one labelled form input for TextField and TextArea.
type Field struct {
	Name         string // form field name; also the element id unless ID is set
	Label        string
	Type         string // input type; "text" when empty
	Value        string // kept on re-render (never for Type "password")
	Error        string // message shown under the field; marks it aria-invalid
	Autocomplete string
	Help         string // hint shown under the field
	Required     bool
	// Autofocus focuses the field; so does an Error (TextField and
	// TextArea alike): the first invalid field in the page takes the focus.
	Autofocus bool

	ID          string // element id when Name is not unique on the page
	Placeholder string
	Optional    bool // adds "(optional)" to the label
	Rows        int  // TextArea only; 4 when zero
	Sans        bool // TextArea only: prose in the sans-serif font (code is monospace by default)
	MinLength   int  // minlength attribute when > 0
}

func (f Field) id() string {
	if f.ID != "" {
		return f.ID
	}
	return f.Name
}

func (f Field) inputType() string {
	if f.Type == "" {
		return "text"
	}
	return f.Type
}

// value is the value to render: passwords are never echoed back.
func (f Field) value() string {
	if f.inputType() == "password" {
		return ""
	}
	return f.Value
}

func (f Field) helpID() string  { return f.id() + "-help" }
func (f Field) errorID() string { return f.id() + "-error" }

func (f Field) describedBy() string {
	var ids []string
	if f.Error != "" {
		ids = append(ids, f.errorID())
	}
	if f.Help != "" {
		ids = append(ids, f.helpID())
	}
	return strings.Join(ids, " ")
}

func (f Field) rows() int {
	if f.Rows <= 0 {
		return 4
	}
	return f.Rows
}

// Checkbox describes one labelled checkbox.
type Checkbox struct {
	Name    string
	ID      string // element id; Name when empty
	Value   string // submitted value; "on" when empty
	Label   string
	Help    string
	Checked bool
}

func (c Checkbox) id() string {
	if c.ID != "" {
		return c.ID
	}
	return c.Name
}

func (c Checkbox) value() string {
	if c.Value == "" {
		return "on"
	}
	return c.Value
}

// iconKind tells how Icon renders its argument.
type iconKind int

const (
	iconNone iconKind = iota
	iconFont
	iconImage
)

func classifyIcon(s string) iconKind {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return iconNone
	case strings.HasPrefix(s, "fa-"):
		return iconFont
	case strings.HasPrefix(s, "https://"), strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		return iconImage
	default:
		return iconNone
	}
}

// alertIcon is the Font Awesome icon for a flash or alert kind.
func alertIcon(kind string) string {
	switch kind {
	case "success":
		return "fa-solid fa-circle-check"
	case "error":
		return "fa-solid fa-circle-exclamation"
	case "warning":
		return "fa-solid fa-triangle-exclamation"
	default:
		return "fa-solid fa-circle-info"
	}
}

// Class names are spelled out in full so that Tailwind's scanner finds them.
func alertClass(kind string) string {
	switch kind {
	case "success":
		return "alert alert-success"
	case "error":
		return "alert alert-error"
	case "warning":
		return "alert alert-warning"
	default:
		return "alert alert-info"
	}
}

func roleBadgeClass(role string) string {
	switch role {
	case "admin":
		return "badge badge-admin"
	case "developer":
		return "badge badge-developer"
	case "user":
		return "badge badge-user"
	default:
		return "badge badge-neutral"
	}
}

func badgeClass(kind string) string {
	switch kind {
	case "primary":
		return "badge badge-primary"
	case "success":
		return "badge badge-success"
	case "warning":
		return "badge badge-warning"
	case "danger":
		return "badge badge-danger"
	default:
		return "badge badge-neutral"
	}
}
