package vendor

import (
	"context"
	"fmt"
)

// What to do with an unfinished rotation is decided by decide, from what
// is known, and carried out by drive, the one loop: it asks the vendor
// only what the next decision needs, and acts on verdicts until one ends
// the rotation.

// answer is what the vendor said of one secret.
type answer int

const (
	unasked    answer = iota // not tried yet
	absent                   // no such secret: nothing is pending
	accepted                 // it minted
	refused                  // the vendor said no
	unanswered               // no definite answer: unreachable, a 5xx, a logon held back
)

func answerOf(err error) answer {
	switch {
	case err == nil:
		return accepted
	case vendorRefused(err):
		return refused
	}
	return unanswered
}

// facts are what is known of an unfinished rotation.
type facts struct {
	stuck    bool   // a rotation lost the role's secret; no operator has written it since
	finished bool   // the role records this rotation as done: only its cleanup may be left
	unsaved  bool   // this node holds a vendor-made secret that storage does not
	pending  answer // the vendor's word on the pending secret (absent: none is pending)
	current  answer // the vendor's word on the role's current secret
	// refusedChange: the vendor refused the change call outright, so it
	// will not apply the change late.
	refusedChange bool
	young         bool // the pending secret is younger than pendingGrace
	self          bool // the role rotates itself
	evidence      bool // this plugin's records show a rotation of the role's account
	rerunLeft     bool // an admin re-run is still allowed
}

// verdict is what decide says to do next.
type verdict int

const (
	verdictStuck        verdict = iota + 1 // try nothing: the role says why
	verdictFinish                          // only the cleanup is left
	verdictStoreUnsaved                    // store this node's unsaved secret as pending
	verdictAskPending                      // try the pending secret
	verdictAskCurrent                      // try the current secret
	verdictPromote                         // the vendor takes the pending secret: switch to it
	verdictWait                            // keep the pending secret: the vendor may apply the change late
	verdictUndo                            // the vendor takes the current secret: drop the pending one
	verdictRetry                           // no definite answer: Vault retries later
	verdictRerun                           // both refused: the admin rotates afresh
	verdictLost                            // both refused, nobody may replace the secret: record it lost
	verdictGiveUp                          // both refused after the admin's re-run: report, retry later
)

var verdictNames = [...]string{"", "stuck", "finish", "store-unsaved", "ask-pending", "ask-current", "promote", "wait", "undo", "retry", "rerun", "lost", "give-up"}

func (v verdict) String() string {
	if v > 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// decide says what to do with an unfinished rotation. It is pure: the
// vendor is asked only when it returns verdictAsk*.
func decide(f facts) verdict {
	switch {
	case f.stuck:
		return verdictStuck
	case f.finished:
		return verdictFinish
	case f.unsaved && f.pending == absent:
		return verdictStoreUnsaved
	case f.pending == unasked:
		return verdictAskPending
	case f.pending == accepted:
		return verdictPromote
	case f.current == unasked:
		return verdictAskCurrent
	case f.current == accepted && f.pending != absent && f.young && !f.refusedChange:
		return verdictWait
	case f.current == accepted:
		return verdictUndo
	case f.pending == unanswered || f.current == unanswered:
		// One secret refused and the other unreachable is no proof that
		// both are dead: the unreachable one may be the only valid one.
		return verdictRetry
	case f.self || !f.evidence:
		return verdictLost
	case f.rerunLeft:
		return verdictRerun
	}
	return verdictGiveUp
}

// answers are what the vendor said this round, with its errors for the
// messages.
type answers struct {
	pending, current answer
	errP, errC       error
}

// facts gathers what is known now.
func (rt *rotation) facts(a answers) facts {
	p := rt.role.Pending
	f := facts{
		stuck:         rt.role.stuck(),
		finished:      p == nil && rt.w.ID != "" && rt.role.LastRotationID == rt.w.ID,
		unsaved:       rt.b.unsavedFor(rt.name) != nil,
		pending:       a.pending,
		current:       a.current,
		refusedChange: rt.refused,
		self:          rt.by.Self,
		evidence:      rt.evidence,
		rerunLeft:     rt.reruns > 0,
	}
	if p == nil {
		f.pending = absent
	} else {
		f.young = rt.b.now().Sub(p.Since) < pendingGrace
	}
	return f
}

// why both secrets are dead, in the vendor's words.
func (rt *rotation) why(a answers) error {
	if rt.role.Pending == nil {
		return fmt.Errorf("the current secret is no longer accepted: %w", a.errC)
	}
	return fmt.Errorf("neither the pending nor the current secret is accepted: pending: %v; current: %w", a.errP, a.errC)
}

// flowFrame is a flow the loop began. When the loop ends, each frame, the
// newest first, says how its flow ended.
type flowFrame struct {
	cause error // what stopped the flow part-way; nil while it has not
	why   error // for an admin re-run: why the secret had to be replaced
	mark  int   // for an admin re-run: its first WAL entry
}

// rotate begins a rotation and carries it to its end.
func (rt *rotation) rotate(ctx context.Context) error { return rt.drive(ctx, true) }

// settle decides an unfinished rotation and carries the verdicts out.
func (rt *rotation) settle(ctx context.Context) error { return rt.drive(ctx, false) }

// drive is the one loop. It begins a flow if asked; whenever a flow stops
// unsettled, or there is a rotation to settle, it asks decide what to do
// and does it, until a verdict ends the rotation.
func (rt *rotation) drive(ctx context.Context, begin bool) error {
	var frames []*flowFrame
	if begin {
		frames = append(frames, &flowFrame{})
	}
	var a answers
	var err error
loop:
	for {
		if begin {
			begin = false
			ferr := rt.start(ctx)
			u, ok := ferr.(*unsettled)
			if !ok {
				err = ferr
				break loop
			}
			frames[len(frames)-1].cause = u.cause
			a = answers{}
			continue
		}
		switch v := decide(rt.facts(a)); v {
		case verdictStoreUnsaved:
			if p := rt.b.unsavedFor(rt.name); p != nil {
				if err = rt.storePendingAs(ctx, p); err != nil {
					break loop
				}
			}
		case verdictAskPending:
			a.errP = rt.prove(ctx, rt.role.pendingCreds(rt.role.Pending))
			a.pending = answerOf(a.errP)
		case verdictAskCurrent:
			a.errC = rt.prove(ctx, rt.role.creds())
			a.current = answerOf(a.errC)
		case verdictRerun:
			why := rt.why(a)
			rt.reruns--
			if err = rt.clearPending(ctx); err != nil {
				break loop
			}
			rt.walBase = len(rt.walIDs)
			frames = append(frames, &flowFrame{why: why, mark: rt.walBase})
			begin = true
		default:
			err = rt.carryOut(ctx, v, a)
			break loop
		}
	}
	for i := len(frames) - 1; i >= 0; i-- {
		err = rt.close(ctx, frames[i], err)
	}
	return err
}

// carryOut acts on a verdict that ends the rotation.
func (rt *rotation) carryOut(ctx context.Context, v verdict, a answers) error {
	switch v {
	case verdictStuck:
		return rt.role.stuckError()
	case verdictFinish:
		return rt.finish(ctx)
	case verdictPromote:
		return rt.promote(ctx)
	case verdictWait:
		wait := pendingGrace - rt.b.now().Sub(rt.role.Pending.Since)
		return fmt.Errorf("the vendor still takes the current secret; the new one is kept for %s more in case the vendor applies the change late, and Vault will retry", durText(wait))
	case verdictUndo:
		rt.outcome = outcomeUndone
		if p := rt.role.Pending; p != nil && p.ClientID != "" && p.ClientID != rt.role.ClientID {
			rt.dropped = append(rt.dropped, p.ClientID)
		}
		if err := rt.clearPending(ctx); err != nil {
			return err
		}
		return rt.finish(ctx)
	case verdictRetry:
		if rt.role.Pending == nil {
			return fmt.Errorf("%w; Vault will retry", a.errC)
		}
		return fmt.Errorf("the vendor could not say which secret is valid, and Vault will retry: pending: %v; current: %v", a.errP, a.errC)
	case verdictLost:
		return rt.markLost(ctx, rt.why(a))
	case verdictGiveUp:
		return fmt.Errorf("%w; the role cannot mint until its secret is replaced: write a new client_secret to the role, or rotate it again through its rotation_role", rt.why(a))
	}
	return fmt.Errorf("rotation: no action for verdict %s", v)
}

// close says how a frame's flow ended, given how the loop ended (err).
func (rt *rotation) close(ctx context.Context, fr *flowFrame, err error) error {
	if fr.cause != nil {
		switch {
		case err != nil:
			// Whether the caller must act is the settling error's to say.
			err = fmt.Errorf("%v; the rotation is not settled: %w", fr.cause, err)
		case rt.outcome == outcomeRotated:
			rt.warn = append(rt.warn, fmt.Sprintf("the rotation hit an error (%v) but the new secret works and is in use", fr.cause))
		default:
			err = fr.cause
		}
	}
	if fr.why == nil || err == nil {
		return err
	}
	// A failed admin re-run's WAL entries go at once: the rotation it
	// replaced keeps its own, and settling those settles whatever the
	// re-run left, so retries do not multiply.
	rt.dropIntentFrom(ctx, fr.mark)
	err = fmt.Errorf("%v; an admin rotation to replace it failed: %w", fr.why, err)
	if rejected(err) {
		// Refused, not unreachable: retrying would only prove the same
		// dead secrets again.
		return rt.markLost(ctx, err)
	}
	return err
}
