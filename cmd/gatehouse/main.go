// Command gatehouse is the Gatehouse API gateway. See internal/cli.
package main

import (
	"context"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
