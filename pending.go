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

// legacyTop holds the vendor fields that versions before roleEntry.Fields
// stored at the top level of a role and of its pending secret.
type legacyTop struct {
	OAuthClientID     json.RawMessage `json:"oauth_client_id"`
	OAuthClientSecret json.RawMessage `json:"oauth_client_secret"`
	AuthMethod        json.RawMessage `json:"auth_method"`
	Scopes            json.RawMessage `json:"scopes"`
	Audience          json.RawMessage `json:"audience"`
	AuthStyle         json.RawMessage `json:"auth_style"`
	TokenParams       json.RawMessage `json:"token_params"`
}

// into adds the legacy fields to fields, where fields does not have them
// already.
func (l *legacyTop) into(fields client.Values) (client.Values, error) {
	for _, kv := range []struct {
		name string
		raw  json.RawMessage
	}{
		{"oauth_client_id", l.OAuthClientID}, {"oauth_client_secret", l.OAuthClientSecret},
		{"auth_method", l.AuthMethod}, {"scopes", l.Scopes}, {"audience", l.Audience},
		{"auth_style", l.AuthStyle}, {"token_params", l.TokenParams},
	} {
		if len(kv.raw) == 0 || fields.Has(kv.name) {
			continue
		}
		var one client.Values
		if err := json.Unmarshal([]byte(`{"v":`+string(kv.raw)+`}`), &one); err != nil {
			return nil, err
		}
		if !one.Has("v") {
			continue
		}
		if fields == nil {
			fields = client.Values{}
		}
		fields[kv.name] = one["v"]
	}
	return fields, nil
}

// decodeEntry decodes data into dst, a plain copy of an entry type, then
// adds to *fields the vendor fields older versions stored at the top level.
// The second pass reads only those keys and allocates nothing for a role
// of today's shape.
func decodeEntry(data []byte, dst any, fields *client.Values) error {
	if err := json.Unmarshal(data, dst); err != nil {
		return err
	}
	var old legacyTop
	if err := json.Unmarshal(data, &old); err != nil {
		return err
	}
	f, err := old.into(*fields)
	if err != nil {
		return err
	}
	*fields = f
	return nil
}

func (p *pendingSecret) UnmarshalJSON(data []byte) error {
	type plain pendingSecret
	return decodeEntry(data, (*plain)(p), &p.Fields)
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
	return decodeEntry(data, (*plain)(r), &r.Fields)
}
