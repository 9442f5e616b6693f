package harness

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A process started by Start dies with the test binary, even when the
// binary ends without its cleanups (as a test timeout's panic does).
func TestStartedProcessDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv("HARNESS_ORPHAN") == "1" {
		p := Start(t, "", "sleep", "sleep", "300")
		os.Stdout.WriteString(strconv.Itoa(p.Cmd.Process.Pid) + "\n")
		os.Exit(0) // no cleanup runs
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestStartedProcessDiesWithTheTestBinary$")
	cmd.Env = append(os.Environ(), "HARNESS_ORPHAN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	pid := strings.TrimSpace(line)
	Eventually(t, 10*time.Second, "the sleep started by the dead test binary gone", func() bool {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return true // reaped
		}
		// The state follows the command in parentheses; Z is dead, not
		// yet reaped.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		return len(fields) > 0 && fields[0] == "Z"
	})
}
