//go:build !linux

package load

import (
	"os"
	"os/exec"
)

func setParentDeathSignal(*exec.Cmd) {}

func peakRSS(*os.ProcessState) int64 { return 0 }
