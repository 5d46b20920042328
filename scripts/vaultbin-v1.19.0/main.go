// Command vault builds the real Vault CLI and server from Vault's Go module,
// so the acceptance tests and the demo need nothing installed beforehand.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
