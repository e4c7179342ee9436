// Package useragent names the browser and device behind a User-Agent
// header for people ("Firefox on Windows", "Safari on iPhone"): the
// sessions pages show it. The parsing is github.com/medama-io/go-useragent
// (a trie of known tokens, no regular expressions); this package only
// words its answer, and falls back to the raw header, shortened, for
// anything it does not know (curl, scripts).
package useragent

import (
	"strings"
	"unicode/utf8"

	ua "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// Kind is the sort of device, for its icon.
type Kind string

// Kinds of device.
const (
	Desktop Kind = "desktop"
	Mobile  Kind = "mobile"
	Tablet  Kind = "tablet"
	TV      Kind = "tv"
	Unknown Kind = "unknown"
)

// Device is what a User-Agent header says, in words.
type Device struct {
	// Browser is the browser's name ("Firefox"), "" when unknown.
	Browser string
	// Platform is the device or operating system ("Windows", "iPhone"),
	// "" when unknown.
	Platform string
	Kind     Kind
	// Label is the one line to show: "Firefox on Windows", or the raw
	// header shortened when neither is known ("curl/8.5.0"), or
	// "Unknown browser" for an empty one.
	Label string
}

// MaxRawLabel bounds a label made of the raw header, in characters.
const MaxRawLabel = 60

// Describe words the User-Agent header s. The parser is built on first
// use (a fraction of a second, once per process).
func Describe(s string) Device {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	if s == "" {
		return Device{Kind: Unknown, Label: "Unknown browser"}
	}
	a := ua.NewParser().Parse(s)
	d := Device{Browser: browserName(a.Browser()), Kind: kind(a.Device())}
	d.Platform = platform(a.OS(), a.Device())
	switch {
	case d.Browser != "" && d.Platform != "":
		d.Label = d.Browser + " on " + d.Platform
	case d.Browser != "":
		d.Label = d.Browser
	case d.Platform != "" && a.Device() != agents.DeviceBot:
		d.Label = "Browser on " + d.Platform
	default:
		d.Label = Shorten(s, MaxRawLabel)
	}
	return d
}

// browserName is the browser's usual name.
func browserName(b agents.Browser) string {
	switch b {
	case agents.BrowserIE:
		return "Internet Explorer"
	case agents.BrowserSamsung:
		return "Samsung Internet"
	}
	return string(b)
}

// platform names the device where it says more than the system (an
// iPhone, an iPad), else the operating system.
func platform(os agents.OS, dev agents.Device) string {
	switch os {
	case agents.OSIOS:
		switch dev {
		case agents.DeviceTablet:
			return "iPad"
		case agents.DeviceMobile:
			return "iPhone"
		}
		return "iOS"
	case agents.OSAndroid:
		if dev == agents.DeviceTablet {
			return "Android tablet"
		}
		return "Android"
	case agents.OSMacOS:
		return "macOS"
	case "":
		if dev == agents.DeviceTV {
			return "TV"
		}
		return ""
	}
	if dev == agents.DeviceTV {
		return "TV"
	}
	return string(os)
}

func kind(d agents.Device) Kind {
	switch d {
	case agents.DeviceDesktop:
		return Desktop
	case agents.DeviceMobile:
		return Mobile
	case agents.DeviceTablet:
		return Tablet
	case agents.DeviceTV:
		return TV
	}
	return Unknown
}

// Shorten cuts s to at most n characters, ending with "…" when cut.
func Shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ;,(") + "…"
}
