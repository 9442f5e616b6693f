package load

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// describeLoad states the load in one line.
func describeLoad(o Options) string {
	s := fmt.Sprintf("%g alerts/s offered for %v, active set %d (churn %g per rotation), batches of ≤%d, %d senders, drain ≤%v, group_by [%s]",
		o.Rate, o.Duration, o.Active, o.Churn, o.BatchSize, o.Senders, o.Drain, strings.Join(o.GroupBy, ", "))
	if o.MaxAlerts > 0 {
		s += fmt.Sprintf(", max_alerts %d", o.MaxAlerts)
	}
	if o.Warmup {
		s += ", after a warm-up posting the active set once"
	}
	return s
}

// row is one line of the report: a label, a formatted value per result and,
// when value is set, the ratio of the first result to the second.
type row struct {
	label  string
	format func(Result) string
	value  func(Result) float64 // nil: no ratio
}

func durationRow(label string, f func(Result) time.Duration) row {
	return row{
		label:  label,
		format: func(r Result) string { return formatMillis(f(r)) },
		value:  func(r Result) float64 { return float64(f(r)) },
	}
}

var rows = []row{
	{
		label:  "accepted alerts/s",
		format: func(r Result) string { return fmt.Sprintf("%.1f", r.AcceptedRate()) },
		value:  Result.AcceptedRate,
	},
	{
		label:  "processed alerts/s",
		format: func(r Result) string { return fmt.Sprintf("%.1f", r.ProcessedRate()) },
		value:  Result.ProcessedRate,
	},
	{
		label:  "first notified alerts/s (to the last)",
		format: func(r Result) string { return fmt.Sprintf("%.1f", r.FirstNotifiedRate) },
		value:  func(r Result) float64 { return r.FirstNotifiedRate },
	},
	{
		label:  "backlog at the end of the load",
		format: func(r Result) string { return fmt.Sprint(max(r.AlertsAccepted-r.AlertsProcessed, 0)) },
	},
	{
		label:  "alerts accepted/sent",
		format: func(r Result) string { return fmt.Sprintf("%d/%d", r.AlertsAccepted, r.AlertsSent) },
	},
	{
		label:  "alerts skipped (queue full)",
		format: func(r Result) string { return fmt.Sprint(r.AlertsSkipped) },
	},
	{
		label:  "requests by status",
		format: Result.StatusSummary,
	},
	durationRow("HTTP p50", func(r Result) time.Duration { return Percentile(r.HTTP, 50) }),
	durationRow("HTTP p99", func(r Result) time.Duration { return Percentile(r.HTTP, 99) }),
	durationRow("e2e p50", func(r Result) time.Duration { return Percentile(r.E2E, 50) }),
	durationRow("e2e p99", func(r Result) time.Duration { return Percentile(r.E2E, 99) }),
	{
		label:  "e2e notified/accepted alerts",
		format: func(r Result) string { return fmt.Sprintf("%d/%d", r.E2EReceived, r.E2EExpected) },
	},
	spacingRow("flush spacing beyond group_interval p50", 50),
	spacingRow("flush spacing beyond group_interval p99", 99),
	latenessRow("flush lateness (grouper) p50", 0),
	latenessRow("flush lateness (grouper) p99", 1),
}

// spacingRow is a percentile of Result.FlushSpacing; "-" without samples.
func spacingRow(label string, p float64) row {
	return row{
		label: label,
		format: func(r Result) string {
			if len(r.FlushSpacing) == 0 {
				return "-"
			}
			return formatMillis(Percentile(r.FlushSpacing, p))
		},
	}
}

// latenessRow is Result.Lateness[i]; "-" for a target without it.
func latenessRow(label string, i int) row {
	return row{
		label: label,
		format: func(r Result) string {
			if !r.LatenessOK {
				return "-"
			}
			return formatMillis(r.Lateness[i])
		},
	}
}

// processRows are shown when a result has process figures (compare mode).
var processRows = []row{
	{
		label:  "CPU time",
		format: func(r Result) string { return fmt.Sprintf("%.1f s", r.CPU.Seconds()) },
		value:  func(r Result) float64 { return r.CPU.Seconds() },
	},
	{
		label:  "CPU per 1,000 processed alerts",
		format: func(r Result) string { return formatMillis(r.CPUPer1000()) },
		value:  func(r Result) float64 { return float64(r.CPUPer1000()) },
	},
	{
		label:  "idle CPU after the drain (% of a core)",
		format: func(r Result) string { return fmt.Sprintf("%.2f%%", 100*r.IdleCPU) },
		value:  func(r Result) float64 { return r.IdleCPU },
	},
	{
		label:  "peak RSS",
		format: func(r Result) string { return fmt.Sprintf("%.0f MiB", float64(r.PeakRSS)/(1<<20)) },
		value:  func(r Result) float64 { return float64(r.PeakRSS) },
	},
}

// writeTable writes one column per result; with two results, a third column
// holds first/second ratios. Labels are left-aligned, figures right-aligned.
func writeTable(w io.Writer, results []Result) error {
	ratio := len(results) == 2
	header := []string{""}
	for _, r := range results {
		header = append(header, r.Name)
	}
	if ratio {
		header = append(header, results[0].Name+"/"+results[1].Name)
	}
	table := [][]string{header}

	all := rows
	if len(results) > 0 && results[0].CPU > 0 {
		all = append(all[:len(all):len(all)], processRows...)
	}
	for _, rw := range all {
		cells := []string{rw.label}
		for _, r := range results {
			cells = append(cells, rw.format(r))
		}
		if ratio {
			cells = append(cells, formatRatio(rw, results[0], results[1]))
		}
		table = append(table, cells)
	}

	return writeAligned(w, table)
}

// writeAligned writes table's rows with the first column left-aligned and
// the others right-aligned, two spaces apart.
func writeAligned(w io.Writer, table [][]string) error {
	widths := make([]int, len(table[0]))
	for _, cells := range table {
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, cells := range table {
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
				continue
			}
			b.WriteString("  " + pad + c)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatRatio(rw row, a, b Result) string {
	if rw.value == nil {
		return ""
	}
	den := rw.value(b)
	if den == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", rw.value(a)/den)
}

// formatMillis formats d in milliseconds.
func formatMillis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}
