package contract_test

import (
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

func TestDecodeChecksTheVersion(t *testing.T) {
	ev, err := contract.Decode[contract.AlertChanged]([]byte(`{"version":1,"fingerprint":"g"}`))
	if err != nil || ev.Fingerprint != "g" {
		t.Fatalf("Decode = %+v, %v", ev, err)
	}
	for _, bad := range []string{`{"version":2,"groupId":"g"}`, `{"groupId":"g"}`, `{"version":`, `[]`} {
		_, err := contract.Decode[contract.AlertChanged]([]byte(bad))
		if err == nil || !fault.IsFinal(err) {
			t.Errorf("Decode(%s) = %v, want a final error", bad, err)
		}
		if err != nil && !strings.Contains(err.Error(), "contract.AlertChanged") {
			t.Errorf("Decode(%s) error %q does not name the event type", bad, err)
		}
	}
}
