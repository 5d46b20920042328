//go:build acceptance

package acceptance

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vendortoken/vault-plugin-secrets-vendor/internal/testvault"
)

// TestHAClusterSurvivesLosingItsLeader runs the plugin on a 3-node Vault
// cluster on integrated storage. Roles are written through a standby, and
// tokens read through every node. The leader is killed under a steady read
// load and again during a scheduled rotation that the vendor is holding.
// Each time a new leader serves reads within 5 s and every role still
// mints. The rotation is finished by the new leader. The scheduled rotation
// runs on one node only, and the killed nodes rejoin and serve reads.
func TestHAClusterSurvivesLosingItsLeader(t *testing.T) {
	env := testvault.EnvFromOS(t)
	sim := testvault.StartSim(t, env)
	cl := testvault.StartCluster(t, env, 3, mount)
	leader := cl.Leader()
	standby := otherThan(cl.Alive(), leader)[0]

	// Roles of several vendors, written through a standby (Vault forwards).
	roles := map[string]string{}
	for _, v := range []string{"cyral", "cyberark", "privx", "incydr"} {
		id := "ha-" + v
		if v == "cyberark" {
			id += "@cyberark.cloud.4242"
		}
		role := sim.AddAccount(t, v, id, "Ha-Secret-1 %#", false)
		role["verify"] = true
		name := "ha-" + v
		if _, err := standby.Client().Logical().Write(mount+"/roles/"+name, role); err != nil {
			t.Fatalf("write %s through a standby: %v", name, err)
		}
		roles[name] = v
	}
	everyRoleMintsEverywhere := func(stage string) {
		t.Helper()
		for _, node := range cl.Alive() {
			for name, v := range roles {
				data := readThrough(t, node, name)
				if status, err := sim.CallAPI(v, data["authorization"].(string)); err != nil || status != 200 {
					t.Fatalf("%s: %s's token read through %s refused: %d %v", stage, name, node.Addr, status, err)
				}
			}
		}
	}
	everyRoleMintsEverywhere("start")

	// A. Kill the leader under a steady read load through the standbys.
	newLeader := killUnderLoad(t, cl, leader, "ha-cyral")
	everyRoleMintsEverywhere("after the first kill")
	// The killed node rejoins and serves reads.
	leader.Restart()
	cl.WaitHealthy(90 * time.Second)
	everyRoleMintsEverywhere("after the first node rejoined")

	// B. Scheduled rotation happens once per period, on the active node.
	const sched = "ha-sched"
	role := sim.AddAccount(t, "cyberark", "ha-sched@cyberark.cloud.4242", "Sched-Secret-1 %#", false)
	role["rotation_period"] = "1m"
	if _, err := newLeader.Client().Logical().Write(mount+"/roles/"+sched, role); err != nil {
		t.Fatal(err)
	}
	roles[sched] = "cyberark"
	rotations := func() int { return sim.Calls(t)["cyberark"]["rotate"] }
	base := rotations()
	waitFor(t, 150*time.Second, "the first scheduled rotation", func() bool { return rotations() > base })
	firstAt := time.Now()
	// The call reached the vendor; let the rotation finish.
	waitFor(t, 30*time.Second, "the first rotation to finish", func() bool { return readRoleThrough(t, newLeader, sched)["last_rotated"] != "" })
	first := readRoleThrough(t, newLeader, sched)

	// C. Kill the leader while the vendor holds its answer to the next
	// scheduled rotation, after making the change.
	sim.Control(t, "/fault", map[string]any{"vendor": "cyberark", "endpoint": "rotate", "apply": true, "delay_ms": 60000})
	waitFor(t, 150*time.Second, "the second scheduled rotation", func() bool { return rotations() > base+1 })
	if since := time.Since(firstAt); since < 50*time.Second {
		t.Fatalf("a second rotation %s after the first: rotated twice in one period", since.Round(time.Second))
	}
	if n := rotations() - base; n != 2 {
		t.Fatalf("%d rotation calls for two periods across the cluster", n)
	}
	active := cl.Leader()
	next := killUnderLoad(t, cl, active, "ha-incydr")
	sim.Control(t, "/clear", map[string]any{})
	// The new leader settles the rotation: the role reads as rotated, with
	// nothing pending, and mints with the vendor's current secret.
	waitFor(t, 60*time.Second, "the interrupted rotation to be settled", func() bool {
		r := readRoleThrough(t, next, sched)
		return r["rotation_pending"] == false && r["last_rotated"] != first["last_rotated"]
	})
	everyRoleMintsEverywhere("after the kill during a rotation")
	active.Restart()
	cl.WaitHealthy(90 * time.Second)
	everyRoleMintsEverywhere("after the second node rejoined")
}

// killUnderLoad SIGKILLs the leader while the other nodes serve a steady
// read load, and requires reads through each of them to succeed again
// within 5 s of its death. It returns the new leader.
func killUnderLoad(t *testing.T, cl *testvault.Cluster, leader *testvault.Server, role string) *testvault.Server {
	t.Helper()
	survivors := otherThan(cl.Alive(), leader)
	load := startReads(survivors, role)
	defer load.stop()
	leader.Kill() // returns once the process is gone
	killed := time.Now()
	next, took := cl.WaitLeader(leader, 30*time.Second)
	time.Sleep(6 * time.Second) // let the reads run on past the 5 s mark
	for _, node := range survivors {
		first := load.firstSuccessAfter(node.Addr, killed)
		if first.IsZero() || first.Sub(killed) > 5*time.Second {
			t.Fatalf("reads through %s did not succeed within 5 s of the kill (new leader after %s)", node.Addr, took)
		}
		t.Logf("leader killed: new leader in %s; reads through %s again after %s", took.Round(time.Millisecond), node.Addr, first.Sub(killed).Round(time.Millisecond))
	}
	return next
}

func otherThan(nodes []*testvault.Server, not *testvault.Server) []*testvault.Server {
	var out []*testvault.Server
	for _, n := range nodes {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

func readThrough(t *testing.T, node *testvault.Server, role string) map[string]any {
	t.Helper()
	var sec *api.Secret
	var err error
	// A standby may need a moment to learn of a new leader.
	for range 50 {
		if sec, err = node.Client().Logical().Read(mount + "/token/" + role); err == nil && sec != nil {
			return sec.Data
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("token/%s through %s: %v", role, node.Addr, err)
	return nil
}

func readRoleThrough(t *testing.T, node *testvault.Server, role string) map[string]any {
	t.Helper()
	sec, err := node.Client().Logical().Read(mount + "/roles/" + role)
	if err != nil || sec == nil {
		t.Fatalf("roles/%s through %s: %v", role, node.Addr, err)
	}
	return sec.Data
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// reads is a steady token read load through some nodes.
type reads struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	success map[string][][2]time.Time // start and end of each successful read
	count   atomic.Int64
}

func startReads(nodes []*testvault.Server, role string) *reads {
	r := &reads{done: make(chan struct{}), success: map[string][][2]time.Time{}}
	for _, n := range nodes {
		for range 2 {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				c := n.Client()
				c.SetClientTimeout(2 * time.Second)
				for {
					select {
					case <-r.done:
						return
					default:
					}
					start := time.Now()
					if sec, err := c.Logical().Read(mount + "/token/" + role); err == nil && sec != nil {
						r.mu.Lock()
						r.success[n.Addr] = append(r.success[n.Addr], [2]time.Time{start, time.Now()})
						r.mu.Unlock()
						r.count.Add(1)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
	}
	return r
}

// firstSuccessAfter is when the first read that started after t succeeded.
func (r *reads) firstSuccessAfter(addr string, t time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.success[addr] {
		if s[0].After(t) {
			return s[1]
		}
	}
	return time.Time{}
}

func (r *reads) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.wg.Wait()
}
