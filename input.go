package vendor

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// inputRoute is one path's pattern with its sensitive fields, to refuse
// such a field of the wrong type before the framework quotes its value.
type inputRoute struct {
	re        *regexp.Regexp
	sensitive []string
	schema    map[string]*framework.FieldSchema
	// ops are the operations the path takes; another operation is left to
	// the framework (and HandleRequest), which say what the path takes.
	ops map[logical.Operation]bool
	// takes narrows the schema for an operation that uses less of it: on
	// a path that is also written, a read takes no field and a delete only
	// force; the framework would pass them every field of the path.
	takes map[logical.Operation]map[string]*framework.FieldSchema
}

// inputRoutes lists the paths in the framework's order: the first match is
// the path that takes a request.
func inputRoutes(paths []*framework.Path) []inputRoute {
	out := make([]inputRoute, 0, len(paths))
	for _, p := range paths {
		pattern := p.Pattern
		if !strings.HasPrefix(pattern, "^") {
			pattern = "^" + pattern
		}
		if !strings.HasSuffix(pattern, "$") {
			pattern += "$"
		}
		r := inputRoute{re: regexp.MustCompile(pattern), schema: p.Fields, ops: map[logical.Operation]bool{}}
		for op, h := range p.Operations {
			// An unpublished operation only refuses the request (roles/
			// without a name): its own answer says more than a field list.
			r.ops[op] = !h.Properties().Unpublished
		}
		for op := range p.Callbacks {
			r.ops[op] = true
		}
		if r.ops[logical.UpdateOperation] && p.ExistenceCheck != nil {
			// Vault sends a write to a path with an existence check as a
			// create when the entry does not exist.
			r.ops[logical.CreateOperation] = true
		}
		if r.ops[logical.UpdateOperation] || r.ops[logical.CreateOperation] {
			r.takes = map[logical.Operation]map[string]*framework.FieldSchema{
				logical.ReadOperation:   fieldsNamed(p.Fields, "name"),
				logical.DeleteOperation: fieldsNamed(p.Fields, "name", "force"),
			}
		}
		for name, f := range p.Fields {
			if f.DisplayAttrs != nil && f.DisplayAttrs.Sensitive {
				r.sensitive = append(r.sensitive, name)
			}
		}
		sort.Strings(r.sensitive)
		out = append(out, r)
	}
	return out
}

// refuseInput says what is wrong with a request the framework must not
// see: a role name over maxNameLen, a parameter the path does not take
// (the framework would only warn, and a typo of min_remaining would pass
// unnoticed), or a value that does not parse as its field's type, which
// the framework would answer with its own conversion error (quoting a
// sensitive value, and naming no accepted form). Empty means none.
func (b *backend) refuseInput(req *logical.Request) string {
	for _, prefix := range namedPaths {
		name, ok := strings.CutPrefix(req.Path, prefix)
		if !ok {
			continue
		}
		if len(name) > maxNameLen {
			return fmt.Sprintf("name is %d characters long; role names are at most %d characters", len(name), maxNameLen)
		}
		if strings.Contains(name, "..") {
			// The name pattern takes it, but Vault's storage refuses a
			// key with ".." in it.
			return nameRefusalText(name)
		}
	}
	// The hot token read carries no parameters: nothing below runs for it.
	if len(req.Data) == 0 || req.Operation == logical.HelpOperation {
		return ""
	}
	for i := range b.inputRoutes {
		if r := &b.inputRoutes[i]; r.re.MatchString(req.Path) {
			if !r.ops[req.Operation] {
				return ""
			}
			return r.refuse(req.Operation, req.Data)
		}
	}
	return ""
}

// fieldsNamed is the part of schema with the given names.
func fieldsNamed(schema map[string]*framework.FieldSchema, names ...string) map[string]*framework.FieldSchema {
	out := map[string]*framework.FieldSchema{}
	for _, n := range names {
		if f, ok := schema[n]; ok {
			out[n] = f
		}
	}
	return out
}

// maxUnknownNamed caps the unknown parameters a message lists.
const maxUnknownNamed = 20

// refuse checks data against the route's schema: every key a field of
// it, every value of its field's type. The path's captured segments (the
// role name) come from the path, not from data.
func (r *inputRoute) refuse(op logical.Operation, data map[string]any) string {
	schema, what := r.schema, "this path"
	if s, ok := r.takes[op]; ok {
		schema, what = s, "a "+string(op)+" of this path"
	}
	keys := make([]string, 0, len(data))
	var unknown []string
	for k := range data {
		if _, ok := schema[k]; ok {
			keys = append(keys, k)
		} else {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return unknownParams(unknown, schema, what)
	}
	sort.Strings(keys)
	for _, name := range keys {
		v := data[name]
		if v == nil {
			continue
		}
		f := r.schema[name]
		if msg := badValue(name, v, f, slices.Contains(r.sensitive, name)); msg != "" {
			return msg
		}
	}
	return ""
}

// unknownParams names the parameters a path does not take, and the ones
// it does, so that a misspelt one can be corrected.
func unknownParams(unknown []string, schema map[string]*framework.FieldSchema, path string) string {
	sort.Strings(unknown)
	more := len(unknown) - maxUnknownNamed
	if more > 0 {
		unknown = unknown[:maxUnknownNamed]
	}
	named := make([]string, len(unknown))
	for i, k := range unknown {
		named[i] = clipText(k, 100)
	}
	list := strings.Join(named, ", ")
	if more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	what := "is an unknown field"
	if len(unknown) > 1 {
		what = "are unknown fields"
	}
	takes := schemaNames(schema)
	if len(takes) == 0 {
		return fmt.Sprintf("%s %s; %s takes no fields: leave them out", list, what, path)
	}
	return fmt.Sprintf("%s %s; %s takes: %s (check the spelling)", list, what, path, strings.Join(takes, ", "))
}

// Accepted forms of the typed fields, as the framework parses them
// (parseutil.ParseDurationSecond: integer seconds, a Go duration, or
// integer days with "d"; mapstructure's weak decoding for the others).
const (
	durationForms = "give seconds (86400) or a number with a unit: s, m, h or d (90s, 15m, 24h, 1d)"
	boolForms     = "give true or false"
	intForms      = "give a whole number in digits, such as 3"
)

// badValue says what is wrong with v as a value of field f, or "". A
// sensitive field's value is never repeated.
func badValue(name string, v any, f *framework.FieldSchema, sensitive bool) string {
	if f.Type == framework.TypeCommaStringSlice {
		if msg := spacedEntry(name, v, sensitive); msg != "" {
			return msg
		}
	}
	if sensitive && !fitsType(v, f) {
		return fmt.Sprintf("%s must be a %s, not %s; its value is not repeated here", name, f.Type, kindOf(v))
	}
	if sensitive || parses(v, f) {
		return ""
	}
	// A string is quoted (cut short); any other value is named by kind.
	shown := "given as " + kindOf(v)
	if s, ok := v.(string); ok {
		shown = strconv.Quote(clipText(s, 100))
	}
	switch f.Type {
	case framework.TypeDurationSecond, framework.TypeSignedDurationSecond:
		if d, err := parseutil.ParseDurationSecond(v); err == nil && d < 0 {
			return fmt.Sprintf("%s %s is negative: give 0 or more; %s", name, durText(d), durationForms)
		}
		return fmt.Sprintf("%s %s is not a duration: %s", name, shown, durationForms)
	case framework.TypeBool:
		return fmt.Sprintf("%s %s is not true or false: %s", name, shown, boolForms)
	case framework.TypeInt, framework.TypeInt64:
		return fmt.Sprintf("%s %s is not a whole number: %s", name, shown, intForms)
	case framework.TypeCommaStringSlice:
		return fmt.Sprintf("%s %s is not a list: give comma-separated values, such as %s=a,b", name, shown, name)
	case framework.TypeKVPairs:
		return fmt.Sprintf("%s %s is not a set of key=value pairs: give them as %s=key1=value1,key2=value2 or a JSON object of strings", name, shown, name)
	}
	return fmt.Sprintf("%s must be a %s, not %s", name, f.Type, kindOf(v))
}

// spacedEntry refuses a list entry with a space inside it: every list
// field here (hosts, scopes, role names) takes entries without spaces, so
// "read write" is a list written with the wrong separator.
func spacedEntry(name string, v any, sensitive bool) string {
	var entries []string
	switch x := v.(type) {
	case string:
		entries = strings.Split(x, ",")
	case []string:
		entries = x
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				entries = append(entries, s)
			}
		}
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if strings.IndexFunc(e, unicode.IsSpace) < 0 {
			continue
		}
		if sensitive {
			return fmt.Sprintf("%s has an entry with a space in it; %s is comma-separated: give %s=a,b", name, name, name)
		}
		return fmt.Sprintf("%s entry %s has a space in it; %s is comma-separated: give %s=%s", name,
			strconv.Quote(clipText(e, 100)), name, name, clipText(strings.Join(strings.Fields(e), ","), 100))
	}
	return ""
}

// fitsType reports whether v is a value of the field's type; text fields
// take only a JSON string, where the framework would also turn a number
// into text.
func fitsType(v any, f *framework.FieldSchema) bool {
	switch f.Type {
	case framework.TypeString, framework.TypeLowerCaseString, framework.TypeNameString:
		_, ok := v.(string)
		return ok
	}
	return parses(v, f)
}

// parses reports whether the framework can convert v to the field's type.
func parses(v any, f *framework.FieldSchema) bool {
	fd := &framework.FieldData{Raw: map[string]any{"f": v}, Schema: map[string]*framework.FieldSchema{"f": f}}
	return fd.Validate() == nil
}

// kindOf names a JSON value's type, never its content.
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "true or false"
	case json.Number, float64, float32, int, int64, int32, uint, uint64, uint32:
		return "a number"
	case []any, []string, []map[string]any:
		return "a list"
	case map[string]any, map[string]string:
		return "a map"
	}
	return "another type"
}
