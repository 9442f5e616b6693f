package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// amtoolPredates are fixtures valid for Alertmanager 0.34 (and Klaxon) with
// a field the amtool of CI (0.25) does not know, so it rejects them.
var amtoolPredates = map[string]string{
	"valid/full.yml": `a quoted UTF-8 label name in a matcher ("dotted.name"): 0.27`,
}

// klaxon check-config accepts and rejects every configuration fixture of
// pkg/config's valid/ and invalid/ as amtool check-config does. (The
// integration fixtures of testdata/alertmanager/ are checked against amtool
// by pkg/config's TestAlertmanagerFixturesAgreeWithAmtool, which knows
// which of them amtool 0.25 predates.)
func TestCheckConfigAgreesWithAmtool(t *testing.T) {
	amtool := harness.RequireE2E(t, "amtool")
	root := filepath.Join("..", "..", "pkg", "config", "testdata")
	var files []string
	for _, dir := range []string{"valid", "invalid"} {
		fs, err := filepath.Glob(filepath.Join(root, dir, "*.yml"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("no fixtures in %s: %v", dir, err)
		}
		files = append(files, fs...)
	}
	for _, file := range files {
		name, _ := filepath.Rel(root, file)
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, amtool, "check-config", file).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			amOK := err == nil
			if why, ok := amtoolPredates[name]; ok {
				if amOK {
					t.Errorf("amtool now accepts %s (%s): drop it from amtoolPredates", name, why)
				}
				amOK = true
			}
			var stdout, stderr bytes.Buffer
			kerr := checkConfigMain([]string{file}, &stdout, &stderr)
			if amOK != (kerr == nil) {
				t.Errorf("amtool ok=%v:\n%s\nklaxon ok=%v:\n%s", amOK, out, kerr == nil, stdout.String())
			}
		})
	}
}
