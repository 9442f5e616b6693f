package harness

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child when the test binary dies
// without stopping it (a test timeout's panic runs no cleanup): a timed-out
// end-to-end test left its nats-server and five stages running through the
// rest of a CI run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
