package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/node"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/store"
)

// mainServe runs parley's signaling and store as cmd/parley wires them
// (defaults unchanged), without the relay and the static client, plus a
// stats endpoint that the generator's -admin reads. It exists because
// figures such as goroutines and live heap per connection need the
// runtime's own numbers, and so that a profile can be taken under load.
func mainServe(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "signaling address (loopback only)")
	statsAddr := fs.String("stats", "127.0.0.1:8081", "stats address: GET /stats (JSON; ?gc=1 collects garbage first) and /debug/pprof/")
	dir := fs.String("data-dir", "", "data directory (default: a temporary one, removed at exit)")
	perAddr := fs.Int("max-conns-per-addr", 16, "connections per address, as parley's --max-conns-per-addr")
	powBits := fs.Int("pow-bits", pow.DefaultBits, "proof-of-work difficulty, as parley's --pow-bits (0: off, to measure signaling without the clients' solving)")
	newSessions := fs.Float64("new-sessions-per-minute", 0, "sessions one address may create a minute (0: parley's default, 10); the generator puts many virtual people on one 127.x.y.z address, so a run of several phases may need more")
	newBurst := fs.Int("new-session-burst", 0, "burst of -new-sessions-per-minute (0: parley's default, 20)")
	noDirect := fs.Bool("no-direct-writes", false, "send every frame through the connection's writer goroutine, as parley did before direct writes (for comparison)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := parseFlags(fs, args, out, "A bench server: parley's signaling package and sealed store on loopback, with parley's defaults,\nand a stats endpoint with the Go runtime's memory, goroutines and CPU time. Stops on SIGINT/SIGTERM."); err != nil {
		return err
	}
	for _, a := range []string{*listen, *statsAddr} {
		if err := loopbackHostPort(a); err != nil {
			return err
		}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "parley-load-serve-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.New(node.Config{
		Store: store.Config{Dir: *dir, Logger: log},
		Signaling: signaling.Config{MaxConnsPerAddr: *perAddr, NewSessionsPerMinute: *newSessions, NewSessionBurst: *newBurst, NoDirectWrites: *noDirect, Logger: log,
			ProofOfWork: pow.Config{Bits: *powBits}, NoProofOfWork: *powBits == 0},
	})
	if err != nil {
		return err
	}
	defer n.Close()
	srv := n.Signaling
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	sln, err := net.Listen("tcp", *statsAddr)
	if err != nil {
		ln.Close()
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(benchStats(srv))
	})
	// Profiles of the bench server, for the optimisation work (loopback only).
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	ss := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	go func() { errc <- ss.Serve(sln) }()
	fmt.Fprintf(out, "serving ws://%s/ws, stats http://%s/stats, pid %d\n", ln.Addr(), sln.Addr(), os.Getpid())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	_ = ss.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// benchStats is the runtime's view of the server, shaped like parley's
// /admin/stats so the generator reads both the same way.
func benchStats(srv *signaling.Server) map[string]any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := srv.Stats()
	return map[string]any{
		"goroutines": runtime.NumGoroutine(),
		"memory": map[string]any{
			"heapInuse":   ms.HeapInuse,
			"heapAlloc":   ms.HeapAlloc,
			"heapObjects": ms.HeapObjects,
			"stackInuse":  ms.StackInuse,
			"sys":         ms.Sys,
		},
		"connections": map[string]any{"online": st.Online, "total": st.ConnectionsTotal},
		"pairsTotal":  st.PairsTotal,
		"forwarded":   st.SignalsForwarded,
		"rateLimited": st.RateLimited,
		"sessions":    st.Sessions,
		"storeWrites": st.StoreWrites,
	}
}
