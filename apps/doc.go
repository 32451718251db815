// Package apps holds the binaries of usermgmt (server, worker), each a thin
// composition root over pkg/usermgmt. They live in their own module so that
// binary-only dependencies stay out of the graph of hosts that embed the library.
package apps
