package alert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// The posted alerts are read token by token (jsontext) rather than by
// reflection: every alert is decoded twice on its way (ingest, dedup), and
// encoding/json scanned each alert's bytes three times over (the value, then
// again for each method that decodes a part). The result is encoding/json's
// for every input (FuzzDecodeAsEncodingJSON): field names match regardless
// of case, a repeated field is merged into the earlier one, null leaves a
// field alone (a map: makes it nil), invalid UTF-8 becomes U+FFFD, and any value of the wrong type
// is an error.

// decoder reads JSON from data with encoding/json's leniency. One that
// shares gives every equal short string it reads once: the alerts of one
// message share their label names and most values (for one alert, the
// table costs more than it saves).
type decoder struct {
	*jsontext.Decoder
	strings map[string]string
}

// decoders are reused: a new one's state cost more than reading a stored
// alert, which a new owner does for each of its partitions' alerts.
var decoders = sync.Pool{New: func() any { return new(jsontext.Decoder) }}

// newDecoder reads data; release gives the decoder back once done.
func newDecoder(data []byte, share bool) decoder {
	d := decoders.Get().(*jsontext.Decoder)
	d.Reset(bytes.NewBuffer(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if share {
		return sharing(d)
	}
	return decoder{Decoder: d}
}

// sharing is a decoder of d that shares the strings it reads.
func sharing(d *jsontext.Decoder) decoder {
	return decoder{Decoder: d, strings: make(map[string]string, 64)}
}

func (dec decoder) release() { decoders.Put(dec.Decoder) }

// maxShared is the longest string a decoder shares.
const maxShared = 128

// readString reads a JSON string value (the next value must be one).
func (dec decoder) readString() (string, error) {
	v, err := dec.ReadValue()
	if err != nil {
		return "", err
	}
	raw := v[1 : len(v)-1]
	if len(raw) > maxShared || bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
		unquoted, _ := jsontext.AppendUnquote(nil, v) // invalid UTF-8 becomes U+FFFD
		return string(unquoted), nil
	}
	if dec.strings == nil {
		return string(raw), nil
	}
	if s, ok := dec.strings[string(raw)]; ok {
		return s, nil
	}
	s := string(raw)
	dec.strings[s] = s
	return s, nil
}

// DecodePostable decodes one alert (a JSON object) or several (a JSON array).
// Unknown fields are ignored, as Alertmanager's API does.
func DecodePostable(data []byte) ([]Postable, error) {
	dec := newDecoder(data, true)
	defer dec.release()
	var ps []Postable
	if dec.PeekKind() == '{' {
		ps = make([]Postable, 1)
		if err := readPostable(dec, &ps[0]); err != nil {
			return nil, malformed(err)
		}
	} else {
		var err error
		if ps, _, err = readArray(dec, nil); err != nil {
			return nil, malformed(err)
		}
	}
	if err := checkEOF(dec); err != nil {
		return nil, malformed(err)
	}
	return ps, nil
}

// DecodeArray decodes a JSON array of alerts as Alertmanager's API reads a
// request body: what follows the array is not read. raw[i] is the JSON text
// of alert i, a part of data.
func DecodeArray(data []byte) (ps []Postable, raw [][]byte, err error) {
	dec := newDecoder(data, true)
	defer dec.release()
	ps, raw, err = readArray(dec, data)
	if err != nil {
		return nil, nil, malformed(err)
	}
	return ps, raw, nil
}

// checkEOF fails if anything but white space follows the value read.
func checkEOF(dec decoder) error {
	switch _, err := dec.ReadToken(); {
	case err == io.EOF:
		return nil
	case err != nil:
		return err
	default:
		return errors.New("data after the top-level value")
	}
}

func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

// readArray reads a JSON array of alerts (null is none); with data, the
// decoder's input, it also returns each alert's text.
func readArray(dec decoder, data []byte) ([]Postable, [][]byte, error) {
	var ps []Postable
	var raw [][]byte
	err := readElements(dec, func() {
		ps = []Postable{}
	}, func() error {
		start := dec.InputOffset()
		var p Postable
		if err := readPostable(dec, &p); err != nil {
			return err
		}
		ps = append(ps, p)
		if data != nil {
			raw = append(raw, bytes.TrimLeft(data[start:dec.InputOffset()], " \t\r\n,"))
		}
		return nil
	})
	return ps, raw, err
}

// readElements reads a JSON array of alerts: null reads nothing; an array
// calls start, then each for every element (an error names the element).
func readElements(dec decoder, start func(), each func() error) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '[':
	default:
		return wrongKind(dec, "a JSON array of alerts")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	start()
	for i := 0; dec.PeekKind() != ']'; i++ {
		if err := each(); err != nil {
			return fmt.Errorf("alert %d: %w", i, err)
		}
	}
	_, err := dec.ReadToken()
	return err
}

// The fields of a posted alert.
const (
	fieldLabels       = "labels"
	fieldAnnotations  = "annotations"
	fieldStartsAt     = "startsAt"
	fieldEndsAt       = "endsAt"
	fieldGeneratorURL = "generatorURL"
)

// readPostable reads one alert into p; null leaves it alone.
func readPostable(dec decoder, p *Postable) error {
	return readObject(dec, func(name string) (bool, error) {
		switch {
		case strings.EqualFold(name, fieldLabels):
			return true, readMap(dec, &p.Labels)
		case strings.EqualFold(name, fieldAnnotations):
			return true, readMap(dec, &p.Annotations)
		case strings.EqualFold(name, fieldStartsAt):
			return true, readTime(dec, &p.StartsAt)
		case strings.EqualFold(name, fieldEndsAt):
			return true, readTime(dec, &p.EndsAt)
		case strings.EqualFold(name, fieldGeneratorURL):
			return true, readString(dec, &p.GeneratorURL)
		}
		return false, nil
	})
}

// readObject reads a JSON object, handing each field's name to field,
// which reads the value if it knows the field (the others are skipped);
// null is no object.
func readObject(dec decoder, field func(name string) (bool, error)) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '{':
	default:
		return wrongKind(dec, "a JSON object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.readString()
		if err != nil {
			return err
		}
		known, err := field(name)
		if err == nil && !known {
			err = dec.SkipValue()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readMap reads a JSON object of strings into *m, adding to what it
// holds; null makes it nil, and a null value is "".
func readMap[M ~map[K]V, K, V ~string](dec decoder, m *M) error {
	switch k := dec.PeekKind(); {
	case k == 'n':
		*m = nil
	case k == '{' && *m == nil:
		*m = M{}
	}
	return readObject(dec, func(name string) (bool, error) {
		var v string
		err := readString(dec, &v)
		(*m)[K(name)] = V(v)
		return true, err
	})
}

// readString reads a JSON string into *s; null leaves it alone.
func readString(dec decoder, s *string) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '"':
		v, err := dec.readString()
		if err != nil {
			return err
		}
		*s = v
		return nil
	default:
		return wrongKind(dec, "a string")
	}
}

// readTime reads a date-time in one of apiTimeLayouts into *t; null and ""
// leave it alone.
func readTime(dec decoder, t *time.Time) error {
	var s string
	switch dec.PeekKind() {
	case 'n', '"':
		if err := readString(dec, &s); err != nil {
			return err
		}
	default:
		return wrongKind(dec, "a date-time string")
	}
	if s == "" {
		return nil
	}
	v, err := parseAPITime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// wrongKind reads the next value, which is not what was wanted, and says
// so; a syntax error in it comes first.
func wrongKind(dec decoder, want string) error {
	k := dec.PeekKind()
	if err := dec.SkipValue(); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s expected, not %s", errWrongType, want, kindName(k))
}

var errWrongType = errors.New("wrong type")

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "invalid JSON"
}

// UnmarshalJSON reads an alert as Klaxon writes it, token by token:
// model.LabelSet's own method decodes each label set twice over, which
// made label sets half of the stages' decoding. Label names are not
// checked again: Klaxon wrote them after validation.
func (a *Alert) UnmarshalJSON(b []byte) error {
	return readWhole(b, false, func(dec decoder) error { return readAlert(dec, a) })
}

// readWhole reads b with read, which must take all of it.
func readWhole(b []byte, share bool, read func(decoder) error) error {
	dec := newDecoder(b, share)
	defer dec.release()
	if err := read(dec); err != nil {
		return err
	}
	return checkEOF(dec)
}

// readAlert reads an alert as Klaxon writes it into a; null leaves it alone.
func readAlert(dec decoder, a *Alert) error {
	return readObject(dec, func(name string) (bool, error) { return a.readField(dec, name) })
}

// List is alerts as an event carries them (a notification: all of a
// group's). It reads them with one decoder for the whole array, which also
// shares the strings the alerts repeat; a decoder per alert cost as much as
// the alerts themselves in a notification of a thousand.
type List []Alert

// UnmarshalJSON reads a JSON array of alerts as encoding/json reads an
// []Alert; null makes the list nil.
func (l *List) UnmarshalJSON(b []byte) error { return readWhole(b, true, l.read) }

func (l *List) read(dec decoder) error {
	var out List
	err := readElements(dec, func() {
		out = List{}
	}, func() error {
		var a Alert
		if err := readAlert(dec, &a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return err
	}
	*l = out
	return nil
}

// UnmarshalJSON reads a stored alert (see Alert.UnmarshalJSON).
func (s *Stored) UnmarshalJSON(b []byte) error { return readWhole(b, false, s.read) }

func (s *Stored) read(dec decoder) error {
	return readObject(dec, func(name string) (bool, error) {
		switch {
		case strings.EqualFold(name, "emitted"):
			return true, readString(dec, &s.Emitted)
		case strings.EqualFold(name, "expiryAt"):
			return true, readRFC3339(dec, &s.ExpiryAt)
		}
		return s.Alert.readField(dec, name)
	})
}

// readField reads the value of the field called name, if it is one of a's.
func (a *Alert) readField(dec decoder, name string) (bool, error) {
	switch {
	case strings.EqualFold(name, fieldLabels):
		return true, readMap(dec, &a.Labels)
	case strings.EqualFold(name, fieldAnnotations):
		return true, readMap(dec, &a.Annotations)
	case strings.EqualFold(name, fieldStartsAt):
		return true, readRFC3339(dec, &a.StartsAt)
	case strings.EqualFold(name, fieldEndsAt):
		return true, readRFC3339(dec, &a.EndsAt)
	case strings.EqualFold(name, "updatedAt"):
		return true, readRFC3339(dec, &a.UpdatedAt)
	case strings.EqualFold(name, fieldGeneratorURL):
		return true, readString(dec, &a.GeneratorURL)
	case strings.EqualFold(name, "timeout"):
		return true, readBool(dec, &a.Timeout)
	}
	return false, nil
}

// readRFC3339 reads a time as time.Time encodes it; null leaves it alone.
func readRFC3339(dec decoder, t *time.Time) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '"':
		s, err := dec.readString()
		if err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return err
		}
		*t = v
		return nil
	default:
		return wrongKind(dec, "a date-time string")
	}
}

// readBool reads true or false; null leaves *b alone.
func readBool(dec decoder, b *bool) error {
	switch dec.PeekKind() {
	case 'n', 't', 'f':
		tok, err := dec.ReadToken()
		if err == nil && tok.Kind() != 'n' {
			*b = tok.Bool()
		}
		return err
	default:
		return wrongKind(dec, "true or false")
	}
}
