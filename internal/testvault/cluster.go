package testvault

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// Cluster is a Vault HA cluster on integrated storage (Raft), every node a
// process on loopback with its own API and cluster ports, data directory
// and plugin directory (each holding the same plugin binary).
type Cluster struct {
	t     TB
	Nodes []*Server
}

// StartCluster starts n nodes that know each other through retry_join,
// initialises the first with Shamir keys (3 shares, threshold 2), unseals
// every node, waits until all n are Raft voters, then registers the plugin
// by sha256 and version once and enables it at mount.
func StartCluster(t TB, env Env, n int, mount string) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	apiPorts, clusterPorts := make([]int, n), make([]int, n)
	for i := range n {
		apiPorts[i], clusterPorts[i] = FreePort(t), FreePort(t)
	}
	var joins strings.Builder
	for _, p := range apiPorts {
		fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr = \"http://127.0.0.1:%d\"\n  }\n", p)
	}
	for i := range n {
		dir := t.TempDir()
		plugins := filepath.Join(dir, "plugins")
		if err := os.MkdirAll(plugins, 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, env.Plugin, filepath.Join(plugins, "vault-plugin-secrets-vendor"))
		s := &Server{t: t, env: env, Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", apiPorts[i]),
			LogPath: filepath.Join(dir, "vault.log"), Seen: &Recorder{}}
		conf := fmt.Sprintf(`
storage "raft" {
  path                   = %q
  node_id                = "node%d"
  performance_multiplier = 1
%s}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr         = %q
cluster_addr     = "https://127.0.0.1:%d"
plugin_directory = %q
disable_mlock    = true
log_level        = "debug"
`, filepath.Join(dir, "raft"), i+1, joins.String(), apiPorts[i], clusterPorts[i], s.Addr, clusterPorts[i], plugins)
		if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.start()
		t.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
	}

	first := c.Nodes[0]
	init, err := first.rawClient().Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("vault operator init: %v\n%s", err, first.Log())
	}
	for _, s := range c.Nodes {
		s.Token, s.UnsealKeys = init.RootToken, init.Keys[:2]
	}
	first.unseal()
	for _, s := range c.Nodes[1:] {
		s.unseal()
	}
	c.WaitVoters(n, 90*time.Second)

	leader := c.Leader()
	leader.MustCLI("plugin", "register", "-sha256="+sha256File(t, env.Plugin), "-version="+env.Version,
		"-command=vault-plugin-secrets-vendor", "secret", "vault-plugin-secrets-vendor")
	leader.MustCLI("secrets", "enable", "-path="+mount, "-plugin-version="+env.Version, "vault-plugin-secrets-vendor")
	for _, s := range c.Nodes {
		c.waitMount(s, mount, 30*time.Second)
	}
	return c
}

// waitMount waits until node s has mount in its own mount table. A Vault
// standby forwards every request to the active node, but an OpenBao standby
// (2.5 and later) serves reads itself and routes by its own mount table,
// which replicates a moment after `secrets enable` returns: until then a
// request there for the new mount is a 404.
func (c *Cluster) waitMount(s *Server, mount string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// The plugin's own help path: answered by the node's router, so it
		// 404s until that node has mounted the plugin.
		if sec, err := s.Client().Logical().ReadWithData(mount+"/roles", map[string][]string{"help": {"1"}}); err == nil && sec != nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s has no %s/ mount %s after it was enabled", s.Addr, mount, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Alive lists the nodes whose process runs.
func (c *Cluster) Alive() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		select {
		case <-s.exited:
		default:
			out = append(out, s)
		}
	}
	return out
}

// Leader returns the active node, as a live node reports it.
func (c *Cluster) Leader() *Server {
	c.t.Helper()
	s, err := c.leader()
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func (c *Cluster) leader() (*Server, error) {
	for _, s := range c.Alive() {
		l, err := s.Client().Sys().Leader()
		if err != nil || l.LeaderAddress == "" {
			continue
		}
		for _, n := range c.Alive() {
			if n.Addr == l.LeaderAddress {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("no live node names a live leader")
}

// WaitLeader waits for a live leader other than not (nil: any) and says how
// long it took.
func (c *Cluster) WaitLeader(not *Server, timeout time.Duration) (*Server, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		if s, err := c.leader(); err == nil && s != not {
			return s, time.Since(start)
		}
		if time.Since(start) > timeout {
			c.t.Fatalf("no new leader within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitVoters waits until the Raft configuration has n voters. Autopilot
// makes a new node a voter only after its stabilization time.
func (c *Cluster) WaitVoters(n int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		voters := 0
		if l, err := c.leader(); err == nil {
			if sec, err := l.Client().Logical().Read("sys/storage/raft/configuration"); err == nil && sec != nil {
				cfg, _ := sec.Data["config"].(map[string]any)
				servers, _ := cfg["servers"].([]any)
				for _, sv := range servers {
					if m, _ := sv.(map[string]any); m["voter"] == true {
						voters++
					}
				}
			}
		}
		if voters >= n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d Raft voters after %s, want %d", voters, timeout, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// WaitHealthy waits until autopilot reports the cluster healthy: every
// server alive, in touch with the leader, and a voter where it should be.
// After a node restarts, the Raft configuration still lists it as a voter,
// so only autopilot's view says it has rejoined.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l, err := c.leader(); err == nil {
			if sec, err := l.Client().Logical().Read("sys/storage/raft/autopilot/state"); err == nil && sec != nil && sec.Data["healthy"] == true {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("autopilot did not report the cluster healthy within %s", timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
