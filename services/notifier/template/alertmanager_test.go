package template

import (
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// Alertmanager's own default.tmpl (Debian ships it with
// prometheus-alertmanager) loads as a user template file and redefines
// Klaxon's defaults, so a receiver can have Alertmanager's texts byte for
// byte: the README's way back from Klaxon's default wording.
func TestAlertmanagersDefaultTemplateLoads(t *testing.T) {
	file := harness.RequireFile(t, "/usr/share/prometheus/alertmanager/default.tmpl")
	tmpl, err := New([]string{file})
	if err != nil {
		t.Fatalf("Alertmanager's default.tmpl does not load: %v", err)
	}
	d := data(nil, mkAlert(map[string]string{"alertname": "DiskFull", "instance": "db1"}, map[string]string{"summary": "disk full"}, time.Time{}))
	if got := text(t, tmpl, `{{ template "slack.default.username" . }}`, d); got != "Alertmanager" {
		t.Errorf("slack.default.username = %q, want Alertmanager's", got)
	}
	if got := text(t, tmpl, `{{ template "slack.default.text" . }}`, d); got != "" {
		t.Errorf("slack.default.text = %q, want Alertmanager's (empty)", got)
	}
	for _, name := range []string{"slack.default.title", "email.default.subject", "pagerduty.default.description", "opsgenie.default.message"} {
		if got := text(t, tmpl, `{{ template "`+name+`" . }}`, d); !strings.HasPrefix(got, "[FIRING:1] ") {
			t.Errorf("%s = %q, want Alertmanager's subject", name, got)
		}
	}
	html, err := tmpl.HTML(`{{ template "email.default.html" . }}`, d)
	if err != nil || !strings.Contains(html, "DiskFull") {
		t.Errorf("email.default.html: %v\n%.300s", err, html)
	}
}
