package mattermost

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// hookPath is the secret part of the webhook URL, echoed by servers.
const hookPath = "/hooks/m4tt3rm0stH00kS3cr3t"

func newNotifier(t *testing.T, globalYAML, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, globalYAML, receiverYAML, func(r *config.Receiver) *config.MattermostConfig { return r.MattermostConfigs[0] }, New)
}

// The defaults make one attachment (title, link, color, Markdown text),
// posted to the global webhook URL.
func TestDefaultPost(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, "ok"))
	n, _ := newNotifier(t, fmt.Sprintf("  mattermost_webhook_url: '%s%s'", srv.URL, hookPath), "    mattermost_configs: [{channel: ops}]")
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Path != hookPath || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s (%s)", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	nt.Golden(t, "default.json", req.Body)
}

// Configured attachments replace the default one, the text goes above
// them, props and a corrected priority are sent.
func TestAttachmentsPropsPriority(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, "ok"))
	n, logs := newNotifier(t, "", fmt.Sprintf(`    mattermost_configs:
      - webhook_url: '%s%s'
        text: '{{ len .Alerts }} alerts'
        icon_emoji: ':rotating_light:'
        props: {card: '{{ .CommonAnnotations.summary }}'}
        priority: {priority: '{{ "Standard" }}', requested_ack: true, persistent_notifications: true}
        attachments:
          - title: '{{ .CommonLabels.alertname }}'
            color: '#FF0000'
            fields: [{title: instance, value: '{{ .CommonLabels.instance }}', short: true}]
          - text: second`, srv.URL, hookPath))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	body := srv.Only(t).JSON(t)
	pr := body["priority"].(map[string]any)
	if pr["priority"] != "standard" || pr["requested_ack"] != nil || pr["persistent_notifications"] != nil {
		t.Errorf("priority %v: want standard without ack or persistence", pr)
	}
	if !strings.Contains(logs.String(), "requested_ack") || !strings.Contains(logs.String(), "persistent_notifications") {
		t.Errorf("corrections not logged:\n%s", logs)
	}
	nt.Golden(t, "attachments.json", srv.Only(t).Body)
}

// The post's text is cut to 16383 runes.
func TestLongTextIsTruncated(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, "ok"))
	n, _ := newNotifier(t, "", fmt.Sprintf("    mattermost_configs: [{webhook_url: '%s', text: '%s', attachments: [{text: a}]}]", srv.URL, strings.Repeat("д", 17000)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	if got := len([]rune(srv.Only(t).JSON(t)["text"].(string))); got != maxTextRunes {
		t.Errorf("text of %d runes", got)
	}
}

// Mattermost's refusal is final, names the channel and Mattermost's
// message; the URL never shows.
func TestRefusal(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusBadRequest,
		`{"id":"web.incoming_webhook.channel.app_error","message":"Couldn't find the channel.","detailed_error":"hook `+hookPath+`","status_code":400}`))
	n, logs := newNotifier(t, "", fmt.Sprintf("    mattermost_configs: [{webhook_url: '%s%s', channel: nope}]", srv.URL, hookPath))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable || !strings.Contains(err.Error(), `channel "nope"`) || !strings.Contains(err.Error(), "Couldn't find the channel.") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	if strings.Contains(err.Error(), "m4tt3rm0stH00kS3cr3t") || strings.Contains(logs.String(), "m4tt3rm0stH00kS3cr3t") {
		t.Errorf("webhook URL leaked: %v", err)
	}
}
