package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// klaxon routes prints what amtool config routes prints, with the same
// exit code, on the same config and labels.
func TestRoutesLikeAmtool(t *testing.T) {
	amtool := harness.RequireE2E(t, "amtool")
	const file = "testdata/routes.yml"
	for _, args := range [][]string{
		{"show"},
		{"test"},
		{"test", "team=none"},
		{"test", "team=db", "severity=critical", "alertname=X"},
		{"test", "team=db", "env=prod"},
		{"test", "team=frontend", "cluster=batch"},
		{"test", "cluster=batch", "env=dev"},
		{"test", "--verify.receivers=ops-email", "team=db"},
		{"test", "--verify.receivers=oncall-pager,db-slack", "team=db", "severity=critical", "env=prod"},
		{"test", "--verify.receivers=oncall-pager,db-email,db-pager", "team=db", "severity=critical", "env=prod"},
		{"test", "--tree", "team=db", "severity=info"},
		{"test", "--tree", "team=db", "severity=critical", "env=prod"},
		{"test", "--tree", "cluster=batch"},
	} {
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, amtool, append([]string{"config", "routes", "--config.file=" + file}, args...)...)
			want, err := cmd.Output() // amtool warns on stderr that --config.file overrides the URL
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			var got, stderr bytes.Buffer
			kerr := routesMain(append([]string{args[0], "--config.file=" + file}, args[1:]...), &got, &stderr)
			if (err == nil) != (kerr == nil) {
				t.Errorf("amtool err=%v, klaxon err=%v %s", err, kerr, stderr.String())
			}
			if got.String() != string(want) {
				t.Errorf("klaxon routes %s:\n%s\namtool config routes %s:\n%s", name, got.String(), name, want)
			}
		})
	}
}

// Group keys are Klaxon's addition, printed only when asked.
func TestRoutesGroupKeys(t *testing.T) {
	var out, stderr bytes.Buffer
	if err := routesMain([]string{"test", "--config.file=testdata/routes.yml", "--group-keys", "team=db", "env=prod", "alertname=X"}, &out, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	want := "db-email,db-pager\n" +
		`  db-email  group key: {}/{team=~"db|database"}/{}:{alertname="X"}` + "\n" +
		`  db-pager  group key: {}/{team=~"db|database"}/{env="prod"}:{alertname="X"}` + "\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if err := routesMain([]string{"test", "--config.file=testdata/routes.yml", "team=db", "env=prod"}, &out, &stderr); err != nil {
		t.Fatal(err)
	}
	if out.String() != "db-email,db-pager\n" {
		t.Errorf("without --group-keys:\n%s", out.String())
	}
}
