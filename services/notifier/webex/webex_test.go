package webex

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// token is the test's secret, the bot's bearer token.
const token = "w3bexB0tT0k3nS3cr3t"

func newNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.WebexConfig { return r.WebexConfigs[0] }, New)
}

func receiver(url, extra string) string {
	return fmt.Sprintf("    webex_configs: [{api_url: %s, room_id: '{{ .CommonLabels.severity }}-room', http_config: {authorization: {credentials: %s}}%s}]", url, token, extra)
}

// The Markdown message is posted for the templated room with the bearer
// token.
func TestMessage(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, `{"id":"m1"}`))
	n, _ := newNotifier(t, receiver(srv.URL+"/v1/messages", ""))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false), nt.Alert("web-2", true))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Path != "/v1/messages" || req.Header.Get("Authorization") != "Bearer "+token {
		t.Errorf("%s %s, authorization %q", req.Method, req.Path, req.Header.Get("Authorization"))
	}
	if got := req.JSON(t)["roomId"]; got != "critical-room" {
		t.Errorf("roomId %v", got)
	}
	nt.Golden(t, "message.json", req.Body)
}

// A message over 7439 bytes is cut, on a rune boundary.
func TestLongMessageIsTruncated(t *testing.T) {
	srv := nt.NewServer(t, nil)
	n, logs := newNotifier(t, receiver(srv.URL, ", message: "+strings.Repeat("€", 3000)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	md := srv.Only(t).JSON(t)["markdown"].(string)
	if len(md) > maxMessageBytes || len(md) < maxMessageBytes-3 || !strings.HasSuffix(md, "…") {
		t.Errorf("markdown of %d bytes", len(md))
	}
	if !strings.Contains(logs.String(), "truncated") {
		t.Error("truncation not logged")
	}
}

// Webex's refusal is final with its message and tracking id; the token
// never shows.
func TestRefusal(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusNotFound,
		`{"message":"Could not find a room with provided ID.","errors":[{"description":"Could not find a room with provided ID."}],"trackingId":"ROUTER_123"}`))
	n, logs := newNotifier(t, receiver(srv.URL, ""))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable || !strings.Contains(err.Error(), "Could not find a room with provided ID. (tracking id ROUTER_123)") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) {
		t.Error("token leaked")
	}
}
