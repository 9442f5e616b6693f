package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// routingKey is the test's secret; the servers echo it back in errors.
const routingKey = "r0ut1ngK3yS3cr3t0000000000000000"

func newNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.PagerdutyConfig { return r.PagerdutyConfigs[0] }, New)
}

// A firing group triggers, a resolved one resolves, both under the group's
// dedup key, posted as JSON to the configured Events API v2 URL.
func TestEventsV2(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusAccepted, `{"status":"success","message":"Event processed","dedup_key":"x"}`))
	n, _ := newNotifier(t, fmt.Sprintf(`    pagerduty_configs:
      - url: %s/v2/enqueue
        routing_key: %s
        severity: '{{ .CommonLabels.severity }}'
        class: latency
        component: api
        group: web
        images: [{src: 'https://img.example/{{ .GroupLabels.alertname }}.png', alt: graph, href: 'https://grafana.example'}, {src: '', alt: dropped}]
        links: [{href: 'https://runbooks.example/latency', text: runbook}, {href: '', text: dropped}]
        details:
          team: web
          firing_count: '{{ .Alerts.Firing | len }}'`, srv.URL, routingKey))
	for _, tc := range []struct {
		name, golden, action string
		resolved             bool
	}{
		{"trigger", "v2-trigger.json", "trigger", false},
		{"resolve", "v2-resolve.json", "resolve", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Requests())
			if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", tc.resolved))); err != nil {
				t.Fatal(err)
			}
			req := srv.Requests()[before]
			if req.Method != http.MethodPost || req.Path != "/v2/enqueue" || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request %s %s (%s)", req.Method, req.Path, req.Header.Get("Content-Type"))
			}
			body := req.JSON(t)
			if body["event_action"] != tc.action || body["dedup_key"] != nt.Notification().KeyHash() || body["routing_key"] != routingKey {
				t.Errorf("event_action %v, dedup_key %v, routing_key %v", body["event_action"], body["dedup_key"], body["routing_key"])
			}
			details := body["payload"].(map[string]any)["custom_details"].(map[string]any)
			if _, isList := details["firing"].([]any); !isList {
				t.Errorf("details.firing = %#v, want the firing alerts as a JSON list", details["firing"])
			}
			nt.Golden(t, tc.golden, req.Body)
		})
	}
}

// A service key sends Events API v1 events: incident_key, event_type,
// description and details at the top level; client fields only when
// triggering. The key is read from its file at each send.
func TestEventsV1FromKeyFile(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusOK, `{"status":"success"}`))
	keyFile := filepath.Join(t.TempDir(), "service_key")
	if err := os.WriteFile(keyFile, []byte(routingKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := newNotifier(t, "    pagerduty_configs: [{service_key_file: "+keyFile+"}]")
	n.v1URL, _ = url.Parse(srv.URL + "/generic/2010-04-15/create_event.json")
	for _, resolved := range []bool{false, true} {
		if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", resolved))); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	nt.Golden(t, "v1-trigger.json", reqs[0].Body)
	nt.Golden(t, "v1-resolve.json", reqs[1].Body)
	resolve := reqs[1].JSON(t)
	if resolve["event_type"] != "resolve" || resolve["client"] != nil || resolve["service_key"] != routingKey || resolve["incident_key"] != nt.Notification().KeyHash() {
		t.Errorf("v1 resolve event: %v", resolve)
	}
}

// PagerDuty's 400 names what is wrong: the error carries its message and
// errors, is final, and never shows the key the server echoed.
func TestRefusedEventIsFinalWithPagerDutysReason(t *testing.T) {
	srv := nt.NewServer(t, nt.Status(http.StatusBadRequest,
		`{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters): `+routingKey+`"]}`))
	n, logs := newNotifier(t, fmt.Sprintf("    pagerduty_configs: [{url: %s, routing_key: %s}]", srv.URL, routingKey))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable {
		t.Fatalf("retryable %v, err %v; want a final error", retryable, err)
	}
	var se *notification.StatusError
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(err.Error(), "Event object is invalid: Length of 'routing_key'") {
		t.Errorf("error %v: want PagerDuty's message and errors", err)
	}
	if r, _ := notification.FailureReason(err); r != notification.ReasonClientError {
		t.Errorf("reason %q", r)
	}
	if strings.Contains(err.Error(), routingKey) || strings.Contains(logs.String(), routingKey) {
		t.Errorf("routing key leaked: %v\n%s", err, logs)
	}
}

// v1 is rate limited with 403: retried, after the Retry-After.
func TestV1RateLimitIsRetried(t *testing.T) {
	srv := nt.NewServer(t, func(w http.ResponseWriter, _ nt.Request, _ int) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusForbidden)
	})
	n, _ := newNotifier(t, "    pagerduty_configs: [{service_key: "+routingKey+"}]")
	n.v1URL, _ = url.Parse(srv.URL)
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if !retryable || err == nil {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	if d, ok := fault.RetryDelay(err); !ok || d.Seconds() != 7 {
		t.Errorf("retry delay %v, %v", d, ok)
	}
}

// The summary is cut to 1024 runes with an ellipsis, and the cut logged.
func TestLongSummaryIsTruncated(t *testing.T) {
	srv := nt.NewServer(t, nil)
	n, logs := newNotifier(t, fmt.Sprintf("    pagerduty_configs: [{url: %s, routing_key: k, description: '{{ range .Alerts }}%s{{ end }}'}]", srv.URL, strings.Repeat("é", 600)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false), nt.Alert("web-2", false))); err != nil {
		t.Fatal(err)
	}
	summary := srv.Only(t).JSON(t)["payload"].(map[string]any)["summary"].(string)
	if got := []rune(summary); len(got) != maxTextRunes || got[len(got)-1] != '…' {
		t.Errorf("summary of %d runes ending %q", len(got), string(got[len(got)-1]))
	}
	if !strings.Contains(logs.String(), "truncated") {
		t.Error("truncation not logged")
	}
}

// An event over 512 kB has its details replaced by a note.
func TestOversizedDetailsAreReplaced(t *testing.T) {
	srv := nt.NewServer(t, nil)
	n, _ := newNotifier(t, fmt.Sprintf("    pagerduty_configs: [{url: %s, routing_key: k, details: {big: '{{ range .Alerts }}%s{{ end }}'}}]", srv.URL, strings.Repeat("x", 300000)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false), nt.Alert("web-2", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	details := req.JSON(t)["payload"].(map[string]any)["custom_details"].(map[string]any)
	if len(req.Body) > maxEventBytes || details["error"] != detailsRemoved || len(details) != 1 {
		t.Errorf("%d bytes, details %v", len(req.Body), details)
	}
}

// A routing key that renders empty, or a template that fails, is final;
// nothing is sent.
func TestUnsendableEventsAreFinal(t *testing.T) {
	srv := nt.NewServer(t, nil)
	for name, cfg := range map[string]string{
		"empty key":      "routing_key: '{{ .CommonLabels.nope }}'",
		"template error": "routing_key: k, description: '{{ template \"nope\" . }}'",
	} {
		t.Run(name, func(t *testing.T) {
			n, _ := newNotifier(t, fmt.Sprintf("    pagerduty_configs: [{url: %s, %s}]", srv.URL, cfg))
			retryable, err := n.Notify(context.Background(), nt.Notification(nt.Alert("web-1", false)))
			if err == nil || retryable {
				t.Fatalf("retryable %v, err %v", retryable, err)
			}
		})
	}
	if got := len(srv.Requests()); got != 0 {
		t.Errorf("%d requests sent", got)
	}
}
