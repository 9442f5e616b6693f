package rocketchat

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// The test's secrets: a personal access token and its user id.
const (
	token   = "r0ck3tT0k3n-s3cr3t"
	tokenID = "r0ck3tUs3r1d"
)

const ok = `{"success":true,"message":{"_id":"m"}}`

func newNotifier(t *testing.T, globalYAML, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, globalYAML, receiverYAML, func(r *config.Receiver) *config.RocketchatConfig { return r.RocketchatConfigs[0] }, New)
}

// chat.postMessage with the token headers (the token from a global file),
// one attachment with fields (short from short_fields unless set) and
// button actions.
func TestPostMessage(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, ok))
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := newNotifier(t, fmt.Sprintf("  rocketchat_api_url: %s/chat/\n  rocketchat_token_file: %s\n  rocketchat_token_id: %s", srv.URL, tokenFile, tokenID), `    rocketchat_configs:
      - channel: '#{{ .CommonLabels.severity }}'
        short_fields: true
        text: '{{ .CommonAnnotations.summary }}'
        fields:
          - {title: Instance, value: '{{ .CommonLabels.instance }}'}
          - {title: Runbook, value: 'http://runbooks/x', short: false}
        actions:
          - {text: Silence, url: 'http://klaxon.example/#/silences/new'}
          - {text: Ack, msg: 'ack {{ .CommonLabels.alertname }}'}`)
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Path != "/chat/api/v1/chat.postMessage" || req.Header.Get("X-Auth-Token") != token || req.Header.Get("X-User-Id") != tokenID {
		t.Errorf("%s %s %v", req.Method, req.Path, req.Header)
	}
	nt.Golden(t, "post-message.json", req.Body)
}

// Rocket.Chat's refusals are final and name the channel, never the
// token: a 400, and a 200 with success false.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"success":false,"error":"error-not-allowed ` + token + `"}`, "error-not-allowed <redacted>"},
		{200, `{"success":false,"error":"room not found"}`, "room not found"},
	} {
		srv := nt.NewServer(t, nt.Status(tc.status, tc.body))
		n, logs := newNotifier(t, "", fmt.Sprintf("    rocketchat_configs: [{api_url: %s, token: %s, token_id: %s, channel: '#ops'}]", srv.URL, token, tokenID))
		retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
		if err == nil || retryable || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `channel "#ops"`) {
			t.Fatalf("retryable %v, err %v", retryable, err)
		}
		if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) {
			t.Errorf("token leaked: %v", err)
		}
	}
}
