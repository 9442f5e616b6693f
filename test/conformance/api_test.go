package conformance

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// Read your writes: a GET /api/v2/alerts (and amtool alert query) right
// after a POST answered 200 lists that POST's alerts, on Klaxon as on
// Alertmanager.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	cfg := config(byAlertname)
	targets := []*target{startAlertmanager(t, cfg), startKlaxon(t, cfg, false)}
	amtool := harness.RequireE2E(t, "amtool")
	r := &run{t: t, t0: time.Now()}
	for round := range 5 {
		var batch []alertSpec
		for i := range 40 {
			batch = append(batch, alert(fmt.Sprintf("RYW round=%d i=%d", round, i), 0, 3600))
		}
		var wg sync.WaitGroup
		for _, tg := range targets {
			wg.Go(func() {
				ps := make([]postable, len(batch))
				for i, a := range batch {
					ps[i] = r.postable(a)
				}
				if _, err := tg.call(http.MethodPost, "/api/v2/alerts", ps, nil); err != nil {
					t.Errorf("%s: %v", tg.name, err)
					return
				}
				var listed []struct{}
				if _, err := tg.call(http.MethodGet, fmt.Sprintf(`/api/v2/alerts?filter=round%%3D%%22%d%%22`, round), nil, &listed); err != nil {
					t.Errorf("%s: %v", tg.name, err)
					return
				}
				if len(listed) != len(batch) {
					t.Errorf("%s round %d: GET right after POST lists %d alerts, want %d", tg.name, round, len(listed), len(batch))
				}
			})
		}
		wg.Wait()
	}
	// A re-send that moves endsAt later (written by Klaxon's dedup only
	// when needed, or when a read asks): the GET right after it shows the
	// new end.
	for round, end := range []float64{3600, 7200} {
		for _, tg := range targets {
			if _, err := tg.call(http.MethodPost, "/api/v2/alerts", []postable{r.postable(alert("RYW round=end", 0, end))}, nil); err != nil {
				t.Fatal(err)
			}
			var listed []struct {
				EndsAt time.Time `json:"endsAt"`
			}
			if _, err := tg.call(http.MethodGet, `/api/v2/alerts?filter=round%3D%22end%22`, nil, &listed); err != nil {
				t.Fatal(err)
			}
			// Alertmanager prints milliseconds.
			if len(listed) != 1 || listed[0].EndsAt.Sub(r.time(end)).Abs() >= time.Millisecond {
				t.Errorf("%s post %d: GET right after POST lists %+v, want one alert ending at %v", tg.name, round, listed, r.time(end))
			}
		}
	}
	// amtool, right after a POST, on both.
	for _, tg := range targets {
		if _, err := tg.call(http.MethodPost, "/api/v2/alerts", []postable{r.postable(alert("RYW round=amtool", 0, 3600))}, nil); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(amtool, "--alertmanager.url=http://"+tg.api(), "alert", "query", "round=amtool").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "RYW") {
			t.Errorf("%s: amtool alert query right after the POST: %v\n%s", tg.name, err, out)
		}
	}
}

// An alert too large to be carried through NATS (more than a quarter of
// max_payload: 2 MiB with the embedded server's 8 MiB) is refused with a
// 400 naming the limit. A declared difference: Alertmanager keeps any alert
// in memory; Klaxon never answers 200 for an alert it could not store and
// notify.
func TestAlertTooLargeIsRefused(t *testing.T) {
	t.Parallel()
	cfg := config(byAlertname)
	am, kx := startAlertmanager(t, cfg), startKlaxon(t, cfg, false)
	r := &run{t: t, t0: time.Now()}
	huge := []postable{r.postable(alert("Huge", 0, 3600).with("dump=" + strings.Repeat("x", 3<<20)))}
	if _, err := am.call(http.MethodPost, "/api/v2/alerts", huge, nil); err != nil {
		t.Fatalf("Alertmanager: %v", err)
	}
	code, err := kx.call(http.MethodPost, "/api/v2/alerts", huge, nil)
	if code != http.StatusBadRequest || err == nil || !strings.Contains(err.Error(), "2097152 bytes an alert may have") {
		t.Fatalf("Klaxon answered %d (%v), want 400 naming the 2097152-byte limit", code, err)
	}
}
