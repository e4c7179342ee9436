package accounts

import "testing"

func TestValidate(t *testing.T) {
	ok := Input{Username: "  Ada.Lovelace ", Email: "ada@example.com", Name: "Ada", Password: "analytical engine"}
	ok.Normalize()
	if errs := ok.Validate(); len(errs) != 0 || ok.Username != "ada.lovelace" || ok.Role != "user" {
		t.Fatalf("valid input refused: %v %+v", errs, ok)
	}
	cases := map[string]Input{
		"username":         {Username: "a", Password: "long enough pw"},
		"email":            {Username: "bob", Email: "not-an-email", Password: "long enough pw"},
		"name":             {Username: "bob", Name: "<script>", Password: "long enough pw"},
		"password":         {Username: "bob", Password: "short"},
		"password_confirm": {Username: "bob", Password: "long enough pw", PasswordConfirm: "other", ConfirmPassword: true},
		"role":             {Username: "bob", Password: "long enough pw", Role: "root"},
	}
	for field, in := range cases {
		in.Normalize()
		if errs := in.Validate(); errs[field] == "" {
			t.Errorf("%s: no error for %+v (got %v)", field, in, errs)
		}
	}
	for _, u := range []string{"-bob", "bob-", "bo b", "bob@x", "böb"} {
		if CheckUsername(u) == "" {
			t.Errorf("username %q accepted", u)
		}
	}
}
