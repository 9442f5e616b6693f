package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

func TestDefaults(t *testing.T) {
	cfg, err := config.Parse([]byte(`
route: {receiver: r}
receivers:
  - name: r
    webhook_configs: [{url: "http://example.org/hook"}]
    slack_configs: [{api_url: "https://hooks.slack.com/x"}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(cfg.Global.ResolveTimeout); got != 5*time.Minute {
		t.Errorf("resolve_timeout = %v, want 5m", got)
	}
	r := cfg.Receiver("r")
	if !r.WebhookConfigs[0].SendResolved {
		t.Error("webhook send_resolved should default to true")
	}
	if r.SlackConfigs[0].SendResolved {
		t.Error("slack send_resolved should default to false")
	}
	if r.WebhookConfigs[0].HTTPConfig != cfg.Global.HTTPConfig || !r.WebhookConfigs[0].HTTPConfig.FollowRedirects {
		t.Error("webhook http_config should fall back to the global one (follow_redirects default true)")
	}
}

func TestErrorsHaveFileLineAndPath(t *testing.T) {
	_, err := config.Parse([]byte(`route:
  receiver: r
  routes:
    - receiver: r
    - receiver: r
      group_wait: soon
receivers:
  - name: r
    jira_configs: [{project: x}]
`), "am.yml")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`am.yml:6: route.routes[1].group_wait: `,
		`am.yml:9: receivers[0].jira_configs[0]: missing issue_type in jira_config`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != "am.yml" {
		t.Errorf("errors.As(*config.Error) = %v", ce)
	}
}

// TestUnsupportedIntegration: an integration Klaxon recognises but does
// not implement is refused as not supported yet. Every integration of
// Alertmanager 0.34 is supported: a made-up one stands in (not parallel:
// it changes the package's list).
func TestUnsupportedIntegration(t *testing.T) {
	saved := config.UnsupportedIntegrations
	config.UnsupportedIntegrations = []string{"carrierpigeon_configs"}
	t.Cleanup(func() { config.UnsupportedIntegrations = saved })
	_, err := config.Parse([]byte("route: {receiver: r}\nreceivers:\n  - name: r\n    carrierpigeon_configs: [{loft: x}]\n"), "am.yml")
	if !errors.Is(err, config.ErrUnsupportedIntegration) || !strings.Contains(err.Error(), "am.yml:4: receivers[0].carrierpigeon_configs: integration carrierpigeon_configs is not supported yet") {
		t.Errorf("err %v, want integration carrierpigeon_configs is not supported yet", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const (
		pass  = "hunter2-password"
		hook  = "https://hooks.slack.com/services/T0/B0/supersecretpath"
		token = "bearer-token-value"
	)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
global:
  smtp_auth_password: %s
  smtp_smarthost: smtp.example.org:587
  smtp_from: a@example.org
  slack_api_url: %s
  http_config:
    bearer_token: %s
route: {receiver: r}
receivers:
  - name: r
    slack_configs: [{channel: "#x"}]
    email_configs: [{to: b@example.org}]
    webhook_configs: [{url: %q}]
`, pass, hook, token, hook)), "")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("cfg", "global", cfg.Global, "slack", cfg.Receiver("r").SlackConfigs[0], "url", cfg.Global.SlackAPIURL)
	js, _ := json.Marshal(cfg)
	outputs := map[string]string{
		"String":  cfg.String(),
		"%v":      fmt.Sprintf("%v", *cfg.Global),
		"%+v":     fmt.Sprintf("%+v %+v", *cfg.Global, *cfg.Receiver("r").EmailConfigs[0]),
		"%#v":     fmt.Sprintf("%#v", cfg.Global.SMTPAuthPassword),
		"%s url":  fmt.Sprintf("%s", cfg.Global.SlackAPIURL),
		"http %v": fmt.Sprintf("%v", cfg.Global.HTTPConfig),
		"json":    string(js),
		"slog":    logs.String(),
	}
	for name, out := range outputs {
		for _, secret := range []string{pass, "supersecretpath", token} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output reveals %q:\n%s", name, secret, out)
			}
		}
	}
	if !strings.Contains(cfg.String(), "<secret>") {
		t.Errorf("String() should show <secret>:\n%s", cfg.String())
	}
	if cfg.Global.SMTPAuthPassword.Reveal() != pass || cfg.Global.SlackAPIURL.Reveal() != hook {
		t.Error("Reveal should return the real values")
	}
	if cfg.Receiver("r").SlackConfigs[0].APIURL.Reveal() != hook {
		t.Error("slack api_url should fall back to the global one")
	}
}

func TestHash(t *testing.T) {
	a, err := config.Parse([]byte("route: {receiver: r}\nreceivers: [{name: r}]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := config.Parse([]byte("route: {receiver: r}\nreceivers: [{name: r}]\n"), "")
	c, _ := config.Parse([]byte("route: {receiver: r}\nreceivers: [{name: r}]\n# changed\n"), "")
	if a.Hash() != b.Hash() || a.Hash() == c.Hash() || a.HashValue() == c.HashValue() {
		t.Error("Hash must be equal for equal files and differ otherwise")
	}
	if a.Original != "route: {receiver: r}\nreceivers: [{name: r}]\n" {
		t.Errorf("Original = %q", a.Original)
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	for _, in := range []string{
		"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://u:hunter2@host:bad/'}]}]\n",
		"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'gopher://u:hunter2@host/'}]}]\n",
		"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: \"http://h/\\x7fhunter2\"}]}]\n",
		"global: {slack_api_url: 'hunter2'}\nroute: {receiver: r}\nreceivers: [{name: r}]\n",
		"global: {smtp_auth_password: [hunter2]}\nroute: {receiver: r}\nreceivers: [{name: r}]\n",
	} {
		_, err := config.Parse([]byte(in), "s.yml")
		if err == nil {
			t.Errorf("%q: want an error", in)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
}
