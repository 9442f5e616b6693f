package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// The same POST body gets the same verdict from Klaxon as from
// Alertmanager: accepted (2xx) or refused (4xx). Dates are where JSON
// decoders differ most.
func TestSameBytesSameVerdict(t *testing.T) {
	t.Parallel()
	cfg := config(byAlertname)
	am, kx := startAlertmanager(t, cfg), startKlaxon(t, cfg, false)
	alertWith := func(field string) string {
		return `[{"labels":{"alertname":"V"}` + field + `}]`
	}
	bodies := map[string]string{
		"no times":            alertWith(``),
		"RFC 3339":            alertWith(`,"startsAt":"2026-01-02T03:04:05Z"`),
		"RFC 3339 nanos":      alertWith(`,"startsAt":"2026-01-02T03:04:05.123456789+02:00"`),
		"no zone":             alertWith(`,"startsAt":"2026-01-02T03:04:05"`),
		"date only":           alertWith(`,"startsAt":"2026-01-02"`),
		"space separator":     alertWith(`,"startsAt":"2026-01-02 03:04:05Z"`),
		"minutes, zone":       alertWith(`,"startsAt":"2026-01-02T03:04Z"`),
		"minutes, no zone":    alertWith(`,"startsAt":"2026-01-02T03:04"`),
		"offset no colon":     alertWith(`,"startsAt":"2026-01-02T03:04:05+0200"`),
		"millis no colon":     alertWith(`,"startsAt":"2026-01-02T03:04:05.123+0200"`),
		"micros no colon":     alertWith(`,"startsAt":"2026-01-02T03:04:05.123456+0200"`),
		"lower-case t and z":  alertWith(`,"startsAt":"2026-01-02t03:04:05z"`),
		"month 13":            alertWith(`,"startsAt":"2026-13-02T03:04:05Z"`),
		"year 0":              alertWith(`,"startsAt":"0000-01-01T00:00:00Z"`),
		"empty string":        alertWith(`,"startsAt":""`),
		"number":              alertWith(`,"startsAt":1700000000`),
		"null":                alertWith(`,"startsAt":null`),
		"end before start":    alertWith(`,"startsAt":"2026-01-02T03:04:05Z","endsAt":"2026-01-01T03:04:05Z"`),
		"label value number":  `[{"labels":{"alertname":1}}]`,
		"no labels":           `[{"labels":{}}]`,
		"bad label name":      `[{"labels":{"alertname":"V","1x":"y"}}]`,
		"unknown field":       `[{"labels":{"alertname":"V"},"colour":"red"}]`,
		"object, not array":   `{"labels":{"alertname":"V"}}`,
		"trailing data":       `[{"labels":{"alertname":"V"}}] x`,
		"empty array":         `[]`,
		"annotations number":  `[{"labels":{"alertname":"V"},"annotations":{"a":1}}]`,
		"generatorURL number": `[{"labels":{"alertname":"V"},"generatorURL":3}]`,
		// Alertmanager drops labels with an empty value, then validates,
		// once its defaults apply.
		"empty label value":                 `[{"labels":{"alertname":"V","x":""}}]`,
		"only empty label values":           `[{"labels":{"alertname":""}}]`,
		"bad label name, empty value":       `[{"labels":{"alertname":"V","1x":""}}]`,
		"start after now + resolve_timeout": alertWith(`,"startsAt":"2099-01-02T03:04:05Z"`),
		"labels twice":                      `[{"labels":{"alertname":"V"},"labels":{"x":"y"}}]`,
		"field name in capitals":            `[{"LABELS":{"alertname":"V"}}]`,
		"labels null after labels":          `[{"labels":{"alertname":"V"},"labels":null}]`,
	}
	// declared are deliberate differences: Klaxon's verdict is asserted.
	declared := map[string]int{
		// UTF-8 label names, which Alertmanager accepts since 0.28; 0.25
		// refuses a name that is not [a-zA-Z_][a-zA-Z0-9_]*.
		"bad label name": http.StatusOK,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			verdict := func(tg *target) int {
				resp, err := http.Post("http://"+tg.api()+"/api/v2/alerts", "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			a, k := verdict(am), verdict(kx)
			if want, ok := declared[name]; ok {
				a = want
			}
			if (a/100 == 2) != (k/100 == 2) || (a/100 == 4) != (k/100 == 4) {
				t.Errorf("%s: Alertmanager %d, Klaxon %d", fmt.Sprint(body), a, k)
			}
		})
	}
}
