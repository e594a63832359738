// Package examples shows atoauthhttp with the routers people use: chi,
// echo and gin, each in a runnable Example against atoauthtest's fake
// network. It is a module of its own, so that the routers stay out of
// atoauth's go.mod; scripts/test runs it.
package examples
