package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := checkConfigMain([]string{"../../configs/klaxon.yml", "../../configs/examples/teams.yml"}, &out, &errOut); err != nil {
		t.Fatalf("valid files: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Checking '../../configs/klaxon.yml'  SUCCESS", " - 4 receivers", " - 1 inhibit rules"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("route:\n  receiver: nobody\n"), 0o644)
	out.Reset()
	err := checkConfigMain([]string{bad}, &out, &errOut)
	if !errors.Is(err, errFailed) || !strings.Contains(out.String(), "bad.yml:2: route.receiver") {
		t.Fatalf("invalid file: %v\n%s", err, out.String())
	}
}

func TestRoutesTestAndShow(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"test", "--config.file", "../../configs/examples/teams.yml", "--group-keys", "team=db", "severity=critical", "alertname=X"}
	if err := routesMain(args, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != "oncall-pager,db-slack" || !strings.Contains(out.String(), `group key: {}/{team=~"db|database"}:{alertname="X"}`) {
		t.Fatalf("routes test:\n%s", out.String())
	}
	out.Reset()
	err := routesMain(append(args[:1:1], "--config.file", "../../configs/examples/teams.yml", "--verify.receivers", "ops-email", "team=db"), &out, &errOut)
	if !errors.Is(err, errFailed) {
		t.Fatalf("--verify.receivers mismatch: %v", err)
	}
	out.Reset()
	if err := routesMain([]string{"show", "--config.file", "../../configs/examples/teams.yml"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "Routing tree:\n.\n└── default-route") || !strings.Contains(out.String(), "│\u00a0\u00a0 └── {severity=\"info\"}") {
		t.Fatalf("routes show:\n%s", out.String())
	}
}
