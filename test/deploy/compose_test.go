package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

type composeProject struct {
	Services map[string]struct {
		Image    string   `yaml:"image"`
		Command  []string `yaml:"command"`
		Profiles []string `yaml:"profiles"`
	} `yaml:"services"`
}

// composeConfig loads docker-compose.yml with compose-spec, the loader of
// docker compose v2 (compose-go, the version docker compose v2.40 is built
// with: CI builds it from the Go module; the compose binary itself takes
// too long to build there), with env as the environment.
func composeConfig(t *testing.T, env []string) composeProject {
	t.Helper()
	bin := harness.RequireE2E(t, "compose-spec")
	cmd := exec.Command(bin, "docker-compose.yml")
	cmd.Dir = deployments
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("compose-spec docker-compose.yml: %v\n%s", err, out)
	}
	var p composeProject
	if err := yaml.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// envFile reads KEY=VALUE lines.
func envFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			env = append(env, line)
		}
	}
	return env
}

// The compose file is valid compose v2 and runs the NATS image of go.mod's
// nats-server with JetStream and each stage from the one image on the one
// server. TestMicroservicesExactlyOnce (test/e2e) runs the same shape as
// OS processes, since no Docker engine runs here.
func TestComposeFile(t *testing.T) {
	wantImage := "nats:" + natsVersion(t) + "-alpine"
	p := composeConfig(t, nil)
	if svc := p.Services["nats"]; svc.Image != wantImage || !slices.Contains(svc.Command, "/etc/nats/klaxon.conf") || !slices.Contains(svc.Command, "-js") {
		t.Errorf("nats = %+v, want %s with klaxon.conf and -js", svc, wantImage)
	}
	for name, svc := range p.Services {
		if !strings.Contains(svc.Image, ":") || strings.HasSuffix(svc.Image, ":latest") {
			t.Errorf("service %s: image %q not pinned", name, svc.Image)
		}
	}
	for _, stage := range contract.Stages {
		svc, ok := p.Services[stage]
		if !ok || svc.Image != "klaxon:dev" || len(svc.Command) == 0 || svc.Command[0] != stage ||
			!slices.Contains(svc.Command, "--nats.url=nats://nats:4222") {
			t.Errorf("service %s = %+v, want klaxon:dev %s on nats://nats:4222", stage, svc, stage)
		}
	}
	if ingest := p.Services[contract.StageIngest].Command; !slices.Contains(ingest, "--nats.replicas=1") {
		t.Errorf("ingest (the provisioner) %v, want --nats.replicas=1", ingest)
	}
	data, err := os.ReadFile(deployments + "klaxon.yml")
	if err != nil {
		t.Fatal(err)
	}
	loadConfig(t, "compose Klaxon config", string(data))
}

// The cluster profile adds two NATS nodes of the same image running
// cluster.conf; cluster.env turns the profile on, makes nats the first
// node, and gives the stages the three nodes as seeds and the streams three
// replicas. (compose-spec's model does not interpolate from the
// environment, so the values are checked where compose takes them from.)
func TestComposeClusterProfile(t *testing.T) {
	p := composeConfig(t, nil)
	wantImage := "nats:" + natsVersion(t) + "-alpine"
	for _, n := range []string{"nats-2", "nats-3"} {
		svc := p.Services[n]
		if svc.Image != wantImage || !slices.Equal(svc.Profiles, []string{"cluster"}) || !slices.Contains(svc.Command, "/etc/nats/cluster.conf") {
			t.Errorf("%s = %+v, want %s in the cluster profile with cluster.conf", n, svc, wantImage)
		}
	}
	env := map[string]string{}
	for _, kv := range envFile(t, deployments+"cluster.env") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"COMPOSE_PROFILES":     "cluster",
		"KLAXON_NATS_CONFIG":   "/etc/nats/cluster.conf",
		"KLAXON_NATS_URL":      "nats://nats:4222,nats://nats-2:4222,nats://nats-3:4222",
		"KLAXON_NATS_REPLICAS": "3",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("cluster.env %s=%q, want %q", k, env[k], v)
		}
	}
	raw, err := os.ReadFile(deployments + "docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(file.Services["nats"].Command, "${KLAXON_NATS_CONFIG:-/etc/nats/klaxon.conf}") {
		t.Errorf("nats does not take its config from KLAXON_NATS_CONFIG: %v", file.Services["nats"].Command)
	}
	for _, stage := range contract.Stages {
		if !slices.Contains(file.Services[stage].Command, "--nats.url=${KLAXON_NATS_URL:-nats://nats:4222}") {
			t.Errorf("%s does not take its seeds from KLAXON_NATS_URL", stage)
		}
	}
	if !slices.Contains(file.Services[contract.StageIngest].Command, "--nats.replicas=${KLAXON_NATS_REPLICAS:-1}") {
		t.Error("ingest does not take its replicas from KLAXON_NATS_REPLICAS")
	}
}

// The image's build context (the repository) leaves out the history and
// the local JetStream store.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(data))
	for _, want := range []string{".git", "data/"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	if _, err := os.Stat(deployments + "Dockerfile"); err != nil {
		t.Error(err)
	}
}
