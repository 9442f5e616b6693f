package config_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

// TestShippedConfigs loads every file under configs/ so that the examples
// cannot rot.
func TestShippedConfigs(t *testing.T) {
	root := filepath.Join("..", "..", "configs")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			return err
		}
		n++
		t.Run(path, func(t *testing.T) {
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if _, err := route.New(cfg.Route); err != nil {
				t.Fatalf("route tree: %v", err)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("found %d configuration files under %s, want the default and at least one example", n, root)
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "configs", "klaxon.yml"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Receiver(cfg.Route.Receiver)
	if r == nil || len(r.WebhookConfigs) != 1 {
		t.Fatalf("root receiver %q: want one webhook config, got %+v", cfg.Route.Receiver, r)
	}
	if got := r.WebhookConfigs[0].URL.Reveal(); got != "http://127.0.0.1:5001/" {
		t.Errorf("webhook url = %q", got)
	}
}
