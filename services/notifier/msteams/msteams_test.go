package msteams

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// hookPath is the secret part of the webhook URLs, echoed by servers.
const hookPath = "/webhookb2/abc@def/IncomingWebhook/t34msS3cr3t/0000"

func testNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	if strings.Contains(receiverYAML, "msteamsv2_configs") {
		return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.MSTeamsV2Config { return r.MSTeamsV2Configs[0] }, NewV2)
	}
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.MSTeamsConfig { return r.MSTeamsConfigs[0] }, New)
}

// Each kind posts its card as JSON to the webhook: Alertmanager's layout,
// colored by the group's status.
func TestCards(t *testing.T) {
	for _, tc := range []struct {
		kind, golden string
		resolved     bool
		color        func(map[string]any) any
		want         string
	}{
		{"msteams", "messagecard-firing.json", false, func(b map[string]any) any { return b["themeColor"] }, "8C1A1A"},
		{"msteams", "messagecard-resolved.json", true, func(b map[string]any) any { return b["themeColor"] }, "2DC72D"},
		{"msteamsv2", "adaptivecard-firing.json", false, heading, "Attention"},
		{"msteamsv2", "adaptivecard-resolved.json", true, heading, "Good"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			srv := nt.NewServer(t, nt.Status(http.StatusOK, "1"))
			n, _ := testNotifier(t, fmt.Sprintf("    %s_configs: [{webhook_url: '%s%s'}]", tc.kind, srv.URL, hookPath))
			if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", tc.resolved))); err != nil {
				t.Fatal(err)
			}
			req := srv.Only(t)
			if req.Method != http.MethodPost || req.Path != hookPath || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s (%s)", req.Method, req.Path, req.Header.Get("Content-Type"))
			}
			if got := tc.color(req.JSON(t)); got != tc.want {
				t.Errorf("color %v, want %s", got, tc.want)
			}
			nt.Golden(t, tc.golden, req.Body)
		})
	}
}

func heading(b map[string]any) any {
	card := b["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any)
	return card["body"].([]any)[0].(map[string]any)["color"]
}

// A connector's 200 "delivery failed" is a final refusal; a Workflows
// error names its code; the URL never shows.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		kind, want string
		status     int
		body       string
	}{
		{"msteams", "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413", 200,
			"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId " + hookPath},
		{"msteamsv2", "WorkflowTriggerIsNotEnabled: Could not find an active trigger", 400,
			`{"error":{"code":"WorkflowTriggerIsNotEnabled","message":"Could not find an active trigger for ` + hookPath + `"}}`},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			srv := nt.NewServer(t, nt.Status(tc.status, tc.body))
			n, logs := testNotifier(t, fmt.Sprintf("    %s_configs: [{webhook_url: '%s%s'}]", tc.kind, srv.URL, hookPath))
			retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
			if err == nil || retryable || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("retryable %v, err %v", retryable, err)
			}
			if r, _ := notification.FailureReason(err); r != notification.ReasonClientError {
				t.Errorf("reason %q", r)
			}
			if strings.Contains(err.Error(), "t34msS3cr3t") || strings.Contains(logs.String(), "t34msS3cr3t") {
				t.Errorf("webhook URL leaked: %v", err)
			}
		})
	}
}
