package alert

import (
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/prometheus/common/model"
)

// Unmarshal decodes data, a value Klaxon wrote (an event, a group) that
// holds alerts and label sets, into v, as encoding/json would: with
// encoding/json/v2, which streams into this package's readers, so an alert
// or a label set is read once (encoding/json scans a value before it
// decodes it, and hands each alert's bytes to its UnmarshalJSON to be read
// again; prometheus/common's LabelSet decodes each set twice).
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, options)
}

var options = json.JoinOptions(
	jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true),
	json.MatchCaseInsensitiveNames(true),
	json.WithUnmarshalers(json.JoinUnmarshalers(
		// A label set is read as its own method reads it: a new map each
		// time (a repeated field replaces it), without checking the names
		// again (Klaxon wrote them after validation).
		json.UnmarshalFromFunc(func(dec *jsontext.Decoder, l *model.LabelSet) error {
			var m model.LabelSet
			if err := readMap(decoder{Decoder: dec}, &m); err != nil {
				return err
			}
			*l = m
			return nil
		}),
		// encoding/json/v2 reads times more strictly than time.Time's
		// own method ("T0:00:00Z").
		json.UnmarshalFromFunc(func(dec *jsontext.Decoder, t *time.Time) error {
			return readRFC3339(decoder{Decoder: dec}, t)
		}),
		// model.Duration's own method decodes its string with encoding/json.
		json.UnmarshalFromFunc(func(dec *jsontext.Decoder, d *model.Duration) error {
			var s string
			if err := readString(decoder{Decoder: dec}, &s); err != nil {
				return err
			}
			v, err := model.ParseDuration(s)
			if err != nil {
				return err
			}
			*d = v
			return nil
		}),
	)),
)

// UnmarshalJSONFrom reads an alert as UnmarshalJSON does, from a decoder
// reading a larger value (Unmarshal).
func (a *Alert) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readAlert(decoder{Decoder: dec}, a)
}

// UnmarshalJSONFrom reads a stored alert as UnmarshalJSON does, from a
// decoder reading a larger value (Unmarshal).
func (s *Stored) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return s.read(decoder{Decoder: dec})
}

// UnmarshalJSONFrom reads a list as UnmarshalJSON does, from a decoder
// reading a larger value (Unmarshal).
func (l *List) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return l.read(sharing(dec))
}
