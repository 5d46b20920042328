package vendortest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ManifestFile is the name of the file vendor-sim writes into its -dir once
// every fake listens. Its appearing is the signal that the simulator is up
// (scripts/dev.sh waits for it).
const ManifestFile = "sim.json"

// Manifest describes a running vendor-sim: where its CA is, where its
// control API listens, and where each vendor's fake listens. It is the one
// definition of sim.json; vendor-sim writes it and the tests read it.
type Manifest struct {
	// CAFile is the PEM file of the CA that signed every fake's certificate.
	CAFile string `json:"ca_file"`
	// ControlURL is the base URL of ControlHandler.
	ControlURL string `json:"control_url"`
	// Vendors holds each fake by vendor name.
	Vendors map[string]ManifestVendor `json:"vendors"`
}

// ManifestVendor is one simulated vendor in a Manifest.
type ManifestVendor struct {
	// BaseURL is the vendor's base URL (for oauth2 the token URL is
	// BaseURL+OAuth2TokenPath).
	BaseURL string `json:"base_url"`
	// APIMethod and APIPath name the authenticated API that answers 200
	// for a live token (APIEndpoint).
	APIMethod string `json:"api_method"`
	APIPath   string `json:"api_path"`
	// RoleFile is a demo role for the vendor, as `vault write` takes it.
	RoleFile string `json:"role_file"`
}

// WriteManifest writes m to dir/ManifestFile. It writes a temporary file
// first and renames it, so a reader never sees half a manifest.
func WriteManifest(dir string, m Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ManifestFile+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ManifestFile))
}

// ReadManifest reads dir/ManifestFile. The error wraps fs.ErrNotExist while
// vendor-sim has not written it yet.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if m.CAFile == "" || m.ControlURL == "" || len(m.Vendors) == 0 {
		return m, errors.New(ManifestFile + ": no CA file, control URL or vendor")
	}
	return m, nil
}
