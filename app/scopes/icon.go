package scopes

import (
	"errors"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/static"
)

var (
	faTokenRE = regexp.MustCompile(`^fa-[a-z0-9]+(?:-[a-z0-9]+)*$`)
	faStyles  = map[string]bool{"fa-solid": true, "fa-regular": true, "fa-brands": true}
	faOnce    sync.Once
	faNames   map[string]bool
)

// faIconNames are the icon names (without "fa-") of the vendored Font
// Awesome, read once from its stylesheet.
func faIconNames() map[string]bool {
	faOnce.Do(func() {
		faNames = map[string]bool{}
		css, err := fs.ReadFile(static.FS, "vendor/fontawesome/css/all.min.css")
		if err != nil {
			return
		}
		// Icons are rules such as .fa-user,.fa-user-alt{--fa:"\f007"}.
		re := regexp.MustCompile(`((?:\.fa-[a-z0-9-]+,?)+)\{--fa:`)
		for _, m := range re.FindAllStringSubmatch(string(css), -1) {
			for _, sel := range strings.Split(m[1], ",") {
				if name, ok := strings.CutPrefix(sel, ".fa-"); ok {
					faNames[name] = true
				}
			}
		}
	})
	return faNames
}

// CheckIcon checks a scope icon: a Font Awesome class (a style and an icon
// of the vendored set, e.g. "fa-solid fa-user"; the style defaults to
// fa-solid) or an https:// image URL (checkIconURL). It returns the icon
// in its canonical form, or a message ("" is allowed).
func CheckIcon(s string) (icon, msg string) {
	if s == "" {
		return "", ""
	}
	if strings.HasPrefix(strings.ToLower(s), "https://") || strings.Contains(s, "://") {
		return checkIconURL(s)
	}
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) > 2 {
		return "", "Use one style and one icon, such as fa-solid fa-user."
	}
	style := "fa-solid"
	for _, f := range fields {
		switch {
		case !faTokenRE.MatchString(f):
			return "", "Use a Font Awesome class such as fa-solid fa-user, or an https:// image address."
		case faStyles[f]:
			style = f
		case icon == "":
			icon = f
		default:
			return "", "Use one style and one icon, such as fa-solid fa-user."
		}
	}
	if icon == "" {
		return "", "Add the icon's name, such as fa-user."
	}
	if names := faIconNames(); len(names) > 0 && !names[strings.TrimPrefix(icon, "fa-")] {
		return "", "Font Awesome has no icon called " + icon + ". Find names at fontawesome.com/icons (free icons only)."
	}
	return style + " " + icon, ""
}

// checkIconURL accepts the address of an icon image as clients do
// (clients.CheckImageURL: https, no SVG), and without quotes, angle
// brackets or backslashes. It returns the URL in its canonical form, or a
// message.
func checkIconURL(s string) (string, string) {
	const msg = "Use an https:// address of an image, such as https://example.com/icon.png."
	if strings.ContainsAny(s, "\"'<>\\") {
		return "", msg
	}
	switch err := clients.CheckImageURL(s); {
	case errors.Is(err, clients.ErrSVGImage):
		return "", "SVG images are not accepted as icons (they can carry scripts). Use the address of a PNG, JPEG or WebP image."
	case err != nil:
		return "", msg
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", msg
	}
	return u.String(), ""
}
