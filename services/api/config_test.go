package api

import (
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

// The original file is served with every value pkg/config treats as secret
// masked, wherever YAML put it: inline, behind an anchor, through a merge
// key; the rest of the text stays as written.
func TestRedactedOriginal(t *testing.T) {
	const file = `# comments stay
global:
  smtp_auth_password: smtp-secret
  slack_api_url: https://hooks.slack.com/services/slack-secret
route:
  receiver: a
receivers:
  - name: a
    webhook_configs:
      - &hook
        url: http://hook.local/path?token=hook-secret
        http_config:
          authorization: {credentials: bearer-secret}
      - <<: *hook
        send_resolved: false
    email_configs:
      - to: ops@example.com
        from: k@example.com
        smarthost: smtp.example.com:587
        auth_password: email-secret
`
	cfg, err := config.Parse([]byte(file), "")
	if err != nil {
		t.Fatal(err)
	}
	got := redactedOriginal(cfg)
	for _, secret := range []string{"smtp-secret", "slack-secret", "hook-secret", "bearer-secret", "email-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("secret %q served:\n%s", secret, got)
		}
	}
	for _, want := range []string{
		"# comments stay",
		"smtp_auth_password: <secret>",
		"slack_api_url: https://<secret>",
		"url: http://<secret>",
		"send_resolved: false",
		"to: ops@example.com",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("redacted original lacks %q:\n%s", want, got)
		}
	}
	back, err := config.Parse([]byte(got), "")
	if err != nil {
		t.Fatalf("redacted original does not parse: %v\n%s", err, got)
	}
	if n := len(back.Receiver("a").WebhookConfigs); n != 2 {
		t.Fatalf("%d webhooks after masking, want 2", n)
	}
}

// Without an original (a config built in memory), the redacted rendering is
// served.
func TestRedactedOriginalFallsBackToRendering(t *testing.T) {
	cfg, err := config.Parse([]byte("route:\n  receiver: a\nreceivers:\n  - name: a\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Original = ""
	if got := redactedOriginal(cfg); got != cfg.String() {
		t.Fatalf("fallback = %q, want the rendering", got)
	}
}

func TestMaskedValue(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/x": "https://<secret>",
		"http://user:pw@host/p?q=1": "http://<secret>",
		"s3cr3t":                    "<secret>",
		"not a url: really":         "<secret>",
		"":                          "<secret>",
	} {
		if got := maskedValue(in); got != want {
			t.Errorf("maskedValue(%q) = %q, want %q", in, got, want)
		}
	}
}
