package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/turn"
	"golang.org/x/crypto/acme/autocert"
)

// Config is everything parley can be told, from flags with PARLEY_*
// environment fallbacks: --data-dir is PARLEY_DATA_DIR. A flag wins over
// the environment.
type Config struct {
	Listen         string
	DataDir        string
	KeyFile        string
	Key            string // PARLEY_KEY only: a secret does not belong on a command line
	OldKeyFiles    []string
	AllowedOrigins []string
	TrustedProxies []netip.Prefix
	Topics         string

	SessionTTL   time.Duration
	ResumeWindow time.Duration
	BanAfter     int
	BanFor       time.Duration
	ReportWindow time.Duration
	InterestWait time.Duration
	Languages    []string
	LanguageWait time.Duration

	PowBits        int // 0: no proof of work
	PowGlobalJoins int // joins a minute past which everyone's work doubles; 0: none

	HideIPDefault   bool
	MaxConnsPerAddr int
	// New sessions per IPv4 address or IPv6 /64: a rate and its burst.
	NewSessionsPerMinute float64
	NewSessionBurst      int
	// Bytes that may wait for slow readers: per connection and in all.
	MaxQueuedBytes int
	MaxQueuedTotal int64

	TURNListen          string
	TURNTLSListen       string
	TURNPublicIP        netip.Addr
	TURNHost            string
	TURNRelayPorts      [2]int
	TURNAllowPeers      []netip.Prefix
	TURNRealm           string
	TURNMaxPerAddr      int
	TURNMaxSession      int
	TURNMaxTotal        int
	TURNMaxPerNet       int
	TURNMaxConnsPerAddr int
	TURNMaxConns        int

	AdminListen string
	AdminToken  string // PARLEY_ADMIN_TOKEN only

	TLSCert       string
	TLSKey        string
	ACMEDomain    string
	ACMEListen    string
	ACMEDirectory string // the CA's ACME directory URL; Let's Encrypt unless told otherwise
	ACMECA        string // PEM file trusted for the directory's HTTPS, besides the system roots

	// Several nodes (signaling/cluster): an existing NATS, or NATS embedded
	// with routes between the nodes.
	NATSURL       string
	ClusterListen string
	ClusterPeers  []string
	NATSListen    string
	NodeID        string

	LogFormat string
	LogLevel  string

	Helpline Helpline // the helpline's flags (helpline.go)

	ShutdownTimeout time.Duration
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// rawFlags are the flags parsed into Config after the parse, from text.
type rawFlags struct {
	origins, proxies, allowPeers, relayPorts, publicIP, oldKeys, clusterPeers, languages string
}

// defineFlags defines every flag of parley on fs, writing into c and raw.
func defineFlags(fs *flag.FlagSet, c *Config, raw *rawFlags) {
	fs.StringVar(&c.Listen, "listen", ":8080", "HTTP and WebSocket address")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the database and, unless --key-file says otherwise, the key file")
	fs.StringVar(&c.KeyFile, "key-file", "", "master key file (default <data-dir>/parley.key); PARLEY_KEY holds the key itself instead")
	fs.StringVar(&raw.oldKeys, "old-key-files", "", "comma-separated files of retired keys still accepted for reading (key rotation)")
	fs.StringVar(&raw.origins, "allowed-origins", "", "comma-separated extra origins allowed to open /ws (the server's own origin always is)")
	fs.StringVar(&raw.proxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&c.Topics, "topics", "", "JSON file with the preference list and the statements (default: the embedded demo list)")
	durationFlag(fs, &c.SessionTTL, "session-ttl", time.Hour, "how long a session is kept after its last activity")
	durationFlag(fs, &c.ResumeWindow, "resume-window", 30*time.Second, "how long a chat waits for a person who dropped or reloaded")
	fs.IntVar(&c.BanAfter, "ban-after", 3, "reports from distinct networks (an IPv4 address or an IPv6 /64; one group room counts once) that ban the reported IPv4 address or IPv6 /64; IPv6 bans widen to the /56 or /48 when several /64s under it are banned")
	durationFlag(fs, &c.BanFor, "ban-for", 90*day, "how long a ban lasts")
	durationFlag(fs, &c.ReportWindow, "report-window", 90*day, "how long a report is kept and counts")
	durationFlag(fs, &c.InterestWait, "interest-wait", 5*time.Second, "how long interests mode waits for a shared interest before matching at random")
	fs.StringVar(&raw.languages, "languages", "en,nl", "comma-separated chat languages people may choose to be matched by (codes such as en, nl, pt-br; empty offers none)")
	durationFlag(fs, &c.LanguageWait, "language-wait", 10*time.Second, "how long someone who chose a language waits for the same language before anyone will do")
	fs.IntVar(&c.PowBits, "pow-bits", pow.DefaultBits, "difficulty of the proof of work before a session's first join: zero bits of each of 4 hashes (each bit doubles the work; 17 is about a second on a mid-range phone); 0 turns it off")
	fs.IntVar(&c.PowGlobalJoins, "pow-global-joins-per-minute", 0, "joins a minute across the server past which everyone's proof of work doubles, up to 8x (0: only busy address prefixes get harder work)")
	fs.BoolVar(&c.HideIPDefault, "hide-ip-default", false, "turn the hide-my-IP toggle on by default (all media through the relay)")
	fs.IntVar(&c.MaxConnsPerAddr, "max-conns-per-addr", 16, "open WebSocket connections allowed per IPv4 address or IPv6 /64")
	fs.Float64Var(&c.NewSessionsPerMinute, "new-sessions-per-minute", 10, "new sessions one IPv4 address or IPv6 /64 may create a minute, after --new-session-burst; more are refused with 429")
	fs.IntVar(&c.NewSessionBurst, "new-session-burst", 20, "new sessions one IPv4 address or IPv6 /64 may create at once")
	fs.IntVar(&c.MaxQueuedBytes, "max-queued-bytes", 1<<20, "bytes of messages that may wait for one connection that reads too slowly (1 MiB); past it the connection is closed")
	fs.Int64Var(&c.MaxQueuedTotal, "max-queued-total", 256<<20, "bytes of messages that may wait for all slow connections together (256 MiB); past it the one with the longest queue is closed")
	fs.StringVar(&c.TURNListen, "turn-listen", ":3478", "TURN address over UDP and TCP (\"off\" disables the relay)")
	fs.StringVar(&c.TURNTLSListen, "turn-tls-listen", ":5349", "TURN over TLS address, used when a certificate is configured")
	fs.StringVar(&raw.publicIP, "turn-public-ip", "", "relay address announced to clients (default: detected; 127.0.0.1 on a loopback-only host)")
	fs.StringVar(&c.TURNHost, "turn-host", "", "host name put in the TURN URLs handed to browsers (default: the public IP)")
	fs.StringVar(&raw.relayPorts, "turn-relay-ports", "49152-65535", "UDP port range of relay allocations")
	fs.StringVar(&raw.allowPeers, "turn-allow-peers", "", "comma-separated CIDRs the relay may reach despite the peer policy (LAN setups, tests)")
	fs.StringVar(&c.TURNRealm, "turn-realm", "parley", "TURN realm")
	fs.IntVar(&c.TURNMaxSession, "turn-max-per-session", turn.DefaultMaxPerSession, "relay allocations per session")
	fs.IntVar(&c.TURNMaxPerAddr, "turn-max-per-addr", turn.DefaultMaxPerPrefix, "relay allocations per IPv4 address or IPv6 /64")
	fs.IntVar(&c.TURNMaxTotal, "turn-max-total", turn.DefaultMaxTotal, "relay allocations in total")
	fs.IntVar(&c.TURNMaxPerNet, "turn-max-per-network", 0, "relay allocations per IPv4 /24 or IPv6 /48 (default 1/16 of --turn-max-total, at least --turn-max-per-addr)")
	fs.IntVar(&c.TURNMaxConnsPerAddr, "turn-max-conns-per-addr", 0, "TURN over TCP and TLS connections per IPv4 address or IPv6 /64 (default --turn-max-per-addr)")
	fs.IntVar(&c.TURNMaxConns, "turn-max-conns", 0, "TURN over TCP and TLS connections in total (default --turn-max-total)")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:9090", "metrics, health and admin API address (PARLEY_ADMIN_TOKEN enables the admin API); \"off\" disables")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS and TURN over TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.ACMEDomain, "acme-domain", "", "obtain certificates for this domain automatically (TLS-ALPN-01 on --listen, HTTP-01 on --acme-listen)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "run as one node of several on an existing NATS cluster with JetStream (nats://host:4222,...)")
	fs.StringVar(&c.ClusterListen, "cluster-listen", "", "run as one node of several with NATS embedded: this node's route address, host:port (TLS from --tls-cert off loopback)")
	fs.StringVar(&raw.clusterPeers, "cluster-peers", "", "comma-separated route addresses (host:port) of the other nodes, with --cluster-listen")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "expose the embedded NATS client port at host:port (default: in process only)")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's name in a cluster: lower-case letters, digits and - (default: derived from the host name and --cluster-listen)")
	fs.StringVar(&c.ACMEListen, "acme-listen", ":80", "HTTP address for ACME challenges and the redirect to HTTPS (\"off\": TLS-ALPN challenges on --listen :443 only)")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", autocert.DefaultACMEDirectory, "the certificate authority's ACME directory URL")
	fs.StringVar(&c.ACMECA, "acme-ca", "", "PEM file of a CA certificate to trust, besides the system's, for the ACME directory's HTTPS (a private or test CA)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	durationFlag(fs, &c.ShutdownTimeout, "shutdown-timeout", 5*time.Second, "how long a graceful shutdown may take")
	defineHelplineFlags(fs, &c.Helpline)
}

// parseConfig reads flags from args with environment fallbacks. It returns
// flag.ErrHelp for -h.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var (
		c   Config
		raw rawFlags
	)
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.SetOutput(out)
	defineFlags(fs, &c, &raw)

	fs.Usage = func() {
		fmt.Fprintf(out, "parley %s: anonymous chats between strangers by text, voice or video, small private rooms by link, and a helpline.\n\n", version)
		fmt.Fprintf(out, "Usage: parley [flags]\n       parley version\n       parley backup [flags] FILE   (a running server's database, through the admin API)\n       parley restore [flags] FILE  (in place of a stopped server's database)\n       parley invite [flags]        (a helpline staff invite, through the admin API)\n\nEvery flag can also be set by its environment variable; a flag wins.\n")
		fmt.Fprintf(out, "Durations are written with d, h, m or s: 90d, 2160h, 1h30m and 30s all work.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(out, "  --%s (%s, default %s)\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
		})
		fmt.Fprintf(out, "\nSecrets only from the environment:\n  PARLEY_KEY          the master key itself (base64 or hex, 32 bytes)\n  PARLEY_ADMIN_TOKEN  bearer token of the admin API (without it the API is off)\n")
	}

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see parley -h)", fs.Arg(0))
	}
	c.Key = getenv("PARLEY_KEY")
	c.AdminToken = getenv("PARLEY_ADMIN_TOKEN")

	var err error
	c.AllowedOrigins = splitList(raw.origins)
	c.Languages = splitList(raw.languages)
	c.OldKeyFiles = splitList(raw.oldKeys)
	c.ClusterPeers = splitList(raw.clusterPeers)
	if c.TrustedProxies, err = parsePrefixes(raw.proxies); err != nil {
		return c, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.TURNAllowPeers, err = parsePrefixes(raw.allowPeers); err != nil {
		return c, fmt.Errorf("--turn-allow-peers: %w", err)
	}
	if raw.publicIP != "" {
		if c.TURNPublicIP, err = netip.ParseAddr(raw.publicIP); err != nil {
			return c, fmt.Errorf("--turn-public-ip: %w", err)
		}
	}
	if c.TURNRelayPorts, err = parsePortRange(raw.relayPorts); err != nil {
		return c, fmt.Errorf("--turn-relay-ports: %w", err)
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if c.KeyFile == "" {
		c.KeyFile = filepath.Join(c.DataDir, "parley.key")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.NATSURL != "" && c.ClusterListen != "" {
		errs = append(errs, errors.New("--nats-url and --cluster-listen exclude each other"))
	}
	if len(c.ClusterPeers) > 0 && c.ClusterListen == "" {
		errs = append(errs, errors.New("--cluster-peers needs --cluster-listen"))
	}
	if c.ACMEDomain != "" && c.TLSCert != "" {
		errs = append(errs, errors.New("--acme-domain and --tls-cert exclude each other"))
	}
	if c.ACMEDirectory == "" {
		c.ACMEDirectory = autocert.DefaultACMEDirectory
	}
	if c.ACMEDomain == "" && (c.ACMECA != "" || c.ACMEDirectory != autocert.DefaultACMEDirectory) {
		errs = append(errs, errors.New("--acme-directory and --acme-ca are used only with --acme-domain"))
	}
	if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, errors.New("--acme-directory must be an https:// URL"))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, errors.New("--session-ttl must be at least 1m"))
	}
	if c.ResumeWindow <= 0 || c.ResumeWindow > c.SessionTTL {
		errs = append(errs, errors.New("--resume-window must be positive and at most --session-ttl"))
	}
	if c.BanAfter < 1 {
		errs = append(errs, errors.New("--ban-after must be at least 1"))
	}
	if c.BanFor <= 0 || c.ReportWindow <= 0 {
		errs = append(errs, errors.New("--ban-for and --report-window must be positive"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, errors.New("--log-format must be text or json"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, errors.New("--log-level must be debug, info, warn or error"))
	}
	if c.MaxConnsPerAddr < 1 {
		errs = append(errs, errors.New("--max-conns-per-addr must be at least 1"))
	}
	if c.NewSessionsPerMinute <= 0 || c.NewSessionBurst < 1 {
		errs = append(errs, errors.New("--new-sessions-per-minute must be positive and --new-session-burst at least 1"))
	}
	if c.MaxQueuedBytes < 2*proto.MaxFrameBytes {
		errs = append(errs, fmt.Errorf("--max-queued-bytes must hold two frames: at least %d", 2*proto.MaxFrameBytes))
	}
	if c.MaxQueuedTotal < int64(c.MaxQueuedBytes) {
		errs = append(errs, errors.New("--max-queued-total must be at least --max-queued-bytes"))
	}
	for _, l := range c.Languages {
		if !proto.ValidLanguage(l) {
			errs = append(errs, fmt.Errorf("--languages: %q is not a language code like en, nl or pt-br", l))
		}
	}
	if len(c.Languages) > matcher.MaxLanguages {
		errs = append(errs, fmt.Errorf("--languages: at most %d", matcher.MaxLanguages))
	}
	if c.LanguageWait <= 0 {
		errs = append(errs, errors.New("--language-wait must be positive"))
	}
	if c.PowBits < 0 || c.PowBits > proto.MaxPowBits-pow.DefaultMaxDoublings {
		errs = append(errs, fmt.Errorf("--pow-bits must be between 0 (off) and %d", proto.MaxPowBits-pow.DefaultMaxDoublings))
	}
	if c.PowGlobalJoins < 0 {
		errs = append(errs, errors.New("--pow-global-joins-per-minute must not be negative"))
	}
	errs = append(errs, c.validateHelpline()...)
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range splitList(s) {
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

func parsePortRange(s string) ([2]int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return [2]int{}, fmt.Errorf("%q is not a range like 49152-65535", s)
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 1024 || b > 65535 || a > b {
		return [2]int{}, fmt.Errorf("%q is not a range of ports between 1024 and 65535", s)
	}
	return [2]int{a, b}, nil
}

// readKeyFiles reads retired keys for rotation.
func readKeyFiles(paths []string) ([]string, error) {
	var keys []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading an old key: %w", err)
		}
		keys = append(keys, strings.TrimSpace(string(b)))
	}
	return keys, nil
}
