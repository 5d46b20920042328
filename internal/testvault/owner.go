package testvault

import (
	"fmt"
	"os"
	"sync"
)

// Owner is the TB of a program (not a test) that starts servers: it runs
// every cleanup on Close, and a fatal error runs them too before exiting 1.
type Owner struct {
	name     string
	mu       sync.Mutex
	cleanups []func()
}

// NewOwner returns an Owner whose messages and temporary folders carry name.
func NewOwner(name string) *Owner { return &Owner{name: name} }

func (o *Owner) Helper()                      {}
func (o *Owner) Fatal(args ...any)            { o.die(fmt.Sprint(args...)) }
func (o *Owner) Fatalf(f string, args ...any) { o.die(fmt.Sprintf(f, args...)) }

// Cleanup registers f to run on Close, last registered first.
func (o *Owner) Cleanup(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cleanups = append(o.cleanups, f)
}

// TempDir makes a folder removed on Close.
func (o *Owner) TempDir() string {
	dir, err := os.MkdirTemp("", "vendor-"+o.name+"-")
	if err != nil {
		o.die(err.Error())
	}
	o.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Close runs every cleanup.
func (o *Owner) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.cleanups) - 1; i >= 0; i-- {
		o.cleanups[i]()
	}
	o.cleanups = nil
}

func (o *Owner) die(msg string) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", o.name, msg)
	o.Close()
	os.Exit(1)
}
