package load

import (
	"os"
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child if the bench process
// dies without stopping it.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// peakRSS is the child's maximum resident set size (Linux reports KiB).
func peakRSS(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}
