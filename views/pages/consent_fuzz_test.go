package pages

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/views"
)

// FuzzConsentScopeDescription renders the consent screen with a scope
// description template, a user name and a client name from the fuzzer
// (all three can be typed by someone other than the user who reads the
// page) and checks that:
//   - only {user} and {client_name} are filled in, in one pass (a name
//     containing "{user}" is not expanded again; any other {...} stays);
//   - the page has exactly the elements and attributes of the same page
//     rendered with harmless values: no "<" from a name or description
//     ever becomes markup;
//   - the description's text, as a browser reads it, is the filled-in
//     description.
func FuzzConsentScopeDescription(f *testing.F) {
	for _, s := range [][3]string{
		{"Read {user}'s email for {client_name}", "Ada", "Mail App"},
		{"{user}", "<script>alert(1)</script>", "x"},
		{"{client_name}", "x", `<img src=x onerror=alert(1)>`},
		{"<b>{user}</b>", "ada", "app"},
		{"{user}{client_name}", "{client_name}", "{user}"},
		{"{secret} {User} {user", "ada", "app"},
		{"{{user}}", "}", "{"},
		{`" onmouseover="x`, `'><svg/onload=x>`, "</p><p>"},
		{"&lt;not a tag&gt;", "&amp;", "&#60;"},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, desc, user, client string) {
		got := oauth.ScopeDescription(desc, user, client)
		if want := fillOnePass(desc, user, client); got != want {
			t.Fatalf("ScopeDescription(%q, %q, %q) = %q, want %q", desc, user, client, got, want)
		}
		page := func(desc, user, client string) string {
			d := ConsentData{RequestID: "req", ClientName: client, UserName: user, Username: "ada", SwitchURL: "/login",
				Scopes: []ConsentScope{{ID: "s", Name: "s", Description: oauth.ScopeDescription(desc, user, client)}}}
			var sb strings.Builder
			if err := Consent(views.Base{Title: "Consent", CSRFToken: "t"}, d).Render(context.Background(), &sb); err != nil {
				t.Fatal(err)
			}
			return sb.String()
		}
		fuzzed := page(desc, user, client)
		plain := page("d", "u", "c")
		fs, ftext := structure(t, fuzzed)
		ps, _ := structure(t, plain)
		if fs != ps {
			t.Fatalf("markup changed by desc %q, user %q, client %q:\n%s\nvs\n%s", desc, user, client, fs, ps)
		}
		if !strings.Contains(ftext, "\x00desc:"+normalizeText(got)+"\x00") {
			t.Fatalf("description text %q not shown as text (desc %q, user %q, client %q)", got, desc, user, client)
		}
	})
}

// fillOnePass replaces {user} and {client_name}, left to right, once.
func fillOnePass(desc, user, client string) string {
	var b strings.Builder
	for desc != "" {
		switch {
		case strings.HasPrefix(desc, "{user}"):
			b.WriteString(user)
			desc = desc[len("{user}"):]
		case strings.HasPrefix(desc, "{client_name}"):
			b.WriteString(client)
			desc = desc[len("{client_name}"):]
		default:
			b.WriteByte(desc[0])
			desc = desc[1:]
		}
	}
	return b.String()
}

// structure returns the page's element/attribute skeleton (tag names and
// attribute names, in order) and the text of the description paragraphs
// (marked with NULs).
func structure(t *testing.T, page string) (string, string) {
	t.Helper()
	var skel, text strings.Builder
	z := html.NewTokenizer(strings.NewReader(page))
	inDesc := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return skel.String(), text.String()
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			skel.WriteString("<" + tok.Data)
			class := ""
			for _, a := range tok.Attr {
				skel.WriteString(" " + a.Key)
				if a.Key == "class" {
					class = a.Val
				}
			}
			skel.WriteString(">")
			inDesc = tok.Data == "p" && class == "text-sm text-slate-900 [overflow-wrap:anywhere]"
			if inDesc {
				text.WriteString("\x00desc:")
			}
		case html.EndTagToken:
			tok := z.Token()
			skel.WriteString("</" + tok.Data + ">")
			if inDesc {
				text.WriteString("\x00")
				inDesc = false
			}
		case html.TextToken:
			if inDesc {
				text.WriteString(normalizeText(z.Token().Data))
			}
		}
	}
}

// normalizeText is what the HTML tokenizer makes of text: NUL and invalid
// UTF-8 become U+FFFD, CR LF and CR become LF.
func normalizeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
