// Command gatehouse is an OAuth 2.0 / OpenID Connect authorization server
// with an admin dashboard. See README.md and `gatehouse help`.
package main

import (
	"os"

	"github.com/gatehouse/gatehouse/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
