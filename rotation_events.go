package vendor

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// rotationDone records how a rotation ended: on the role, in the log, in
// the metrics and as a Vault event. None of them carries a secret: errors
// from the client are already scrubbed of every secret the call knew.
func (b *backend) rotationDone(ctx context.Context, s logical.Storage, name, vendor, trigger string, rt *rotation, err error) {
	if !recorded(err) {
		return
	}
	b.metrics.rotation(vendor, trigger, rotationOutcome(rt, err))
	log := b.Logger().With("role", name, "vendor", vendor, "trigger", trigger)
	if err == nil {
		if rt != nil && rt.outcome == outcomeUndone {
			log.Info("unfinished rotation undone; the role keeps its secret")
			return
		}
		log.Info("rotation succeeded")
		b.sendEvent(ctx, "vendor/rotate", name, vendor, trigger, "")
		return
	}
	log.Warn("rotation failed", "error", err.Error())
	b.sendEvent(ctx, "vendor/rotate-fail", name, vendor, trigger, err.Error())
	// Record the failure on the role for role reads and the schedule. The
	// cached token stays: the secret did not change, and a token that is
	// still good is what carries readers through a vendor outage.
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	role, gerr := getRole(pctx, s, name)
	if gerr != nil || role == nil {
		return
	}
	role.LastRotationError = clipText(err.Error(), 1000)
	role.LastRotationAttempt = b.now().UTC()
	if perr := putRole(pctx, s, name, role); perr != nil {
		log.Warn("recording the rotation failure failed", "error", perr.Error())
	}
}

// rotationOutcome names how a rotation ended, for the rotations counter.
func rotationOutcome(rt *rotation, err error) string {
	switch {
	case rt != nil && rt.outcome == outcomeLost:
		return rotLost
	case err != nil:
		return rotFailed
	case rt != nil && rt.outcome == outcomeUndone:
		return rotUndone
	}
	return rotOK
}

// recorded: rotationDone logs err and records it on the role. It does
// not for a rotation that did not begin (not due, or stuck: the role
// already says why) or that a test stopped dead.
func recorded(err error) bool {
	var stuck *errStuck
	return !errors.Is(err, errAbandoned) && !errors.Is(err, errNotDue) && !errors.As(err, &stuck)
}

func (b *backend) sendEvent(ctx context.Context, typ, name, vendor, trigger, errText string) {
	pairs := []string{
		logical.EventMetadataPath, "rotate-role/" + name,
		logical.EventMetadataDataPath, "roles/" + name,
		logical.EventMetadataOperation, "rotate",
		logical.EventMetadataModified, fmt.Sprint(errText == ""),
		"role", name, "vendor", vendor, "trigger", trigger,
	}
	if errText != "" {
		pairs = append(pairs, "error", clipText(errText, 1000))
	}
	if err := logical.SendEvent(ctx, b.Backend, typ, pairs...); err != nil && !errors.Is(err, framework.ErrNoEvents) {
		b.Logger().Debug("sending event failed", "type", typ, "error", err.Error())
	}
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a character boundary: half a character would be invalid text.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
