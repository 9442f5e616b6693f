package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

const k8s = deployments + "kubernetes/"

// kustomize builds a kustomization of deployments/kubernetes.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	out, err := exec.Command(harness.RequireE2E(t, "kustomize"), "build", k8s+dir).Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return out
}

// kubeconform checks manifests strictly against the schemas vendored in
// deployments/kubernetes/schemas (no schema registry is reachable); a kind
// without a schema fails instead of being skipped.
func kubeconform(t *testing.T, manifests []byte) (string, error) {
	t.Helper()
	cmd := exec.Command(harness.RequireE2E(t, "kubeconform"), "-strict", "-summary",
		"-schema-location", k8s+"schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json", "-")
	cmd.Stdin = strings.NewReader(string(manifests))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Every kustomization builds, and kubeconform finds every object of it
// valid.
func TestKubernetesManifestsValid(t *testing.T) {
	for _, dir := range []string{"base", "overlays/example", "overlays/ha"} {
		out, err := kubeconform(t, kustomize(t, dir))
		if err != nil || !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
			t.Errorf("kubeconform %s: %v\n%s", dir, err, out)
		}
	}
}

// kubeconform with these schemas rejects a misspelled field, a value of
// the wrong type and a missing required field, in a core kind, an apps
// kind and the ServiceMonitor.
func TestKubeconformRejectsBrokenManifests(t *testing.T) {
	base := string(kustomize(t, "base"))
	for _, tc := range []struct{ old, new, want string }{
		{"readinessProbe:", "readinesProbe:", "'readinesProbe' not allowed"},
		{"containerPort: 9093", "containerPort: nine", "want integer"},
		{"  serviceName: nats-headless\n", "", "missing property 'serviceName'"},
		{"  - interval: 30s", "  - intervall: 30s", "'intervall' not allowed"},
	} {
		if !strings.Contains(base, tc.old) {
			t.Fatalf("the built base has no %q", tc.old)
		}
		out, err := kubeconform(t, []byte(strings.Replace(base, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%q → %q: kubeconform %v, want a failure with %q:\n%s", tc.old, tc.new, err, tc.want, out)
		}
	}
}

// What the manifests must say: a three-node NATS of go.mod's version, one
// Deployment per stage as its own NATS user holding only its own password,
// probed on /-/ready and /-/healthy, with resource requests, a
// PodDisruptionBudget and a Service the ServiceMonitor scrapes; the config
// as a ConfigMap that loads; passwords only in Secrets.
func TestKubernetesManifestsShape(t *testing.T) {
	docs := decodeAll(t, kustomize(t, "overlays/example"))
	byKind := map[string]map[string]map[string]any{}
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		name, _ := get(d, "metadata", "name").(string)
		if byKind[kind] == nil {
			byKind[kind] = map[string]map[string]any{}
		}
		byKind[kind][name] = d
		if s := fmt.Sprint(d); kind != "Secret" && strings.Contains(s, "change-me") {
			t.Errorf("%s %s holds a password", kind, name)
		}
	}
	nats := byKind["StatefulSet"]["nats"]
	if get(nats, "spec", "replicas") != 3 || get(nats, "spec", "template", "spec", "containers", 0, "image") != "nats:"+natsVersion(t)+"-alpine" {
		t.Errorf("nats StatefulSet: replicas %v image %v", get(nats, "spec", "replicas"), get(nats, "spec", "template", "spec", "containers", 0, "image"))
	}
	pdbs := map[string]bool{}
	for _, p := range byKind["PodDisruptionBudget"] {
		pdbs[fmt.Sprint(get(p, "spec", "selector", "matchLabels"))] = true
	}
	if !pdbs[fmt.Sprint(get(nats, "spec", "selector", "matchLabels"))] {
		t.Error("no PodDisruptionBudget for nats")
	}
	for _, stage := range contract.Stages {
		d := byKind["Deployment"]["klaxon-"+stage]
		if d == nil {
			t.Errorf("no Deployment klaxon-%s", stage)
			continue
		}
		c := get(d, "spec", "template", "spec", "containers", 0)
		args := strs(get(c, "args"))
		for _, want := range []string{"--nats.user=" + stage, "--nats.inbox-prefix=_INBOX." + stage, "--nats.password-file=", "nats-1.nats-headless:4222"} {
			if !contains(args, want) {
				t.Errorf("%s: args %v lack %s", stage, args, want)
			}
		}
		if len(args) == 0 || args[0] != stage {
			t.Errorf("%s: args %v do not run the stage", stage, args)
		}
		if follows := slices.Contains(args, "--config.follow"); follows != (stage != contract.StageIngest) {
			t.Errorf("%s: --config.follow = %v; only ingest publishes the config", stage, follows)
		}
		if provisions := slices.Contains(args, "--nats.replicas=3"); provisions != (stage == contract.StageIngest) {
			t.Errorf("%s: --nats.replicas=3 = %v; ingest provisions with 3 replicas", stage, provisions)
		}
		if get(c, "readinessProbe", "httpGet", "path") != "/-/ready" || get(c, "livenessProbe", "httpGet", "path") != "/-/healthy" {
			t.Errorf("%s: probes %v %v", stage, get(c, "readinessProbe"), get(c, "livenessProbe"))
		}
		if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "requests", "memory") == nil {
			t.Errorf("%s: no resource requests", stage)
		}
		for i := 0; ; i++ {
			v := get(d, "spec", "template", "spec", "volumes", i)
			if v == nil {
				break
			}
			if get(v, "secret", "secretName") == nil || !strings.HasPrefix(get(v, "secret", "secretName").(string), "klaxon-nats-users") {
				continue
			}
			if items := get(v, "secret", "items"); fmt.Sprint(items) != fmt.Sprintf("[map[key:%s path:password]]", stage) {
				t.Errorf("%s mounts NATS passwords %v, want its own only", stage, items)
			}
		}
		if !pdbs[fmt.Sprint(get(d, "spec", "selector", "matchLabels"))] {
			t.Errorf("no PodDisruptionBudget for %s", stage)
		}
		if byKind["Service"]["klaxon-"+stage] == nil {
			t.Errorf("no Service klaxon-%s for the ServiceMonitor", stage)
		}
	}
	if sm := byKind["ServiceMonitor"]["klaxon"]; get(sm, "spec", "endpoints", 0, "port") != "http" {
		t.Errorf("ServiceMonitor %v", sm)
	}
	for name, cm := range byKind["ConfigMap"] {
		if strings.HasPrefix(name, "klaxon-config") {
			loadConfig(t, "ConfigMap "+name, get(cm, "data", "klaxon.yml").(string))
		}
	}
	for _, s := range []string{"klaxon-nats-users", "klaxon-receivers"} {
		found := false
		for name := range byKind["Secret"] {
			found = found || strings.HasPrefix(name, s)
		}
		if !found {
			t.Errorf("example overlay: no Secret %s", s)
		}
	}
}

// The NATS configurations parse with nats-server's own parser: the
// Kubernetes node and the compose cluster node form a three-route JetStream
// cluster; every one holds the users of deployments/nats/accounts.conf,
// which the Kubernetes copy must equal.
func TestNATSConfigs(t *testing.T) {
	want, err := os.ReadFile(deployments + "nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(k8s + "base/nats/accounts.conf"); err != nil || string(got) != string(want) {
		t.Errorf("kubernetes/base/nats/accounts.conf differs from deployments/nats/accounts.conf (%v): copy it", err)
	}
	for _, user := range append([]string{"operator"}, contract.Stages...) {
		t.Setenv("KLAXON_NATS_"+strings.ToUpper(user)+"_PASSWORD", user+"-pw")
	}
	t.Setenv("POD_NAME", "nats-0")
	t.Setenv("SERVER_NAME", "nats")
	for _, tc := range []struct {
		file    string
		cluster bool
	}{
		{deployments + "nats/klaxon.conf", false},
		{deployments + "nats/cluster.conf", true},
		{k8s + "base/nats/nats.conf", true},
	} {
		opts, err := server.ProcessConfigFile(tc.file)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if !opts.JetStream && opts.StoreDir == "" {
			t.Errorf("%s: no JetStream", tc.file)
		}
		if tc.cluster && (opts.Cluster.Name != "klaxon" || len(opts.Routes) != 3 || opts.ServerName == "") {
			t.Errorf("%s: cluster %q, %d routes, server name %q; want klaxon, 3, the node's", tc.file, opts.Cluster.Name, len(opts.Routes), opts.ServerName)
		}
		users := map[string]bool{}
		for _, u := range opts.Users {
			users[u.Username] = u.Permissions != nil || u.Username == "operator"
		}
		for _, stage := range contract.Stages {
			if !users[stage] {
				t.Errorf("%s: no user %s with its permissions", tc.file, stage)
			}
		}
	}
}
