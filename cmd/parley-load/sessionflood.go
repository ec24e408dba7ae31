package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The session creation flood (issue 10, point 3): one address opens new
// sessions as fast as it can, each a WebSocket upgrade without a cookie and
// hello, and with -join a join too (the server before the fix wrote every
// session at hello; after it, a session that never joined writes nothing,
// and one address may create only so many a minute).

type floodConfig struct {
	URL      string
	PID      int
	Metrics  string // parley's /metrics: its database writes (optional)
	DB       string // the server's parley.db, for its size and records (optional)
	Sources  int
	Workers  int
	Duration time.Duration
	Join     bool
	Backoff  time.Duration // after a refused upgrade
	Settle   time.Duration // after the flood, before the database is read
	Timeout  time.Duration
	Out      io.Writer
}

const floodAbout = `-workers connections at a time from -sources addresses (one by default) open new sessions for
-duration: each an upgrade without a cookie, hello and welcome, with -join a join (and the proof of
work, when the server asks one) until queued or matched, then a normal close. A refused upgrade is
counted by its status and reason and retried after -backoff. Reported: sessions made a second,
upgrades refused, and with -pid the server's resident memory (VmRSS sampled every 20 ms, VmHWM);
with -metrics (parley's /metrics on the admin listener) the database writes; with -db (the server's
parley.db) the file's growth and its records per bucket, read from a copy once -settle has passed
and (with -metrics) the server has made no write for a second. Writes, growth and records are also
given per minute of flood; writes the flood caused after it ended count too.`

func mainSessionFlood(ctx context.Context, args []string, out io.Writer) error {
	var c floodConfig
	fs := flag.NewFlagSet("sessionflood", flag.ContinueOnError)
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8080/ws", "signaling WebSocket URL (loopback only)")
	fs.IntVar(&c.PID, "pid", 0, "server process id: its VmRSS and VmHWM from /proc (optional)")
	fs.StringVar(&c.Metrics, "metrics", "", "parley's Prometheus metrics, e.g. http://127.0.0.1:9090/metrics (optional)")
	fs.StringVar(&c.DB, "db", "", "the server's database file (DATA-DIR/parley.db): its size and records (optional)")
	fs.IntVar(&c.Sources, "sources", 1, "attacking addresses (127.0.1.1, 127.0.1.2, ...)")
	fs.IntVar(&c.Workers, "workers", 8, "connections at a time (parley allows 16 per address)")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "how long to flood")
	fs.BoolVar(&c.Join, "join", false, "join after welcome, so the session has been in a queue or a chat")
	fs.DurationVar(&c.Backoff, "backoff", 50*time.Millisecond, "wait after a refused upgrade")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "wait after the flood for the writes to land, before reading the database")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "bound on each dial and each wait for an answer")
	if err := parseFlags(fs, args, out, floodAbout); err != nil {
		return err
	}
	if err := loopbackURL(c.URL, "ws", "wss"); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if c.Metrics != "" {
		if err := loopbackURL(c.Metrics, "http", "https"); err != nil {
			return fmt.Errorf("-metrics: %w", err)
		}
	}
	if c.Sources < 1 || c.Workers < 1 || c.Duration <= 0 || c.Backoff < 0 || c.Settle < 0 || c.Timeout <= 0 {
		return errors.New("-sources, -workers, -duration and -timeout must be positive, -backoff and -settle not negative")
	}
	c.Out = out
	_, err := runSessionFlood(ctx, c)
	return err
}

// floodResult is what a run measured; the test checks it.
type floodResult struct {
	Sessions, Joined      int64
	Refused               map[string]int64 // upgrades refused, by status and reason
	Errors                map[string]int64
	Elapsed               time.Duration
	Writes                float64 // the server's database writes during the flood; -1 unknown
	DBBefore, DBAfter     int64   // the file's size; 0 unknown
	Records, RecordsAfter map[string]int
	Base, Peak            procMem
}

func runSessionFlood(ctx context.Context, cfg floodConfig) (floodResult, error) {
	res := floodResult{Writes: -1}
	var err error
	if cfg.DB != "" {
		if res.DBBefore, res.Records, err = dbFigures(cfg.DB); err != nil {
			return res, err
		}
	}
	before, err := scrapeMetrics(ctx, cfg.Metrics)
	if err != nil {
		return res, err
	}
	mem, err := watchMem(cfg.PID, 20*time.Millisecond)
	if err != nil {
		return res, err
	}
	var sessions, joined atomic.Int64
	var refused, errs tally
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		src := attackSource(w % cfg.Sources)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fctx.Err() == nil {
				c, err := dialFresh(fctx, cfg.URL, src, cfg.Timeout, 0)
				if err != nil {
					if fctx.Err() != nil {
						return
					}
					var r *refusal
					if errors.As(err, &r) {
						refused.add(r.kind())
					} else {
						errs.add(dialKind(err))
					}
					select {
					case <-fctx.Done():
					case <-time.After(cfg.Backoff):
					}
					continue
				}
				sessions.Add(1)
				if cfg.Join {
					if ok, kind := joinOnce(fctx, c, cfg.Timeout); ok {
						joined.Add(1)
					} else if fctx.Err() == nil {
						errs.add(kind)
					}
				}
				c.close()
			}
		}()
	}
	wg.Wait()
	cancel()
	res.Elapsed = time.Since(start)
	res.Base, res.Peak, _ = mem.finish()
	after, err := settle(ctx, cfg)
	if err != nil {
		return res, err
	}
	if d, ok := metricDelta(before, after, "parley_store_write_duration_seconds_count"); ok {
		res.Writes = d
	}
	if cfg.DB != "" {
		if res.DBAfter, res.RecordsAfter, err = dbFigures(cfg.DB); err != nil {
			return res, err
		}
	}
	res.Sessions, res.Joined = sessions.Load(), joined.Load()
	res.Refused, res.Errors = refused.snapshot(), errs.snapshot()
	floodReport(cfg, res)
	return res, nil
}

// settle waits -settle, and then, when the metrics say how many writes the
// server made, until a second passes without one (a server may write what
// the flood left for a while: the server before the fix wrote each paired
// session's last state when its resume window ended), at most a minute
// more. It returns the metrics at the end.
func settle(ctx context.Context, cfg floodConfig) (map[string]float64, error) {
	const writes = "parley_store_write_duration_seconds_count"
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	m, err := scrapeMetrics(ctx, cfg.Metrics)
	if err != nil || m == nil {
		return m, err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(time.Second)
		next, err := scrapeMetrics(ctx, cfg.Metrics)
		if err != nil {
			return nil, err
		}
		if d, ok := metricDelta(m, next, writes); !ok || d == 0 {
			return next, nil
		}
		m = next
	}
	return m, nil
}

// joinOnce sends a join (solving the proof of work first when welcome asked
// one) and waits until the server has queued or matched the session.
func joinOnce(ctx context.Context, c *vconn, timeout time.Duration) (bool, string) {
	if err := c.prove(ctx); err != nil {
		return false, "pow:" + netErrKind(err)
	}
	if err := c.sendJoin(joinFrame); err != nil {
		return false, "write:" + netErrKind(err)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	for {
		m, err := c.read()
		if err != nil {
			return false, "read:" + closeKind(err)
		}
		switch m.Type {
		case "queued", "matched":
			return true, ""
		case "error":
			return false, "join:server-" + m.Code
		}
	}
}

func dbFigures(path string) (int64, map[string]int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, nil, err
	}
	n, err := countRecords(path)
	return fi.Size(), n, err
}

func floodReport(cfg floodConfig, res floodResult) {
	w := cfg.Out
	perMin := func(v float64) float64 { return v / res.Elapsed.Minutes() }
	what := "upgrade, hello"
	if cfg.Join {
		what += ", join"
	}
	fmt.Fprintf(w, "sessionflood (%s): %d workers from %d addresses for %s\n", what, cfg.Workers, cfg.Sources, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "sessions:          %d made (%.1f/s)", res.Sessions, perSecond(res.Sessions, res.Elapsed))
	if cfg.Join {
		fmt.Fprintf(w, ", %d joined", res.Joined)
	}
	fmt.Fprintln(w)
	printTally(w, "refused upgrades:", res.Refused)
	printErrors(w, res.Errors)
	fig := map[string]float64{
		"sources": float64(cfg.Sources), "workers": float64(cfg.Workers), "seconds": res.Elapsed.Seconds(),
		"sessions": float64(res.Sessions), "sessions_per_s": perSecond(res.Sessions, res.Elapsed), "joined": float64(res.Joined),
		"refused": float64(sum(res.Refused)),
	}
	if res.Writes >= 0 {
		fmt.Fprintf(w, "database writes:   %.0f (%.0f a minute)\n", res.Writes, perMin(res.Writes))
		fig["writes"], fig["writes_per_min"] = res.Writes, perMin(res.Writes)
	}
	if res.RecordsAfter != nil {
		grow := res.DBAfter - res.DBBefore
		fmt.Fprintf(w, "database file:     %d -> %d bytes (%+d, %.0f a minute)\n", res.DBBefore, res.DBAfter, grow, perMin(float64(grow)))
		fmt.Fprintf(w, "records:           %s\n", recordsDiff(res.Records, res.RecordsAfter))
		s := res.RecordsAfter["sessions"] - res.Records["sessions"]
		fig["db_bytes_before"], fig["db_bytes_after"], fig["db_growth_per_min"] = float64(res.DBBefore), float64(res.DBAfter), perMin(float64(grow))
		fig["session_records"], fig["session_records_per_min"] = float64(s), perMin(float64(s))
	}
	if res.Peak.rss > 0 {
		fmt.Fprintf(w, "server rss:        %.1f MiB before, peak %.1f MiB (%+.1f MiB); VmHWM %.1f MiB before, %.1f MiB after\n",
			mib(res.Base.rss), mib(res.Peak.rss), mib(res.Peak.rss-res.Base.rss), mib(res.Base.hwm), mib(res.Peak.hwm))
		fig["rss_base_bytes"], fig["rss_peak_bytes"], fig["hwm_bytes"] = float64(res.Base.rss), float64(res.Peak.rss), float64(res.Peak.hwm)
	}
	mode := "sessionflood-hello"
	if cfg.Join {
		mode = "sessionflood-join"
	}
	printResult(w, mode, "parley", fig)
}

// recordsDiff is "sessions 0 -> 1200, expiry 0 -> 1200": the sessions
// bucket and every other that changed.
func recordsDiff(before, after map[string]int) string {
	names := make([]string, 0, len(after))
	for k := range after {
		names = append(names, k)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		if k == "sessions" || before[k] != after[k] {
			parts = append(parts, fmt.Sprintf("%s %d -> %d", k, before[k], after[k]))
		}
	}
	if len(parts) == 0 {
		return "no sessions bucket, nothing changed"
	}
	return strings.Join(parts, ", ")
}
