package load

import (
	"context"
	"fmt"
	"io"
	"time"
)

// A Workload is a named load of issue #11's targets: Set turns the
// defaults into it (flags given on the command line are applied after it),
// Checks say what it is measured against.
type Workload struct {
	Name   string
	About  string
	Set    func(*Options)
	Checks []Check
	// Heavy workloads are not part of "all".
	Heavy bool
}

// A Check is one target of a workload: a figure of Klaxon's against
// Alertmanager's (ratio) or, with Absolute, Klaxon's alone.
type Check struct {
	Measure string
	Value   func(Result) float64
	// Format formats a value of Value.
	Format func(float64) string
	// Want is the bound; Below: the value (or ratio) must be ≤ Want,
	// otherwise ≥ Want.
	Want     float64
	Below    bool
	Absolute bool
}

func rate(v float64) string { return fmt.Sprintf("%.0f/s", v) }
func millis(v float64) string {
	return formatMillis(time.Duration(v))
}
func mib(v float64) string { return fmt.Sprintf("%.0f MiB", v/(1<<20)) }

var (
	checkProcessed = func(want float64) Check {
		return Check{Measure: "processed alerts/s", Value: Result.ProcessedRate, Format: rate, Want: want}
	}
	checkCPU = func(want float64) Check {
		return Check{Measure: "CPU per 1,000 alerts", Value: func(r Result) float64 { return float64(r.CPUPer1000()) }, Format: millis, Want: want, Below: true}
	}
)

// Workloads are the loads `klaxon bench --workload` knows, in the order
// "all" runs them.
var Workloads = []Workload{
	{
		Name:  "latency",
		About: "1,000 alerts/s, 2,000 active, 10% churn: end-to-end latency of new alerts (one group each, group_wait 0)",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration = 1000, 2000, 0.1, 4, 20*time.Second
		},
		Checks: []Check{
			{Measure: "e2e p99", Value: func(r Result) float64 { return float64(Percentile(r.E2E, 99)) }, Format: millis, Want: float64(10 * time.Millisecond), Below: true, Absolute: true},
		},
	},
	{
		Name:  "flush",
		About: "1,000 new alerts/s into 16 groups (group_by [alertname]): every group flushes on each group_interval",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration = 1000, 1000, 1, 4, 20*time.Second
			o.GroupBy, o.MaxAlerts = []string{"alertname"}, 64
		},
		Checks: []Check{
			{Measure: "flush lateness p99", Value: func(r Result) float64 { return float64(r.Lateness[1]) }, Format: millis, Want: float64(5 * time.Millisecond), Below: true, Absolute: true},
		},
	},
	{
		Name:  "resends",
		About: "re-sends of 10,000 known alerts as fast as 16 senders go",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration, o.Warmup = 40000, 10000, 0, 16, 20*time.Second, true
		},
		Checks: []Check{checkProcessed(2), checkCPU(0.5)},
	},
	{
		Name:  "resends-100k",
		About: "re-sends of 100,000 known alerts (each its own group) as fast as 16 senders go",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration, o.Warmup = 40000, 100000, 0, 16, 20*time.Second, true
			o.Drain = 2 * time.Minute
		},
		Checks: []Check{checkProcessed(2), checkCPU(0.5)},
	},
	{
		Name:  "new-groups",
		About: "every alert new and its own group, 3,000/s offered",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration, o.Drain = 3000, 3000, 1, 4, 20*time.Second, time.Minute
		},
		Checks: []Check{
			{Measure: "first notified alerts/s", Value: func(r Result) float64 { return r.FirstNotifiedRate }, Format: rate, Want: 3},
		},
	},
	{
		Name:  "big-group",
		About: "one group (group_by [job], max_alerts 64) of 100,000 alerts: posted, then re-sent",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration, o.Warmup = 40000, 100000, 0, 16, 20*time.Second, true
			o.GroupBy, o.MaxAlerts, o.Drain = []string{"job"}, 64, time.Minute
		},
		Checks: []Check{checkProcessed(2), checkCPU(0.5)},
	},
	{
		Name:  "million",
		About: "1,000,000 alerts, each its own group, posted as fast as 16 senders go for 3 minutes (~1M on a 2-core machine); only the probe is notified: memory",
		Set: func(o *Options) {
			o.Rate, o.Active, o.Churn, o.Senders, o.Duration = 40000, 1_000_000, 0, 16, 3*time.Minute
			o.ProbeOnly, o.Drain = true, 0
		},
		Checks: []Check{
			{Measure: "peak RSS", Value: func(r Result) float64 { return float64(r.PeakRSS) }, Format: mib, Want: 0.5, Below: true},
		},
		Heavy: true,
	},
}

// FindWorkload returns the workload called name.
func FindWorkload(name string) (Workload, bool) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// WorkloadNames lists the workloads' names.
func WorkloadNames() []string {
	var names []string
	for _, w := range Workloads {
		names = append(names, w.Name)
	}
	return names
}

// Outcome is a workload's compare run.
type Outcome struct {
	Workload Workload
	Results  []Result // Klaxon, Alertmanager
}

// RunWorkloads runs each workload in compare mode, options(w) giving its
// options, printing each table as it ends and a summary of the checks at
// the end.
func RunWorkloads(ctx context.Context, ws []Workload, options func(Workload) Options, stdout io.Writer) error {
	var outcomes []Outcome
	for _, w := range ws {
		o := options(w).WithDefaults()
		if err := o.Validate(); err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
		fmt.Fprintf(stdout, "== workload %s: %s\n", w.Name, w.About)
		results, err := compare(ctx, o, []server{klaxonServer(o.KlaxonPath), alertmanagerServer(o.AlertmanagerPath)})
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
		fmt.Fprintf(stdout, "%s\n\n", describeLoad(o))
		if err := writeTable(stdout, results); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		outcomes = append(outcomes, Outcome{Workload: w, Results: results})
	}
	return WriteChecks(stdout, outcomes)
}

// WriteChecks writes one line per check of each outcome: Klaxon's and
// Alertmanager's figures, the ratio, the target and whether it is met.
func WriteChecks(w io.Writer, outcomes []Outcome) error {
	table := [][]string{{"workload", "measure", "klaxon", "alertmanager", "klaxon/am", "target", "met"}}
	for _, oc := range outcomes {
		if len(oc.Results) != 2 {
			continue
		}
		k, am := oc.Results[0], oc.Results[1]
		for _, c := range oc.Workload.Checks {
			kv, av := c.Value(k), c.Value(am)
			got, ratio := kv, "-"
			if av != 0 {
				ratio = fmt.Sprintf("%.2fx", kv/av)
			}
			want := fmt.Sprintf("%.2gx", c.Want)
			if c.Absolute {
				want = c.Format(c.Want)
			} else if av != 0 {
				got = kv / av
			}
			op := "≥ "
			if c.Below {
				op = "≤ "
			}
			met := got >= c.Want
			if c.Below {
				met = got <= c.Want
			}
			if !c.Absolute && av == 0 {
				met = false
			}
			amCell := c.Format(av)
			if av == 0 {
				amCell = "-" // Alertmanager has no such figure
			}
			table = append(table, []string{oc.Workload.Name, c.Measure, c.Format(kv), amCell, ratio, op + want, yesNo(met)})
		}
	}
	if _, err := io.WriteString(w, "targets (issue #11), one run each:\n"); err != nil {
		return err
	}
	return writeAligned(w, table)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
