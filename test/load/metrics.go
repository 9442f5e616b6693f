package load

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Klaxon's metrics the bench reads. Alertmanager has neither: it processes
// a POST before it answers, and has no flush lateness of its own.
const (
	// processedMetric counts the alerts Klaxon's dedup has processed: what
	// an answered POST stored, taken into the pipeline.
	processedMetric = "klaxon_dedup_alerts_total"
	// latenessMetric is how long after its tick a flush left the grouper.
	latenessMetric = "klaxon_grouper_flush_lateness_seconds"
)

// scrape reads the target's /metrics.
func scrape(ctx context.Context, client *http.Client, base string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// processed reads the target's count of processed alerts; false when it
// has none.
func processed(ctx context.Context, client *http.Client, base string) (float64, bool) {
	families, err := scrape(ctx, client, base)
	mf, ok := families[processedMetric]
	if err != nil || !ok {
		return 0, false
	}
	var n float64
	for _, m := range mf.GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n, true
}

// histogram is a cumulative histogram: counts of samples ≤ each upper
// bound, in increasing order, +Inf last.
type histogram struct {
	bounds []float64
	counts []float64
}

// readHistogram reads the histogram named name, its series summed; false
// when the target has none.
func readHistogram(ctx context.Context, client *http.Client, base, name string) (histogram, bool) {
	families, err := scrape(ctx, client, base)
	mf, ok := families[name]
	if err != nil || !ok || len(mf.GetMetric()) == 0 {
		return histogram{}, false
	}
	var h histogram
	for i, m := range mf.GetMetric() {
		for j, b := range m.GetHistogram().GetBucket() {
			if i == 0 {
				h.bounds = append(h.bounds, b.GetUpperBound())
				h.counts = append(h.counts, 0)
			}
			if j < len(h.counts) {
				h.counts[j] += float64(b.GetCumulativeCount())
			}
		}
		if i == 0 {
			h.bounds = append(h.bounds, math.Inf(1))
			h.counts = append(h.counts, 0)
		}
		h.counts[len(h.counts)-1] += float64(m.GetHistogram().GetSampleCount())
	}
	return h, true
}

// since is h less the samples before (the same buckets, read earlier).
func (h histogram) since(before histogram) histogram {
	if !slices.Equal(h.bounds, before.bounds) {
		return h
	}
	out := histogram{bounds: h.bounds, counts: slices.Clone(h.counts)}
	for i := range out.counts {
		out.counts[i] -= before.counts[i]
	}
	return out
}

// quantile estimates the q-quantile (0 < q < 1) as Prometheus'
// histogram_quantile does: linear within the bucket that holds it, the
// upper bound of the last finite bucket when it falls in +Inf. Zero when
// there are no samples.
func (h histogram) quantile(q float64) time.Duration {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	rank := q * h.counts[len(h.counts)-1]
	for i, c := range h.counts {
		if c < rank {
			continue
		}
		if math.IsInf(h.bounds[i], 1) {
			if i == 0 {
				return 0
			}
			return seconds2d(h.bounds[i-1])
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = h.bounds[i-1], h.counts[i-1]
		}
		if c == below {
			return seconds2d(h.bounds[i])
		}
		return seconds2d(lower + (h.bounds[i]-lower)*(rank-below)/(c-below))
	}
	return seconds2d(h.bounds[len(h.bounds)-1])
}

func seconds2d(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
