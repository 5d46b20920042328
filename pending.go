package vendor

import (
	"encoding/json"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// pendingSecret is a new secret not yet proved, kept in the role entry.
type pendingSecret struct {
	RotationID string `json:"rotation_id"`
	// ClientID is a replacement client's id, when rotation made one.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret"`
	// Fields overlay the role's vendor fields: a replacement client's
	// own, such as the OAuth client that fronts it.
	Fields client.Values `json:"fields,omitempty"`
	Since  time.Time     `json:"since"`
}

// legacyFieldKeys are the vendor fields that versions before
// roleEntry.Fields stored at the top level of a role and of its pending
// secret; they decode into Fields.
var legacyFieldKeys = []string{"oauth_client_id", "oauth_client_secret", "auth_method", "scopes", "audience", "auth_style", "token_params"}

// legacyFields reads the legacy top-level vendor fields of data into
// fields, where fields does not have them already.
func legacyFields(data []byte, fields client.Values) (client.Values, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	old := map[string]json.RawMessage{}
	for _, k := range legacyFieldKeys {
		if raw, ok := top[k]; ok {
			old[k] = raw
		}
	}
	if len(old) == 0 {
		return fields, nil
	}
	raw, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	var vals client.Values
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, err
	}
	for _, k := range vals.Names() {
		if !fields.Has(k) {
			if fields == nil {
				fields = client.Values{}
			}
			fields[k] = vals[k]
		}
	}
	return fields, nil
}

func (p *pendingSecret) UnmarshalJSON(data []byte) error {
	type plain pendingSecret
	var q plain
	if err := json.Unmarshal(data, &q); err != nil {
		return err
	}
	fields, err := legacyFields(data, q.Fields)
	if err != nil {
		return err
	}
	q.Fields = fields
	*p = pendingSecret(q)
	return nil
}

// pendingCreds are the role's credentials with the pending secret in place.
func (r *roleEntry) pendingCreds(p *pendingSecret) client.Creds {
	c := r.creds()
	if p.ClientID != "" {
		c.ClientID = p.ClientID
	}
	c.ClientSecret = p.ClientSecret
	if len(p.Fields) > 0 {
		c.Fields = c.Fields.With(p.Fields)
	}
	return c
}

// adopt makes the pending secret the role's own.
func (r *roleEntry) adopt(p *pendingSecret) {
	if p.ClientID != "" {
		r.ClientID = p.ClientID
	}
	r.ClientSecret = p.ClientSecret
	if len(p.Fields) > 0 {
		r.Fields = r.Fields.With(p.Fields)
	}
}

// replacementPending is the pending secret of a replacement client whose
// credentials are c: its id and secret, and the vendor fields that differ
// from the role's.
func (r *roleEntry) replacementPending(c client.Creds) *pendingSecret {
	p := &pendingSecret{ClientID: c.ClientID, ClientSecret: c.ClientSecret}
	for k, v := range c.Fields {
		if !c.Fields.Has(k) {
			continue
		}
		if cur, ok := r.Fields[k]; ok && sameValue(cur, v) {
			continue
		}
		if p.Fields == nil {
			p.Fields = client.Values{}
		}
		p.Fields[k] = v
	}
	return p
}

func sameValue(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// UnmarshalJSON decodes a role, taking the vendor fields that older
// versions stored at the top level into Fields.
func (r *roleEntry) UnmarshalJSON(data []byte) error {
	type plain roleEntry
	var q plain
	if err := json.Unmarshal(data, &q); err != nil {
		return err
	}
	fields, err := legacyFields(data, q.Fields)
	if err != nil {
		return err
	}
	q.Fields = fields
	*r = roleEntry(q)
	return nil
}
