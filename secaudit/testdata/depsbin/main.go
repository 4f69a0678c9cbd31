// Command depsbin is the small Go program deps_test.go builds and checks: it
// links errgroup.Group.Go (golang.org/x/sync), a few functions of
// golang.org/x/mod/semver and encoding/json.Unmarshal, which the made-up
// advisories of vulndb/ name. It is built by file name, so the versions
// are the ones go.mod pins.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/semver"
	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { return nil })
	var v any
	_ = json.Unmarshal([]byte(os.Args[0]), &v)
	fmt.Println(g.Wait(), semver.Compare("v1.0.0", os.Args[0]))
}
