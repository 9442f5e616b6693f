// Package fence checks the architecture's import rules with `go list`: no
// stage imports another stage, and the domain packages (the rules, tested as
// pure functions) import neither NATS nor watermill, directly or not.
package fence

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/klaxon-alerts/klaxon/"

// domain are the packages that hold rules: no transport below them.
var domain = []string{
	"pkg/alert", "pkg/config", "pkg/contract", "pkg/fault", "pkg/inhibit", "pkg/matcher", "pkg/mute",
	"pkg/nflog", "pkg/route", "pkg/silence", "pkg/timeinterval",
}

// transport are the import paths a domain package must not reach.
var transport = []string{"github.com/nats-io/", "github.com/ThreeDotsLabs/watermill"}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// stageOf is the stage folder a package belongs to ("" for none): the
// first element under services/, except the binary that wires them all.
func stageOf(path string) string {
	rest, ok := strings.CutPrefix(path, module+"services/")
	if !ok {
		return ""
	}
	stage, _, _ := strings.Cut(rest, "/")
	if stage == "klaxon" {
		return ""
	}
	return stage
}

func TestNoStageImportsAnotherStage(t *testing.T) {
	for _, p := range list(t) {
		from := stageOf(p.ImportPath)
		if from == "" {
			continue
		}
		for _, imp := range p.Imports {
			if to := stageOf(imp); to != "" && to != from {
				t.Errorf("stage %s imports stage %s: %s → %s", from, to, p.ImportPath, imp)
			}
		}
	}
}

func TestDomainImportsNoTransport(t *testing.T) {
	checked := 0
	for _, p := range list(t) {
		if !slices.Contains(domain, strings.TrimPrefix(p.ImportPath, module)) {
			continue
		}
		checked++
		for _, dep := range p.Deps {
			for _, tr := range transport {
				if strings.HasPrefix(dep, tr) {
					t.Errorf("domain package %s depends on %s", p.ImportPath, dep)
				}
			}
		}
	}
	if checked != len(domain) {
		t.Fatalf("found %d of the %d domain packages: the list is out of date", checked, len(domain))
	}
}
