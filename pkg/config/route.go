package config

import (
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// Route is one node of the routing tree as configured. Unset fields are
// inherited from the parent (see pkg/route, which builds the tree).
type Route struct {
	Receiver string `yaml:"receiver,omitempty" json:"receiver,omitempty"`

	// GroupByStr is group_by as written. GroupBy and GroupByAll are derived
	// from it: "..." alone sets GroupByAll. GroupBy is nil when group_by is
	// absent (inherit) and empty but non-nil for an explicit [] (no grouping).
	GroupByStr []string          `yaml:"group_by,omitempty" json:"group_by,omitempty"`
	GroupBy    []model.LabelName `yaml:"-" json:"-"`
	GroupByAll bool              `yaml:"-" json:"-"`

	// Match and MatchRE are deprecated equality and regular-expression
	// matchers; Matchers is the current form. All three apply (AND).
	Match    map[string]string `yaml:"match,omitempty" json:"match,omitempty"`
	MatchRE  map[string]Regexp `yaml:"match_re,omitempty" json:"match_re,omitempty"`
	Matchers matcher.Matchers  `yaml:"matchers,omitempty" json:"matchers,omitempty"`

	MuteTimeIntervals   []string `yaml:"mute_time_intervals,omitempty" json:"mute_time_intervals,omitempty"`
	ActiveTimeIntervals []string `yaml:"active_time_intervals,omitempty" json:"active_time_intervals,omitempty"`

	Continue bool     `yaml:"continue" json:"continue,omitempty"`
	Routes   []*Route `yaml:"routes,omitempty" json:"routes,omitempty"`

	GroupWait      *model.Duration `yaml:"group_wait,omitempty" json:"group_wait,omitempty"`
	GroupInterval  *model.Duration `yaml:"group_interval,omitempty" json:"group_interval,omitempty"`
	RepeatInterval *model.Duration `yaml:"repeat_interval,omitempty" json:"repeat_interval,omitempty"`

	pos position
}

// GroupByAllLabel is the group_by entry that groups by all labels.
const GroupByAllLabel = "..."

func (r *Route) setPosition(p position) { r.pos = p }

// Line returns the line of the route's key k in the file (or the route's
// own line), for error messages of later checks.
func (r *Route) Line(key string) int { return r.pos.at(key) }

func (r *Route) validate() error {
	var errs []error
	for k := range r.Match {
		if !model.LegacyValidation.IsValidLabelName(k) {
			errs = append(errs, inField("match", fmt.Errorf("invalid label name %q", k)))
		}
	}
	errs = append(errs, checkMatchRE("match_re", r.MatchRE)...)
	r.GroupBy, r.GroupByAll = nil, false
	if r.GroupByStr != nil {
		r.GroupBy = []model.LabelName{}
	}
	for _, l := range r.GroupByStr {
		if l == GroupByAllLabel {
			r.GroupByAll = true
			continue
		}
		if !model.UTF8Validation.IsValidLabelName(l) {
			errs = append(errs, inField("group_by", fmt.Errorf("invalid label name %q", l)))
			continue
		}
		if slices.Contains(r.GroupBy, model.LabelName(l)) {
			errs = append(errs, inField("group_by", fmt.Errorf("duplicated label %q", l)))
			continue
		}
		r.GroupBy = append(r.GroupBy, model.LabelName(l))
	}
	if r.GroupByAll {
		if len(r.GroupBy) > 0 {
			errs = append(errs, inField("group_by", errors.New("cannot have wildcard group_by (`...`) and other labels at the same time")))
		}
		r.GroupBy = nil
	}
	if r.GroupWait != nil && *r.GroupWait < 0 {
		errs = append(errs, inField("group_wait", errors.New("must not be negative")))
	}
	if r.GroupInterval != nil && *r.GroupInterval <= 0 {
		errs = append(errs, inField("group_interval", errors.New("cannot be zero")))
	}
	if r.RepeatInterval != nil && *r.RepeatInterval <= 0 {
		errs = append(errs, inField("repeat_interval", errors.New("cannot be zero")))
	}
	return errors.Join(errs...)
}

// checkMatchRE checks a deprecated match_re map: valid label names, and a
// regular expression for each (a null value decodes to none; Alertmanager
// rejects it).
func checkMatchRE(field string, m map[string]Regexp) []error {
	var errs []error
	for k, v := range m {
		if !model.LegacyValidation.IsValidLabelName(k) {
			errs = append(errs, inField(field, fmt.Errorf("invalid label name %q", k)))
		}
		if v.Regexp == nil && v.original == "" {
			errs = append(errs, inField(field, fmt.Errorf("invalid regexp value for %q", k)))
		}
	}
	return errs
}

// AllMatchers returns the route's matchers, the deprecated match and
// match_re included, sorted as Alertmanager sorts them (by name, value,
// operator) — the order its route key is written in.
func (r *Route) AllMatchers() matcher.Matchers {
	var ms matcher.Matchers
	for k, v := range r.Match {
		ms = append(ms, matcher.MustNew(matcher.Equal, k, v))
	}
	for k, v := range r.MatchRE {
		ms = append(ms, matcher.MustNew(matcher.Regexp, k, v.Original()))
	}
	ms = append(ms, r.Matchers...)
	slices.SortStableFunc(ms, matcher.Compare)
	return ms
}
