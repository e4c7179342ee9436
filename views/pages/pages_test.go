package pages

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/gatehouse/gatehouse/views"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var sb strings.Builder
	if err := c.Render(context.Background(), &sb); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestPagesRender(t *testing.T) {
	t.Parallel()
	admin := &views.CurrentUser{Username: "ada", Name: "Ada Lovelace", Role: "admin"}
	user := &views.CurrentUser{Username: "bob", Role: "user"}
	out := views.Base{Title: "Sign in", CSRFToken: "tok123"}
	in := views.Base{Title: "Dashboard", CSRFToken: "tok123", User: admin, Active: "dashboard"}

	tests := []struct {
		name string
		c    templ.Component
		want []string
		not  []string
	}{
		{"login", Login(out, LoginForm{Username: "ada<x>", Next: "/dashboard/clients", Error: "Incorrect username or password.", SignupAllowed: true}),
			[]string{`action="/login"`, `name="csrf_token" value="tok123"`, `name="next" value="/dashboard/clients"`, `role="alert"`, `href="/signup"`, `value="ada&lt;x&gt;"`, `<title>Sign in · Gatehouse</title>`},
			[]string{`<header class="bg-slate-900"`}},
		{"login-no-signup", Login(out, LoginForm{}), nil, []string{`href="/signup"`, `role="alert"`}},
		{"signup", Signup(out, SignupForm{Username: "x", Errors: views.FieldErrors{"email": "Bad email.", views.FormError: "Nope."}}),
			[]string{`action="/signup"`, `name="password_confirm"`, `aria-invalid="true"`, `aria-describedby="email-error"`, `id="email-error"`, "Nope."}, nil},
		{"setup", Setup(out, SetupForm{Token: "setup-tok"}),
			[]string{`action="/setup"`, `name="token" value="setup-tok"`, "Create the first administrator"}, nil},
		{"dashboard-admin", Dashboard(in, DashboardData{Greeting: "Good morning, Ada", Role: "admin", Cards: []DashboardCard{{Title: "Users", Href: "/dashboard/users", Icon: "fa-solid fa-users", Count: 1284, ShowCount: true}}}),
			[]string{"Good morning, Ada", "1,284", `action="/logout"`, `aria-current="page"`, `id="main"`, `href="#main"`, `href="/dashboard/audit"`},
			nil},
		{"dashboard-user", Dashboard(views.Base{User: user, CSRFToken: "t"}, DashboardData{Greeting: "Hi", Role: "user"}),
			[]string{"Nothing to manage yet", `href="/dashboard"`},
			[]string{`href="/dashboard/clients"`, `href="/dashboard/audit"`}},
		{"account", Account(in, AccountData{Username: "ada", Role: "admin", Errors: views.FieldErrors{"current_password": "Wrong."}}),
			[]string{`action="/account/password"`, `name="new_password_confirm"`, "Wrong.", `href="/account/apps"`}, nil},
		{"error", Error(out, ErrorData{Status: 404}), []string{"Page not found", "Error 404"}, nil},
		{"error-500", Error(in, ErrorData{Status: 500, Title: "Oops"}), []string{"Oops", "Error 500"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			html := render(t, tt.c)
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, w := range append(tt.not, "style=", "http://", "//cdn") {
				if strings.Contains(html, w) {
					t.Errorf("unexpected %q", w)
				}
			}
			// Scripts only from our static files, never inline (CSP).
			for _, tag := range scriptTagRE.FindAllString(html, -1) {
				if !strings.Contains(tag, `src="/static/js/`) || !strings.HasSuffix(tag, "></script>") {
					t.Errorf("inline or foreign script %q", tag)
				}
			}
			if !strings.HasPrefix(html, "<!doctype html>") && !strings.HasPrefix(html, "<!DOCTYPE html>") {
				t.Error("not a full document")
			}
		})
	}
}

var scriptTagRE = regexp.MustCompile(`<script[^>]*>[^<]*</script>|<script[^>]*>`)

func TestPasswordNeverEchoed(t *testing.T) {
	t.Parallel()
	html := render(t, Signup(views.Base{}, SignupForm{}))
	if strings.Count(html, `type="password"`) != 2 {
		t.Fatalf("want 2 password inputs")
	}
}

func TestFormatCount(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := formatCount(in); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", in, got, want)
		}
	}
}
