package matcher

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parse reads a list of matchers the way Alertmanager does by default (its
// "fallback" mode): the input is read by both the UTF-8 parser and the classic
// parser; the UTF-8 result is used when both agree or only it succeeds, the
// classic result when only the classic parser succeeds or the two disagree.
// Accepted forms include `{a="b", c=~"d"}`, `a=b,c!=d`, `"quoted name"="v"`
// and the empty list (“ or `{}`).
func Parse(s string) (Matchers, error) {
	utf, uErr := parseUTF8(s)
	classic, cErr := parseClassicList(s)
	switch {
	case uErr == nil && cErr == nil:
		if !sameMatchers(utf, classic) {
			return classic, nil
		}
		return utf, nil
	case uErr == nil:
		return utf, nil
	case cErr == nil:
		return classic, nil
	}
	return nil, uErr
}

// ParseOne reads exactly one matcher, without braces, in the same fallback
// mode as Parse.
func ParseOne(s string) (*Matcher, error) {
	if strings.HasPrefix(s, "{") || strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("unexpected open or close brace: %s", s)
	}
	ms, uErr := parseUTF8(s)
	if uErr == nil && len(ms) != 1 {
		uErr = fmt.Errorf("expected 1 matcher, found %d", len(ms))
	}
	c, cErr := parseClassic(s)
	switch {
	case uErr == nil && cErr == nil:
		if !ms[0].equal(c) {
			return c, nil
		}
		return ms[0], nil
	case uErr == nil:
		return ms[0], nil
	case cErr == nil:
		return c, nil
	}
	return nil, uErr
}

func sameMatchers(a, b Matchers) bool {
	return slices.EqualFunc(a, b, func(x, y *Matcher) bool { return x.equal(y) })
}

// ---- UTF-8 syntax ---------------------------------------------------------

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokOpenBrace
	tokCloseBrace
	tokComma
	tokOperator
	tokQuoted
	tokUnquoted
)

type token struct {
	kind       tokenKind
	text       string
	start, end int // rune columns, for error messages
}

func (t token) describe() string {
	if t.kind == tokEOF {
		return "end of input"
	}
	return strconv.Quote(t.text)
}

// lex splits the input into tokens. Unquoted tokens are runs of runes that
// are neither white space nor one of {}!=~,\"'`; quoted tokens are Go
// double-quoted strings.
func lex(s string) ([]token, error) {
	var toks []token
	col := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, fmt.Errorf("column %d: invalid UTF-8", col)
		}
		start := col
		switch {
		case r == '{' || r == '}' || r == ',':
			kind := map[rune]tokenKind{'{': tokOpenBrace, '}': tokCloseBrace, ',': tokComma}[r]
			toks = append(toks, token{kind: kind, text: string(r), start: start, end: start + 1})
			i += size
			col++
		case r == '=' || r == '!':
			op := string(r)
			if i+1 < len(s) && (s[i+1] == '=' || s[i+1] == '~') {
				op += string(s[i+1])
			}
			if op == "!" || op == "==" {
				return nil, fmt.Errorf("column %d: invalid operator %q: expected one of '=', '!=', '=~' or '!~'", start, op)
			}
			toks = append(toks, token{kind: tokOperator, text: op, start: start, end: start + len(op)})
			i += len(op)
			col += len(op)
		case r == '"':
			j, n := i+1, 1
			escaped, closed := false, false
			for j < len(s) {
				q, qs := utf8.DecodeRuneInString(s[j:])
				if q == utf8.RuneError && qs == 1 {
					return nil, fmt.Errorf("column %d: invalid UTF-8", start)
				}
				j += qs
				n++
				if escaped {
					escaped = false
					continue
				}
				if q == '\\' {
					escaped = true
					continue
				}
				if q == '"' {
					closed = true
					break
				}
			}
			if !closed {
				return nil, fmt.Errorf("column %d: %s: missing end \"", start, s[i:])
			}
			toks = append(toks, token{kind: tokQuoted, text: s[i:j], start: start, end: start + n})
			i = j
			col += n
		case isReserved(r) && !isSpace(r):
			return nil, fmt.Errorf("column %d: %q: invalid input", start, r)
		case isSpace(r):
			i += size
			col++
		default:
			j, n := i, 0
			for j < len(s) {
				q, qs := utf8.DecodeRuneInString(s[j:])
				if isReserved(q) || (q == utf8.RuneError && qs == 1) {
					break
				}
				j += qs
				n++
			}
			toks = append(toks, token{kind: tokUnquoted, text: s[i:j], start: start, end: start + n})
			i = j
			col += n
		}
	}
	return append(toks, token{kind: tokEOF, start: col, end: col}), nil
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }

// value returns the string a name or value token stands for.
func (t token) value() (string, error) {
	if t.kind != tokQuoted {
		return t.text, nil
	}
	v, err := strconv.Unquote(t.text)
	if err != nil {
		return "", fmt.Errorf("column %d: %s: invalid quoted string", t.start, t.text)
	}
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("column %d: %s: invalid UTF-8", t.start, t.text)
	}
	return v, nil
}

// parseUTF8 parses: ['{'] [matcher {',' matcher} [',']] ['}'], braces paired.
func parseUTF8(s string) (Matchers, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	pos := 0
	next := func() token { t := toks[pos]; pos++; return t }
	peek := func() token { return toks[pos] }
	unexpected := func(t token, want string) error {
		return fmt.Errorf("column %d: unexpected %s: expected %s", t.start, t.describe(), want)
	}

	var ms Matchers
	brace := peek().kind == tokOpenBrace
	if brace {
		next()
	}
	for {
		t := peek()
		if t.kind == tokEOF || t.kind == tokCloseBrace {
			break
		}
		name := next()
		if name.kind != tokQuoted && name.kind != tokUnquoted {
			return nil, unexpected(name, "a label name")
		}
		n, err := name.value()
		if err != nil {
			return nil, err
		}
		if n == "" {
			return nil, fmt.Errorf("column %d: empty label name", name.start)
		}
		op := next()
		if op.kind != tokOperator {
			return nil, unexpected(op, "an operator such as '=', '!=', '=~' or '!~'")
		}
		val := next()
		if val.kind != tokQuoted && val.kind != tokUnquoted {
			return nil, unexpected(val, "a label value")
		}
		v, err := val.value()
		if err != nil {
			return nil, err
		}
		m, err := New(operator(op.text), n, v)
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", name.start, err)
		}
		ms = append(ms, m)
		sep := peek()
		if sep.kind == tokComma {
			next()
			continue
		}
		if sep.kind != tokEOF && sep.kind != tokCloseBrace {
			return nil, unexpected(sep, "a comma or close brace")
		}
	}
	end := next()
	if brace {
		if end.kind != tokCloseBrace {
			return nil, unexpected(end, "a close brace")
		}
		end = next()
	} else if end.kind == tokCloseBrace {
		return nil, fmt.Errorf("column %d: unexpected \"}\": no open brace", end.start)
	}
	if end.kind != tokEOF {
		return nil, unexpected(end, "end of input")
	}
	return ms, nil
}

func operator(op string) Type {
	switch op {
	case "!=":
		return NotEqual
	case "=~":
		return Regexp
	case "!~":
		return NotRegexp
	}
	return Equal
}

// ---- classic syntax -------------------------------------------------------

// classicRE is the classic matcher: a legacy label name, an operator and
// the rest (possibly quoted), with white space around each.
var classicRE = regexp.MustCompile(`^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$`)

// parseClassicList reads the classic list form: optional leading '{' and
// trailing '}', matchers split at commas outside double quotes, a trailing
// comma tolerated.
func parseClassicList(s string) (Matchers, error) {
	s = strings.TrimPrefix(s, "{")
	s = strings.TrimSuffix(s, "}")
	var (
		parts       []string
		cur         strings.Builder
		quoted, esc bool
	)
	for _, r := range s {
		switch {
		case r == ',' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		case r == '"':
			if esc {
				esc = false
			} else {
				quoted = !quoted
			}
		case r == '\\':
			esc = !esc
		default:
			esc = false
		}
		cur.WriteRune(r)
	}
	if last := strings.TrimSpace(cur.String()); last != "" {
		parts = append(parts, last)
	}
	ms := Matchers{}
	for _, p := range parts {
		m, err := parseClassic(p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

var errUnescapedQuote = errors.New("matcher value contains unescaped double quote")

// parseClassic reads one classic matcher. In the value, \" \\ and \n are
// escapes; any other backslash is literal; an opening double quote needs the
// closing one as the last character.
func parseClassic(s string) (*Matcher, error) {
	sub := classicRE.FindStringSubmatch(s)
	if sub == nil {
		return nil, fmt.Errorf("bad matcher format: %s", s)
	}
	raw := sub[3]
	quoted := strings.HasPrefix(raw, `"`)
	if quoted {
		raw = raw[1:]
	}
	if !utf8.ValidString(raw) {
		return nil, fmt.Errorf("matcher value not valid UTF-8: %s", sub[3])
	}
	var v strings.Builder
	esc := false
	for i, r := range raw {
		if esc {
			esc = false
			switch r {
			case 'n':
				v.WriteByte('\n')
			case '"', '\\':
				v.WriteRune(r)
			default:
				v.WriteByte('\\')
				v.WriteRune(r)
			}
			continue
		}
		switch r {
		case '\\':
			if i < len(raw)-1 {
				esc = true
				continue
			}
			v.WriteByte('\\')
		case '"':
			if !quoted || i < len(raw)-1 {
				return nil, fmt.Errorf("%w: %s", errUnescapedQuote, sub[3])
			}
			quoted = false
		default:
			v.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("%w: %s", errUnescapedQuote, sub[3])
	}
	return New(operator(sub[2]), sub[1], v.String())
}
