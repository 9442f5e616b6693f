package contract_test

import (
	"os"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// The README's subject table says what pkg/contract says.
func TestREADMESubjectTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `klaxon.") {
			rows = append(rows, line)
		}
	}
	table := contract.Table()
	if len(rows) != len(table) {
		t.Errorf("README has %d subject rows, pkg/contract %d", len(rows), len(table))
	}
	for _, r := range table {
		want := "| `" + r.Subject + "` | `" + r.Stream + "` | " + r.Carries + " |"
		found := false
		for _, row := range rows {
			found = found || strings.HasPrefix(row, want)
		}
		if !found {
			t.Errorf("README lacks the subject row %q", want)
		}
	}
}
