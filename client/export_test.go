package client

import "slices"

// CheckError names the field whose declared check refused a value.
type CheckError struct{ Field, Msg string }

func (e *CheckError) Error() string { return e.Field + " " + e.Msg }

// Validate runs v's declarations over c as the plugin's role write does:
// the address (CheckURL), then every declared field's Required, Allowed
// and Check, in declaration order. Test only: the plugin derives its own.
func Validate(v Vendor, c Creds) error {
	addr := AddressField(v)
	if err := CheckURL(c.BaseURL, addr.Kind == KindAddressQuery); err != nil {
		return &CheckError{addr.Name, err.Error()}
	}
	for _, f := range v.Fields() {
		var val any
		switch {
		case f.Name == addr.Name:
			val = c.BaseURL
		case f.Name == FieldClientID:
			val = c.ClientID
		case Common(f.Name):
			continue
		default:
			if !c.Fields.Has(f.Name) {
				if f.Required {
					return &CheckError{f.Name, "is required"}
				}
				continue
			}
			val = c.Fields[f.Name]
		}
		if s, ok := val.(string); ok && len(f.Allowed) > 0 && !slices.Contains(f.Allowed, s) {
			return &CheckError{f.Name, "is not allowed"}
		}
		if f.Check != nil {
			if err := f.Check(val); err != nil {
				return &CheckError{f.Name, err.Error()}
			}
		}
	}
	return nil
}
