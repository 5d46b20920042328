package vendor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// scanWorkers bounds the role reads a scan has in flight: enough to hide
// storage latency (each read is an RPC to Vault), few enough not to crowd
// out token reads on a mount with ten thousand roles.
const scanWorkers = 8

// scanRoles lists the roles and reads each one, scanWorkers at a time.
// visit is called once per listed name, from several goroutines at once,
// with the name's index in the returned list: with the role's summary
// (only the fields of scannedRole are set), with nil and a nil error if
// it was deleted after the list, or with the error that decoding it gave
// (one broken role does not stop a scan). A storage error, or the end of
// ctx, stops the scan and is returned.
func scanRoles(ctx context.Context, s logical.Storage, visit func(i int, name string, r *roleEntry, decodeErr error)) ([]string, error) {
	names, err := s.List(ctx, roleStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	if len(names) == 0 {
		return names, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancel()
	}
	// Workers pull the next index rather than one goroutine per role, so a
	// scan of many roles allocates no more goroutines than scanWorkers.
	workers := min(scanWorkers, len(names))
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				name := names[i]
				entry, err := s.Get(ctx, roleStoragePrefix+name)
				if err != nil {
					fail(fmt.Errorf("reading role %q: %w", name, err))
					return
				}
				if entry == nil {
					visit(i, name, nil, nil)
					continue
				}
				r, err := decodeSummary(entry)
				visit(i, name, r, err)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return names, nil
}

// scannedRole is what a scan reads of a role: the fields the list and the
// config check use. Decoding only these skips the CA, the vendor fields,
// the retired hashes and the pending secret, and the legacy second pass,
// which cost most of a list of many roles.
type scannedRole struct {
	Vendor              string        `json:"vendor"`
	URL                 string        `json:"url"`
	ClientID            string        `json:"client_id"`
	RotationPeriod      time.Duration `json:"rotation_period"`
	RotationRole        string        `json:"rotation_role"`
	CreatedAt           time.Time     `json:"created_at"`
	LastRotated         time.Time     `json:"last_rotated"`
	LastRotationError   string        `json:"last_rotation_error"`
	LastRotationAttempt time.Time     `json:"last_rotation_attempt"`
}

// decodeSummary decodes the scanned fields of a stored role into a
// roleEntry (so that its methods, such as dueAt, apply); the other fields
// stay empty. An entry Vault stored compressed takes the full decoder.
func decodeSummary(entry *logical.StorageEntry) (*roleEntry, error) {
	var s scannedRole
	if len(entry.Value) > 0 && entry.Value[0] == '{' {
		if err := json.Unmarshal(entry.Value, &s); err != nil {
			return nil, err
		}
	} else {
		var full roleEntry
		if err := entry.DecodeJSON(&full); err != nil {
			return nil, err
		}
		return &full, nil
	}
	return &roleEntry{
		Vendor: s.Vendor, URL: s.URL, ClientID: s.ClientID,
		RotationPeriod: s.RotationPeriod, RotationRole: s.RotationRole,
		CreatedAt: s.CreatedAt, LastRotated: s.LastRotated,
		LastRotationError: s.LastRotationError, LastRotationAttempt: s.LastRotationAttempt,
	}, nil
}
