package load

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// The run's seconds count what was accepted, processed (from the
// target's count, else the accepted) and notified in each second, with
// the median latency of the notified.
func TestSeconds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r := newE2ERecorder()
	r.posted([]string{"a", "b", "c"}, at(0))
	r.accepted([]string{"a", "b"}, at(100))
	r.accepted([]string{"c"}, at(1200))
	r.received("a", at(300))  // 300 ms
	r.received("b", at(1100)) // 1100 ms
	r.received("c", at(1500)) // 1500 ms

	got := seconds(t0, at(2500), r, nil)
	want := []Second{
		{Accepted: 2, Processed: 2, Notified: 1, E2EP50: 300 * time.Millisecond},
		{Accepted: 1, Processed: 1, Notified: 2, E2EP50: 1100 * time.Millisecond},
		{},
	}
	if len(got) != len(want) {
		t.Fatalf("%d seconds, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("second %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	counted := seconds(t0, at(2500), r, []stamp{{at(-200), 10}, {at(800), 15}, {at(1800), 15}, {at(2400), 18}})
	if p := []int{counted[0].Processed, counted[1].Processed, counted[2].Processed}; p[0] != 5 || p[1] != 0 || p[2] != 3 {
		t.Errorf("processed per second %v, want [5 0 3] from the target's count", p)
	}
}

// The plot is an SVG with, per target, the accepted, processed, notified
// and latency lines, and the target's name.
func TestWritePlot(t *testing.T) {
	series := []Second{{Accepted: 100, Processed: 90, Notified: 5, E2EP50: 20 * time.Millisecond}, {Accepted: 50, Processed: 60}}
	var b strings.Builder
	if err := WritePlot(&b, []Result{{Name: "klaxon", Series: series}, {Name: "alertmanager", Series: series}}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Polylines []struct {
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
		Texts []string `xml:"text"`
	}
	if err := xml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if len(doc.Polylines) != 8 {
		t.Errorf("%d lines, want 4 per target", len(doc.Polylines))
	}
	if n := len(strings.Fields(doc.Polylines[3].Points)); n != 1 {
		t.Errorf("latency line has %d points, want the one second with notifications", n)
	}
	if !strings.Contains(strings.Join(doc.Texts, "|"), "alertmanager") {
		t.Errorf("no legend: %v", doc.Texts)
	}
}
