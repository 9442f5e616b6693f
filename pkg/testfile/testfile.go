// Package testfile writes files a test needs (configurations, secrets,
// keys) into its temporary directory.
package testfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Write writes content to name in a new temporary directory of the test,
// readable by the owner only, and returns the path.
func Write(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatalf("write %s: %v", name, err)
	}
	return path
}
