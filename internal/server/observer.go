package server

import (
	"net"
	"time"
)

// Observer is told what the server does, for metrics. Its methods are
// called from connection goroutines, often, so they must be cheap and safe
// for concurrent use. The server package knows no metrics library;
// package metrics implements Observer with Prometheus.
type Observer interface {
	// ConnectionOpened and ConnectionClosed bracket every accepted
	// connection, refused ones included.
	ConnectionOpened(implicitTLS bool)
	ConnectionClosed(lifetime time.Duration)
	// CommandDone is called once per tagged response. name is the command
	// name in upper case ("UID FETCH"), or "UNKNOWN" for a command not in
	// the table, so its values are bounded; status is "OK", "NO" or "BAD".
	CommandDone(name, status string, d time.Duration)
	// AuthFailed is called for each refused LOGIN or AUTHENTICATE;
	// throttled says the refusal came from the failure limits.
	AuthFailed(throttled bool)
	// BytesRead and BytesWritten count the bytes of the connection as
	// they cross the socket (TLS records included).
	BytesRead(n int)
	BytesWritten(n int)
}

// nopObserver is the Observer of a server configured without one.
type nopObserver struct{}

func (nopObserver) ConnectionOpened(bool)                     {}
func (nopObserver) ConnectionClosed(time.Duration)            {}
func (nopObserver) CommandDone(string, string, time.Duration) {}
func (nopObserver) AuthFailed(bool)                           {}
func (nopObserver) BytesRead(int)                             {}
func (nopObserver) BytesWritten(int)                          {}

// countingConn reports the bytes that cross a connection. Only Read and
// Write are wrapped: deadlines and Close go to the connection itself.
type countingConn struct {
	net.Conn
	obs Observer
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.obs.BytesRead(n)
	}
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.obs.BytesWritten(n)
	}
	return n, err
}

// observeCommand reports a finished command to the observer.
func (s *Session) observeCommand(c *Cmd, st Status, start time.Time) {
	name := c.Name
	if c.def == nil {
		name = "UNKNOWN"
	}
	s.srv.obs.CommandDone(name, st.String(), time.Since(start))
}

// countingListener wraps accepted connections in countingConn.
type countingListener struct {
	net.Listener
	obs Observer
}

func (l countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{nc, l.obs}, nil
}
