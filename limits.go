package vendor

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Limits on what a request may carry and a role may hold: nothing in the
// schedule's arithmetic can overflow, and no role outgrows what storage
// (Raft's entry limit) takes.
const (
	maxNameLen     = 128
	maxListEntries = 64 // entries of scopes and token_params
	maxRoleBytes   = 64 << 10
	// maxPeriod bounds rotation_period, token_ttl_cap, refresh_before and
	// min_remaining, far below a time.Duration's 292 years.
	maxPeriod     = 10 * 365 * 24 * time.Hour
	maxPeriodText = "10 years (87600h)"
)

// seconds turns a field's whole seconds into a Duration, refusing a
// negative value or one over limit before multiplying, so nothing wraps.
func seconds(field string, secs int, limit time.Duration, limitText string) (time.Duration, error) {
	if secs < 0 {
		return 0, &inputError{Field: field, Msg: "must not be negative"}
	}
	if secs > int(limit/time.Second) {
		return 0, &inputError{Field: field, Msg: "must be at most " + limitText}
	}
	return time.Duration(secs) * time.Second, nil
}

// checkRoleSize refuses a role that would be stored as more than
// maxRoleBytes, naming the fields that make it large.
func checkRoleSize(r *roleEntry) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(raw) <= maxRoleBytes {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	type sized struct {
		name string
		n    int
	}
	// The vendor's fields count one by one, as the role writer gave them.
	if raw, ok := fields["fields"]; ok {
		delete(fields, "fields")
		var own map[string]json.RawMessage
		if err := json.Unmarshal(raw, &own); err != nil {
			return err
		}
		for k, v := range own {
			if _, common := fields[k]; !common {
				fields[k] = v
			}
		}
	}
	var big []sized
	for k, v := range fields {
		switch {
		case k == "client_secret" || k == "pending" || isSecretField(k):
			continue // small by their own limits; their sizes are nobody's business
		case k == "url":
			k = urlField(r.Vendor)
		}
		if len(v) > maxFieldLen {
			big = append(big, sized{k, len(v)})
		}
	}
	sort.Slice(big, func(i, j int) bool { return big[i].n > big[j].n || big[i].n == big[j].n && big[i].name < big[j].name })
	names := make([]string, len(big))
	for i, s := range big {
		names[i] = fmt.Sprintf("%s (%d bytes)", s.name, s.n)
	}
	if len(names) == 0 {
		names = []string{"the role's fields"}
	}
	return &inputError{Field: strings.Join(names, ", "), Msg: fmt.Sprintf(
		"would make the role %d bytes as stored, over the 64 KiB (%d bytes) a role may hold; shorten them", len(raw), maxRoleBytes)}
}

// checkList refuses a scopes or token_params list over the limits; sizes
// are the lengths of its entries (keys and values).
func checkList(field string, n int, sizes []int) error {
	if n > maxListEntries {
		return &inputError{Field: field, Msg: fmt.Sprintf("has %d entries; at most %d are allowed", n, maxListEntries)}
	}
	for _, size := range sizes {
		if size > maxFieldLen {
			return &inputError{Field: field, Msg: fmt.Sprintf("has an entry of %d bytes; each (key and value) is at most %d bytes", size, maxFieldLen)}
		}
	}
	return nil
}
