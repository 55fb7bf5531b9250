package replica

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// The transport is net/rpc (gob encoding) over TLS, from the standard
// library: each User method is one call, its arguments and results plain
// structs, so there is no framing or encoding code of our own to get
// wrong. docs/replication.md says why it was chosen.
//
// Authentication happens in the first call, Hello. With a shared secret,
// each side proves it knows the secret by an HMAC-SHA-256 over keying
// material exported from this TLS session (RFC 5705), so a proof is
// useless on any other connection and a man in the middle, who has two
// sessions, cannot relay it; certificates then need not be verified. With
// mutual TLS (a CA file), the handshake has already verified both sides.
// Until Hello succeeds every other call fails.

const ekmLabel = "EXPORTER-tidemark-replication"

// Auth is how two replicas authenticate each other.
type Auth struct {
	// Secret is the shared secret; nil when TLS verifies both sides.
	Secret []byte
	// TLS is the configuration for both ends: Certificates (what this
	// replica presents), and for mutual TLS RootCAs and ClientCAs holding
	// the CA that signs peers.
	TLS *tls.Config
}

func proof(secret []byte, role string, cs tls.ConnectionState) ([]byte, error) {
	ekm, err := cs.ExportKeyingMaterial(ekmLabel, nil, 32)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(role))
	m.Write(ekm)
	return m.Sum(nil), nil
}

// NodeID returns the replica id stored in dir (DATA/replica-node-id),
// creating a random one on first use. Peers key their sync state by it, so
// it must stay with the data.
func NodeID(dir string) (string, error) {
	path := filepath.Join(dir, "replica-node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [12]byte
	rand.Read(r[:])
	id := "N" + hex.EncodeToString(r[:])
	tmp, err := os.CreateTemp(dir, ".replica-node-id-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(id + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	tmp.Close()
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return NodeID(dir) // another process won
		}
		return "", err
	}
	return id, nil
}

// Server serves a Local side to authenticated peers.
type Server struct {
	Local  *Local
	Auth   Auth
	Logger *slog.Logger
	// OnApplied, when set, is called after a peer changed a user here.
	OnApplied func(user string)
	// OnSettings, when set, is called after a peer changed accounts or
	// quota settings here.
	OnSettings func()

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

// Serve accepts connections on ln until it is closed.
func (s *Server) Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if done || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.serveConn(c)
	}
}

// Close ends every connection being served.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) serveConn(raw net.Conn) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	if s.done {
		s.mu.Unlock()
		raw.Close()
		return
	}
	s.conns[raw] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
		raw.Close()
	}()
	c := tls.Server(raw, s.Auth.TLS)
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.Handshake(); err != nil {
		s.logger().Warn("replication handshake", "remote", raw.RemoteAddr(), "err", err)
		return
	}
	raw.SetDeadline(time.Time{})
	svc := &Service{srv: s, conn: c, users: make(map[string]User)}
	defer svc.closeAll()
	rs := rpc.NewServer()
	if err := rs.RegisterName("Replica", svc); err != nil {
		panic(err)
	}
	rs.ServeConn(c)
}

// Service is the RPC receiver for one connection. Its methods are the
// User calls, by user name; it is exported only because net/rpc requires
// it.
type Service struct {
	srv    *Server
	conn   *tls.Conn
	mu     sync.Mutex
	authed bool
	peer   string
	users  map[string]User
	locks  map[string]func() // sync locks held by this connection
}

// HelloArgs opens a session.
type HelloArgs struct {
	Node  string
	Proof []byte
}

// HelloReply answers it.
type HelloReply struct {
	Node  string
	Proof []byte
	// Packed: the server serves PackedBodies and takes Append.Packed. A
	// server of an earlier version leaves it false (gob sends no field it
	// does not know).
	Packed bool
}

// Hello authenticates the peer (see the file comment).
func (v *Service) Hello(a HelloArgs, r *HelloReply) error {
	cs := v.conn.ConnectionState()
	ok := len(cs.VerifiedChains) > 0 && v.srv.Auth.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	if v.srv.Auth.Secret != nil {
		want, err := proof(v.srv.Auth.Secret, "client", cs)
		if err != nil {
			return err
		}
		ok = hmac.Equal(want, a.Proof)
		if r.Proof, err = proof(v.srv.Auth.Secret, "server", cs); err != nil {
			return err
		}
	}
	if !ok {
		v.srv.logger().Warn("replication peer refused", "remote", v.conn.RemoteAddr(), "node", a.Node)
		return errors.New("replication: authentication failed")
	}
	v.mu.Lock()
	v.authed, v.peer = true, a.Node
	v.mu.Unlock()
	r.Node, r.Packed = v.srv.Local.Node(), true
	return nil
}

func (v *Service) closeAll() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, u := range v.users {
		u.Close()
	}
	v.users = nil
	for _, unlock := range v.locks {
		unlock()
	}
	v.locks = nil
}

// Lock takes a user's sync lock for this connection (see Side.Lock); it
// is released by Unlock or when the connection ends.
func (v *Service) Lock(a Args, _ *struct{}) error {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	v.mu.Lock()
	if v.locks[a.User] != nil {
		v.mu.Unlock()
		return fmt.Errorf("replication: user %s already locked on this connection", a.User)
	}
	v.mu.Unlock()
	// Waits no longer than a sync may reasonably take; the caller retries.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	unlock, err := v.srv.Local.Lock(ctx, a.User)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.locks == nil {
		if v.users == nil { // connection closed meanwhile
			unlock()
			return errors.New("replication: connection closed")
		}
		v.locks = make(map[string]func())
	}
	v.locks[a.User] = unlock
	return nil
}

// Unlock releases a user's sync lock.
func (v *Service) Unlock(a Args, _ *struct{}) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if unlock := v.locks[a.User]; unlock != nil {
		delete(v.locks, a.User)
		unlock()
	}
	return nil
}

func (v *Service) user(name string, create bool) (User, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.authed {
		return nil, errors.New("replication: not authenticated")
	}
	if u := v.users[name]; u != nil {
		return u, nil
	}
	u, err := v.srv.Local.Open(context.Background(), name, create)
	if err != nil {
		return nil, err
	}
	v.users[name] = u
	return u, nil
}

func (v *Service) applied(user string) {
	if v.srv.OnApplied != nil {
		v.srv.OnApplied(user)
	}
}

// Args name a user and carry one call's arguments.
type Args struct {
	User    string
	Create  bool
	Peer    string
	GUID    string
	Since   store.ModSeq
	UIDs    store.UIDSet
	Blobs   []string
	Ops     []store.AccountOp
	State   *store.PeerState
	Batch   Batch
	OldName string
	NewName string
	Logins  []auth.Record
	Quotas  []quotaWire
	Sharing *Sharing
	Offset  int64
	N       int
	Stage   string
	Data    []byte
}

// Users lists users.
func (v *Service) Users(_ Args, r *[]string) error {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	us, err := v.srv.Local.Users(context.Background())
	*r = us
	return err
}

func (v *Service) isAuthed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.authed
}

// Open opens a user (creating it when asked).
func (v *Service) Open(a Args, _ *struct{}) error {
	_, err := v.user(a.User, a.Create)
	return err
}

// AccountState is User.AccountState.
func (v *Service) AccountState(a Args, r *store.AccountState) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.AccountState(context.Background())
	}
	return err
}

// PeerStates is User.PeerStates.
func (v *Service) PeerStates(a Args, r *map[string]store.PeerState) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.PeerStates(context.Background(), a.Peer)
	}
	return err
}

// ApplyAccount is User.ApplyAccount.
func (v *Service) ApplyAccount(a Args, r *store.AccountApplyResult) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.ApplyAccount(context.Background(), a.Ops, a.Peer, a.State)
		v.applied(a.User)
	}
	return err
}

// RenameMailbox is User.RenameMailbox.
func (v *Service) RenameMailbox(a Args, _ *struct{}) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		err = u.RenameMailbox(context.Background(), a.OldName, a.NewName)
		v.applied(a.User)
	}
	return err
}

// Changes is User.Changes.
func (v *Service) Changes(a Args, r *MailboxChanges) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Changes(context.Background(), a.GUID, a.Since, a.UIDs)
	}
	return err
}

// ServerMetadata is User.ServerMetadata.
func (v *Service) ServerMetadata(a Args, r *[]store.MetadataEntry) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.ServerMetadata(context.Background())
	}
	return err
}

// Lookup is User.Lookup.
func (v *Service) Lookup(a Args, r *[]Message) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Lookup(context.Background(), a.GUID, a.UIDs)
	}
	return err
}

// FlagsAt is User.FlagsAt.
func (v *Service) FlagsAt(a Args, r *map[store.UID]store.Flags) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.FlagsAt(context.Background(), a.GUID, a.UIDs, a.Since)
	}
	return err
}

// Find is User.Find.
func (v *Service) Find(a Args, r *map[string][]store.UID) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Find(context.Background(), a.GUID, a.Blobs)
	}
	return err
}

// HasBodies is User.HasBodies.
func (v *Service) HasBodies(a Args, r *[]bool) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.HasBodies(context.Background(), a.Blobs)
	}
	return err
}

// Bodies is User.Bodies.
func (v *Service) Bodies(a Args, r *[][]byte) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Bodies(context.Background(), a.Blobs)
	}
	return err
}

// PackedBodies is User.PackedBodies.
func (v *Service) PackedBodies(a Args, r *[][]byte) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.PackedBodies(context.Background(), a.Blobs)
	}
	return err
}

// Derived is User.Derived.
func (v *Service) Derived(a Args, r *[][]byte) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Derived(context.Background(), a.Blobs)
	}
	return err
}

// Apply is User.Apply.
func (v *Service) Apply(a Args, r *store.ApplyResult) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Apply(context.Background(), a.GUID, a.Batch)
		v.applied(a.User)
	}
	return err
}

// SetPeerState is User.SetPeerState.
func (v *Service) SetPeerState(a Args, _ *struct{}) (err error) {
	u, err := v.user(a.User, false)
	if err == nil && a.State != nil {
		err = u.SetPeerState(context.Background(), a.Peer, a.GUID, *a.State)
	}
	return err
}

// ForgetPeer is User.ForgetPeer.
func (v *Service) ForgetPeer(a Args, _ *struct{}) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		err = u.ForgetPeer(context.Background(), a.Peer)
	}
	return err
}

// CloseUser releases a user opened on this connection.
func (v *Service) CloseUser(a Args, _ *struct{}) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if u := v.users[a.User]; u != nil {
		delete(v.users, a.User)
		return u.Close()
	}
	return nil
}

// Client is a Side reached over the network.
type Client struct {
	node string
	rpc  *rpc.Client
	conn net.Conn
	// counter, when set, counts bytes both ways.
	counter *countingConn
	// packed is HelloReply.Packed.
	packed bool
}

// Dial connects to a peer's replication listener and authenticates.
func Dial(ctx context.Context, addr string, auth Auth, localNode string) (*Client, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("replication: dial %s: %w", addr, err)
	}
	cc := &countingConn{Conn: raw}
	cfg := auth.TLS.Clone()
	if auth.Secret != nil && cfg.RootCAs == nil {
		// The secret authenticates the server (its proof binds this
		// session); its certificate is not checked.
		cfg.InsecureSkipVerify = true
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	c := tls.Client(cc, cfg)
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	} else {
		raw.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("replication: TLS with %s: %w", addr, err)
	}
	raw.SetDeadline(time.Time{})
	cl := &Client{rpc: newRPCClient(c), conn: raw, counter: cc}
	args := HelloArgs{Node: localNode}
	cs := c.ConnectionState()
	if auth.Secret != nil {
		if args.Proof, err = proof(auth.Secret, "client", cs); err != nil {
			cl.Close()
			return nil, err
		}
	}
	var reply HelloReply
	if err := cl.call(ctx, "Hello", args, &reply); err != nil {
		cl.Close()
		return nil, fmt.Errorf("replication: %s: %w", addr, err)
	}
	if auth.Secret != nil {
		want, err := proof(auth.Secret, "server", cs)
		if err != nil || !hmac.Equal(want, reply.Proof) {
			cl.Close()
			return nil, fmt.Errorf("replication: %s did not prove it knows the secret", addr)
		}
	}
	cl.node, cl.packed = reply.Node, reply.Packed
	return cl, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.rpc.Close() }

// Node is the peer's id.
func (c *Client) Node() string { return c.node }

// Bytes returns the bytes read and written on the connection so far.
func (c *Client) Bytes() (read, written int64) {
	return c.counter.read.Load(), c.counter.written.Load()
}

// remoteErrors are the store errors the engine tests for; net/rpc carries
// only error text, so they are matched by it on the way back.
var remoteErrors = []error{store.ErrInvalidUID, store.ErrNoMailbox, store.ErrNoUser, store.ErrMailboxExists, store.ErrCannot, ErrNoLogins, ErrNoQuotas, ErrUserDeleted, ErrNoSharing}

func (c *Client) call(ctx context.Context, method string, args, reply any) error {
	call := c.rpc.Go("Replica."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-ctx.Done():
		c.conn.Close()
		return ctx.Err()
	case <-call.Done:
	}
	err := call.Error
	if se, ok := err.(rpc.ServerError); ok {
		for _, e := range remoteErrors {
			if strings.Contains(string(se), e.Error()) {
				return fmt.Errorf("%s: %w", se, e)
			}
		}
	}
	if errors.Is(err, rpc.ErrShutdown) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("replication: connection lost: %w", err)
	}
	return err
}

// Lock takes the user's sync lock on the peer.
func (c *Client) Lock(ctx context.Context, user string) (func(), error) {
	if err := c.call(ctx, "Lock", Args{User: user}, &struct{}{}); err != nil {
		return nil, err
	}
	return func() { c.call(context.Background(), "Unlock", Args{User: user}, &struct{}{}) }, nil
}

// Users lists the peer's users.
func (c *Client) Users(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.call(ctx, "Users", Args{}, &out)
}

// Open opens a user on the peer.
func (c *Client) Open(ctx context.Context, user string, create bool) (User, error) {
	if err := c.call(ctx, "Open", Args{User: user, Create: create}, &struct{}{}); err != nil {
		return nil, err
	}
	return &remoteUser{c: c, user: user}, nil
}

type remoteUser struct {
	c    *Client
	user string
}

func (u *remoteUser) Close() error {
	return u.c.call(context.Background(), "CloseUser", Args{User: u.user}, &struct{}{})
}

func (u *remoteUser) AccountState(ctx context.Context) (store.AccountState, error) {
	var r store.AccountState
	return r, u.c.call(ctx, "AccountState", Args{User: u.user}, &r)
}

func (u *remoteUser) PeerStates(ctx context.Context, peer string) (map[string]store.PeerState, error) {
	var r map[string]store.PeerState
	return r, u.c.call(ctx, "PeerStates", Args{User: u.user, Peer: peer}, &r)
}

func (u *remoteUser) ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error) {
	var r store.AccountApplyResult
	return r, u.c.call(ctx, "ApplyAccount", Args{User: u.user, Ops: ops, Peer: peer, State: state}, &r)
}

func (u *remoteUser) RenameMailbox(ctx context.Context, oldName, newName string) error {
	return u.c.call(ctx, "RenameMailbox", Args{User: u.user, OldName: oldName, NewName: newName}, &struct{}{})
}

func (u *remoteUser) Changes(ctx context.Context, guid string, since store.ModSeq, also store.UIDSet) (MailboxChanges, error) {
	var r MailboxChanges
	return r, u.c.call(ctx, "Changes", Args{User: u.user, GUID: guid, Since: since, UIDs: also}, &r)
}

func (u *remoteUser) ServerMetadata(ctx context.Context) ([]store.MetadataEntry, error) {
	var r []store.MetadataEntry
	err := u.c.call(ctx, "ServerMetadata", Args{User: u.user}, &r)
	if err != nil && err.Error() == ErrNoMetadata.Error() {
		err = ErrNoMetadata
	}
	return r, err
}

func (u *remoteUser) Lookup(ctx context.Context, guid string, uids store.UIDSet) ([]Message, error) {
	var r []Message
	return r, u.c.call(ctx, "Lookup", Args{User: u.user, GUID: guid, UIDs: uids}, &r)
}

func (u *remoteUser) FlagsAt(ctx context.Context, guid string, uids store.UIDSet, at store.ModSeq) (map[store.UID]store.Flags, error) {
	var r map[store.UID]store.Flags
	return r, u.c.call(ctx, "FlagsAt", Args{User: u.user, GUID: guid, UIDs: uids, Since: at}, &r)
}

func (u *remoteUser) Find(ctx context.Context, guid string, blobIDs []string) (map[string][]store.UID, error) {
	var r map[string][]store.UID
	return r, u.c.call(ctx, "Find", Args{User: u.user, GUID: guid, Blobs: blobIDs}, &r)
}

func (u *remoteUser) HasBodies(ctx context.Context, blobIDs []string) ([]bool, error) {
	var r []bool
	return r, u.c.call(ctx, "HasBodies", Args{User: u.user, Blobs: blobIDs}, &r)
}

func (u *remoteUser) Bodies(ctx context.Context, blobIDs []string) ([][]byte, error) {
	var r [][]byte
	return r, u.c.call(ctx, "Bodies", Args{User: u.user, Blobs: blobIDs}, &r)
}

// errNoPacked stands for the answer of a peer without PackedBodies
// (unsupported), without asking it.
var errNoPacked = rpc.ServerError("rpc: can't find method Replica.PackedBodies")

func (u *remoteUser) PackedBodies(ctx context.Context, blobIDs []string) ([][]byte, error) {
	if !u.c.packed {
		return nil, errNoPacked
	}
	var r [][]byte
	return r, u.c.call(ctx, "PackedBodies", Args{User: u.user, Blobs: blobIDs}, &r)
}

func (u *remoteUser) TakesPacked() bool { return u.c.packed }

func (u *remoteUser) Derived(ctx context.Context, blobIDs []string) ([][]byte, error) {
	var r [][]byte
	return r, u.c.call(ctx, "Derived", Args{User: u.user, Blobs: blobIDs}, &r)
}

func (u *remoteUser) Apply(ctx context.Context, guid string, b Batch) (store.ApplyResult, error) {
	var r store.ApplyResult
	return r, u.c.call(ctx, "Apply", Args{User: u.user, GUID: guid, Batch: b}, &r)
}

func (u *remoteUser) SetPeerState(ctx context.Context, peer, guid string, ps store.PeerState) error {
	return u.c.call(ctx, "SetPeerState", Args{User: u.user, Peer: peer, GUID: guid, State: &ps}, &struct{}{})
}

func (u *remoteUser) ForgetPeer(ctx context.Context, peer string) error {
	return u.c.call(ctx, "ForgetPeer", Args{User: u.user, Peer: peer}, &struct{}{})
}

// countingConn counts the bytes that cross a connection.
type countingConn struct {
	net.Conn
	read, written atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func newRPCClient(c io.ReadWriteCloser) *rpc.Client { return rpc.NewClient(c) }
