package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
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
		"--enable-feature=classic-mode",
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
		o.APITimeout != 5*time.Second || o.DataRetention != 24*time.Hour || o.MaintenanceInterval != 5*time.Minute ||
		o.Matchers != matcher.Classic {
		t.Errorf("options = %+v", o)
	}
	logs := stderr.String()
	if n := strings.Count(logs, "--cluster.* flags ignored"); n != 1 {
		t.Errorf("%d cluster warnings, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "NATS JetStream") {
		t.Errorf("the cluster warning does not say what replaces gossip:\n%s", logs)
	}
	if n := strings.Count(logs, "unknown feature flag ignored"); n != 1 || !strings.Contains(logs, "feature=auto-gomemlimit") {
		t.Errorf("feature warnings (want one, for auto-gomemlimit):\n%s", logs)
	}
}

// --enable-feature chooses the matcher mode as Alertmanager's does; both
// modes at once is refused, as there.
func TestEnableFeatureChoosesMatcherMode(t *testing.T) {
	for flags, want := range map[string]matcher.Mode{
		"":                                 matcher.Fallback,
		"utf8-strict-mode":                 matcher.UTF8Strict,
		"auto-gomemlimit,utf8-strict-mode": matcher.UTF8Strict,
		"classic-mode":                     matcher.Classic,
	} {
		var stderr bytes.Buffer
		o, err := parseRun([]string{"--enable-feature=" + flags}, &stderr)
		if err != nil || o.Matchers != want {
			t.Errorf("--enable-feature=%s: mode %v, err %v; want %v", flags, o.Matchers, err, want)
		}
	}
	var stderr bytes.Buffer
	_, err := parseRun([]string{"--enable-feature=classic-mode", "--enable-feature=utf8-strict-mode"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "classic-mode") || !strings.Contains(err.Error(), "utf8-strict-mode") {
		t.Errorf("both modes: %v, want an error naming both", err)
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
