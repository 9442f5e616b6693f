package config

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// InhibitRule mutes alerts matching the target while an alert matching the
// source fires, when both have equal values for the Equal labels.
type InhibitRule struct {
	// Name is optional, for logs and metrics.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`

	SourceMatchers matcher.Matchers `yaml:"source_matchers,omitempty" json:"source_matchers,omitempty"`
	TargetMatchers matcher.Matchers `yaml:"target_matchers,omitempty" json:"target_matchers,omitempty"`
	Equal          []string         `yaml:"equal,omitempty" json:"equal,omitempty"`
	// Deprecated forms, still honoured.
	SourceMatch   map[string]string `yaml:"source_match,omitempty" json:"source_match,omitempty"`
	SourceMatchRE map[string]Regexp `yaml:"source_match_re,omitempty" json:"source_match_re,omitempty"`
	TargetMatch   map[string]string `yaml:"target_match,omitempty" json:"target_match,omitempty"`
	TargetMatchRE map[string]Regexp `yaml:"target_match_re,omitempty" json:"target_match_re,omitempty"`

	pos position
}

func (r *InhibitRule) setPosition(p position) { r.pos = p }

func (r *InhibitRule) validate() error {
	var errs []error
	names := func(field string, m map[string]string) {
		for k := range m {
			if !model.LegacyValidation.IsValidLabelName(k) {
				errs = append(errs, inField(field, fmt.Errorf("invalid label name %q", k)))
			}
		}
	}
	names("source_match", r.SourceMatch)
	names("target_match", r.TargetMatch)
	for field, m := range map[string]map[string]Regexp{"source_match_re": r.SourceMatchRE, "target_match_re": r.TargetMatchRE} {
		errs = append(errs, checkMatchRE(field, m)...)
	}
	for _, l := range r.Equal {
		if !model.UTF8Validation.IsValidLabelName(l) {
			errs = append(errs, inField("equal", fmt.Errorf("invalid label name %q in equal list", l)))
		}
	}
	return errors.Join(errs...)
}

// Sources returns all source matchers, the deprecated forms included.
func (r *InhibitRule) Sources() matcher.Matchers {
	return combine(r.SourceMatch, r.SourceMatchRE, r.SourceMatchers)
}

// Targets returns all target matchers, the deprecated forms included.
func (r *InhibitRule) Targets() matcher.Matchers {
	return combine(r.TargetMatch, r.TargetMatchRE, r.TargetMatchers)
}

func combine(eq map[string]string, re map[string]Regexp, ms matcher.Matchers) matcher.Matchers {
	var out matcher.Matchers
	for k, v := range eq {
		out = append(out, matcher.MustNew(matcher.Equal, k, v))
	}
	for k, v := range re {
		out = append(out, matcher.MustNew(matcher.Regexp, k, v.Original()))
	}
	return append(out, ms...)
}
