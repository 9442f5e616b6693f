// Package conformance runs the real Alertmanager and Klaxon side by side on
// the same alertmanager.yml and the same timeline of alerts and silences, and
// compares what each notifies: per receiver and group, the sequence of
// notifications, their status, their alerts (labels, annotations, times,
// status, order), truncatedAlerts, groupLabels, and when they arrive.
//
// Alertmanager is the oracle. A scenario where Klaxon deliberately differs
// (the README's "Differences from Alertmanager") says so and asserts Klaxon's
// side instead.
package conformance

import (
	"flag"
	"fmt"
	"testing"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// bin holds the binaries built once for all scenarios.
var bin harness.Binaries

// parallel is how many scenarios run at once unless -test.parallel says
// otherwise. A scenario mostly waits on its timeline, so more scenarios than
// cores run reliably; the arrival tolerance was measured at this setting on
// a loaded 2-core machine.
const parallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", fmt.Sprint(parallel))
	}
	harness.Main(m, &bin)
}
