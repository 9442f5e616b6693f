// Package mute decides, when a group flushes, which of its alerts are not
// notified, in Alertmanager's order: inhibition first, then the route's
// active_time_intervals and mute_time_intervals (which mute the whole group),
// then silences. It implements the grouper's Muter.
//
// Every decision is recorded: the alerts a flush left out are handed to a
// Recorder as Suppressed events, one per reason (which silence, which
// inhibiting alert, which time interval; the grouper publishes them on
// klaxon.suppressed.<reason> and counts them). The same evaluation answers
// the API's alert status (silencedBy, inhibitedBy, mutedBy), so the API and
// the notifications agree on why an alert is quiet.
//
// Klaxon adds one opt-in to Alertmanager's rules: a receiver with
// send_resolved_silenced still gets the resolution of a silenced alert
// (Alertmanager's issue 226). Inhibited and time-muted alerts stay muted.
//
// Decide is the pure decision; Muter wires it to the silences, the
// inhibitor, the running config and JetStream.
package mute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/inhibit"
	"github.com/klaxon-alerts/klaxon/pkg/timeinterval"
)

// Silencer answers which active silences mute a label set
// (*silencestore.Silences).
type Silencer interface {
	Mutes(ctx context.Context, ls model.LabelSet, now time.Time) ([]string, error)
}

// Decision is what a flush leaves out. The slices parallel the flush's
// alerts.
type Decision struct {
	// Muted[i] is true when alert i is not notified.
	Muted []bool
	// Reason[i] is why alert i is muted: contract.ReasonInhibition,
	// ReasonTimeInterval or ReasonSilence ("" when it is not).
	Reason []string
	// InhibitedBy[i] and SilencedBy[i] are the inhibiting alerts and the
	// silences matching alert i.
	InhibitedBy [][]string
	SilencedBy  [][]string
	// MutedBy names the time intervals muting the whole group, if any.
	MutedBy []string
}

// Input is what Decide needs besides the alerts.
type Input struct {
	Now time.Time
	// MutedBy are the time intervals muting the group at Now (TimeMutedBy).
	MutedBy []string
	// InhibitedBy and SilencedBy evaluate one alert's labels.
	InhibitedBy func(model.LabelSet) []string
	SilencedBy  func(model.LabelSet) ([]string, error)
	// SendResolvedSilenced lets resolved silenced alerts through.
	SendResolvedSilenced bool
}

// Decide applies Alertmanager's mute stages to a flush's alerts, in
// Alertmanager's order: an inhibited alert is muted as inhibited; if a time
// interval mutes the group, every remaining alert is muted by it; a
// remaining alert matching an active silence is muted as silenced (unless it
// is resolved and the receiver opted in to resolved notifications of
// silenced alerts). An alert's silences are looked up whatever its fate, so
// the record says everything that applied.
func Decide(alerts []alert.Alert, in Input) (Decision, error) {
	d := Decision{
		Muted: make([]bool, len(alerts)), Reason: make([]string, len(alerts)),
		InhibitedBy: make([][]string, len(alerts)), SilencedBy: make([][]string, len(alerts)),
		MutedBy: in.MutedBy,
	}
	for i, a := range alerts {
		if in.InhibitedBy != nil {
			d.InhibitedBy[i] = in.InhibitedBy(a.Labels)
		}
		if in.SilencedBy != nil {
			ids, err := in.SilencedBy(a.Labels)
			if err != nil {
				return Decision{}, err
			}
			d.SilencedBy[i] = ids
		}
		switch {
		case len(d.InhibitedBy[i]) > 0:
			d.Reason[i] = contract.ReasonInhibition
		case len(in.MutedBy) > 0:
			d.Reason[i] = contract.ReasonTimeInterval
		case len(d.SilencedBy[i]) > 0 && !(in.SendResolvedSilenced && a.ResolvedAt(in.Now)):
			d.Reason[i] = contract.ReasonSilence
		}
		d.Muted[i] = d.Reason[i] != ""
	}
	return d, nil
}

// TimeMutedBy returns the time intervals that mute a route at now, as
// Alertmanager's time stages decide: all of its active_time_intervals when
// none of them contains now, and those of its mute_time_intervals that do.
func TimeMutedBy(intervals timeinterval.Intervals, active, mute []string, now time.Time) ([]string, error) {
	var out []string
	if len(active) > 0 {
		in, err := intervals.Contains(active, now)
		if err != nil {
			return nil, err
		}
		if len(in) == 0 {
			out = append(out, active...)
		}
	}
	if len(mute) > 0 {
		in, err := intervals.Contains(mute, now)
		if err != nil {
			return nil, err
		}
		out = append(out, in...)
	}
	return out, nil
}

// Recorder keeps the Suppressed events of a flush, one per reason that left
// alerts out (the grouper publishes them on klaxon.suppressed.<reason>). It
// is called again with the same events when a flush is retried.
type Recorder interface {
	Record(ctx context.Context, events []contract.Suppressed) error
}

// Options configures the Muter.
type Options struct {
	Config    func() *config.Config
	Silences  Silencer
	Inhibitor *inhibit.Inhibitor
	// Recorder, if set, keeps what each flush suppressed.
	Recorder Recorder
	Logger   *slog.Logger
}

// Muter is the grouper's Muter and the API's source of alert status.
type Muter struct {
	opts Options
	log  *slog.Logger
}

// New returns a Muter.
func New(opts Options) (*Muter, error) {
	if opts.Config == nil || opts.Silences == nil || opts.Inhibitor == nil {
		return nil, errors.New("mute: Config, Silences and Inhibitor are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Muter{opts: opts, log: opts.Logger.With("component", "mute")}, nil
}

// Mute is the grouper's hook: it decides which of a flush's alerts are not
// notified, records the decision, and returns for each alert why it is
// muted (contract.ReasonSilence, ReasonInhibition, ReasonTimeInterval) or
// "" when it is not.
func (m *Muter) Mute(ctx context.Context, route contract.Route, alerts []alert.Alert, now time.Time) ([]string, error) {
	cfg := m.opts.Config()
	mutedBy, err := TimeMutedBy(cfg.Intervals(), route.ActiveTimeIntervals, route.MuteTimeIntervals, now)
	if err != nil {
		return nil, fault.Final(fmt.Errorf("route %s: %w", route.ID, err))
	}
	view, err := m.opts.Inhibitor.View(ctx)
	if err != nil {
		return nil, fmt.Errorf("inhibition: %w", err)
	}
	in := Input{
		Now: now, MutedBy: mutedBy,
		InhibitedBy: func(ls model.LabelSet) []string { return view.InhibitedBy(ls, now) },
		SilencedBy:  func(ls model.LabelSet) ([]string, error) { return m.opts.Silences.Mutes(ctx, ls, now) },
	}
	if r := cfg.Receiver(route.Receiver); r != nil {
		in.SendResolvedSilenced = r.SendResolvedSilenced
	}
	d, err := Decide(alerts, in)
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	if err := m.record(ctx, route, alerts, d, now); err != nil {
		return nil, err
	}
	return d.Reason, nil
}

// record hands the Recorder one Suppressed event per reason that left
// alerts out of the flush, in reason order.
func (m *Muter) record(ctx context.Context, route contract.Route, alerts []alert.Alert, d Decision, now time.Time) error {
	byReason := map[string][]contract.SuppressedAlert{}
	for i, a := range alerts {
		if !d.Muted[i] {
			continue
		}
		byReason[d.Reason[i]] = append(byReason[d.Reason[i]], contract.SuppressedAlert{
			Fingerprint: a.Fingerprint().String(), Labels: a.Labels, Status: a.Status(now),
			SilencedBy: d.SilencedBy[i], InhibitedBy: d.InhibitedBy[i],
		})
	}
	reasons := slices.Sorted(maps.Keys(byReason))
	events := make([]contract.Suppressed, 0, len(reasons))
	for _, reason := range reasons {
		sup := byReason[reason]
		m.log.Debug("alerts suppressed", "reason", reason, "group", route.GroupKey, "receiver", route.Receiver, "alerts", len(sup), "muted_by", d.MutedBy)
		ev := contract.Suppressed{
			Version: contract.Version, Reason: reason, GroupKey: route.GroupKey, RouteID: route.ID,
			Receiver: route.Receiver, Alerts: sup, At: now.UTC(),
		}
		if reason == contract.ReasonTimeInterval {
			ev.MutedBy = d.MutedBy
		}
		events = append(events, ev)
	}
	if m.opts.Recorder != nil && len(events) > 0 {
		if err := m.opts.Recorder.Record(ctx, events); err != nil {
			return fmt.Errorf("record suppressed: %w", err)
		}
	}
	return nil
}

// Status is why an alert is quiet, as the API reports it.
type Status struct {
	SilencedBy  []string
	InhibitedBy []string
	MutedBy     []string
}

// State is Alertmanager's alert state: "suppressed" when silenced or
// inhibited, otherwise "active" (time intervals mute groups, not alerts, and
// do not change it).
func (s Status) State() string {
	if len(s.SilencedBy) > 0 || len(s.InhibitedBy) > 0 {
		return "suppressed"
	}
	return "active"
}

// Evaluator answers the status of many alerts at one instant, with one
// inhibition view and one config.
type Evaluator struct {
	m    *Muter
	cfg  *config.Config
	view *inhibit.View
	now  time.Time
}

// Evaluator returns an evaluator for now; it waits until the silences and
// the alerts are synced.
func (m *Muter) Evaluator(ctx context.Context, now time.Time) (*Evaluator, error) {
	view, err := m.opts.Inhibitor.View(ctx)
	if err != nil {
		return nil, err
	}
	return &Evaluator{m: m, cfg: m.opts.Config(), view: view, now: now}, nil
}

// Config is the configuration the evaluator judges with.
func (e *Evaluator) Config() *config.Config { return e.cfg }

// Status is the alert's status: the silences and inhibiting alerts that
// mute its labels, and the time intervals muting the given routes (the
// alert's routes, or its group's).
func (e *Evaluator) Status(ctx context.Context, ls model.LabelSet, routes []contract.Route) (Status, error) {
	sil, err := e.m.opts.Silences.Mutes(ctx, ls, e.now)
	if err != nil {
		return Status{}, err
	}
	st := Status{SilencedBy: sil, InhibitedBy: e.view.InhibitedBy(ls, e.now)}
	for _, r := range routes {
		by, err := e.MutedBy(r)
		if err != nil {
			return Status{}, err
		}
		for _, n := range by {
			if !slices.Contains(st.MutedBy, n) {
				st.MutedBy = append(st.MutedBy, n)
			}
		}
	}
	return st, nil
}

// MutedBy is TimeMutedBy for a route at the evaluator's instant.
func (e *Evaluator) MutedBy(r contract.Route) ([]string, error) {
	return TimeMutedBy(e.cfg.Intervals(), r.ActiveTimeIntervals, r.MuteTimeIntervals, e.now)
}
