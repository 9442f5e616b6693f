package load

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// alertmanagerPath returns Debian's Alertmanager. Without KLAXON_E2E=1 the
// test is skipped; with it, a missing binary fails the test.
func alertmanagerPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("KLAXON_E2E") != "1" {
		t.Skip("set KLAXON_E2E=1 to run the load tool against prometheus-alertmanager")
	}
	if _, err := os.Stat(DefaultAlertmanagerPath); err != nil {
		t.Fatalf("KLAXON_E2E=1 but no Alertmanager: %v (apt-get install prometheus-alertmanager)", err)
	}
	return DefaultAlertmanagerPath
}

// briefLoad is a short load: 2 s at 200 alerts/s over an active set of
// 150, so each alert is re-sent and some are replaced by churn.
func briefLoad(t *testing.T) Options {
	return Options{
		Rate:     200,
		Active:   150,
		Churn:    0.2,
		Senders:  2,
		Duration: 2 * time.Second,
		Drain:    10 * time.Second,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

// TestRunAgainstAlertmanager starts Alertmanager with the config that
// `klaxon bench --print-config` prints and runs the tool against it in
// single-target mode.
func TestRunAgainstAlertmanager(t *testing.T) {
	path := alertmanagerPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	sinkAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(Options{}.Config("http://"+sinkAddr+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	args, _ := alertmanagerServer(path).args(config, listen, t.TempDir())
	p, err := startProcess(args, filepath.Join(dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := p.stop(); err != nil {
			t.Errorf("stop alertmanager: %v", err)
		}
	}()
	if err := waitReady(ctx, "http://"+listen, p); err != nil {
		t.Fatalf("%v\n%s", err, p.outputTail())
	}

	o := briefLoad(t)
	o.Target, o.SinkAddress = "http://"+listen, sinkAddr
	var out bytes.Buffer
	if err := Run(ctx, o, &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, p.outputTail())
	}
	t.Logf("report:\n%s", out.String())

	accepted := figure(t, out.Bytes(), `accepted alerts/s\s+([0-9.]+)`)
	if accepted < 100 {
		t.Errorf("accepted %v alerts/s, want near the offered 200", accepted)
	}
	m := regexp.MustCompile(`e2e notified/accepted alerts\s+(\d+)/(\d+)`).FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("no e2e row in report")
	}
	got, _ := strconv.Atoi(string(m[1]))
	want, _ := strconv.Atoi(string(m[2]))
	// 150 alerts, then 30 replaced after each of the ~2.7 rotations.
	if want < 150 || got != want {
		t.Errorf("webhooks for %d of %d accepted alerts, want all of at least 150", got, want)
	}
	if figure(t, out.Bytes(), `e2e p99\s+([0-9.]+) ms`) <= 0 {
		t.Errorf("e2e p99 not positive")
	}
}

// TestCompareTwoAlertmanagers runs compare mode's machinery (fresh config,
// storage, sink and process per target, in turn) with Alertmanager as both
// targets, so it does not depend on Klaxon's pipeline.
func TestCompareTwoAlertmanagers(t *testing.T) {
	path := alertmanagerPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	a, b := alertmanagerServer(path), alertmanagerServer(path)
	a.name, b.name = "am-a", "am-b"
	o := briefLoad(t).WithDefaults()
	results, err := compare(ctx, o, []server{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	for _, r := range results {
		if r.AlertsAccepted == 0 || r.AlertsAccepted != r.AlertsSent {
			t.Errorf("%s: accepted %d of %d alerts sent", r.Name, r.AlertsAccepted, r.AlertsSent)
		}
		if r.Status["200"] != r.Requests {
			t.Errorf("%s: statuses %v for %d requests, want all 200", r.Name, r.Status, r.Requests)
		}
		if r.E2EExpected < o.Active || r.E2EReceived != r.E2EExpected || len(r.E2E) != r.E2EReceived {
			t.Errorf("%s: %d webhooks (%d latencies) for %d accepted alerts", r.Name, r.E2EReceived, len(r.E2E), r.E2EExpected)
		}
		if r.CPU <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: no process figures (cpu %v, rss %d)", r.Name, r.CPU, r.PeakRSS)
		}
	}
	var out bytes.Buffer
	if err := writeTable(&out, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("table:\n%s", out.String())
	if !bytes.Contains(out.Bytes(), []byte("am-a/am-b")) {
		t.Errorf("no ratio column")
	}
}

func figure(t *testing.T, out []byte, re string) float64 {
	t.Helper()
	m := regexp.MustCompile(re).FindSubmatch(out)
	if m == nil {
		t.Fatalf("report lacks %s:\n%s", re, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
