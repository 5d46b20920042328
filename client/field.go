package client

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Kind is how a role field's value is written and held.
type Kind int

const (
	// KindString is a string, trimmed of surrounding space.
	KindString Kind = iota
	// KindLowerString is a string folded to lower case.
	KindLowerString
	// KindList is a comma-separated list, held as []string.
	KindList
	// KindPairs is key=value pairs, held as map[string]string.
	KindPairs
	// KindAddress is the vendor's address: an absolute http(s) URL with
	// no query. A vendor that declares none takes base_url.
	KindAddress
	// KindAddressQuery is an address whose URL may carry a query.
	KindAddressQuery
)

// The role fields every vendor takes. A vendor may list one of them in
// Fields, with no kind, to attach a Check (and a Description line) to it.
const (
	FieldBaseURL      = "base_url"
	FieldClientID     = "client_id"
	FieldClientSecret = "client_secret"
)

// Field declares one role field of a vendor.
type Field struct {
	Name        string
	Description string
	Kind        Kind
	// Secret fields are write-only: a role read shows <name>_set. They
	// are of a string kind, the form secrets are redacted in.
	Secret bool
	// Required fields must be set for the vendor.
	Required bool
	// Default is shown on read when the field is unset, and the vendor
	// uses it then.
	Default string
	// Allowed, when set, lists the only values the field may take.
	Allowed []string
	// PairedSecret, on a field that names an account (such as an OAuth
	// client id), is the secret field that belongs to that account: a
	// change of this field without a new value of that one carries the
	// stored secret to another account, which a role write refuses
	// unless verify proves it.
	PairedSecret string
	// Credential, on a field with Allowed values, maps some of those
	// values to the secret field a role then authenticates with in place
	// of client_secret: with that value the field is required and
	// client_secret refused; with another the field is refused.
	Credential map[string]string
	// Check, when set, vets a value (string, []string or map[string]string
	// by Kind); its error text is the message, the caller names the field.
	Check func(value any) error
}

// IsAddress reports whether f is the vendor's address field.
func (f Field) IsAddress() bool { return f.Kind == KindAddress || f.Kind == KindAddressQuery }

// Common reports whether name is a field every vendor takes.
func Common(name string) bool {
	return name == FieldBaseURL || name == FieldClientID || name == FieldClientSecret
}

// AddressField is the role field that holds v's address.
func AddressField(v Vendor) Field {
	for _, f := range v.Fields() {
		if f.IsAddress() {
			return f
		}
	}
	return Field{Name: FieldBaseURL, Kind: KindAddress}
}

// CredentialField is the secret field a role of v with vals proves itself
// with: client_secret, unless a field's value names another (Credential).
// by names the field and value that chose it ("" for client_secret).
// Refused maps each secret field that other values name, which the role
// does not use and so may not hold, to the setting that would use it.
func CredentialField(v Vendor, vals Values) (secret, by string, refused map[string]string) {
	secret, refused = FieldClientSecret, map[string]string{}
	for _, f := range v.Fields() {
		val := vals.String(f.Name)
		if val == "" {
			val = f.Default
		}
		for _, k := range slices.Sorted(maps.Keys(f.Credential)) {
			if k == val {
				secret, by = f.Credential[k], f.Name+"="+k
			} else if _, seen := refused[f.Credential[k]]; !seen {
				refused[f.Credential[k]] = f.Name + "=" + k
			}
		}
	}
	delete(refused, secret)
	return secret, by, refused
}

// Values holds a role's vendor-specific fields by name: each value is a
// string, a []string or a map[string]string, by the field's Kind.
type Values map[string]any

// String is the string value of name, or "".
func (v Values) String(name string) string {
	s, _ := v[name].(string)
	return s
}

// List is the list value of name, or nil.
func (v Values) List(name string) []string {
	l, _ := v[name].([]string)
	return l
}

// Pairs is the key=value value of name, or nil.
func (v Values) Pairs(name string) map[string]string {
	m, _ := v[name].(map[string]string)
	return m
}

// Has reports whether name holds a non-empty value.
func (v Values) Has(name string) bool {
	switch x := v[name].(type) {
	case string:
		return x != ""
	case []string:
		return len(x) > 0
	case map[string]string:
		return len(x) > 0
	}
	return false
}

// Names lists the fields set, sorted.
func (v Values) Names() []string {
	names := make([]string, 0, len(v))
	for k := range v {
		if v.Has(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

// Clone copies v deeply enough that the copy's values may be replaced or
// modified without touching v's.
func (v Values) Clone() Values {
	if v == nil {
		return nil
	}
	out := make(Values, len(v))
	for k, x := range v {
		switch x := x.(type) {
		case []string:
			out[k] = slices.Clone(x)
		case map[string]string:
			out[k] = maps.Clone(x)
		default:
			out[k] = x
		}
	}
	return out
}

// With returns a copy of v with every value of overlay in place.
func (v Values) With(overlay Values) Values {
	out := v.Clone()
	if out == nil && len(overlay) > 0 {
		out = Values{}
	}
	for k, x := range overlay.Clone() {
		out[k] = x
	}
	return out
}

// UnmarshalJSON decodes strings, lists of strings and objects of strings
// into the types Values holds.
func (v *Values) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*v = nil
		return nil
	}
	out := make(Values, len(raw))
	for k, r := range raw {
		x, err := decodeValue(r)
		if err != nil {
			return fmt.Errorf("field %s: %w", k, err)
		}
		if x != nil {
			out[k] = x
		}
	}
	*v = out
	return nil
}

func decodeValue(r json.RawMessage) (any, error) {
	if string(r) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s, nil
	}
	var l []string
	if json.Unmarshal(r, &l) == nil {
		return l, nil
	}
	var m map[string]string
	if json.Unmarshal(r, &m) == nil {
		return m, nil
	}
	return nil, fmt.Errorf("holds %s, not a string, a list of strings or an object of strings", jsonKind(r))
}

// jsonKind names the kind of a JSON value, never its content: the value
// may be a secret.
func jsonKind(r json.RawMessage) string {
	s := strings.TrimSpace(string(r))
	switch {
	case strings.HasPrefix(s, "["):
		return "a list holding something else"
	case strings.HasPrefix(s, "{"):
		return "an object holding something else"
	case s == "true" || s == "false":
		return "true or false"
	}
	return "a number"
}
