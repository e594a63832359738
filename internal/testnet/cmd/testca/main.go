// Command testca creates the throwaway CA of the end-to-end tests in a
// directory and prints the environment that gives it to the reference
// network (scripts/test evaluates it before starting testenv/run.sh):
//
//	eval "$(go run ./internal/testnet/cmd/testca DIR)"
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/atoauth/atoauth/internal/testnet"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: testca DIR")
		os.Exit(2)
	}
	dir, err := filepath.Abs(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testca:", err)
		os.Exit(1)
	}
	if _, err := testnet.GenerateCA(dir); err != nil {
		fmt.Fprintln(os.Stderr, "testca:", err)
		os.Exit(1)
	}
	fmt.Printf("export NODE_EXTRA_CA_CERTS=%s ATOAUTH_TESTENV_CA_KEY=%s\n",
		filepath.Join(dir, testnet.CACertFile), filepath.Join(dir, testnet.CAKeyFile))
}
