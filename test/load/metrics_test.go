package load

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	// 10 samples ≤ 1ms, 80 in (1ms, 5ms], 10 in (5ms, 10ms]; none above.
	before := histogram{bounds: []float64{.001, .005, .01, math.Inf(1)}, counts: []float64{5, 5, 5, 5}}
	h := histogram{bounds: before.bounds, counts: []float64{15, 95, 105, 105}}.since(before)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{.05, 500 * time.Microsecond}, // halfway through the first bucket
		{.5, 3 * time.Millisecond},    // 40 of the 80 in (1ms, 5ms]
		{.99, 9500 * time.Microsecond},
	} {
		if got := h.quantile(c.q); (got - c.want).Abs() > time.Microsecond {
			t.Errorf("q%v = %v, want %v", c.q, got, c.want)
		}
	}
	inf := histogram{bounds: []float64{.001, math.Inf(1)}, counts: []float64{0, 4}}
	if got := inf.quantile(.5); got != time.Millisecond {
		t.Errorf("a quantile in +Inf = %v, want the last finite bound", got)
	}
	if got := (histogram{}).quantile(.5); got != 0 {
		t.Errorf("empty = %v, want 0", got)
	}
}

func TestFlushSpacing(t *testing.T) {
	r := newE2ERecorder()
	t0 := time.Unix(1000, 0)
	// A group flushing on its grid, one flush 30ms late, then quiet for
	// 5s (not a spacing), then one more on time.
	for _, d := range []time.Duration{0, time.Second, 2*time.Second + 30*time.Millisecond, 3 * time.Second, 8 * time.Second, 9 * time.Second} {
		r.notified("g", t0.Add(d))
	}
	r.notified("lonely", t0)
	got := r.spacing(time.Second)
	want := []time.Duration{0, 30 * time.Millisecond, -30 * time.Millisecond, 0}
	if len(got) != len(want) {
		t.Fatalf("spacing = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("spacing = %v, want %v", got, want)
		}
	}
}

func TestCarryFromWarmUp(t *testing.T) {
	warm := newE2ERecorder()
	t0 := time.Unix(1000, 0)
	warm.posted([]string{"a", "b"}, t0)
	warm.accepted([]string{"a", "b"}, t0)
	warm.received("a", t0.Add(time.Second))
	r := newE2ERecorder()
	r.carry(warm)
	r.posted([]string{"a", "b"}, t0.Add(time.Minute)) // re-sent in the load
	r.accepted([]string{"a", "b"}, t0.Add(time.Minute))
	if exp, got := r.counts(); exp != 2 || got != 1 {
		t.Fatalf("counts = %d expected, %d received; want 2, 1 (a notified in the warm-up)", exp, got)
	}
	r.received("b", t0.Add(2*time.Minute))
	if l := r.latencies(); len(l) != 1 || l[0] != 2*time.Minute {
		t.Fatalf("latencies = %v, want b's 2m from its first post in the warm-up", l)
	}
}
