package load

import (
	"strings"
	"testing"
	"time"
)

func TestWorkloadsAreValid(t *testing.T) {
	for _, w := range Workloads {
		o := Options{Compare: true, KlaxonPath: "klaxon"}
		w.Set(&o)
		if err := o.WithDefaults().Validate(); err != nil {
			t.Errorf("workload %s: %v", w.Name, err)
		}
		if len(w.Checks) == 0 {
			t.Errorf("workload %s checks nothing", w.Name)
		}
	}
}

func TestConfigGroupByAndMaxAlerts(t *testing.T) {
	cfg := Options{GroupBy: []string{"job"}, MaxAlerts: 64}.Config("http://127.0.0.1:1/")
	for _, want := range []string{"group_by: [job]\n", "max_alerts: 64\n"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if def := (Options{}).Config("http://127.0.0.1:1/"); !strings.Contains(def, "group_by: [alertname, instance]\n") || strings.Contains(def, "max_alerts") {
		t.Errorf("default config:\n%s", def)
	}
}

// With ProbeOnly only the probe reaches the webhook; the receiver of the
// rest has no integrations, which Alertmanager's config accepts.
func TestConfigProbeOnly(t *testing.T) {
	cfg := Options{ProbeOnly: true}.Config("http://127.0.0.1:1/")
	for _, want := range []string{"  receiver: quiet\n", "    - receiver: bench\n      matchers: ['bench_id=~\".*--1\"']\n", "  - name: quiet\n"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestWriteChecks(t *testing.T) {
	w, _ := FindWorkload("resends")
	lat, _ := FindWorkload("latency")
	k := Result{Elapsed: time.Second, AlertsProcessed: 3000, LoadCPU: time.Second, ProcessedByDrain: 3000, E2E: []time.Duration{8 * time.Millisecond}}
	am := Result{Elapsed: time.Second, AlertsProcessed: 1000, LoadCPU: time.Second, ProcessedByDrain: 1000, E2E: []time.Duration{time.Millisecond}}
	var b strings.Builder
	if err := WriteChecks(&b, []Outcome{{w, []Result{k, am}}, {lat, []Result{k, am}}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 { // title, header, 2 + 1 checks
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, want := range []string{
		"resends .* processed alerts/s .* 3000/s .* 1000/s .* 3.00x .* ≥ 2x .* yes",
		"resends .* CPU per 1,000 alerts .* 333.3 ms .* 1000.0 ms .* 0.33x .* ≤ 0.5x .* yes",
		"latency .* e2e p99 .* 8.00 ms .* 1.00 ms .* 8.00x .* ≤ 10.0 ms .* yes",
	} {
		if !matches(want, lines[i+2]) {
			t.Errorf("line %d = %q, want %q", i+2, lines[i+2], want)
		}
	}
}

// matches reports whether the words of pattern (" .* " between them)
// appear in line in order.
func matches(pattern, line string) bool {
	for _, part := range strings.Split(pattern, " .* ") {
		i := strings.Index(line, part)
		if i < 0 {
			return false
		}
		line = line[i+len(part):]
	}
	return true
}
