package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/logtest"
)

// webhook-echo prints what it receives: a summary line, then the payload.
func TestWebhookEchoPrintsNotifications(t *testing.T) {
	var out logtest.Buffer
	srv := httptest.NewServer(echoHandler(&out))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/", "application/json",
		strings.NewReader(`{"receiver":"default","status":"firing","alerts":[{"labels":{"alertname":"DiskFull"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := out.String(); !strings.Contains(got, "POST /: firing, 1 alerts") || !strings.Contains(got, `"alertname": "DiskFull"`) {
		t.Fatalf("printed %q", got)
	}
}
