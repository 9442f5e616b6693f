package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A command line written for Alertmanager parses, its meaningful flags into
// Options, the gossip flags with one warning.
func TestAlertmanagerCommandLine(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseRun([]string{
		"--config.file=/etc/alertmanager/alertmanager.yml",
		"--storage.path=/alertmanager",
		"--web.external-url=https://example.com/alertmanager/",
		"--web.route-prefix=/am",
		"--web.get-concurrency=3",
		"--web.timeout=5s",
		"--dispatch.start-delay=1m",
		"--alerts.gc-interval=10m",
		"--data.retention=24h",
		"--data.maintenance-interval=5m",
		"--enable-feature=utf8-strict-mode,classic-mode",
		"--enable-feature=auto-gomemlimit",
		"--cluster.listen-address=0.0.0.0:9094",
		"--cluster.peer=am-1:9094", "--cluster.peer=am-2:9094",
		"--cluster.allow-insecure-public-advertise-address-discovery",
		"--log.level=info",
	}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.ExternalURL != "https://example.com/alertmanager/" || o.RoutePrefix != "/am" || o.GetConcurrency != 3 ||
		o.APITimeout != 5*time.Second || o.DataRetention != 24*time.Hour || o.MaintenanceInterval != 5*time.Minute {
		t.Errorf("options = %+v", o)
	}
	logs := stderr.String()
	if n := strings.Count(logs, "--cluster.* flags ignored"); n != 1 {
		t.Errorf("%d cluster warnings, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "NATS JetStream") {
		t.Errorf("the cluster warning does not say what replaces gossip:\n%s", logs)
	}
	if !strings.Contains(logs, "feature=auto-gomemlimit") || strings.Contains(logs, "feature=utf8-strict-mode") || strings.Contains(logs, "feature=classic-mode") {
		t.Errorf("feature warnings:\n%s", logs)
	}
}

func TestNoAlertmanagerFlagsNoWarning(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseRun(nil, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("warnings without flags:\n%s", stderr.String())
	}
}

func TestUnknownFlagFails(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseRun([]string{"--web.no-such-flag=1"}, &stderr); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	if _, err := parseRun([]string{"--cluster.no-such-flag=1"}, &stderr); err == nil {
		t.Fatal("an unknown --cluster flag was accepted")
	}
}
