package e2e

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

const composeFile = "../../deployments/docker-compose.yml"

// The compose file is valid for docker compose, runs NATS with JetStream
// (≥ 2.12: scheduled messages) and each stage from the one image, and its
// Klaxon config loads. TestMicroservicesExactlyOnce runs the same shape as
// OS processes, since no Docker engine runs here.
func TestComposeFile(t *testing.T) {
	composeBin := requireE2E(t, "docker-compose")
	out, err := exec.Command(composeBin, "-f", composeFile, "config").CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &compose); err != nil {
		t.Fatal(err)
	}
	nats := compose.Services["nats"]
	if !strings.HasPrefix(nats.Image, "nats:2.1") || !slices.Contains(nats.Command, "-js") {
		t.Errorf("nats service = %+v, want nats ≥ 2.12 with -js", nats)
	}
	for _, stage := range contract.Stages {
		svc, ok := compose.Services[stage]
		if !ok {
			t.Errorf("no service for stage %s", stage)
			continue
		}
		if svc.Image != "klaxon:dev" || len(svc.Command) == 0 || svc.Command[0] != stage ||
			!slices.Contains(svc.Command, "--nats.url=nats://nats:4222") {
			t.Errorf("service %s = %+v", stage, svc)
		}
	}
	if _, err := config.Load("../../deployments/klaxon.yml"); err != nil {
		t.Errorf("compose Klaxon config: %v", err)
	}
	if _, err := os.Stat("../../deployments/Dockerfile"); err != nil {
		t.Error(err)
	}
}
