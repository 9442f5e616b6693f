// Package load is Klaxon's load tool (`klaxon bench`). It posts
// Prometheus-shaped batches of alerts to an Alertmanager-compatible
// POST /api/v2/alerts at a fixed offered rate, re-sending an active set of
// alerts in rotation as Prometheus re-sends firing alerts, runs a webhook sink,
// and reports accepted alerts/s, per-request HTTP latency and end-to-end
// latency (first POST of an alert → first webhook payload that contains it).
//
// In compare mode it starts Klaxon (one-process mode) and Alertmanager itself,
// as child processes on free loopback ports with the same generated
// configuration, runs the same load against each in turn and prints a
// side-by-side table with ratios.
//
// Every loop is bounded by count and time and talks only to loopback
// addresses.
package load

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/prometheus/common/model"
)

// Defaults and limits of Options. The defaults keep a compare run (two
// targets, each started, loaded and drained) under a minute.
const (
	DefaultRate      = 500.0
	DefaultActive    = 2000
	DefaultChurn     = 0.1
	DefaultBatchSize = 64
	DefaultSenders   = 4
	DefaultDuration  = 20 * time.Second
	DefaultDrain     = 5 * time.Second
	// DefaultMaxAlerts is no max_alerts.
	DefaultMaxAlerts = 0

	MaxRate      = 50000.0
	MaxActive    = 1_000_000
	MaxBatchSize = 64
	MaxSenders   = 64
	MaxDuration  = 10 * time.Minute
	MaxDrain     = 5 * time.Minute

	// DefaultAlertmanagerPath is Debian's Alertmanager.
	DefaultAlertmanagerPath = "/usr/bin/prometheus-alertmanager"
)

// DefaultGroupBy makes every bench alert its own group.
var DefaultGroupBy = []string{"alertname", "instance"}

// Options configure a run.
type Options struct {
	// Target is the base URL (loopback only) of an Alertmanager-compatible API
	// to load in single-target mode. Its configuration must send webhooks to
	// the sink at SinkAddress (see Config). Ignored when Compare is set.
	Target string
	// SinkAddress is the loopback address the webhook sink listens on in
	// single-target mode.
	SinkAddress string

	// Compare starts Klaxon and Alertmanager as child processes and runs the
	// load against each in turn.
	Compare bool
	// KlaxonPath is the klaxon executable (compare mode); it is run without
	// a stage, i.e. in one-process mode.
	KlaxonPath string
	// AlertmanagerPath is the Alertmanager executable (compare mode).
	AlertmanagerPath string

	// Rate is the offered load in alerts per second.
	Rate float64
	// Active is the number of distinct alerts re-sent in rotation.
	Active int
	// Churn is the fraction of the active set replaced by new alerts after
	// each full rotation (0 = the same Active alerts for the whole run), so
	// end-to-end latency is sampled throughout the run, not only at its start.
	Churn float64
	// BatchSize is the largest number of alerts in one POST.
	BatchSize int
	// Senders is the number of concurrent HTTP senders.
	Senders int
	// Duration is how long alerts are offered (per target).
	Duration time.Duration
	// Drain is how long to wait after the load for webhooks still owed.
	Drain time.Duration

	// GroupBy is the generated route's group_by (default: alertname and
	// instance, so every bench alert is its own group; [job] puts them all
	// in one group).
	GroupBy []string
	// MaxAlerts, if set, is the webhook's max_alerts: it bounds the
	// payloads of large groups (the alerts it leaves out are not seen by
	// the sink, so their end-to-end latency is not measured).
	MaxAlerts int
	// ProbeOnly routes only the probe alert to the webhook, every other to
	// a receiver without integrations: the targets keep and group the
	// alerts but notify nothing (a memory measure, not a notification one).
	ProbeOnly bool
	// Warmup posts the active set once before the measured load and waits
	// until the target has processed it: the load then measures re-sends of
	// known alerts, not their creation.
	Warmup bool

	// Idle, in compare mode, is how long each target's CPU is measured
	// idle after the drain (0: not measured).
	Idle time.Duration
	// Plot, if set, is a file the run is plotted to (SVG: alerts/s and
	// end-to-end latency, second by second).
	Plot string
	// Progress, if set, gets a line per target every few seconds while it
	// runs.
	Progress io.Writer

	// Logger receives the phases' logs; nil discards them.
	Logger *slog.Logger
}

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Active == 0 {
		o.Active = DefaultActive
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Senders == 0 {
		o.Senders = DefaultSenders
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if len(o.GroupBy) == 0 {
		o.GroupBy = DefaultGroupBy
	}
	if o.AlertmanagerPath == "" {
		o.AlertmanagerPath = DefaultAlertmanagerPath
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ErrNotLoopback is returned for a target or sink address that is not on a
// loopback interface: the tool loads only the local machine.
var ErrNotLoopback = errors.New("not a loopback address")

// Validate checks the options (after WithDefaults).
func (o Options) Validate() error {
	var errs []error
	if !(o.Rate > 0 && o.Rate <= MaxRate) {
		errs = append(errs, fmt.Errorf("rate %v: want (0, %v] alerts/s", o.Rate, MaxRate))
	}
	if o.Active < 1 || o.Active > MaxActive {
		errs = append(errs, fmt.Errorf("active %d: want [1, %d]", o.Active, MaxActive))
	}
	if !(o.Churn >= 0 && o.Churn <= 1) {
		errs = append(errs, fmt.Errorf("churn %v: want [0, 1]", o.Churn))
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("batch size %d: want [1, %d]", o.BatchSize, MaxBatchSize))
	}
	if o.Senders < 1 || o.Senders > MaxSenders {
		errs = append(errs, fmt.Errorf("senders %d: want [1, %d]", o.Senders, MaxSenders))
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %v: want (0, %v]", o.Duration, MaxDuration))
	}
	if o.MaxAlerts < 0 {
		errs = append(errs, fmt.Errorf("max alerts %d: want ≥ 0", o.MaxAlerts))
	}
	for _, l := range o.GroupBy {
		if !model.LabelName(l).IsValid() {
			errs = append(errs, fmt.Errorf("group by %q: not a label name", l))
		}
	}
	if o.Drain < 0 || o.Drain > MaxDrain {
		errs = append(errs, fmt.Errorf("drain %v: want [0, %v]", o.Drain, MaxDrain))
	}
	if o.Compare {
		if o.KlaxonPath == "" {
			errs = append(errs, errors.New("compare: no klaxon executable"))
		}
	} else {
		if err := checkLoopbackURL(o.Target); err != nil {
			errs = append(errs, fmt.Errorf("target: %w", err))
		}
		if err := checkLoopbackAddr(o.SinkAddress); err != nil {
			errs = append(errs, fmt.Errorf("sink address: %w", err))
		}
	}
	return errors.Join(errs...)
}

func checkLoopbackURL(s string) error {
	if s == "" {
		return errors.New("empty URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%q: want an http:// URL", s)
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q: %w", s, ErrNotLoopback)
	}
	return nil
}

func checkLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
