package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
)

// warnings about how the operator exposes the server: they do not stop
// it, since the operator may have reasons, but say what is at stake.

// publicListener reports whether a listener's address is reachable from
// other machines: anything but a loopback address.
func publicListener(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	return err != nil || !ap.Addr().Unmap().IsLoopback()
}

// keyPermProblem describes what is wrong with the permissions of a TLS
// private key file, or "" if only its owner may read it.
func keyPermProblem(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Sprintf("mode %04o lets others than its owner read it; chmod 600", perm), nil
	}
	return "", nil
}
