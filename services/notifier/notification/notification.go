// Package notification holds what every integration is asked to deliver (a
// Notification: one group's alerts for one receiver, at a flush time, with the
// reason) and Alertmanager's template data built from it (Data: receiver,
// status, alerts, group/common labels and annotations, external URL), which
// is also the body of the webhook payload.
//
// Firing or resolved is judged at the notification's time (the flush time),
// never at the time it is built or sent.
package notification

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

// Notification is one flush of one aggregation group for one receiver
// integration, as an integration sees it.
type Notification struct {
	Receiver    string
	GroupKey    string
	GroupLabels model.LabelSet
	// Alerts are the alerts to deliver, in the order given.
	Alerts []alert.Alert
	// At is the flush time: alert status is judged at it.
	At time.Time
	// Reason is why it is sent, in Alertmanager's words
	// ("first notification", ...).
	Reason      string
	ExternalURL string
	// Message is the message an earlier notification of the group left at
	// the receiver, for an integration that edits it (Slack's
	// update_message); nil otherwise.
	Message *Message
}

// KeyHash is the SHA-256 of the group key in hex, as Alertmanager hands it
// to vendors whose keys are length-limited: PagerDuty's dedup_key,
// Opsgenie's alias. The notifications of one group share it.
func (n *Notification) KeyHash() string {
	sum := sha256.Sum256([]byte(n.GroupKey))
	return hex.EncodeToString(sum[:])
}

// Data returns the template data of the notification's alerts.
func (n *Notification) Data() *Data {
	return NewData(n.Receiver, n.GroupLabels, n.Alerts, n.At, n.Reason, n.ExternalURL)
}

// Data is Alertmanager's template data; its JSON form is the body of the
// webhook payload (version 4) before version, groupKey and truncatedAlerts.
type Data struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   Alerts `json:"alerts"`

	NotificationReason string `json:"notification_reason"`

	GroupLabels       KV `json:"groupLabels"`
	CommonLabels      KV `json:"commonLabels"`
	CommonAnnotations KV `json:"commonAnnotations"`

	ExternalURL string `json:"externalURL"`
}

// Alert is one alert in template data.
type Alert struct {
	Status       string    `json:"status"`
	Labels       KV        `json:"labels"`
	Annotations  KV        `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
}

// Alerts is a list of alerts in template data.
type Alerts []Alert

// Firing returns the firing alerts.
func (as Alerts) Firing() []Alert { return as.with(string(model.AlertFiring)) }

// Resolved returns the resolved alerts.
func (as Alerts) Resolved() []Alert { return as.with(string(model.AlertResolved)) }

func (as Alerts) with(status string) []Alert {
	res := []Alert{}
	for _, a := range as {
		if a.Status == status {
			res = append(res, a)
		}
	}
	return res
}

// NewData builds the template data of alerts for receiver at t, as
// Alertmanager does:
//   - the receiver name is regexp-quoted (Alertmanager's quirk, kept so that
//     templates and webhook consumers see the same value);
//   - the status is "firing" if any alert fires at t, else "resolved";
//   - a firing alert's end time is not exposed (zero), since it is only the
//     time the alert would expire if not re-sent;
//   - common labels and annotations are those with the same value in every
//     alert; all maps are non-nil.
func NewData(receiver string, groupLabels model.LabelSet, alerts []alert.Alert, t time.Time, reason, externalURL string) *Data {
	d := &Data{
		Receiver:           regexp.QuoteMeta(receiver),
		Status:             string(model.AlertResolved),
		Alerts:             make(Alerts, 0, len(alerts)),
		NotificationReason: reason,
		GroupLabels:        kvOf(groupLabels),
		CommonLabels:       KV{},
		CommonAnnotations:  KV{},
		ExternalURL:        externalURL,
	}
	for _, a := range alerts {
		da := Alert{
			Status:       a.Status(t),
			Labels:       kvOf(a.Labels),
			Annotations:  kvOf(a.Annotations),
			StartsAt:     a.StartsAt,
			GeneratorURL: a.GeneratorURL,
			Fingerprint:  a.Fingerprint().String(),
		}
		if a.ResolvedAt(t) {
			da.EndsAt = a.EndsAt
		} else {
			d.Status = string(model.AlertFiring)
		}
		d.Alerts = append(d.Alerts, da)
	}
	if len(alerts) > 0 {
		d.CommonLabels = common(alerts, func(a alert.Alert) model.LabelSet { return a.Labels })
		d.CommonAnnotations = common(alerts, func(a alert.Alert) model.LabelSet { return a.Annotations })
	}
	return d
}

// common returns the pairs of field that every alert shares.
func common(alerts []alert.Alert, field func(alert.Alert) model.LabelSet) KV {
	res := kvOf(field(alerts[0]))
	for _, a := range alerts[1:] {
		if len(res) == 0 {
			break
		}
		ls := field(a)
		for k, v := range res {
			// A missing name reads as "": Alertmanager's comparison.
			if string(ls[model.LabelName(k)]) != v {
				delete(res, k)
			}
		}
	}
	return res
}

func kvOf(ls model.LabelSet) KV {
	kv := make(KV, len(ls))
	for k, v := range ls {
		kv[string(k)] = string(v)
	}
	return kv
}

// KV is a set of string pairs (labels or annotations) in template data.
type KV map[string]string

// Pair is one key and value of a KV.
type Pair struct {
	Name, Value string
}

// Pairs is a list of pairs.
type Pairs []Pair

// Names returns the names of the pairs.
func (ps Pairs) Names() []string {
	res := make([]string, 0, len(ps))
	for _, p := range ps {
		res = append(res, p.Name)
	}
	return res
}

// Values returns the values of the pairs.
func (ps Pairs) Values() []string {
	res := make([]string, 0, len(ps))
	for _, p := range ps {
		res = append(res, p.Value)
	}
	return res
}

// String returns the pairs as "name=value" joined by ", ".
func (ps Pairs) String() string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, p.Name+"="+p.Value)
	}
	return strings.Join(parts, ", ")
}

// SortedPairs returns the pairs sorted by name, except that "alertname"
// comes first, as in Alertmanager.
func (kv KV) SortedPairs() Pairs {
	names := make([]string, 0, len(kv))
	for k := range kv {
		if k != string(model.AlertNameLabel) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	if _, ok := kv[string(model.AlertNameLabel)]; ok {
		names = slices.Insert(names, 0, string(model.AlertNameLabel))
	}
	ps := make(Pairs, 0, len(names))
	for _, k := range names {
		ps = append(ps, Pair{Name: k, Value: kv[k]})
	}
	return ps
}

// Remove returns a copy of kv without the given keys.
func (kv KV) Remove(keys []string) KV {
	res := make(KV, len(kv))
	for k, v := range kv {
		if !slices.Contains(keys, k) {
			res[k] = v
		}
	}
	return res
}

// Names returns the sorted names (alertname first).
func (kv KV) Names() []string { return kv.SortedPairs().Names() }

// Values returns the values in the order of Names.
func (kv KV) Values() []string { return kv.SortedPairs().Values() }

// String returns the sorted pairs as text.
func (kv KV) String() string { return kv.SortedPairs().String() }

// StatusError is an integration endpoint's non-2xx HTTP answer. Body is a
// short, already redacted excerpt of the response.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("unexpected status code %d", e.Code)
	}
	return fmt.Sprintf("unexpected status code %d: %s", e.Code, e.Body)
}
