package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

// FuzzLoad feeds arbitrary bytes to Parse: it must return a configuration or
// an error, never panic or hang, and whatever it accepts must build a route
// tree that routes, and render.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/*/*.yml", "../../configs/*.yml", "../../configs/examples/*.yml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("route: {receiver: r, routes: [&a {receiver: r}, {routes: [*a, *a]}]}\nreceivers: [{name: r}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, "fuzz.yml")
		if err != nil {
			return
		}
		tree, err := route.New(cfg.Route)
		if err != nil {
			t.Fatalf("valid configuration, but no route tree: %v", err)
		}
		if len(tree.Match(model.LabelSet{"alertname": "x"})) == 0 {
			t.Fatal("the root route must match every alert")
		}
		_ = cfg.String()
		_ = cfg.Hash()
	})
}
