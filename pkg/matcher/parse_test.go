package matcher

import (
	"testing"

	"github.com/prometheus/common/model"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string // Matchers.String() of the result
		err  bool
	}{
		{in: ``, want: `{}`},
		{in: `{}`, want: `{}`},
		{in: `foo=bar`, want: `{foo="bar"}`},
		{in: `{foo="bar"}`, want: `{foo="bar"}`},
		{in: `{a="b", c=~"d"}`, want: `{a="b",c=~"d"}`},
		{in: `a!=b,c!~d`, want: `{a!="b",c!~"d"}`},
		{in: `{a="b",}`, want: `{a="b"}`},
		{in: ` foo = "bar" `, want: `{foo="bar"}`},
		{in: `"foo bar"="baz"`, want: `{"foo bar"="baz"}`},
		{in: `{"service.name"=~"api|web"}`, want: `{service.name=~"api|web"}`},
		{in: `föö="bär"`, want: `{föö="bär"}`},
		{in: `{foo="bar,baz"}`, want: `{foo="bar,baz"}`},
		{in: `foo="quote\"d"`, want: `{foo="quote\"d"}`},
		{in: `foo="new\nline"`, want: `{foo="new\nline"}`},
		// Classic fallback: the UTF-8 parser rejects these, the classic one reads them.
		{in: `foo=bar baz`, want: `{foo="bar baz"}`},
		{in: `foo=~[a-z]+\d`, want: `{foo=~"[a-z]+\\d"}`},
		{in: `{foo=bar}}`, want: `{foo="bar}"}`},
		// Disagreement: both parse, differently; the classic reading wins.
		{in: `foo="a\tb"`, want: `{foo="a\\tb"}`},
		// Cases from Alertmanager's fallback-mode documentation and tests.
		{in: `foo🙂=bar`, want: `{foo🙂="bar"}`},                               // UTF-8 only
		{in: `foo=!bar\n`, want: `{foo="!bar\n"}`},                           // classic only; \n is a newline
		{in: `{foo=!bar,bar=$baz\n}`, want: `{foo="!bar",bar="$baz\n"}`},     // classic only
		{in: `foo="\xf0\x9f\x99\x82"`, want: `{foo="\\xf0\\x9f\\x99\\x82"}`}, // disagreement: classic keeps the text
		{in: "{\n  alertname = \"Watchdog\",\n  severity =~ \"warning|critical\",\n}", want: `{alertname="Watchdog",severity=~"warning|critical"}`},
		// Errors.
		{in: `foo!bar`, err: true},
		{in: `{foo!bar}`, err: true},
		{in: `foo`, err: true},
		{in: `=bar`, err: true},
		{in: `foo=~"("`, err: true},
		{in: `{foo="bar"`, want: `{foo="bar"}`}, // the classic parser trims braces independently
		{in: `foo="bar`, err: true},
		{in: `foo=="bar"`, err: true},
		{in: `foo="a"b"`, err: true},
		{in: "foo=\"\xff\"", want: "{foo=\"\uFFFD\"}"}, // as Alertmanager's classic list parser
	}
	for _, tt := range tests {
		ms, err := Parse(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want error", tt.in, ms)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := ms.String(); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseOne(t *testing.T) {
	m, err := ParseOne(`team="db"`)
	if err != nil || m.String() != `team="db"` {
		t.Fatalf("ParseOne = %v, %v", m, err)
	}
	// The classic parser reads a single matcher's value up to the end.
	if m, err := ParseOne(`a=b,c=d`); err != nil || m.Value != "b,c=d" {
		t.Errorf("ParseOne(a=b,c=d) = %v, %v; want value b,c=d", m, err)
	}
	for _, in := range []string{`{team="db"}`, ``, "a=\"\xff\""} {
		if m, err := ParseOne(in); err == nil {
			t.Errorf("ParseOne(%q) = %s, want error", in, m)
		}
	}
}

func TestMatches(t *testing.T) {
	ls := model.LabelSet{"team": "db", "severity": "critical"}
	tests := []struct {
		in   string
		want bool
	}{
		{`team="db"`, true},
		{`team="d"`, false},
		{`team=~"d"`, false}, // anchored
		{`team=~"d.*"`, true},
		{`team!~"db|web"`, false},
		{`missing=""`, true}, // a missing label is the empty value
		{`missing!=""`, false},
		{`missing=~".*"`, true},
		{`{team="db", severity=~"crit.*"}`, true},
		{`{team="db", severity="warning"}`, false},
	}
	for _, tt := range tests {
		ms, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := ms.Matches(ls); got != tt.want {
			t.Errorf("%s matches %s = %v, want %v", tt.in, ls, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		m    *Matcher
		want string
	}{
		{MustNew(Equal, "a", `x"y\z`+"\n"), `a="x\"y\\z\n"`},
		{MustNew(NotRegexp, "a b", "v\t"), `"a b"!~"v\t"`},
		{MustNew(Regexp, "service.name", "é"), `service.name=~"é"`},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}

// FuzzParseMatchers checks that Parse never panics, and that whatever it
// accepts renders to a string that parses back to the same matchers.
func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{``, `{}`, `a=b`, `{a="b", c=~"d"}`, `"x y"!~"z"`, `foo=bar baz`, `a="\n"`, `{a=b}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(ms.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse back: %v", s, ms, err)
		}
		if !sameMatchers(ms, back) {
			t.Fatalf("Parse(%q) = %s, parses back as %s", s, ms, back)
		}
	})
}
