// Package silence holds Alertmanager's silences: the model (id, matchers,
// startsAt, endsAt, createdBy, comment, updatedAt), its validation, its
// states by time (pending, active, expired), the rules for changing a
// silence in place or replacing it with a new one, and expiry. Silences live
// in the JetStream KV bucket klaxon-silences, whose per-key history is the
// audit trail (who created, changed or expired which silence, and when); every
// process reads them from its own watched copy (pkg/kvcache), so all
// replicas see the same silences.
//
// The rules are pure functions of a silence and "now" (this file); the KV
// adapter is silences.go.
package silence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// State is a silence's state at a given time.
type State string

// The three states, as the API names them.
const (
	StatePending State = "pending" // starts in the future
	StateActive  State = "active"  // mutes matching alerts now
	StateExpired State = "expired" // ended; kept until the retention passes
)

// Errors.
var (
	// ErrNotFound: no silence with that id (an update of an unknown id).
	ErrNotFound = errors.New("silence not found")
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("invalid silence")
)

// Matcher is one matcher of a silence in the API's form: name, value, and
// whether the value is a regular expression and whether it must match
// (isEqual) or must not.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// Equal is the matcher name="value".
func Equal(name, value string) Matcher { return Matcher{Name: name, Value: value, IsEqual: true} }

// Regexp is the matcher name=~"value".
func Regexp(name, value string) Matcher {
	return Matcher{Name: name, Value: value, IsRegex: true, IsEqual: true}
}

// UnmarshalJSON reads a matcher; an absent isEqual is true, as the API's
// schema defaults it.
func (m *Matcher) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual *bool  `json:"isEqual"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Matcher{Name: raw.Name, Value: raw.Value, IsRegex: raw.IsRegex, IsEqual: raw.IsEqual == nil || *raw.IsEqual}
	return nil
}

// Type is the matcher's operator.
func (m Matcher) Type() matcher.Type {
	switch {
	case m.IsRegex && m.IsEqual:
		return matcher.Regexp
	case m.IsRegex:
		return matcher.NotRegexp
	case m.IsEqual:
		return matcher.Equal
	}
	return matcher.NotEqual
}

// FromMatcher is the API form of a parsed matcher.
func FromMatcher(m *matcher.Matcher) Matcher {
	return Matcher{
		Name: m.Name, Value: m.Value,
		IsRegex: m.Type == matcher.Regexp || m.Type == matcher.NotRegexp,
		IsEqual: m.Type == matcher.Equal || m.Type == matcher.Regexp,
	}
}

func (m Matcher) validate(mode matcher.Mode) error {
	if !mode.ValidLabelName(m.Name) {
		return fmt.Errorf("invalid label name %q", m.Name)
	}
	if !m.IsRegex && !utf8.ValidString(m.Value) {
		return fmt.Errorf("invalid label value %q", m.Value)
	}
	_, err := matcher.New(m.Type(), m.Name, m.Value)
	return err
}

// matchesEmpty is Alertmanager's test for a matcher that would match alerts
// lacking the label: = "" and =~ a pattern that matches "". The negative
// operators never count, whatever their value.
func (m Matcher) matchesEmpty() bool {
	switch m.Type() {
	case matcher.Equal:
		return m.Value == ""
	case matcher.Regexp:
		c, err := matcher.New(matcher.Regexp, m.Name, m.Value)
		return err == nil && c.Matches("")
	}
	return false
}

// Silence is one silence. Times are UTC.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
}

// State is the silence's state at now: pending before startsAt, expired
// after endsAt, active in between (both ends included, as in Alertmanager).
func (s *Silence) State(now time.Time) State {
	switch {
	case now.Before(s.StartsAt):
		return StatePending
	case now.After(s.EndsAt):
		return StateExpired
	}
	return StateActive
}

// Limits on a silence, far beyond what operators write: every process
// matches every alert against every silence's matchers.
const (
	MaxMatchers          = 100
	MaxMatcherValueBytes = 16 << 10 // a value or regular expression
)

// Validate checks what Alertmanager checks on every stored silence: at least
// one matcher, each valid, not all of them matching the empty string, both
// times set, and the end not before the start. Label names are checked by
// Alertmanager's default rule.
func (s *Silence) Validate() error { return s.ValidateIn(matcher.Fallback) }

// ValidateIn is Validate with the label-name rule of mode (Alertmanager's
// classic-mode: [a-zA-Z_][a-zA-Z0-9_]*).
func (s *Silence) ValidateIn(mode matcher.Mode) error {
	if len(s.Matchers) == 0 {
		return fmt.Errorf("%w: at least one matcher required", ErrInvalid)
	}
	if len(s.Matchers) > MaxMatchers {
		return fmt.Errorf("%w: %d matchers, at most %d", ErrInvalid, len(s.Matchers), MaxMatchers)
	}
	for i, m := range s.Matchers {
		if len(m.Value) > MaxMatcherValueBytes {
			return fmt.Errorf("%w: matcher %d: a value of %d bytes, at most %d", ErrInvalid, i, len(m.Value), MaxMatcherValueBytes)
		}
	}
	allMatchEmpty := true
	for i, m := range s.Matchers {
		if err := m.validate(mode); err != nil {
			return fmt.Errorf("%w: invalid label matcher %d: %w", ErrInvalid, i, err)
		}
		allMatchEmpty = allMatchEmpty && m.matchesEmpty()
	}
	if allMatchEmpty {
		return fmt.Errorf("%w: at least one matcher must not match the empty string", ErrInvalid)
	}
	if s.StartsAt.IsZero() {
		return fmt.Errorf("%w: invalid zero start timestamp", ErrInvalid)
	}
	if s.EndsAt.IsZero() {
		return fmt.Errorf("%w: invalid zero end timestamp", ErrInvalid)
	}
	if s.EndsAt.Before(s.StartsAt) {
		return fmt.Errorf("%w: end time must not be before start time", ErrInvalid)
	}
	return nil
}

// ValidatePosted adds the checks Alertmanager's API makes on a posted
// silence before storing it: the start strictly before the end, and the end
// not in the past.
func (s *Silence) ValidatePosted(now time.Time) error {
	if !s.StartsAt.IsZero() && !s.StartsAt.Before(s.EndsAt) {
		return fmt.Errorf("%w: start time must be before end time", ErrInvalid)
	}
	if s.EndsAt.Before(now) {
		return fmt.Errorf("%w: end time can't be in the past", ErrInvalid)
	}
	return nil
}

// Compile returns the silence's matchers, ready to match label sets.
func (s *Silence) Compile() (matcher.Matchers, error) {
	ms := make(matcher.Matchers, 0, len(s.Matchers))
	for _, m := range s.Matchers {
		c, err := matcher.New(m.Type(), m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		ms = append(ms, c)
	}
	return ms, nil
}

// CanUpdate reports whether prev may be changed into next in place, keeping
// its id, without rewriting what the silence did in the past (Alertmanager's
// rule): the matchers must be the same; an active silence keeps its start
// (to the second) and may not end in the past; a pending one may not be
// moved to start in the past; an expired one never changes. Otherwise the
// change replaces the silence: the old one expires and a new one is created.
func CanUpdate(prev, next *Silence, now time.Time) bool {
	if !slices.Equal(prev.Matchers, next.Matchers) {
		return false
	}
	switch prev.State(now) {
	case StateActive:
		return prev.StartsAt.Unix() == next.StartsAt.Unix() && !next.EndsAt.Before(now)
	case StatePending:
		return !next.StartsAt.Before(now)
	}
	return false
}

// Expired returns s expired at now: an active silence ends now, a pending
// one starts and ends now. ok is false when s has already expired.
func Expired(s Silence, now time.Time) (_ Silence, ok bool) {
	switch s.State(now) {
	case StateExpired:
		return s, false
	case StatePending:
		s.StartsAt = now
	}
	s.EndsAt = now
	s.UpdatedAt = now
	return s, true
}

// MatchesFilter reports whether the silence has, for each filter matcher, a
// matcher with the same name, operator and value (how the API filters
// silences: by their matchers, not by what they would mute).
func (s *Silence) MatchesFilter(filter matcher.Matchers) bool {
	for _, f := range filter {
		if !slices.ContainsFunc(s.Matchers, func(m Matcher) bool {
			return m.Name == f.Name && m.Type() == f.Type && m.Value == f.Value
		}) {
			return false
		}
	}
	return true
}

// Sort orders silences as Alertmanager's API lists them: active first, the
// next to end first; then pending, the next to start first; then expired,
// the most recently ended first.
func Sort(sils []Silence, now time.Time) {
	rank := map[State]int{StateActive: 0, StatePending: 1, StateExpired: 2}
	sort.SliceStable(sils, func(i, j int) bool {
		a, b := &sils[i], &sils[j]
		sa, sb := a.State(now), b.State(now)
		if sa != sb {
			return rank[sa] < rank[sb]
		}
		switch sa {
		case StateActive:
			return a.EndsAt.Before(b.EndsAt)
		case StatePending:
			return a.StartsAt.Before(b.StartsAt)
		}
		return a.EndsAt.After(b.EndsAt)
	})
}

// Decode reads a posted silence (the API's postableSilence); unknown fields
// are ignored, as Alertmanager's API does.
func Decode(b []byte) (Silence, error) {
	var s Silence
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return Silence{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s, nil
}
