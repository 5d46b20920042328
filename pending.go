package vendor

import (
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// pendingSecret is a new secret not yet proved, kept in the role entry.
type pendingSecret struct {
	RotationID        string    `json:"rotation_id"`
	ClientID          string    `json:"client_id,omitempty"` // privx: the replacement client
	ClientSecret      string    `json:"client_secret"`
	OAuthClientID     string    `json:"oauth_client_id,omitempty"`
	OAuthClientSecret string    `json:"oauth_client_secret,omitempty"`
	Since             time.Time `json:"since"`
}

// pendingCreds are the role's credentials with the pending secret in place.
func (r *roleEntry) pendingCreds(p *pendingSecret) client.Creds {
	c := r.creds()
	if p.ClientID != "" {
		c.ClientID = p.ClientID
	}
	c.ClientSecret = p.ClientSecret
	if p.OAuthClientID != "" {
		c.OAuthClientID, c.OAuthClientSecret = p.OAuthClientID, p.OAuthClientSecret
	}
	return c
}

func (r *roleEntry) adopt(p *pendingSecret) {
	if p.ClientID != "" {
		r.ClientID = p.ClientID
	}
	r.ClientSecret = p.ClientSecret
	if p.OAuthClientID != "" {
		r.OAuthClientID, r.OAuthClientSecret = p.OAuthClientID, p.OAuthClientSecret
	}
}
