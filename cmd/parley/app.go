package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/cluster"
	"github.com/parley-chat/parley/signaling/node"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/static"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/turn"
)

// app is the whole server: a node (store, relay, signaling) and the
// listeners around it, built in that order and shut down in reverse.
type app struct {
	cfg Config
	log *slog.Logger

	node  *node.Node
	store *store.Store
	relay *turn.Server // nil when the relay is off
	sig   *signaling.Server
	tls   *tlsSetup    // nil without TLS
	admin *adminServer // nil when --admin-listen is off

	httpLn  net.Listener
	httpSrv *http.Server

	errc chan error
}

// newApp opens the store, starts the relay and binds every listener, so
// that a bad address or a locked database fails before anything serves.
func newApp(cfg Config, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, errc: make(chan error, 4)}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	topics := matcher.DefaultTopics()
	if cfg.Topics != "" {
		b, err := os.ReadFile(cfg.Topics)
		if err != nil {
			return nil, fmt.Errorf("reading --topics: %w", err)
		}
		if topics, err = matcher.ParseTopics(b); err != nil {
			return nil, fmt.Errorf("--topics %s: %w", cfg.Topics, err)
		}
	}
	oldKeys, err := readKeyFiles(cfg.OldKeyFiles)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data dir: %w", err)
	}
	if a.tls, err = newTLSSetup(cfg, log.With("component", "tls")); err != nil {
		return nil, err
	}
	nc := node.Config{
		Store: store.Config{
			Dir:          cfg.DataDir,
			KeyFile:      cfg.KeyFile,
			Key:          cfg.Key,
			OldKeys:      oldKeys,
			SessionTTL:   cfg.SessionTTL,
			ReportWindow: cfg.ReportWindow,
			BanAfter:     cfg.BanAfter,
			BanFor:       cfg.BanFor,
			Logger:       log.With("component", "store"),
		},
		Signaling: signaling.Config{
			Topics:               topics,
			InterestWait:         cfg.InterestWait,
			Languages:            cfg.Languages,
			LanguageWait:         cfg.LanguageWait,
			ProofOfWork:          pow.Config{Bits: cfg.PowBits, GlobalJoinsPerMinute: cfg.PowGlobalJoins},
			NoProofOfWork:        cfg.PowBits == 0,
			AllowedOrigins:       cfg.AllowedOrigins,
			TrustedProxies:       cfg.TrustedProxies,
			ResumeWindow:         cfg.ResumeWindow,
			SessionTTL:           cfg.SessionTTL,
			HideIPDefault:        cfg.HideIPDefault,
			MaxConnsPerAddr:      cfg.MaxConnsPerAddr,
			NewSessionsPerMinute: cfg.NewSessionsPerMinute,
			NewSessionBurst:      cfg.NewSessionBurst,
			MaxQueuedBytes:       cfg.MaxQueuedBytes,
			MaxQueuedTotal:       cfg.MaxQueuedTotal,
			Static: static.Handler(static.Options{
				SessionTTL:    cfg.SessionTTL,
				ResumeWindow:  cfg.ResumeWindow,
				ReportWindow:  cfg.ReportWindow,
				BanFor:        cfg.BanFor,
				BanAfter:      cfg.BanAfter,
				HideIPDefault: cfg.HideIPDefault,
				Helpline:      cfg.Helpline.staticOptions(),
			}),
			Helpline: cfg.Helpline.config(),
			Logger:   log.With("component", "signaling"),
		},
	}
	if cfg.TURNListen != "off" {
		nc.Relay = &turn.Config{
			UDPListen:         cfg.TURNListen,
			TCPListen:         cfg.TURNListen,
			TLSListen:         cfg.TURNTLSListen,
			TLS:               a.tls.turnConfig(),
			PublicIP:          cfg.TURNPublicIP,
			Host:              a.tls.turnHost(cfg.TURNHost),
			RelayPortMin:      cfg.TURNRelayPorts[0],
			RelayPortMax:      cfg.TURNRelayPorts[1],
			Realm:             cfg.TURNRealm,
			AllowPeers:        cfg.TURNAllowPeers,
			MaxPerSession:     max(cfg.TURNMaxSession, cfg.Helpline.relayAllocations()),
			MaxPerPrefix:      max(cfg.TURNMaxPerAddr, cfg.Helpline.relayAllocations()),
			MaxTotal:          cfg.TURNMaxTotal,
			MaxPerNetwork:     cfg.TURNMaxPerNet,
			MaxConnsPerPrefix: cfg.TURNMaxConnsPerAddr,
			MaxConns:          cfg.TURNMaxConns,
			Logger:            log.With("component", "turn"),
		}
	}
	if cfg.NATSURL != "" || cfg.ClusterListen != "" {
		nc.Cluster = &cluster.Config{
			NodeID: cfg.NodeID, URL: cfg.NATSURL, Listen: cfg.ClusterListen, Peers: cfg.ClusterPeers,
			NATSListen: cfg.NATSListen, TLS: a.tls.clusterConfig(), Logger: log.With("component", "cluster"),
		}
	}
	if a.node, err = node.New(nc); err != nil {
		return nil, err
	}
	a.store, a.relay, a.sig = a.node.Store, a.node.Relay, a.node.Signaling

	a.httpLn, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on --listen %s: %w", cfg.Listen, err)
	}
	a.httpSrv = &http.Server{
		Handler:           accessLog(log.With("component", "http"), secureHeaders(a.sig.Handler())),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          newErrorLog(log.With("component", "http")),
	}
	a.httpSrv.TLSConfig = a.tls.httpsConfig()
	if a.admin, err = newAdminServer(a); err != nil {
		return nil, err
	}
	return a, nil
}

// start serves every listener.
func (a *app) start() error {
	if err := a.node.Start(); err != nil {
		return err
	}
	go serveHTTP(a.httpSrv, a.httpLn, a.tls != nil, "http", a.errc)
	a.tls.serveACME(a.httpLn.Addr(), a.log.With("component", "acme"), a.errc)
	a.admin.start(a.errc)
	attrs := []any{"version", version, "listen", a.httpLn.Addr().String(), "tls", a.tls.modeName(),
		"admin", a.admin.addr(), "admin_api", a.admin != nil && a.admin.enabled, "relay", a.relay != nil}
	if a.relay != nil {
		// The operator's own address, which browsers are told to relay
		// through: worth seeing when the detection picked the wrong one.
		attrs = append(attrs, "turn_public_ip", a.relay.PublicIP().String())
	}
	if addr := a.tls.acmeAddr(); addr != nil {
		attrs = append(attrs, "acme_listen", addr.String())
	}
	a.log.Info("parley serving", attrs...)
	return nil
}

// URL is where the server answers, for tests and the start-up line.
func (a *app) URL() string {
	if a.tls != nil {
		return "https://" + a.httpLn.Addr().String()
	}
	return "http://" + a.httpLn.Addr().String()
}

// shutdown closes sockets with 1012 so clients resume elsewhere or after a
// restart, then stops everything in reverse order.
func (a *app) shutdown(ctx context.Context) error {
	var errs []error
	if a.sig != nil {
		errs = append(errs, a.sig.Shutdown(ctx))
	}
	if a.httpSrv != nil {
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = a.httpSrv.Close()
		}
	}
	errs = append(errs, a.tls.shutdown(ctx), a.admin.shutdown(ctx))
	a.close()
	return errors.Join(errs...)
}

// close releases what newApp acquired, in reverse order.
func (a *app) close() {
	if a.httpLn != nil {
		_ = a.httpLn.Close()
	}
	a.admin.close()
	a.tls.close()
	if a.node != nil {
		_ = a.node.Close()
		a.node = nil
	}
}
