package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.err from the current errors")

// TestInvalidFixtures loads each testdata/invalid/NAME.yml, one per
// validation rule, and wants exactly the error text in NAME.err: file, line,
// field path and message.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			_, err := config.Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			golden := strings.TrimSuffix(f, ".yml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("missing %s (run with -update to create it): %v", golden, rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestValidFixtures loads each testdata/valid/*.yml.
func TestValidFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.yml"))
	for _, f := range files {
		if _, err := config.Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
