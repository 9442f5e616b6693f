package matcher

import (
	"testing"
)

// Each mode reads what Alertmanager's matcher/compat reads in it: the
// UTF-8 parser alone (utf8-strict-mode), the classic one alone
// (classic-mode), or the UTF-8 one falling back to the classic one.
func TestModes(t *testing.T) {
	for _, tc := range []struct {
		in                        string
		fallback, strict, classic bool
	}{
		{`foo=bar`, true, true, true},
		{`foo="bar", baz!~"q.*"`, true, true, true},
		{`{foo="bar"}`, true, true, true},
		{`foo=bar baz`, true, false, true},   // unquoted space: classic only
		{`foo=~"\d+"`, true, false, true},    // \d is no Go escape: classic only
		{`"foo.bar"=baz`, true, true, false}, // quoted UTF-8 name: UTF-8 only
		{`föö=bar`, true, true, false},       // non-ASCII name
		{`foo:bar="x"`, true, true, true},    // the classic parser's names allow ':'
		{`foo=bar,`, true, true, true},       // trailing comma
		{`foo`, false, false, false},         // no operator
		{`foo="bar`, false, false, false},    // unterminated quote
		{`foo==bar`, true, false, true},      // "=bar" as a classic value
	} {
		for _, m := range []struct {
			mode Mode
			want bool
		}{{Fallback, tc.fallback}, {UTF8Strict, tc.strict}, {Classic, tc.classic}} {
			_, err := m.mode.Parse(tc.in)
			if (err == nil) != m.want {
				t.Errorf("%s.Parse(%q): err %v, want ok=%v", m.mode, tc.in, err, m.want)
			}
		}
	}
}

// ParseOne reads one matcher without braces in every mode; the UTF-8
// modes refuse braces with Alertmanager's words.
func TestModesParseOne(t *testing.T) {
	for _, mode := range []Mode{Fallback, UTF8Strict, Classic} {
		if m, err := mode.ParseOne(`team=~"db|web"`); err != nil || m.Name != "team" || m.Type != Regexp || m.Value != "db|web" {
			t.Errorf("%s: %v %v", mode, m, err)
		}
		if _, err := mode.ParseOne(`{team="db"}`); err == nil {
			t.Errorf("%s: braces accepted", mode)
		}
		// Two matchers are one classic matcher whose value is "b,c=d":
		// only the strict mode has no classic reading to fall back to.
		if _, err := mode.ParseOne(`a=b,c=d`); (err == nil) == (mode == UTF8Strict) {
			t.Errorf("%s.ParseOne(a=b,c=d): %v", mode, err)
		}
	}
	if _, err := UTF8Strict.ParseOne(`foo=~"\d+"`); err == nil {
		t.Error("strict: a classic-only matcher accepted")
	}
	if m, err := Classic.ParseOne(`foo=~"\d+"`); err != nil || m.Value != `\d+` {
		t.Errorf("classic: %v %v", m, err)
	}
	if _, err := Classic.ParseOne(`"foo.bar"=baz`); err == nil {
		t.Error("classic: a UTF-8 name accepted")
	}
}

func TestModesLabelNames(t *testing.T) {
	for name, want := range map[string][3]bool{ // fallback, strict, classic
		"foo_bar": {true, true, true},
		"_x9":     {true, true, true},
		"foo.bar": {true, true, false},
		"9lives":  {true, true, false},
		"a:b":     {true, true, false},
		"föö":     {true, true, false},
		"":        {false, false, false},
	} {
		for i, mode := range []Mode{Fallback, UTF8Strict, Classic} {
			if got := mode.ValidLabelName(name); got != want[i] {
				t.Errorf("%s.ValidLabelName(%q) = %v", mode, name, got)
			}
		}
	}
}

func TestModeOf(t *testing.T) {
	for _, tc := range []struct {
		features []string
		want     Mode
		err      bool
	}{
		{nil, Fallback, false},
		{[]string{"auto-gomemlimit"}, Fallback, false},
		{[]string{"utf8-strict-mode"}, UTF8Strict, false},
		{[]string{"classic-mode", "classic-mode"}, Classic, false},
		{[]string{"classic-mode", "utf8-strict-mode"}, Fallback, true},
		{[]string{"utf8-strict-mode", "x", "classic-mode"}, Fallback, true},
	} {
		got, err := ModeOf(tc.features)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ModeOf(%v) = %v, %v", tc.features, got, err)
		}
	}
}
