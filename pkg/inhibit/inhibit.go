// Package inhibit is Alertmanager's inhibition: an inhibit rule mutes the
// alerts matching its target matchers while an alert matching its source
// matchers fires, when both have the same values for the rule's equal labels
// (a label missing on both sides counts as equal: the empty value). An alert
// that matches both sides of a rule is not inhibited by alerts that also
// match both sides (the self-inhibition guard), so a rule such as "critical
// inhibits warning" on a shared label cannot mute every alert of the set.
//
// The sources are the currently firing alerts: the dedup stage's KV bucket
// klaxon-alerts, watched into a local copy (kvcache.Alerts) by every process
// that evaluates inhibition, so every grouper replica sees the same sources.
// A silenced source still inhibits; a resolved one does not.
//
// View is the pure evaluation (rules and a set of alerts in, the inhibiting
// fingerprints out); Inhibitor keeps a View current for the running config
// and the watched alerts.
package inhibit

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
)

// Rule is one inhibit rule with its matchers resolved (the deprecated
// source_match/target_match forms included).
type Rule struct {
	Name   string
	Source matcher.Matchers
	Target matcher.Matchers
	Equal  []model.LabelName
}

// Rules returns the configuration's inhibit rules.
func Rules(cfg *config.Config) []Rule {
	out := make([]Rule, 0, len(cfg.InhibitRules))
	for _, r := range cfg.InhibitRules {
		rule := Rule{Name: r.Name, Source: r.Sources(), Target: r.Targets()}
		for _, l := range r.Equal {
			rule.Equal = append(rule.Equal, model.LabelName(l))
		}
		out = append(out, rule)
	}
	return out
}

// View evaluates inhibition against one set of alerts. Source alerts are
// indexed per rule by their values of the equal labels, so a lookup costs
// the number of rules, not the number of alerts. Whether a source fires is
// judged at the time of each lookup: a View stays right as alerts resolve.
type View struct {
	rules []indexed
}

type indexed struct {
	Rule
	sources map[string][]source
}

type source struct {
	fp    string
	alert *alert.Alert
}

// NewView indexes alerts as the sources of rules.
func NewView(rules []Rule, alerts []*alert.Alert) *View {
	v := &View{rules: make([]indexed, 0, len(rules))}
	for _, r := range rules {
		ix := indexed{Rule: r, sources: map[string][]source{}}
		for _, a := range alerts {
			if r.Source.Matches(a.Labels) {
				k := equalKey(r.Equal, a.Labels)
				ix.sources[k] = append(ix.sources[k], source{fp: a.Fingerprint().String(), alert: a})
			}
		}
		v.rules = append(v.rules, ix)
	}
	return v
}

// equalKey joins the values of the equal labels; a missing label is "".
func equalKey(names []model.LabelName, ls model.LabelSet) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(string(ls[n]))
		b.WriteByte(0xff) // not valid UTF-8, so no value contains it
	}
	return b.String()
}

// InhibitedBy returns the fingerprints of the alerts firing at now that
// inhibit an alert with labels ls, sorted; none means it is not inhibited.
// Alertmanager stops at the first inhibiting alert; all of them are listed
// here, which answers the same question and tells more.
func (v *View) InhibitedBy(ls model.LabelSet, now time.Time) []string {
	var out []string
	for _, r := range v.rules {
		if !r.Target.Matches(ls) {
			continue
		}
		// Self-inhibition guard: when the alert matches the source side
		// too, alerts that also match both sides do not inhibit it.
		twoSided := r.Source.Matches(ls)
		for _, s := range r.sources[equalKey(r.Equal, ls)] {
			if s.alert.ResolvedAt(now) {
				continue
			}
			if twoSided && r.Target.Matches(s.alert.Labels) {
				continue
			}
			out = append(out, s.fp)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Source is the set of alerts that can inhibit, as a watched copy keeps it
// (kvcache.Alerts): synced once, then current as of a revision.
type Source interface {
	Synced(ctx context.Context) error
	Revision() uint64
	Values() ([]*alert.Alert, uint64)
}

// Inhibitor evaluates the running config's inhibit rules against the
// watched alerts. Its View is rebuilt only when the alerts or the config
// changed.
type Inhibitor struct {
	alerts Source
	config func() *config.Config

	mu      sync.Mutex
	view    *View
	viewRev uint64
	viewCfg *config.Config
}

// New returns an inhibitor over the watched alerts and the running config.
func New(alerts Source, cfg func() *config.Config) *Inhibitor {
	return &Inhibitor{alerts: alerts, config: cfg}
}

// View returns the current view, waiting until the watched copy of the
// alerts is synced.
func (ih *Inhibitor) View(ctx context.Context) (*View, error) {
	if err := ih.alerts.Synced(ctx); err != nil {
		return nil, err
	}
	cfg := ih.config()
	ih.mu.Lock()
	defer ih.mu.Unlock()
	rev := ih.alerts.Revision()
	if ih.view != nil && ih.viewRev == rev && ih.viewCfg == cfg {
		return ih.view, nil
	}
	rules := Rules(cfg)
	var alerts []*alert.Alert
	if len(rules) > 0 {
		alerts, rev = ih.alerts.Values()
	}
	ih.view, ih.viewRev, ih.viewCfg = NewView(rules, alerts), rev, cfg
	return ih.view, nil
}
