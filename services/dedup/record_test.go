package dedup

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// dedup writes klaxon-alerts; everyone else reads its values as
// contract.StoredAlert. A record with an outbox still reads as its alert.
func TestRecordReadsAsContractStoredAlert(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := alert.Alert{
		Labels: model.LabelSet{"alertname": "A"}, Annotations: model.LabelSet{"summary": "s"},
		StartsAt: at, EndsAt: at.Add(time.Hour), UpdatedAt: at.Add(time.Minute), GeneratorURL: "http://prom/graph",
	}
	rec := record{
		Stored: alert.Stored{Alert: a, Emitted: "firing", ExpiryAt: a.EndsAt},
		Outbox: []outbound{{Subject: contract.SubjectAlertsChanged, ID: "chg-1", Data: []byte(`{"version":1}`)}},
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var got contract.StoredAlert
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(a)
	have, _ := json.Marshal(got.Alert)
	if string(want) != string(have) {
		t.Fatalf("record reads as\n%s\nwant\n%s", have, want)
	}
}
