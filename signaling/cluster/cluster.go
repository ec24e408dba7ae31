// Package cluster runs parley as several nodes on NATS: one node leads and its hub serves the connections of every node, each node runs its own relay, and the sealed records are replicated so that any node can take the lead when the leader dies.
//
// Everything a node publishes is sealed with a key derived from the master
// key all nodes share: what NATS carries and JetStream stores opens nowhere
// else. With no flag, parley runs as one node and this package is not used.
package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config configures a node's part in a cluster. Zero values mean defaults.
type Config struct {
	// NodeID names this node; default: a random id. It appears in subjects
	// and logs, so it must not be personal.
	NodeID string
	// URL is an existing NATS cluster with JetStream. When it is empty the
	// node embeds a NATS server (Listen, Peers).
	URL string
	// Listen is the embedded server's cluster (route) address, host:port.
	Listen string
	// Peers are the route addresses of the other nodes.
	Peers []string
	// NATSListen exposes the embedded server's client port (host:port);
	// empty keeps it in process only.
	NATSListen string
	// Dir holds the embedded server's JetStream store.
	Dir string
	// Secret is the key all nodes share (a subkey of the master key): it
	// seals every payload and derives the credentials of the routes and
	// clients.
	Secret []byte
	// TLS secures routes and the exposed client port. Required when Listen
	// is not a loopback address.
	TLS *tls.Config
	// Replicas of the JetStream buckets; default min(3, nodes).
	Replicas int
	// LeaseTTL is how long the leader's lease lasts unrenewed; the leader
	// renews it three times in that. Default 2s.
	LeaseTTL time.Duration
	// RecordTTL is how long a replicated record stays in JetStream
	// unchanged: a backstop, since every record carries its own expiry
	// and each node's store sweeps it. It must outlast the longest
	// retention (a ban). Default 100 days.
	RecordTTL time.Duration
	// CallTimeout bounds a follower's request to the leader. Default 2s.
	CallTimeout time.Duration
	Logger      *slog.Logger
}

func (c *Config) setDefaults() {
	if c.NodeID == "" {
		c.NodeID = "n" + randomHex(6)
	}
	if c.Replicas == 0 {
		c.Replicas = min(3, 1+len(c.Peers))
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 2 * time.Second
	}
	if c.RecordTTL == 0 {
		c.RecordTTL = 100 * 24 * time.Hour
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Sentinel errors.
var (
	ErrConfig     = errors.New("cluster: invalid config")
	ErrNoTLS      = errors.New("cluster: routes off loopback need TLS (--tls-cert and --tls-key)")
	ErrStart      = errors.New("cluster: the embedded NATS server did not start")
	ErrNoLeader   = errors.New("cluster: no leader")
	ErrUnsealed   = errors.New("cluster: a message failed to open")
	ErrLeaderGone = errors.New("cluster: the leader did not answer")
)

func (c *Config) validate() error {
	switch {
	case len(c.Secret) < 32:
		return fmt.Errorf("%w: a 32-byte secret is required", ErrConfig)
	case c.URL == "" && c.Listen == "":
		return fmt.Errorf("%w: either a NATS URL or a cluster listen address", ErrConfig)
	case c.URL != "" && c.Listen != "":
		return fmt.Errorf("%w: a NATS URL and an embedded cluster exclude each other", ErrConfig)
	case c.URL == "" && c.Dir == "":
		return fmt.Errorf("%w: the embedded server needs a directory", ErrConfig)
	}
	for _, id := range c.NodeID {
		if !('a' <= id && id <= 'z' || '0' <= id && id <= '9' || id == '-') {
			return fmt.Errorf("%w: a node id is lower-case letters, digits and -", ErrConfig)
		}
	}
	if c.Listen != "" && c.TLS == nil && !loopbackHostPort(c.Listen) {
		return ErrNoTLS
	}
	return nil
}

func loopbackHostPort(hp string) bool {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// embedded starts the NATS server inside this process.
func embedded(cfg *Config, seal *sealer) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: --cluster-listen: %v", ErrConfig, err)
	}
	port, _ := strconv.Atoi(portStr)
	user, pass := seal.credentials("route")
	opts := &server.Options{
		ServerName: cfg.NodeID,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.Dir, "jetstream"),
		// JetStream's own encryption at rest, with a key kept in no file of
		// its store: a second layer under parley's own sealing.
		JetStreamKey: seal.jetStreamKey(),
		NoSigs:       true,
		NoLog:        true,
		// The client port: this process connects in process, but the
		// server opens its routes only once a client listener is up, so
		// without --nats-listen it is a random loopback port, with the
		// password of the cluster.
		Host: "127.0.0.1",
		Port: server.RANDOM_PORT,
		Cluster: server.ClusterOpts{
			Name: "parley", Host: host, Port: port, Username: user, Password: pass,
			TLSConfig: cfg.TLS, ConnectRetries: 1 << 20,
		},
	}
	if cfg.TLS != nil {
		opts.Cluster.TLSTimeout = 5
	}
	cuser, cpass := seal.credentials("client")
	opts.Username, opts.Password = cuser, cpass
	if cfg.NATSListen != "" {
		h, p, err := net.SplitHostPort(cfg.NATSListen)
		if err != nil {
			return nil, fmt.Errorf("%w: --nats-listen: %v", ErrConfig, err)
		}
		opts.Host = h
		opts.Port, _ = strconv.Atoi(p)
		if cfg.TLS != nil {
			opts.TLSConfig, opts.TLS = cfg.TLS, true
		}
	}
	for _, peer := range cfg.Peers {
		u, err := url.Parse("nats-route://" + user + ":" + url.QueryEscape(pass) + "@" + peer)
		if err != nil {
			return nil, fmt.Errorf("%w: --cluster-peers %q", ErrConfig, peer)
		}
		opts.Routes = append(opts.Routes, u)
	}
	if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, ErrStart
	}
	return srv, nil
}

// connect opens this node's NATS connection: in process to the embedded
// server, or to the URL.
func connect(cfg *Config, srv *server.Server, seal *sealer) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("parley " + cfg.NodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(200 * time.Millisecond),
	}
	if srv != nil {
		user, pass := seal.credentials("client")
		opts = append(opts, nats.InProcessServer(srv), nats.UserInfo(user, pass))
		return nats.Connect("", opts...)
	}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	return nats.Connect(cfg.URL, opts...)
}
