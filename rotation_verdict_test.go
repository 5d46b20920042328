package vendor

import (
	"fmt"
	"strings"
	"testing"
)

// decideTable says what decide must answer for every combination of what
// is known. A cell is "y" or "n", an answer, a list of answers joined by
// "|", or "*" for any; the test checks that each combination matches
// exactly one row, and that decide gives that row's verdict.
var decideTable = []struct {
	stuck, finished, unsaved, pending, current, refusedChange, young, self, evidence, rerunLeft string
	want                                                                                        verdict
}{
	// stuck fin unsaved pending current refused young self evidence rerun
	{"y", "*", "*", "*", "*", "*", "*", "*", "*", "*", verdictStuck},
	{"n", "y", "*", "*", "*", "*", "*", "*", "*", "*", verdictFinish},
	// A vendor-made secret only this node holds is stored first.
	{"n", "n", "y", "absent", "*", "*", "*", "*", "*", "*", verdictStoreUnsaved},
	// Ask only what the decision needs: the pending secret first.
	{"n", "n", "*", "unasked", "*", "*", "*", "*", "*", "*", verdictAskPending},
	{"n", "n", "*", "accepted", "*", "*", "*", "*", "*", "*", verdictPromote},
	{"n", "n", "n", "absent", "unasked", "*", "*", "*", "*", "*", verdictAskCurrent},
	{"n", "n", "*", "refused|unanswered", "unasked", "*", "*", "*", "*", "*", verdictAskCurrent},
	// The current secret works: keep a young pending secret unless the
	// vendor refused the change outright, else drop it.
	{"n", "n", "*", "refused|unanswered", "accepted", "n", "y", "*", "*", "*", verdictWait},
	{"n", "n", "*", "refused|unanswered", "accepted", "y", "*", "*", "*", "*", verdictUndo},
	{"n", "n", "*", "refused|unanswered", "accepted", "n", "n", "*", "*", "*", verdictUndo},
	{"n", "n", "n", "absent", "accepted", "*", "*", "*", "*", "*", verdictUndo},
	// No definite answer on one of them: nothing is known dead.
	{"n", "n", "n", "absent", "unanswered", "*", "*", "*", "*", "*", verdictRetry},
	{"n", "n", "*", "refused|unanswered", "unanswered", "*", "*", "*", "*", "*", verdictRetry},
	{"n", "n", "*", "unanswered", "refused", "*", "*", "*", "*", "*", verdictRetry},
	// Every secret refused.
	{"n", "n", "n", "absent", "refused", "*", "*", "y", "*", "*", verdictLost},
	{"n", "n", "n", "absent", "refused", "*", "*", "n", "n", "*", verdictLost},
	{"n", "n", "n", "absent", "refused", "*", "*", "n", "y", "y", verdictRerun},
	{"n", "n", "n", "absent", "refused", "*", "*", "n", "y", "n", verdictGiveUp},
	{"n", "n", "*", "refused", "refused", "*", "*", "y", "*", "*", verdictLost},
	{"n", "n", "*", "refused", "refused", "*", "*", "n", "n", "*", verdictLost},
	{"n", "n", "*", "refused", "refused", "*", "*", "n", "y", "y", verdictRerun},
	{"n", "n", "*", "refused", "refused", "*", "*", "n", "y", "n", verdictGiveUp},
}

var answerNames = map[answer]string{unasked: "unasked", absent: "absent", accepted: "accepted", refused: "refused", unanswered: "unanswered"}

func cellMatches(cell, value string) bool {
	if cell == "*" {
		return true
	}
	for _, c := range strings.Split(cell, "|") {
		if c == value {
			return true
		}
	}
	return false
}

func yn(b bool) string {
	if b {
		return "y"
	}
	return "n"
}

func TestDecideTableCoversEveryCombination(t *testing.T) {
	bools := []bool{false, true}
	pendings := []answer{unasked, absent, accepted, refused, unanswered}
	currents := []answer{unasked, accepted, refused, unanswered}
	used := make([]int, len(decideTable))
	n := 0
	for _, stuck := range bools {
		for _, finished := range bools {
			for _, unsaved := range bools {
				for _, p := range pendings {
					for _, c := range currents {
						for _, rc := range bools {
							for _, young := range bools {
								for _, self := range bools {
									for _, ev := range bools {
										for _, rerun := range bools {
											n++
											f := facts{stuck: stuck, finished: finished, unsaved: unsaved, pending: p, current: c,
												refusedChange: rc, young: young, self: self, evidence: ev, rerunLeft: rerun}
											values := []string{yn(stuck), yn(finished), yn(unsaved), answerNames[p], answerNames[c], yn(rc), yn(young), yn(self), yn(ev), yn(rerun)}
											var rows []int
											for i, r := range decideTable {
												cells := []string{r.stuck, r.finished, r.unsaved, r.pending, r.current, r.refusedChange, r.young, r.self, r.evidence, r.rerunLeft}
												ok := true
												for k := range cells {
													ok = ok && cellMatches(cells[k], values[k])
												}
												if ok {
													rows = append(rows, i)
												}
											}
											if len(rows) != 1 {
												t.Errorf("%v matches rows %v of the table, want exactly one", values, rows)
												continue
											}
											used[rows[0]]++
											if got, want := decide(f), decideTable[rows[0]].want; got != want {
												t.Errorf("decide(%v) = %s, want %s (row %d)", values, got, want, rows[0])
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n != 2*2*2*5*4*2*2*2*2*2 {
		t.Fatalf("%d combinations", n)
	}
	for i, u := range used {
		if u == 0 {
			t.Errorf("row %d matches no combination", i)
		}
	}
	// Every verdict but the loop's own steps appears in the table.
	seen := map[verdict]bool{}
	for _, r := range decideTable {
		seen[r.want] = true
	}
	for v := verdictStuck; v <= verdictGiveUp; v++ {
		if !seen[v] {
			t.Errorf("verdict %s is in no row", v)
		}
	}
	if s := fmt.Sprint(verdictGiveUp); s != "give-up" {
		t.Errorf("verdict name %q", s)
	}
}
