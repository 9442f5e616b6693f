//go:build !linux

package load

import (
	"os"
	"os/exec"
	"time"
)

func setParentDeathSignal(*exec.Cmd) {}

func peakRSS(*os.ProcessState) int64 { return 0 }

func cpuTime(int) (time.Duration, bool) { return 0, false }
