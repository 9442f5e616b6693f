package victorops

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// apiKey is the test's secret: it is in the request path.
const apiKey = "v1ct0r0ps-4p1-k3y"

const ok = `{"result":"success","entity_id":"x"}`

func newNotifier(t *testing.T, globalYAML, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, globalYAML, receiverYAML, func(r *config.Receiver) *config.VictorOpsConfig { return r.VictorOpsConfigs[0] }, New)
}

// A firing group: POST <api_url><key>/<routing key> with the group key's
// hash as entity_id, the default texts and the custom fields; the key and
// URL come from the global section.
func TestTrigger(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
	n, _ := newNotifier(t, fmt.Sprintf("  victorops_api_url: %s/integrations/generic/20131114/alert\n  victorops_api_key: %s", srv.URL, apiKey),
		"    victorops_configs: [{routing_key: '{{ .CommonLabels.severity }}-team', message_type: WARNING, custom_fields: {runbook: 'http://runbooks/{{ .CommonLabels.alertname }}'}}]")
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if want := "/integrations/generic/20131114/alert/" + apiKey + "/critical-team"; req.Method != http.MethodPost || req.Path != want {
		t.Errorf("%s %s, want POST %s", req.Method, req.Path, want)
	}
	nt.Golden(t, "trigger.json", req.Body)
}

// message_type: RECOVERY once resolved, CRITICAL for an unknown type.
func TestMessageType(t *testing.T) {
	for _, tc := range []struct {
		configured string
		resolved   bool
		want       string
	}{
		{"INFO", false, "INFO"},
		{"bogus", false, "CRITICAL"},
		{"WARNING", true, "RECOVERY"},
	} {
		srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
		n, _ := newNotifier(t, "", fmt.Sprintf("    victorops_configs: [{api_url: %s/, api_key: %s, routing_key: r, message_type: %s}]", srv.URL, apiKey, tc.configured))
		if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", tc.resolved))); err != nil {
			t.Fatal(err)
		}
		if got := srv.Only(t).JSON(t)["message_type"]; got != tc.want {
			t.Errorf("%s (resolved %v): %v, want %s", tc.configured, tc.resolved, got, tc.want)
		}
	}
}

// A long state message is cut to 20480 runes.
func TestLongStateMessage(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
	n, logs := newNotifier(t, "", fmt.Sprintf("    victorops_configs: [{api_url: %s/, api_key: %s, routing_key: r, state_message: %s}]", srv.URL, apiKey, strings.Repeat("ñ", 30000)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	if got := []rune(srv.Only(t).JSON(t)["state_message"].(string)); len(got) != maxStateMessageRunes || got[len(got)-1] != '…' || logs.String() == "" {
		t.Errorf("%d runes", len(got))
	}
}

// VictorOps' refusal is final with its message, without the key.
func TestRefused(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusBadRequest, `{"result":"failure","message":"Missing fields: message_type"}`))
	n, logs := newNotifier(t, "", fmt.Sprintf("    victorops_configs: [{api_url: %s/, api_key: %s, routing_key: r}]", srv.URL, apiKey))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable || !strings.Contains(err.Error(), "failure: Missing fields: message_type") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	if strings.Contains(err.Error(), apiKey) || strings.Contains(logs.String(), apiKey) {
		t.Errorf("key leaked: %v", err)
	}
}
