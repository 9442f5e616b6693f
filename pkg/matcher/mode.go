package matcher

import (
	"fmt"
	"strings"

	"github.com/prometheus/common/model"
)

// Mode is how matchers are read and label names checked: Alertmanager's
// three modes, chosen there with --enable-feature. The zero value is its
// default, Fallback.
type Mode int

const (
	// Fallback reads with the UTF-8 parser and falls back to the classic
	// one (see Parse); label names are any non-empty UTF-8.
	Fallback Mode = iota
	// UTF8Strict (--enable-feature=utf8-strict-mode) reads with the UTF-8
	// parser only: what only the classic parser accepts is an error.
	UTF8Strict
	// Classic (--enable-feature=classic-mode) reads with the classic parser
	// only, as Alertmanager before 0.27, and label names follow the classic
	// rule [a-zA-Z_][a-zA-Z0-9_]*.
	Classic
)

// Alertmanager's --enable-feature values that choose a mode.
const (
	FeatureUTF8StrictMode = "utf8-strict-mode"
	FeatureClassicMode    = "classic-mode"
)

// ModeOf returns the mode the enabled features choose; both at once is an
// error, as in Alertmanager.
func ModeOf(features []string) (Mode, error) {
	m := Fallback
	for _, f := range features {
		next := m
		switch f {
		case FeatureUTF8StrictMode:
			next = UTF8Strict
		case FeatureClassicMode:
			next = Classic
		}
		if m != Fallback && next != m {
			return Fallback, fmt.Errorf("cannot have both %s and %s enabled", FeatureClassicMode, FeatureUTF8StrictMode)
		}
		m = next
	}
	return m, nil
}

func (m Mode) String() string {
	switch m {
	case UTF8Strict:
		return FeatureUTF8StrictMode
	case Classic:
		return FeatureClassicMode
	}
	return "fallback"
}

// Parse reads a list of matchers in mode m (Fallback: the package's Parse).
func (m Mode) Parse(s string) (Matchers, error) {
	switch m {
	case UTF8Strict:
		return parseUTF8(s)
	case Classic:
		return parseClassicList(s)
	}
	return Parse(s)
}

// ParseOne reads exactly one matcher, without braces, in mode m (Fallback:
// the package's ParseOne).
func (m Mode) ParseOne(s string) (*Matcher, error) {
	switch m {
	case UTF8Strict:
		if strings.HasPrefix(s, "{") || strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("unexpected open or close brace: %s", s)
		}
		ms, err := parseUTF8(s)
		if err != nil {
			return nil, err
		}
		if len(ms) != 1 {
			return nil, fmt.Errorf("expected 1 matcher, found %d", len(ms))
		}
		return ms[0], nil
	case Classic:
		return parseClassic(s)
	}
	return ParseOne(s)
}

// ValidLabelName reports whether name is a label name in mode m: the
// classic rule in Classic mode, any non-empty UTF-8 otherwise.
func (m Mode) ValidLabelName(name string) bool {
	if m == Classic {
		return model.LegacyValidation.IsValidLabelName(name)
	}
	return model.UTF8Validation.IsValidLabelName(name)
}
