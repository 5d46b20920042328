package vendor

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// inputRoute is one path's pattern with its sensitive fields, to refuse
// such a field of the wrong type before the framework quotes its value.
type inputRoute struct {
	re        *regexp.Regexp
	sensitive []string
	schema    map[string]*framework.FieldSchema
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
		r := inputRoute{re: regexp.MustCompile(pattern), schema: p.Fields}
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
// see: a role name over maxNameLen, or a sensitive field of the wrong type,
// which the framework's conversion error would quote. Empty means none.
func (b *backend) refuseInput(req *logical.Request) string {
	for _, prefix := range []string{"roles/", "token/", "rotate-role/"} {
		if name, ok := strings.CutPrefix(req.Path, prefix); ok && len(name) > maxNameLen {
			return fmt.Sprintf("name is %d characters long; role names are at most %d characters", len(name), maxNameLen)
		}
	}
	if len(req.Data) == 0 {
		return ""
	}
	for _, r := range b.inputRoutes {
		if !r.re.MatchString(req.Path) {
			continue
		}
		for _, name := range r.sensitive {
			v, ok := req.Data[name]
			if !ok || v == nil {
				continue
			}
			if !fitsType(v, r.schema[name]) {
				return fmt.Sprintf("%s must be a %s, not %s; its value is not repeated here", name, r.schema[name].Type, kindOf(v))
			}
		}
		return ""
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
