package alert

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// Postable is one alert as senders post it: Alertmanager API v2's
// postableAlert. Missing times are zero.
type Postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Errors returned by validation; each is wrapped with the field it concerns.
var (
	ErrNoLabels       = errors.New("at least one label pair required")
	ErrLabelName      = errors.New("invalid label name")
	ErrLabelValue     = errors.New("invalid label value")
	ErrEndBeforeStart = errors.New("start time must be before end time")
	ErrMalformed      = errors.New("malformed alert JSON")
)

// Validate checks what Alertmanager checks on receipt, in its order: once
// its defaults for a receipt at now apply (Normalize) and labels with an
// empty value are dropped. The error names the field.
func (p Postable) Validate(now time.Time, resolveTimeout time.Duration) error {
	if !hasLabel(p.Labels) {
		return fmt.Errorf("labels: %w", ErrNoLabels)
	}
	if err := validateLabels("labels", p.Labels); err != nil {
		return err
	}
	if err := validateLabels("annotations", p.Annotations); err != nil {
		return err
	}
	if start, end, timeout := p.times(now, resolveTimeout); end.Before(start) {
		given := "endsAt"
		if timeout {
			given = "endsAt (none given: now + resolve_timeout)"
		}
		return fmt.Errorf("endsAt: %w (startsAt %s, %s %s)", ErrEndBeforeStart,
			start.Format(time.RFC3339Nano), given, end.Format(time.RFC3339Nano))
	}
	return nil
}

// times are the alert's start and end with Alertmanager's defaults for a
// receipt at now: a missing start is the end (or now), a missing end is now
// plus resolveTimeout, and then the alert times out.
func (p Postable) times(now time.Time, resolveTimeout time.Duration) (start, end time.Time, timeout bool) {
	start, end = p.StartsAt, p.EndsAt
	if start.IsZero() {
		start = now
		if !end.IsZero() {
			start = end
		}
	}
	if end.IsZero() {
		return start, now.Add(resolveTimeout), true
	}
	return start, end, false
}

// hasLabel reports whether labels has one with a value.
func hasLabel(labels map[string]string) bool {
	for _, v := range labels {
		if v != "" {
			return true
		}
	}
	return false
}

// Limits on one alert's labels and annotations, far beyond what senders
// use; the whole alert is also bounded (SizeLimit). A larger one is refused
// with the limit named.
const (
	MaxLabels         = 1000     // labels, and annotations, per alert
	MaxLabelNameBytes = 1 << 10  // a label or annotation name
	MaxLabelValueSize = 64 << 10 // a label value (annotation values: SizeLimit only)
)

// ErrLimit is returned for a label set over one of the limits.
var ErrLimit = errors.New("over the limit")

func validateLabels(field string, ls map[string]string) error {
	if len(ls) > MaxLabels {
		return fmt.Errorf("%s: %w: %d, at most %d", field, ErrLimit, len(ls), MaxLabels)
	}
	for name, value := range ls {
		if field == "labels" && value == "" {
			continue // dropped
		}
		if len(name) > MaxLabelNameBytes {
			return fmt.Errorf("%s: %w: a name of %d bytes, at most %d", field, ErrLimit, len(name), MaxLabelNameBytes)
		}
		if field == "labels" && len(value) > MaxLabelValueSize {
			return fmt.Errorf("%s.%s: %w: a value of %d bytes, at most %d", field, name, ErrLimit, len(value), MaxLabelValueSize)
		}
		if !model.LabelName(name).IsValid() {
			return fmt.Errorf("%s: %w %q", field, ErrLabelName, name)
		}
		if !utf8.ValidString(value) {
			return fmt.Errorf("%s.%s: %w (not UTF-8)", field, name, ErrLabelValue)
		}
	}
	return nil
}

// Normalize validates p and applies Alertmanager's defaults for a receipt at
// now (see times); labels with an empty value are dropped, as Alertmanager
// drops them.
func (p Postable) Normalize(now time.Time, resolveTimeout time.Duration) (Alert, error) {
	return p.NormalizeLike(now, resolveTimeout, nil)
}

// NormalizeLike is Normalize, taking the label sets of like (the alert as
// stored, if any) where p's are the same: a re-send makes no new ones.
// Label sets are never changed in place, so they can be shared.
func (p Postable) NormalizeLike(now time.Time, resolveTimeout time.Duration, like *Alert) (Alert, error) {
	if err := p.Validate(now, resolveTimeout); err != nil {
		return Alert{}, err
	}
	a := Alert{GeneratorURL: p.GeneratorURL, UpdatedAt: now}
	if like != nil && sameSet(p.Labels, like.Labels, true) {
		a.Labels = like.Labels
	} else {
		a.Labels = labelSet(p.Labels)
	}
	if like != nil && len(p.Annotations) > 0 && sameSet(p.Annotations, like.Annotations, false) {
		a.Annotations = like.Annotations
	} else {
		a.Annotations = toLabelSet(p.Annotations)
	}
	a.StartsAt, a.EndsAt, a.Timeout = p.times(now, resolveTimeout)
	return a, nil
}

// sameSet reports whether m, without its empty values when dropEmpty, is
// the label set ls.
func sameSet(m map[string]string, ls model.LabelSet, dropEmpty bool) bool {
	n := 0
	for k, v := range m {
		if dropEmpty && v == "" {
			continue
		}
		if got, ok := ls[model.LabelName(k)]; !ok || string(got) != v {
			return false
		}
		n++
	}
	return n == len(ls)
}

// Fingerprint is the fingerprint of the alert p becomes: its labels'
// (model.LabelsToSignature is LabelSet.Fingerprint's hash of a plain map,
// without making a LabelSet).
func (p Postable) Fingerprint() model.Fingerprint {
	if !hasEmptyValue(p.Labels) {
		return model.Fingerprint(model.LabelsToSignature(p.Labels))
	}
	return labelSet(p.Labels).Fingerprint()
}

func hasEmptyValue(labels map[string]string) bool {
	for _, v := range labels {
		if v == "" {
			return true
		}
	}
	return false
}

// labelSet is an alert's labels: those with a value.
func labelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		if v != "" {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
	}
	return ls
}

func toLabelSet(m map[string]string) model.LabelSet {
	if len(m) == 0 {
		return nil
	}
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// ErrTooLarge is returned for an alert larger than Klaxon can carry.
var ErrTooLarge = errors.New("alert too large")

// SizeLimit is the largest alert, as JSON, that Klaxon stores when the NATS
// server takes messages of up to maxPayload bytes: every message and KV value
// on an alert's way must fit, and dedup's record holds the alert about 2.5
// times over (its state, and its change event until published). 0 or less
// means the server's default, 1 MiB.
func SizeLimit(maxPayload int64) int {
	if maxPayload <= 0 {
		maxPayload = 1 << 20
	}
	return int(maxPayload / 4)
}

// CheckSize refuses an alert whose JSON encoding is larger than limit bytes,
// naming the limit.
func CheckSize(encoded []byte, limit int) error {
	if len(encoded) > limit {
		return fmt.Errorf("%w: %d bytes of JSON, more than the %d bytes an alert may have (a quarter of NATS' max_payload)",
			ErrTooLarge, len(encoded), limit)
	}
	return nil
}

// Describe is a label set for an error message, cut to at most 200 bytes so
// that an answer about a huge alert stays small.
func Describe(labels map[string]string) string {
	s := fmt.Sprint(labels)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// apiTimeLayouts are the date-time forms Alertmanager's API accepts for
// startsAt and endsAt (its OpenAPI date-time), tried in order.
var apiTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000000Z0700",
	"2006-01-02T15:04:05.000Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z",
	"2006-01-02T15:04",
}

// parseAPITime parses a date-time in the first of apiTimeLayouts that fits.
func parseAPITime(s string) (time.Time, error) {
	for _, layout := range apiTimeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			return v, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date-time (RFC 3339)", s)
}

// UnmarshalJSON reads a posted alert as Alertmanager's API does, with its
// date-time forms (see DecodePostable).
func (p *Postable) UnmarshalJSON(b []byte) error {
	return readWhole(b, false, func(dec decoder) error { return readPostable(dec, p) })
}
