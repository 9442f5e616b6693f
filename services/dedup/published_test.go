package dedup

import (
	"fmt"
	"testing"
)

func TestPublishedRemembersTheLatestIDs(t *testing.T) {
	p := newPublished(3)
	for i := range 4 {
		p.add(fmt.Sprint(i))
	}
	p.add("3") // again: no eviction
	if p.has("0") {
		t.Error("oldest id kept past the bound")
	}
	for _, id := range []string{"1", "2", "3"} {
		if !p.has(id) {
			t.Errorf("id %s forgotten within the bound", id)
		}
	}
}
