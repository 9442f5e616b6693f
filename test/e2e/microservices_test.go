package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

type cluster = harness.Cluster

func newCluster(t *testing.T, configFile string, replicas map[string]int) *cluster {
	t.Helper()
	return harness.NewCluster(t, bin, configFile, replicas)
}

// waitQuiet waits until every stage's consumer on the NATS at url has
// nothing pending or in flight.
func waitQuiet(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	harness.WaitQuiet(t, url, timeout)
}

// exactlyOnce wants every id in 0..n-1 notified firing exactly once.
func exactlyOnce(t *testing.T, s *sink, n int, allowDup func(id string) bool) {
	t.Helper()
	counts := s.firingCount("id")
	for i := range n {
		id := fmt.Sprint(i)
		switch c := counts[id]; {
		case c == 0:
			t.Errorf("alert %s never notified", id)
		case c > 1 && (allowDup == nil || !allowDup(id)):
			t.Errorf("alert %s notified %d times", id, c)
		}
	}
}

func eachAlertItsOwnGroup(t *testing.T, s *sink) string {
	return writeConfig(t, s.srv.URL, "['...']")
}

// The docker compose shape, run as OS processes: an external nats-server and
// each stage as its own process, dedup, grouper and notifier as two
// replicas. Every alert is notified exactly once.
func TestMicroservicesExactlyOnce(t *testing.T) {
	s := newSink(t)
	c := newCluster(t, eachAlertItsOwnGroup(t, s), map[string]int{contract.StageDedup: 2, contract.StageGrouper: 2, contract.StageNotifier: 2})
	const n = 60
	for i := 0; i < n; i += 10 {
		var batch []postable
		for j := i; j < i+10; j++ {
			batch = append(batch, firingAlert("alertname", "Micro", "id", fmt.Sprint(j)))
		}
		if code := postAlerts(t, c.Ingest, batch); code != http.StatusOK {
			t.Fatalf("POST = %d", code)
		}
	}
	eventually(t, 60*time.Second, "every alert notified", func() bool { return len(s.firingCount("id")) == n })
	c.Quiet(30 * time.Second)
	exactlyOnce(t, s, n, nil)
}

// No loss under a crash: while alerts flow, the dedup, grouper and notifier
// processes are killed (SIGKILL) in turn and restarted. Every alert is
// notified. None twice, except within the one window the design admits: a
// notifier killed after its webhook call returned and before it wrote the
// notification log repeats that notification.
func TestCrashLosesNothing(t *testing.T) {
	s := newSink(t)
	c := newCluster(t, eachAlertItsOwnGroup(t, s), nil)
	const n = 150

	var wg sync.WaitGroup
	posted := make(chan int, n)
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		defer close(posted)
		tick := time.NewTicker(20 * time.Millisecond) // pacing the sender, not waiting for work
		defer tick.Stop()
		for i := 0; i < n; i += 3 {
			batch := []postable{}
			for j := i; j < min(i+3, n); j++ {
				batch = append(batch, firingAlert("alertname", "Crash", "id", fmt.Sprint(j)))
			}
			for postAlerts(t, c.Ingest, batch) != http.StatusOK {
				select { // ingest refuses while NATS is busy: resend, as Prometheus would
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			posted <- min(i+3, n)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	progress := 0
	waitPosted := func(k int) {
		for progress < k {
			v, ok := <-posted
			if !ok {
				t.Fatalf("sender stopped at %d alerts", progress)
			}
			progress = v
		}
	}

	var notifierKilled time.Time
	for i, stage := range []string{contract.StageDedup, contract.StageGrouper, contract.StageNotifier} {
		waitPosted((i + 1) * n / 4)
		c.Stages[stage][0].Kill()
		if stage == contract.StageNotifier {
			notifierKilled = time.Now()
		}
		t.Logf("killed %s after %d alerts posted", stage, progress)
		c.StartStage(stage, 0)
	}
	waitPosted(n)
	eventually(t, 90*time.Second, "every alert notified", func() bool { return len(s.firingCount("id")) == n })
	c.Quiet(60 * time.Second)
	exactlyOnce(t, s, n, func(id string) bool {
		first := firstNotified(s, id)
		inWindow := !first.After(notifierKilled) && notifierKilled.Sub(first) < 2*time.Second
		if inWindow {
			t.Logf("alert %s repeated: first notified %v before the notifier was killed", id, notifierKilled.Sub(first))
		}
		return inWindow
	})
}

func firstNotified(s *sink, id string) time.Time {
	for _, r := range s.messages() {
		for _, a := range r.msg.Alerts {
			if a.Labels["id"] == id {
				return r.at
			}
		}
	}
	return time.Time{}
}
