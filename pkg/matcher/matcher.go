// Package matcher holds Alertmanager's label matchers: a label name, one of
// the operators =, !=, =~ and !~, and a value. Regular expressions are RE2
// and anchored at both ends, as in Alertmanager. The package also parses the
// matcher syntax Alertmanager accepts in its configuration and API (see
// Parse), and renders matchers in Alertmanager's format, which appears in
// route keys and group keys.
package matcher

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/prometheus/common/model"
)

// Type is a matcher's operator.
type Type int

// The four operators, in Alertmanager's order (which is also the order used
// to sort matchers with equal name and value).
const (
	Equal     Type = iota // =
	NotEqual              // !=
	Regexp                // =~
	NotRegexp             // !~
)

// String returns the operator as written in matchers.
func (t Type) String() string {
	switch t {
	case Equal:
		return "="
	case NotEqual:
		return "!="
	case Regexp:
		return "=~"
	case NotRegexp:
		return "!~"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Matcher matches one label's value.
type Matcher struct {
	Type  Type
	Name  string
	Value string

	re *regexp.Regexp
}

// New returns a matcher. For the regular-expression operators the value must
// compile as RE2; it is anchored (^(?:value)$).
func New(t Type, name, value string) (*Matcher, error) {
	m := &Matcher{Type: t, Name: name, Value: value}
	switch t {
	case Equal, NotEqual:
	case Regexp, NotRegexp:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %w", value, err)
		}
		m.re = re
	default:
		return nil, fmt.Errorf("unknown match type %d", int(t))
	}
	return m, nil
}

// MustNew is New that panics on error; for tests and constant matchers.
func MustNew(t Type, name, value string) *Matcher {
	m, err := New(t, name, value)
	if err != nil {
		panic(err)
	}
	return m
}

// Matches reports whether the label value v satisfies the matcher. A missing
// label has the empty value, as in Alertmanager.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case Equal:
		return v == m.Value
	case NotEqual:
		return v != m.Value
	case Regexp:
		return m.re.MatchString(v)
	case NotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

// String renders the matcher as Alertmanager does: name, operator and the
// double-quoted value, e.g. team="db". A name that the classic syntax could
// not read back (it holds a space or one of {}!=~,\"'`) is quoted too, and
// then the value is quoted with Go's rules; otherwise the value is escaped
// with OpenMetrics' rules (only \, newline and " are escaped).
func (m *Matcher) String() string {
	if strings.ContainsFunc(m.Name, isReserved) {
		return strconv.Quote(m.Name) + m.Type.String() + strconv.Quote(m.Value)
	}
	return m.Name + m.Type.String() + `"` + openMetricsEscape(m.Value) + `"`
}

// equal reports whether two matchers are the same matcher.
func (m *Matcher) equal(o *Matcher) bool {
	return m.Type == o.Type && m.Name == o.Name && m.Value == o.Value
}

var openMetricsEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func openMetricsEscape(s string) string { return openMetricsEscaper.Replace(s) }

// isReserved reports the runes that cannot appear in an unquoted token of the
// matcher syntax.
func isReserved(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("{}!=~,\\\"'`", r)
}

// Matchers is a conjunction of matchers.
type Matchers []*Matcher

// Matches reports whether every matcher is satisfied by ls. The empty list
// matches every label set.
func (ms Matchers) Matches(ls model.LabelSet) bool {
	for _, m := range ms {
		if !m.Matches(string(ls[model.LabelName(m.Name)])) {
			return false
		}
	}
	return true
}

// String renders the list as Alertmanager does: {a="b",c=~"d"} (comma, no
// space). Route keys are built from it.
func (ms Matchers) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.String())
	}
	b.WriteByte('}')
	return b.String()
}

// Less orders matchers by name, then value, then operator: the order
// Alertmanager sorts a route's matchers in before it builds the route key.
func Less(a, b *Matcher) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Value != b.Value {
		return a.Value < b.Value
	}
	return a.Type < b.Type
}

// Compare is Less as a three-way comparison, for slices.SortFunc.
func Compare(a, b *Matcher) int {
	switch {
	case Less(a, b):
		return -1
	case Less(b, a):
		return 1
	}
	return 0
}

// MarshalYAML renders the list as Alertmanager's configuration writes it: a
// list of matcher strings.
func (ms Matchers) MarshalYAML() (any, error) {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out, nil
}
