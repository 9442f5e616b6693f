package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/version"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// A Klaxon built from a checkout (go run, go test: module version
// "(devel)") reports a version amtool compares with its own without a
// warning, and the status names Klaxon's version.
func TestStatusVersionAmtoolAccepts(t *testing.T) {
	bin := harness.RequireE2E(t, "amtool")
	addr := run(t, app.Options{})
	resp, err := http.Get("http://" + addr + "/api/v2/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		VersionInfo map[string]string `json:"versionInfo"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if v := st.VersionInfo; v["version"] != version.Alertmanager || v["branch"] != "klaxon-"+version.Release || v["goVersion"] == "" {
		t.Errorf("versionInfo = %v", v)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--alertmanager.url=http://"+addr, "silence", "query")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("amtool silence query: %v\n%s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("amtool wrote to stderr: %s", stderr.String())
	}
}
