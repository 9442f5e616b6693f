// Package timeinterval holds Alertmanager's time intervals: named sets of
// clock times, weekdays, days of the month, months and years, optionally in a
// time zone, that routes reference as mute_time_intervals and
// active_time_intervals. It parses their YAML form and evaluates whether an
// instant falls inside, exactly as Alertmanager does.
package timeinterval

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Embed the time zone database, so that locations load in minimal
	// container images without /usr/share/zoneinfo.
	_ "time/tzdata"

	"gopkg.in/yaml.v3"
)

// TimeInterval is one interval: an instant is inside when it satisfies every
// field that is set (an unset field does not restrict), and within a field
// any one of the ranges.
type TimeInterval struct {
	Times       []TimeRange       `yaml:"times,omitempty" json:"times,omitempty"`
	Weekdays    []WeekdayRange    `yaml:"weekdays,flow,omitempty" json:"weekdays,omitempty"`
	DaysOfMonth []DayOfMonthRange `yaml:"days_of_month,flow,omitempty" json:"days_of_month,omitempty"`
	Months      []MonthRange      `yaml:"months,flow,omitempty" json:"months,omitempty"`
	Years       []YearRange       `yaml:"years,flow,omitempty" json:"years,omitempty"`
	Location    *Location         `yaml:"location,omitempty" json:"location,omitempty"`
}

// ContainsTime reports whether t is inside the interval. t is first moved to
// the interval's location, or to UTC when it has none (Alertmanager's
// documented default).
func (ti TimeInterval) ContainsTime(t time.Time) bool {
	if ti.Location != nil && ti.Location.Location != nil {
		t = t.In(ti.Location.Location)
	} else {
		t = t.UTC()
	}
	if ti.Times != nil && !anyOf(ti.Times, func(r TimeRange) bool { return r.contains(t) }) {
		return false
	}
	if ti.DaysOfMonth != nil && !anyOf(ti.DaysOfMonth, func(r DayOfMonthRange) bool { return r.contains(t) }) {
		return false
	}
	if ti.Months != nil && !anyOf(ti.Months, func(r MonthRange) bool { return r.has(int(t.Month())) }) {
		return false
	}
	if ti.Weekdays != nil && !anyOf(ti.Weekdays, func(r WeekdayRange) bool { return r.has(int(t.Weekday())) }) {
		return false
	}
	if ti.Years != nil && !anyOf(ti.Years, func(r YearRange) bool { return r.has(t.Year()) }) {
		return false
	}
	return true
}

func anyOf[T any](rs []T, f func(T) bool) bool {
	for _, r := range rs {
		if f(r) {
			return true
		}
	}
	return false
}

// Intervals maps a time interval's name to its intervals (the name is in
// force when any of them contains the instant).
type Intervals map[string][]TimeInterval

// Contains reports which of the named intervals contain t, in the order
// given. An unknown name is an error (configuration validation prevents it).
func (in Intervals) Contains(names []string, t time.Time) ([]string, error) {
	var hit []string
	for _, name := range names {
		tis, ok := in[name]
		if !ok {
			return nil, fmt.Errorf("time interval %q does not exist", name)
		}
		for _, ti := range tis {
			if ti.ContainsTime(t) {
				hit = append(hit, name)
				break
			}
		}
	}
	return hit, nil
}

// TimeRange is a range of minutes of the day, [StartMinute, EndMinute).
type TimeRange struct {
	StartMinute int
	EndMinute   int
}

func (r TimeRange) contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	return m >= r.StartMinute && m < r.EndMinute
}

// UnmarshalYAML reads {start_time: "HH:MM", end_time: "HH:MM"}; 24:00 is
// allowed as an end, and the start must be before the end.
func (r *TimeRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("time range must be a mapping with start_time and end_time")
	}
	var start, end string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var s string
		if err := v.Decode(&s); err != nil {
			return fmt.Errorf("%s: %w", k.Value, err)
		}
		switch k.Value {
		case "start_time":
			start = s
		case "end_time":
			end = s
		default:
			return fmt.Errorf("line %d: field %s not found in time range", k.Line, k.Value)
		}
	}
	if start == "" || end == "" {
		return fmt.Errorf("both start_time and end_time must be provided")
	}
	s, err := parseClock(start)
	if err != nil {
		return err
	}
	e, err := parseClock(end)
	if err != nil {
		return err
	}
	if s >= e {
		return fmt.Errorf("start_time %s must be before end_time %s", start, end)
	}
	r.StartMinute, r.EndMinute = s, e
	return nil
}

// MarshalYAML renders the range as start_time/end_time.
func (r TimeRange) MarshalYAML() (any, error) {
	return map[string]string{"start_time": clock(r.StartMinute), "end_time": clock(r.EndMinute)}, nil
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// parseClock reads HH:MM, 00:00 to 23:59, or 24:00, as minutes of the day.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && len(h) == 2 && len(m) == 2 {
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if err1 == nil && err2 == nil && h[0] != '+' && h[0] != '-' && m[0] != '+' && m[0] != '-' &&
			(hh < 24 && mm < 60 || hh == 24 && mm == 0) {
			return hh*60 + mm, nil
		}
	}
	return 0, fmt.Errorf("invalid time %q: want HH:MM between 00:00 and 24:00", s)
}

// InclusiveRange is [Begin, End], both included.
type InclusiveRange struct {
	Begin int
	End   int
}

func (r InclusiveRange) has(v int) bool { return v >= r.Begin && v <= r.End }

// text renders the range as "b" or "b:e" with name giving each member's text.
func (r InclusiveRange) text(name func(int) string) string {
	if r.Begin == r.End {
		return name(r.Begin)
	}
	return name(r.Begin) + ":" + name(r.End)
}

// parseRange reads "member" or "member:member", case-insensitively.
func parseRange(s string, member func(string) (int, error)) (InclusiveRange, error) {
	s = strings.ToLower(s)
	b, e, isRange := strings.Cut(s, ":")
	if isRange && strings.Contains(e, ":") {
		return InclusiveRange{}, fmt.Errorf("invalid range %q: want begin or begin:end", s)
	}
	begin, err := member(b)
	if err != nil {
		return InclusiveRange{}, err
	}
	end := begin
	if isRange {
		if end, err = member(e); err != nil {
			return InclusiveRange{}, err
		}
	}
	return InclusiveRange{Begin: begin, End: end}, nil
}

func number(what string) func(string) (int, error) {
	return func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a valid %s", s, what)
		}
		return n, nil
	}
}

var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var months = []string{"", "january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december"}

func index(names []string, what string) func(string) (int, error) {
	return func(s string) (int, error) {
		for i, n := range names {
			if n != "" && n == s {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%q is not a valid %s", s, what)
	}
}

func scalar(n *yaml.Node) (string, error) {
	var s string
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("expected a string, got a %s", kindName(n.Kind))
	}
	if err := n.Decode(&s); err != nil {
		return "", err
	}
	return s, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

// WeekdayRange is a range of weekdays, 0 = Sunday to 6 = Saturday, written
// "monday" or "monday:friday".
type WeekdayRange struct{ InclusiveRange }

// UnmarshalYAML reads and validates the range.
func (r *WeekdayRange) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	ir, err := parseRange(s, index(weekdays, "weekday"))
	if err != nil {
		return err
	}
	if ir.Begin > ir.End {
		return fmt.Errorf("weekday range %q ends before it starts", s)
	}
	r.InclusiveRange = ir
	return nil
}

// MarshalYAML renders the range with weekday names.
func (r WeekdayRange) MarshalYAML() (any, error) {
	return r.text(func(i int) string { return weekdays[i] }), nil
}

// DayOfMonthRange is a range of days of the month, 1 to 31, or -1 (the last
// day) to -31 counting from the end.
type DayOfMonthRange struct{ InclusiveRange }

// UnmarshalYAML reads and validates the range: no 0, within ±31, a negative
// start needs a negative end, and the range cannot be empty in a 28-day month.
func (r *DayOfMonthRange) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	ir, err := parseRange(s, number("day of the month"))
	if err != nil {
		return err
	}
	for _, d := range []int{ir.Begin, ir.End} {
		if d == 0 || d < -31 || d > 31 {
			return fmt.Errorf("%d is not a valid day of the month: out of range", d)
		}
	}
	if ir.Begin < 0 && ir.End > 0 {
		return fmt.Errorf("days of the month %q: end day must be negative if start day is negative", s)
	}
	b, e := ir.Begin, ir.End
	if b < 0 {
		b += 28
	}
	if e < 0 {
		e += 28
	}
	if b > e {
		return fmt.Errorf("days of the month %q: end day %d is always before start day %d", s, ir.End, ir.Begin)
	}
	r.InclusiveRange = ir
	return nil
}

// MarshalYAML renders the range as numbers.
func (r DayOfMonthRange) MarshalYAML() (any, error) { return r.text(strconv.Itoa), nil }

func (r DayOfMonthRange) contains(t time.Time) bool {
	days := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
	begin, end := r.Begin, r.End
	if begin < 0 {
		begin = days + begin + 1
	}
	if end < 0 {
		end = days + end + 1
	}
	if begin > days {
		return false
	}
	end = min(end, days)
	return t.Day() >= begin && t.Day() <= end
}

// MonthRange is a range of months, 1 = January to 12, written by name or
// number ("january:march", "1:3").
type MonthRange struct{ InclusiveRange }

// UnmarshalYAML reads and validates the range.
func (r *MonthRange) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	byName := index(months, "month")
	ir, err := parseRange(s, func(m string) (int, error) {
		if i, err := byName(m); err == nil {
			return i, nil
		}
		i, err := strconv.Atoi(m)
		if err != nil || i < 1 || i > 12 {
			return 0, fmt.Errorf("%q is not a valid month", m)
		}
		return i, nil
	})
	if err != nil {
		return err
	}
	if ir.Begin > ir.End {
		return fmt.Errorf("month range %q: end month %s is before start month %s", s, months[ir.End], months[ir.Begin])
	}
	r.InclusiveRange = ir
	return nil
}

// MarshalYAML renders the range with month names.
func (r MonthRange) MarshalYAML() (any, error) {
	return r.text(func(i int) string { return months[i] }), nil
}

// YearRange is a range of years, "2024" or "2024:2026".
type YearRange struct{ InclusiveRange }

// UnmarshalYAML reads and validates the range.
func (r *YearRange) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	ir, err := parseRange(s, number("year"))
	if err != nil {
		return err
	}
	if ir.Begin > ir.End {
		return fmt.Errorf("year range %q: end year %d is before start year %d", s, ir.End, ir.Begin)
	}
	r.InclusiveRange = ir
	return nil
}

// MarshalYAML renders the range as numbers.
func (r YearRange) MarshalYAML() (any, error) { return r.text(strconv.Itoa), nil }

// Location is the time zone an interval is evaluated in: "UTC", "Local" or
// an IANA name such as "Europe/Berlin".
type Location struct{ *time.Location }

// UnmarshalYAML loads the named location.
func (l *Location) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return fmt.Errorf("invalid location %q: %w", s, err)
	}
	l.Location = loc
	return nil
}

// MarshalYAML renders the location's name.
func (l Location) MarshalYAML() (any, error) {
	if l.Location == nil {
		return nil, nil
	}
	return l.Location.String(), nil
}
