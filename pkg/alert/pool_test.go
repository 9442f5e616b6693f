package alert

import (
	"reflect"
	"testing"

	"github.com/prometheus/common/model"
)

// same reports whether two maps are one.
func same(a, b model.LabelSet) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func pooledAlert(summary string) Alert {
	a := Alert{Labels: model.LabelSet{"alertname": "A", "instance": "x"}}
	if summary != "" {
		a.Annotations = model.LabelSet{"summary": model.LabelValue(summary)}
	}
	return a
}

func TestPoolSharesEqualLabelsAndAnnotations(t *testing.T) {
	p := NewPool()
	first, second := pooledAlert("s"), pooledAlert("s")
	p.Share("f", &first)
	p.Share("f", &second)
	if !same(first.Labels, second.Labels) || !same(first.Annotations, second.Annotations) {
		t.Fatal("two copies of one alert hold two label sets")
	}

	changed := pooledAlert("other")
	p.Share("f", &changed)
	if !same(changed.Labels, first.Labels) {
		t.Fatal("labels not shared once the annotations changed")
	}
	if changed.Annotations["summary"] != "other" {
		t.Fatalf("annotations = %v: replaced by unequal ones", changed.Annotations)
	}
	later := pooledAlert("other")
	p.Share("f", &later)
	if !same(later.Annotations, changed.Annotations) {
		t.Fatal("the newest annotations are not the pool's")
	}
}

func TestPoolKeepsNilAndEmptyAnnotationsApart(t *testing.T) {
	p := NewPool()
	none := pooledAlert("")
	p.Share("f", &none)
	empty := pooledAlert("")
	empty.Annotations = model.LabelSet{}
	p.Share("f", &empty)
	if empty.Annotations == nil {
		t.Fatal("empty annotations became nil")
	}
}

func TestPoolForgetsAndNilPoolSharesNothing(t *testing.T) {
	p := NewPool()
	a, b := pooledAlert("s"), pooledAlert("s")
	p.Share("f", &a)
	if p.Len() != 1 {
		t.Fatalf("Len = %d, want 1", p.Len())
	}
	p.Forget("f")
	if p.Len() != 0 {
		t.Fatalf("Len after Forget = %d, want 0", p.Len())
	}
	p.Share("f", &b)
	if same(a.Labels, b.Labels) {
		t.Fatal("a forgotten alert's labels were shared")
	}

	var none *Pool
	c, d := pooledAlert("s"), pooledAlert("s")
	none.Share("f", &c)
	none.Share("f", &d)
	none.Forget("f")
	if same(c.Labels, d.Labels) || none.Len() != 0 {
		t.Fatal("a nil pool shared")
	}
}

func TestPoolKeepsUnequalLabelsOfOneFingerprint(t *testing.T) {
	p := NewPool()
	a := pooledAlert("s")
	p.Share("f", &a)
	b := Alert{Labels: model.LabelSet{"alertname": "B"}}
	p.Share("f", &b) // a fingerprint collision: never merged
	if b.Labels["alertname"] != "B" {
		t.Fatalf("labels = %v, want B's own", b.Labels)
	}
}

// Fingerprints (16 hex digits) spread over every shard's lock.
func TestPoolSpreadsFingerprintsOverItsShards(t *testing.T) {
	p := NewPool()
	for i := range 1000 {
		a := pooledAlert("")
		p.Share(model.Fingerprint(i*7919).String(), &a)
	}
	for i := range p.shards {
		if n := len(p.shards[i].m); n == 0 || n > 1000/poolShards*2 {
			t.Errorf("shard %d holds %d of 1000 fingerprints", i, n)
		}
	}
}
