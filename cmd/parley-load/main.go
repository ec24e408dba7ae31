// Command parley-load is parley's load generator: virtual people on loopback that connect, join, get matched, signal and leave, with latency and server figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `parley-load: load generator for parley, on loopback only.

Usage: parley-load MODE [flags]    (parley-load MODE -h lists a mode's flags)

Modes:
  churn       people arrive at -rate per second, connect, join, get matched,
              exchange an offer, an answer and candidates, press next or leave,
              and disconnect (the realistic mix; the default)
  match       -people stay connected and join, get matched and leave again at
              -rate joins per second in all: matcher throughput and
              join-to-matched latency end to end
  forward     -pairs pairs trickle candidates at -rate messages per second in
              all: forwarding throughput, latency and server CPU per message
  idle        hold -conns idle connections (hello, no join) for -hold: memory
              and goroutines per connection
              (forward and idle also speak to PeerJS server and the bare relay
              of scripts/bench-signaling: -server peerjs or relay)
  webrtc      -pairs pairs of pion peers (signaling/client with WebRTC) connect
              through parley: time from matched to the data channel open
  serve       a bench server: parley's signaling and store on loopback, with a
              stats endpoint (memory, goroutines, CPU) for the modes above
  turn-cred   open a session on a parley server and print its TURN username and
              password (for turnutils_uclient; see scripts/bench-turn)
  slowreader  an attack (issue 10, point 1): -pairs pairs whose receivers never
              read, their partners sending the largest signals the server
              forwards; the server's peak memory (see scripts/bench-dos)
  sessionflood
              an attack (issue 10, point 3): new sessions from one address as
              fast as the server lets them; sessions a second, records and
              bytes written to its database, its memory

Every target must be a loopback address (127.0.0.0/8, ::1 or localhost): the
generator refuses any other. Connections come from many 127.x.y.z source
addresses (-sources), -per-source each, to stay under the server's per-address
cap and the ephemeral port range (-per-network spreads them over /24s, which
parley limits too). Hold many connections after raising the descriptor limit
(ulimit -n 65536) in the shell that starts both processes.

Several nodes (a cluster): match, forward and idle take -url as a list
separated by commas and put person i on the (i mod n)th; forward pairs person
2k with 2k+1, so the two are on different nodes. -pid takes the nodes'
process ids the same way and reports each one's CPU (scripts/bench-cluster).
`

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	mode := "churn"
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, usage)
		return 0
	case len(args) > 0 && !strings.HasPrefix(args[0], "-"):
		mode, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var err error
	switch mode {
	case "churn":
		err = mainChurn(ctx, args, getenv, stdout)
	case "match":
		err = mainMatch(ctx, args, getenv, stdout)
	case "forward":
		err = mainForward(ctx, args, getenv, stdout)
	case "idle":
		err = mainIdle(ctx, args, getenv, stdout)
	case "webrtc":
		err = mainWebRTC(ctx, args, getenv, stdout)
	case "serve":
		err = mainServe(ctx, args, stdout, stderr)
	case "turn-cred":
		err = mainTURNCred(ctx, args, stdout)
	case "slowreader":
		err = mainSlowReader(ctx, args, stdout)
	case "sessionflood":
		err = mainSessionFlood(ctx, args, stdout)
	default:
		fmt.Fprintf(stderr, "parley-load: unknown mode %q\n\n%s", mode, usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "parley-load %s: %v\n", mode, err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// common are the flags every client mode shares.
type common struct {
	URL        string        // ws://127.0.0.1:8080/ws, or several separated by commas
	Admin      string        // http://127.0.0.1:9090/admin/stats, optional
	AdminToken string        // bearer token for Admin (PARLEY_ADMIN_TOKEN)
	PIDs       []int         // server processes, for RSS and CPU from /proc; none = none
	Sources    int           // source addresses to spread over; 0 = as many as needed
	PerSource  int           // connections per source address
	PerNetwork int           // source addresses per 127.x.y.0/24; 0 = 250
	Timeout    time.Duration // bound on every single wait
	Media      string        // text or video (video sends video-sized SDP)
	Out        io.Writer
	// Kind is the server under test (-server, idle and forward only);
	// nil is parley.
	Kind     kind
	KindName string
	// urls is URL split at its commas (check fills it): person i of a run
	// connects to urls[i % len(urls)], one node of a cluster each.
	urls []string
	// oneURL is set by the modes that speak to one server only.
	oneURL bool
}

// urlOf is the URL person i connects to.
func (c *common) urlOf(i int) string {
	if len(c.urls) == 0 {
		return c.URL
	}
	return c.urls[i%len(c.urls)]
}

// nodeOf is the index in -url of the server person i connects to.
func (c *common) nodeOf(i int) int {
	if len(c.urls) == 0 {
		return 0
	}
	return i % len(c.urls)
}

// kind returns the server kind, parley unless -server said otherwise.
func (c *common) kind() (kind, string) {
	if c.Kind == nil {
		return kinds["parley"], "parley"
	}
	return c.Kind, c.KindName
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8080/ws", "signaling WebSocket URL (loopback only); match, forward and idle take several separated by commas, the nodes of a cluster: person i connects to the (i mod n)th, so the two people of a forward pair are on different nodes")
	fs.StringVar(&c.Admin, "admin", "", "server stats URL, e.g. http://127.0.0.1:9090/admin/stats (parley, with -admin-token) or the stats URL of parley-load serve; optional")
	fs.StringVar(&c.AdminToken, "admin-token", getenv("PARLEY_ADMIN_TOKEN"), "bearer token for -admin (default $PARLEY_ADMIN_TOKEN)")
	fs.Func("pid", "server process id: report its RSS, threads and CPU from /proc (optional); several separated by commas, one per node, report each and their sum", func(v string) error {
		pids, err := parsePIDs(v)
		c.PIDs = pids
		return err
	})
	fs.IntVar(&c.Sources, "sources", 0, "127.x.y.z source addresses to use (0: as many as -per-source needs)")
	fs.IntVar(&c.PerSource, "per-source", 12, "connections per source address (parley allows 16 per address by default)")
	fs.IntVar(&c.PerNetwork, "per-network", 250, "source addresses per 127.x.y.0/24 (parley allows 240 new connections a minute per /24: -per-network 16 with -per-source 12 stays under it)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "bound on each dial and each wait for an answer")
	fs.StringVar(&c.Media, "media", "text", "media of the joins: text (data channel SDP) or video (audio+video+data SDP, larger)")
}

func (c *common) check() error {
	c.urls = strings.Split(c.URL, ",")
	for _, u := range c.urls {
		if err := loopbackURL(u, "ws", "wss"); err != nil {
			return fmt.Errorf("-url: %w", err)
		}
	}
	if c.oneURL && len(c.urls) > 1 {
		return errors.New("-url: this mode speaks to one server (several URLs are for match, forward and idle)")
	}
	if c.PerNetwork < 0 || c.PerNetwork > 250 {
		return errors.New("-per-network must be 1 to 250")
	}
	if c.Admin != "" {
		if err := loopbackURL(c.Admin, "http", "https"); err != nil {
			return fmt.Errorf("-admin: %w", err)
		}
	}
	if c.PerSource < 1 {
		return errors.New("-per-source must be at least 1")
	}
	if c.Media != "text" && c.Media != "video" {
		return errors.New("-media must be text or video")
	}
	if c.Timeout <= 0 {
		return errors.New("-timeout must be positive")
	}
	return nil
}

// sources makes the pool of source addresses for up to conns connections.
func (c *common) sources(conns int) (*sources, error) {
	return newSources(conns, c.PerSource, c.Sources, c.PerNetwork)
}

// parsePIDs reads -pid: process ids separated by commas; "0" or "" is none.
func parsePIDs(v string) ([]int, error) {
	var pids []int
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" || f == "0" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid < 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// errNotLoopback is returned for any target outside the loopback range: the
// generator is for this machine only.
var errNotLoopback = errors.New("not a loopback address: parley-load only targets 127.0.0.0/8, ::1 or localhost")

// loopbackURL checks that u is a URL of one of the schemes whose host is a
// loopback address (a name other than localhost is refused rather than
// resolved, so DNS cannot point the generator elsewhere).
func loopbackURL(u string, schemes ...string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	ok := false
	for _, s := range schemes {
		ok = ok || p.Scheme == s
	}
	if !ok {
		return fmt.Errorf("%q: scheme must be %s", u, strings.Join(schemes, " or "))
	}
	return loopbackHost(p.Hostname())
}

func loopbackHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("%q: %w", host, errNotLoopback)
	}
	return nil
}

func loopbackHostPort(hp string) error {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return err
	}
	return loopbackHost(host)
}

// parseFlags parses a mode's flags, printing its usage for -h.
func parseFlags(fs *flag.FlagSet, args []string, out io.Writer, about string) error {
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: parley-load %s [flags]\n\n%s\n\nFlags:\n", fs.Name(), about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(out, "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}
