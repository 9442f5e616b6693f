package grouper

import (
	"encoding/json"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

// A one-alert group's stored value, as a new owner reads each:
// encoding/json against alert.Unmarshal.
func BenchmarkDecodeGroup(b *testing.B) {
	r := testRoute()
	r.GroupLabels = model.LabelSet{"alertname": "A", "instance": "host-1:9100"}
	g := NewGroup(r, t0)
	g.Add("fp1", firing("x", t0, t0), r, t0)
	flushAt(b, g, g.NextFlush)
	data, err := json.Marshal(g)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"encoding/json", json.Unmarshal}, {"alert.Unmarshal", alert.Unmarshal}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var got Group
				if err := c.decode(data, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
