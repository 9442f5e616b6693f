package incidentio

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// token is the test's secret: the alert source token.
const token = "1nc1d3nt-s0urc3-t0k3n"

const ok = `{"status":"success","deduplication_key":"x"}`

func newNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.IncidentioConfig { return r.IncidentioConfigs[0] }, New)
}

// The webhook payload, version "1", with the bearer token; max_alerts
// caps the alerts and counts the rest.
func TestAlert(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusAccepted, ok))
	n, _ := newNotifier(t, fmt.Sprintf("    incidentio_configs: [{url: '%s/v2/alert_events/http/01HXYZ', alert_source_token: %s, max_alerts: 1}]", srv.URL, token))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false), nt.Alert("web-2", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	if req.Path != "/v2/alert_events/http/01HXYZ" || req.Header.Get("Authorization") != "Bearer "+token {
		t.Errorf("%s %v", req.Path, req.Header)
	}
	nt.Golden(t, "alert.json", req.Body)
}

// A payload over 512 KiB keeps its first alert only.
func TestPayloadLimit(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusAccepted, ok))
	n, logs := newNotifier(t, fmt.Sprintf("    incidentio_configs: [{url: '%s/', alert_source_token: %s}]", srv.URL, token))
	var alerts []alert.Alert
	for i := range 5 {
		a := nt.Alert(fmt.Sprint("web-", i), false)
		a.Annotations["description"] = model.LabelValue(strings.Repeat("x", 200<<10))
		alerts = append(alerts, a)
	}
	if _, err := n.Notify(t.Context(), nt.Notification(alerts...)); err != nil {
		t.Fatal(err)
	}
	body := srv.Only(t).JSON(t)
	if len(body["alerts"].([]any)) != 1 || body["truncatedAlerts"] != float64(4) || !strings.Contains(logs.String(), "size limit") {
		t.Errorf("%d alerts, truncated %v", len(body["alerts"].([]any)), body["truncatedAlerts"])
	}
}

// incident.io's refusal is final with its message and errors; the token
// does not show.
func TestRefused(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusUnauthorized, `{"message":"Invalid token `+token+`","errors":["authentication failed"]}`))
	n, logs := newNotifier(t, fmt.Sprintf("    incidentio_configs: [{url: '%s/', alert_source_token: %s}]", srv.URL, token))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable || !strings.Contains(err.Error(), "Invalid token <redacted>: authentication failed") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) {
		t.Errorf("token leaked: %v", err)
	}
}
