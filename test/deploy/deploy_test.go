// Package deploy checks the deployment files under deployments/ with the
// tools their users run: compose's loader for docker-compose.yml,
// kustomize and kubeconform for the Kubernetes manifests, nats-server's
// parser for the NATS configurations. No Docker engine or cluster is
// needed.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

const deployments = "../../deployments/"

// natsVersion is the nats-server version of go.mod, the one the tests run.
func natsVersion(t *testing.T) string {
	t.Helper()
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no nats-server in go.mod")
	}
	return string(m[1])
}

// decodeAll decodes a stream of YAML documents.
func decodeAll(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// get walks a decoded document by keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// loadConfig checks that an Alertmanager config given as text loads.
func loadConfig(t *testing.T, name, text string) {
	t.Helper()
	path := t.TempDir() + "/klaxon.yml"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
