package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSwitchWhileStartingThenReal(t *testing.T) {
	sw := NewSwitch()
	srv := httptest.NewServer(sw)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sw.Waiting("connecting to NATS at nats://10.0.0.9:4222: connection refused")
	for _, path := range []string{"/-/healthy", "/prefix/-/healthy"} {
		if code, _ := get(path); code != http.StatusOK {
			t.Errorf("%s while starting = %d, want 200: the process is alive", path, code)
		}
	}
	for _, path := range []string{"/-/ready", "/api/v2/alerts"} {
		if code, body := get(path); code != http.StatusServiceUnavailable || !strings.Contains(body, "nats://10.0.0.9:4222") {
			t.Errorf("%s while starting = %d %q, want 503 saying what it waits for", path, code, body)
		}
	}
	sw.Set(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if code, _ := get("/-/ready"); code != http.StatusTeapot {
		t.Errorf("after Set = %d, want the real handler's", code)
	}
}
