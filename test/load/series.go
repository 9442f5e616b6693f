package load

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Second is one second of a target's run, counted from the start of its
// load: what was accepted, processed and first notified in it.
type Second struct {
	Accepted int
	// Processed is what Klaxon's dedup took in (processedMetric); for a
	// target without that count, what was accepted.
	Processed int
	Notified  int
	// E2EP50 is the median end-to-end latency of the alerts first notified
	// in this second; zero when none was.
	E2EP50 time.Duration
}

// stamp is a count at a time.
type stamp struct {
	at time.Time
	n  float64
}

// processedSampler reads the target's processed count every second while
// it runs, and writes a progress line every progressEvery.
type processedSampler struct {
	mu      sync.Mutex
	samples []stamp
}

// progressEvery is how often a progress line is written.
const progressEvery = 5 * time.Second

// run samples until ctx is done; rec and start give the progress line.
func (s *processedSampler) run(ctx context.Context, client *http.Client, base, name string, start time.Time, rec *e2eRecorder, progress io.Writer) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last stamp
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n, ok := processed(ctx, client, base)
			if !ok {
				continue
			}
			s.mu.Lock()
			s.samples = append(s.samples, stamp{now, n})
			s.mu.Unlock()
			if progress != nil && now.Sub(last.at) >= progressEvery {
				accepted, notified := rec.progress()
				rate := 0.0
				if !last.at.IsZero() {
					rate = (n - last.n) / now.Sub(last.at).Seconds()
				}
				fmt.Fprintf(progress, "%s %4.0fs: accepted %d, processed %.0f/s, notified %d\n",
					name, now.Sub(start).Seconds(), accepted, rate, notified)
				last = stamp{now, n}
			}
		}
	}
}

// seconds is the run as seconds from start until end: accepted and
// notified alerts from rec, processed from the samples (the accepted ones
// when there are none).
func seconds(start, end time.Time, rec *e2eRecorder, processedSamples []stamp) []Second {
	n := int(math.Ceil(end.Sub(start).Seconds()))
	if n <= 0 {
		return nil
	}
	out := make([]Second, n)
	index := func(t time.Time) (int, bool) {
		i := int(t.Sub(start) / time.Second)
		return i, i >= 0 && i < n
	}
	rec.mu.Lock()
	for _, a := range rec.acceptances {
		if i, ok := index(a.at); ok {
			out[i].Accepted += int(a.n)
		}
	}
	latencies := make([][]time.Duration, n)
	for _, a := range rec.arrivals {
		if i, ok := index(a.at); ok {
			latencies[i] = append(latencies[i], a.latency)
		}
	}
	rec.mu.Unlock()
	for i := range out {
		out[i].Notified = len(latencies[i])
		out[i].E2EP50 = Percentile(latencies[i], 50)
		if len(processedSamples) < 2 {
			out[i].Processed = out[i].Accepted // no count of its own
		}
	}
	for k := 1; k < len(processedSamples); k++ {
		if i, ok := index(processedSamples[k].at); ok {
			out[i].Processed += int(processedSamples[k].n - processedSamples[k-1].n)
		}
	}
	return out
}

// WritePlot writes an SVG of the results' runs, second by second:
// accepted (solid), processed (dashed) and first notified (dotted)
// alerts/s above, the end-to-end
// p50 of the alerts notified in each second (log scale) below.
func WritePlot(w io.Writer, results []Result) error {
	const width, panel, left, top, gap = 900.0, 240.0, 70.0, 30.0, 60.0
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}
	plotW := width - left - 20
	n, maxRate, maxLat := 1, 1.0, time.Millisecond
	for _, r := range results {
		n = max(n, len(r.Series))
		for _, s := range r.Series {
			maxRate = max(maxRate, float64(s.Accepted), float64(s.Processed), float64(s.Notified))
			maxLat = max(maxLat, s.E2EP50)
		}
	}
	x := func(i int) float64 { return left + plotW*(float64(i)+0.5)/float64(n) }
	yRate := func(v float64) float64 { return top + panel*(1-v/maxRate) }
	logMax := math.Log10(float64(maxLat) / float64(time.Millisecond))
	logMax = max(logMax, 1)
	yLat := func(d time.Duration) float64 {
		v := math.Log10(max(float64(d)/float64(time.Millisecond), 1))
		return top + panel + gap + panel*(1-v/logMax)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n",
		width, top+2*panel+gap+50)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	for _, p := range []struct {
		y0    float64
		title string
		ticks []tick
	}{
		{top, "alerts/s: accepted (solid), processed (dashed), first notified (dotted)", []tick{
			{yRate(maxRate), fmt.Sprintf("%.0f", maxRate)}, {yRate(maxRate / 2), fmt.Sprintf("%.0f", maxRate/2)}, {yRate(0), "0"}}},
		{top + panel + gap, "end-to-end p50 of the alerts notified in each second (log scale)", latencyTicks(maxLat, yLat)},
	} {
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", left, p.y0, plotW, panel)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", left, p.y0-8, p.title)
		for _, t := range p.ticks {
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" dy="4">%s</text>`+"\n", left-6, t.y, t.label)
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">seconds from the start of the load (%d)</text>`+"\n",
		left+plotW/2, top+2*panel+gap+20, n)
	for k, r := range results {
		color := colors[k%len(colors)]
		line := func(dash string, point func(i int, s Second) (float64, bool)) {
			var pts []string
			for i, s := range r.Series {
				if y, ok := point(i, s); ok {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y))
				}
			}
			if len(pts) > 0 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="%s" points="%s"/>`+"\n",
					color, dash, strings.Join(pts, " "))
			}
		}
		line("", func(_ int, s Second) (float64, bool) { return yRate(float64(s.Accepted)), true })
		line("5,4", func(_ int, s Second) (float64, bool) { return yRate(float64(s.Processed)), true })
		line("1,3", func(_ int, s Second) (float64, bool) { return yRate(float64(s.Notified)), true })
		line("", func(_ int, s Second) (float64, bool) { return yLat(s.E2EP50), s.Notified > 0 })
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", left+plotW-150, top+16+float64(k)*16, color, r.Name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// tick is a label on a panel's axis.
type tick struct {
	y     float64
	label string
}

// latencyTicks are the powers of ten from 1 ms up to max, placed by y.
func latencyTicks(maxLat time.Duration, y func(time.Duration) float64) []tick {
	var ticks []tick
	for d := time.Millisecond; d <= max(maxLat, 10*time.Millisecond); d *= 10 {
		ticks = append(ticks, tick{y(d), formatMillis(d)})
	}
	return ticks
}
