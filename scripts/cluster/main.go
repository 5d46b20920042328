// Command cluster is `make cluster`: a 3-node Vault cluster on integrated
// storage (Raft) on loopback, with the plugin registered by sha256 once and
// enabled at vendor/, vendor-sim, and a demo role per vendor written through
// a standby. It prints each node's address and role, reads a token through
// every node, and runs until Ctrl-C, then stops every process it started.
// With -oneshot it stops after the demo (the acceptance script runs it so).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vendortoken/vault-plugin-secrets-vendor/internal/testvault"
)

func main() {
	oneshot := flag.Bool("oneshot", false, "stop after the demo")
	flag.Parse()
	o := testvault.NewOwner("cluster")
	defer o.Close()
	env := testvault.EnvFromOS(o)
	sim := testvault.StartSim(o, env)
	cl := testvault.StartCluster(o, env, 3, "vendor")
	leader := cl.Leader()
	var standby *testvault.Server
	for _, n := range cl.Nodes {
		if n != leader {
			standby = n
			break
		}
	}
	for vendor := range sim.Vendors {
		if _, err := standby.Client().Logical().Write("vendor/roles/demo-"+vendor, sim.Role(o, vendor)); err != nil {
			o.Fatalf("writing demo-%s through a standby: %v", vendor, err)
		}
	}
	fmt.Printf("root token: %s\n", leader.Token)
	for i, n := range cl.Nodes {
		state := "standby"
		if n == leader {
			state = "active"
		}
		// An OpenBao standby serves reads from its own copy of storage,
		// which may not have the role written a moment ago: it reads as
		// missing until the node catches up, so try for a bounded time.
		var sec *api.Secret
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if sec, err = n.Client().Logical().Read("vendor/token/demo-cyral"); (err == nil && sec != nil) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || sec == nil {
			o.Fatalf("token read through node %d: %v", i+1, err)
		}
		fmt.Printf("node%d  %s  %-7s  token read: %s… (expires_in %v)\n", i+1, n.Addr, state, sec.Data["access_token"].(string)[:16], sec.Data["expires_in"])
	}
	if *oneshot {
		fmt.Println("cluster: stopping (one-shot)")
		return
	}
	fmt.Println("cluster: running; Ctrl-C stops every node and vendor-sim")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
