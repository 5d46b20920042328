//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"sync"
)

// processTB owns resources that live for the whole test binary (one Vault,
// one vendor-sim), released after every test ran. A fatal error panics, which
// fails the test that was running.
type processTB struct {
	mu       sync.Mutex
	cleanups []func()
}

func (p *processTB) Helper()                      {}
func (p *processTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (p *processTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func (p *processTB) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

func (p *processTB) TempDir() string {
	dir, err := os.MkdirTemp("", "vendor-acceptance-")
	if err != nil {
		panic(err)
	}
	p.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (p *processTB) cleanup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	p.cleanups = nil
}
