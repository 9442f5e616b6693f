package contract_test

import (
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

func TestDecodeChecksTheVersion(t *testing.T) {
	tick, err := contract.Decode[contract.Tick]([]byte(`{"version":1,"groupId":"g","seq":2}`))
	if err != nil || tick.GroupID != "g" || tick.Seq != 2 {
		t.Fatalf("Decode = %+v, %v", tick, err)
	}
	for _, bad := range []string{`{"version":2,"groupId":"g"}`, `{"groupId":"g"}`, `{"version":`, `[]`} {
		_, err := contract.Decode[contract.Tick]([]byte(bad))
		if err == nil || !fault.IsFinal(err) {
			t.Errorf("Decode(%s) = %v, want a final error", bad, err)
		}
		if err != nil && !strings.Contains(err.Error(), "contract.Tick") {
			t.Errorf("Decode(%s) error %q does not name the event type", bad, err)
		}
	}
}
