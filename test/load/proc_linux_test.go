package load

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// cpuTime reads a running process's CPU time as the kernel accounts it:
// it grows while the process is busy and agrees with getrusage.
func TestCPUTimeOfARunningProcess(t *testing.T) {
	before, ok := cpuTime(os.Getpid())
	if !ok {
		t.Fatal("the CPU time of this process is not readable")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // busy: the CPU time must grow
		now, _ := cpuTime(os.Getpid())
		if now < before+100*time.Millisecond {
			continue
		}
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		usage := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if d := usage - now; d < -50*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("cpuTime %v, getrusage %v", now, usage)
		}
		return
	}
	t.Fatalf("CPU time stayed at %v while busy for 10 s", before)
}
