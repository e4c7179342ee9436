// Command render-preview renders every page with sample data, serves the
// result with the static files on a loopback port and, when Chromium is
// installed, takes screenshots at desktop and phone widths.
//
//	go run ./scripts/render-preview [-out DIR] [-shots /tmp/preview] [-serve]
//
// A throwaway development aid: nothing in the application imports it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/gatehouse/gatehouse/static"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

type page struct {
	name string
	c    templ.Component
	// patch edits the rendered HTML (e.g. to open the mobile menu).
	patch func(string) string
}

func samples() []page {
	admin := &views.CurrentUser{Username: "ada", Name: "Ada Lovelace", Role: "admin"}
	dev := &views.CurrentUser{Username: "grace", Name: "Grace Hopper", Role: "developer"}
	user := &views.CurrentUser{Username: "linus", Role: "user"}
	const csrf = "preview-csrf-token"
	out := func(title string) views.Base { return views.Base{Title: title, CSRFToken: csrf} }
	in := func(title, active string, u *views.CurrentUser) views.Base {
		return views.Base{Title: title, CSRFToken: csrf, User: u, Active: active}
	}
	adminCards := []pages.DashboardCard{
		{Title: "Clients", Description: "Apps registered to sign users in with Gatehouse.", Href: "/dashboard/clients", Icon: "fa-solid fa-cubes", Count: 12, ShowCount: true},
		{Title: "Scopes", Description: "Permissions that clients can request and users approve.", Href: "/dashboard/scopes", Icon: "fa-solid fa-shield-halved", Count: 7, ShowCount: true},
		{Title: "Users", Description: "People who can sign in, and their roles.", Href: "/dashboard/users", Icon: "fa-solid fa-users", Count: 1284, ShowCount: true},
		{Title: "Settings", Description: "Token lifetimes, PKCE, sign-up and other security settings.", Href: "/dashboard/settings", Icon: "fa-solid fa-sliders"},
		{Title: "Audit log", Description: "Sign-ins, consents and configuration changes.", Href: "/dashboard/audit", Icon: "fa-solid fa-clock-rotate-left"},
		{Title: "Your account", Description: "Profile, password and authorized apps.", Href: "/account", Icon: "fa-solid fa-user-gear"},
	}
	devCards := []pages.DashboardCard{
		{Title: "Your clients", Description: "Register an app and get its client ID and secret.", Href: "/dashboard/clients", Icon: "fa-solid fa-cubes", Count: 0, ShowCount: true},
		{Title: "Scopes", Description: "What your apps can ask users to allow.", Href: "/dashboard/scopes", Icon: "fa-solid fa-shield-halved", Count: 7, ShowCount: true},
		{Title: "Your account", Description: "Profile, password and authorized apps.", Href: "/account", Icon: "fa-solid fa-user-gear"},
	}
	userCards := []pages.DashboardCard{
		{Title: "Authorized apps", Description: "Apps that can access your account.", Href: "/account/apps", Icon: "fa-solid fa-plug-circle-check", Count: 3, ShowCount: true},
		{Title: "Your account", Description: "Profile and password.", Href: "/account", Icon: "fa-solid fa-user-gear"},
	}
	// Like handlers/dashboard.go: only cards whose page exists.
	onlyBuilt := func(cs []pages.DashboardCard) []pages.DashboardCard {
		out := cs[:0]
		for _, c := range cs {
			if views.Built(c.Href) {
				out = append(out, c)
			}
		}
		return out
	}
	adminCards, devCards, userCards = onlyBuilt(adminCards), onlyBuilt(devCards), onlyBuilt(userCards)
	openMenu := func(s string) string {
		return strings.Replace(s, `<details class="group relative`, `<details open class="group relative`, 1)
	}
	withFlash := func(b views.Base, f ...views.Flash) views.Base { b.Flashes = f; return b }
	return []page{
		{name: "login", c: pages.Login(out("Sign in"), pages.LoginForm{Next: "/dashboard", SignupAllowed: true})},
		{name: "login-error", c: pages.Login(withFlash(out("Sign in"), views.Flash{Kind: "info", Message: "You have been signed out."}), pages.LoginForm{Username: "ada", Error: "Incorrect username or password."})},
		{name: "signup", c: pages.Signup(out("Create an account"), pages.SignupForm{
			Username: "ada lovelace", Email: "ada@example", Name: "Ada Lovelace",
			Errors: views.FieldErrors{"username": "Use only letters, digits, dots, dashes and underscores.", "email": "Enter a valid email address.", "password_confirm": "The passwords do not match."},
		})},
		{name: "setup", c: pages.Setup(out("Set up Gatehouse"), pages.SetupForm{Token: "tok"})},
		{name: "dashboard-admin", c: pages.Dashboard(withFlash(in("Dashboard", "dashboard", admin), views.Flash{Kind: "success", Message: "Welcome back, Ada."}), pages.DashboardData{Greeting: "Good morning, Ada", Role: "admin", Cards: adminCards})},
		{name: "dashboard-admin-menu", c: pages.Dashboard(in("Dashboard", "dashboard", admin), pages.DashboardData{Greeting: "Good morning, Ada", Role: "admin", Cards: adminCards}), patch: openMenu},
		{name: "dashboard-developer", c: pages.Dashboard(in("Dashboard", "dashboard", dev), pages.DashboardData{Greeting: "Good afternoon, Grace", Role: "developer", Cards: devCards})},
		{name: "dashboard-user", c: pages.Dashboard(in("Dashboard", "dashboard", user), pages.DashboardData{Greeting: "Good evening, linus", Role: "user", Cards: userCards})},
		{name: "dashboard-empty", c: pages.Dashboard(in("Dashboard", "dashboard", user), pages.DashboardData{Greeting: "Good evening, linus", Role: "user"})},
		{name: "account", c: pages.Account(withFlash(in("Account", "account", admin), views.Flash{Kind: "error", Message: "Your password was not changed."}), pages.AccountData{
			Username: "ada", Name: "Ada Lovelace", Email: "ada@example.com", Role: "admin",
			Errors: views.FieldErrors{"current_password": "That is not your current password.", "new_password": "Use at least 12 characters."},
		})},
		{name: "account-user", c: pages.Account(in("Account", "account", user), pages.AccountData{Username: "linus", Role: "user"})},
		{name: "error-404", c: pages.Error(in("Page not found", "", dev), pages.ErrorData{Status: 404})},
		{name: "error-403", c: pages.Error(out("Forbidden"), pages.ErrorData{Status: 403})},
		{name: "error-429", c: pages.Error(out("Too many attempts"), pages.ErrorData{Status: 429})},
		{name: "error-500", c: pages.Error(in("Error", "", admin), pages.ErrorData{Status: 500})},
	}
}

func main() {
	outDir := flag.String("out", "", "folder for the rendered HTML (default: a new temp folder)")
	shots := flag.String("shots", "/tmp/preview", "folder for the screenshots (empty: none)")
	only := flag.String("only", "", "comma-separated page names to shoot (default: all)")
	serve := flag.Bool("serve", false, "keep serving after the screenshots")
	flag.Parse()
	log.SetFlags(0)

	dir := *outDir
	if dir == "" {
		d, err := os.MkdirTemp("", "gatehouse-preview-")
		if err != nil {
			log.Fatal(err)
		}
		dir = d
	}
	if err := copyStatic(filepath.Join(dir, "static")); err != nil {
		log.Fatal(err)
	}
	ps := samples()
	for _, p := range ps {
		var sb strings.Builder
		if err := p.c.Render(context.Background(), &sb); err != nil {
			log.Fatalf("%s: %v", p.name, err)
		}
		html := sb.String()
		if p.patch != nil {
			html = p.patch(html)
		}
		if err := os.WriteFile(filepath.Join(dir, p.name+".html"), []byte(html), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("rendered %d pages into %s", len(ps), dir)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	go func() { _ = http.Serve(ln, http.FileServer(http.Dir(dir))) }()
	log.Printf("serving at %s/", base)

	if *shots != "" {
		if err := screenshots(base, *shots, ps, *only); err != nil {
			log.Fatal(err)
		}
	}
	if *serve {
		select {}
	}
}

func copyStatic(dst string) error {
	return fs.WalkDir(static.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(static.FS, path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func screenshots(base, dir string, ps []page, only string) error {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		return fmt.Errorf("chromium not found (apt-get install -y chromium): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	sizes := []struct {
		suffix string
		size   string
	}{{"1280", "1280,900"}, {"375", "375,1000"}}
	for _, p := range ps {
		if len(want) > 0 && !want[p.name] {
			continue
		}
		for _, s := range sizes {
			profile, err := os.MkdirTemp("", "chromium-profile-")
			if err != nil {
				return err
			}
			png := filepath.Join(dir, p.name+"-"+s.suffix+".png")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--no-first-run", "--hide-scrollbars", "--user-data-dir="+profile,
				"--screenshot="+png, "--window-size="+s.size, base+"/"+p.name+".html")
			outb, err := cmd.CombinedOutput()
			cancel()
			os.RemoveAll(profile)
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", png, err, outb)
			}
			log.Printf("wrote %s", png)
		}
	}
	return nil
}
