package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxSamples bounds the memory of one latency series; past it a reservoir
// keeps a uniform sample.
const maxSamples = 1 << 21

// hist is a latency series.
type hist struct {
	mu  sync.Mutex // guards the fields below
	d   []time.Duration
	n   int64
	max time.Duration
}

func (h *hist) add(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.max = max(h.max, d)
	if len(h.d) < maxSamples {
		h.d = append(h.d, d)
		return
	}
	if i := rand.Int64N(h.n); i < maxSamples {
		h.d[i] = d
	}
}

// summary is a latency series summarised.
type summary struct {
	N                  int64
	P50, P95, P99, Max time.Duration
}

func (h *hist) summary() summary {
	h.mu.Lock()
	d := slices.Clone(h.d)
	s := summary{N: h.n, Max: h.max}
	h.mu.Unlock()
	if len(d) == 0 {
		return s
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	s.P50, s.P95, s.P99 = q(0.50), q(0.95), q(0.99)
	return s
}

func (s summary) String() string {
	if s.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (n=%d)", ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max), s.N)
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) + "ms" }

// tally counts errors by kind.
type tally struct {
	mu sync.Mutex // guards m
	m  map[string]int64
}

func (t *tally) add(kind string) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int64{}
	}
	t.m[kind]++
	t.mu.Unlock()
}

func (t *tally) snapshot() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.m))
	for k, v := range t.m {
		out[k] = v
	}
	return out
}

func (t *tally) total() int64 {
	var n int64
	for _, v := range t.snapshot() {
		n += v
	}
	return n
}

func printErrors(w io.Writer, m map[string]int64) {
	if len(m) == 0 {
		fmt.Fprintln(w, "errors:            none")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprint(w, "errors:           ")
	for _, k := range keys {
		fmt.Fprintf(w, " %s=%d", k, m[k])
	}
	fmt.Fprintln(w)
}

// serverSample is what can be learnt about the server process: numeric
// fields of the stats endpoint (flattened: "memory.heapInuse") and, with a
// pid, the process's RSS, threads and CPU time from /proc.
type serverSample struct {
	at     time.Time
	fields map[string]float64
	procSample
	// procs are the processes of -pid one by one (several: the nodes of a
	// cluster); procSample above is their sum.
	procs []procSample
	ok    bool
}

// procSample is what /proc says of one process.
type procSample struct {
	rss     int64 // bytes
	threads int
	cpu     time.Duration // user + system
}

type serverProbe struct {
	url, token string
	pids       []int
}

func (c *common) probe() *serverProbe {
	if c.Admin == "" && len(c.PIDs) == 0 {
		return nil
	}
	return &serverProbe{url: c.Admin, token: c.AdminToken, pids: c.PIDs}
}

func (p *serverProbe) sample(ctx context.Context, gc bool) (serverSample, error) {
	s := serverSample{at: time.Now(), fields: map[string]float64{}}
	if p == nil {
		return s, nil
	}
	// /proc first: the stats endpoint may collect garbage when asked,
	// which must not change the RSS read.
	for _, pid := range p.pids {
		var ps procSample
		if err := readProc(pid, &ps); err != nil {
			return s, err
		}
		s.procs = append(s.procs, ps)
		s.rss += ps.rss
		s.threads += ps.threads
		s.cpu += ps.cpu
		s.ok = true
	}
	if p.url != "" {
		u := p.url
		if gc {
			// The bench server collects garbage first when asked, so heap
			// figures are live memory rather than whatever the GC left.
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += sep + "gc=1"
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return s, err
		}
		if p.token != "" {
			req.Header.Set("Authorization", "Bearer "+p.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return s, fmt.Errorf("server stats: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return s, fmt.Errorf("server stats: %s", resp.Status)
		}
		var v any
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
			return s, fmt.Errorf("server stats: %w", err)
		}
		flatten("", v, s.fields)
		s.ok = true
	}
	return s, nil
}

func flatten(prefix string, v any, out map[string]float64) {
	switch v := v.(type) {
	case float64:
		out[prefix] = v
	case map[string]any:
		for k, x := range v {
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, x, out)
		}
	}
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func readProc(pid int, s *procSample) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return fmt.Errorf("server process: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = kb << 10
		case "Threads:":
			s.threads, _ = strconv.Atoi(f[1])
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return fmt.Errorf("server process: %w", err)
	}
	// The command name may hold spaces: fields count from after ")".
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) > 13 {
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		s.cpu = time.Duration(u+k) * time.Second / clockTicks
	}
	return nil
}

// selfCPU is this process's CPU time, to show what the generator cost.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// interesting are the stats fields printed; the rest stays in the JSON.
func interesting(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"goroutine", "heap", "stack", "sys", "rss", "online", "conn", "alloc", "mem", "cpu"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// printServer prints the server's figures after a run, and per-connection
// deltas when conns > 0.
func printServer(w io.Writer, before, after serverSample, conns int) {
	if !after.ok {
		return
	}
	keys := make([]string, 0, len(after.fields))
	for k := range after.fields {
		if interesting(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := after.fields[k]
		line := fmt.Sprintf("server %-28s %.0f", k+":", v)
		if b, ok := before.fields[k]; ok && conns > 0 {
			line += fmt.Sprintf("   (was %.0f; %+.1f per connection)", b, (v-b)/float64(conns))
		}
		fmt.Fprintln(w, line)
	}
	if after.rss > 0 {
		line := fmt.Sprintf("server %-28s %.1f MiB, %d threads", "rss:", float64(after.rss)/(1<<20), after.threads)
		if before.rss > 0 && conns > 0 {
			line += fmt.Sprintf("   (was %.1f MiB; %+.0f bytes per connection)", float64(before.rss)/(1<<20), float64(after.rss-before.rss)/float64(conns))
		}
		fmt.Fprintln(w, line)
	}
	if d := after.at.Sub(before.at); after.cpu > 0 && d > 0 && !before.at.IsZero() {
		fmt.Fprintf(w, "server %-28s %.2f cores busy on average\n", "cpu:", float64(after.cpu-before.cpu)/float64(d))
		if len(after.procs) > 1 && len(before.procs) == len(after.procs) {
			for i, a := range after.procs {
				fmt.Fprintf(w, "server %-28s %.2f cores busy on average, %.1f MiB, %d threads\n", fmt.Sprintf("node %d cpu:", i), float64(a.cpu-before.procs[i].cpu)/float64(d), float64(a.rss)/(1<<20), a.threads)
			}
		}
	}
}

// cpuPer is each process's CPU time over the run, and their sum, divided by
// n (a count of joins or signals) in microseconds: the sum first, then the
// processes in -pid's order. NaN where nothing was measured.
func cpuPer(before, after serverSample, n int64) []float64 {
	out := []float64{math.NaN()}
	if len(after.procs) == 0 || len(before.procs) != len(after.procs) || n <= 0 {
		return out // a process gone: its sum would not be the whole
	}
	out[0] = float64(after.cpu-before.cpu) / 1e3 / float64(n)
	if len(after.procs) > 1 {
		for i, a := range after.procs {
			out = append(out, float64(a.cpu-before.procs[i].cpu)/1e3/float64(n))
		}
	}
	return out
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// printResult prints one machine-readable line for scripts
// (scripts/bench-signaling reads it): RESULT mode=... server=... key=value.
func printResult(w io.Writer, mode, server string, m map[string]float64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "RESULT mode=%s server=%s", mode, server)
	for _, k := range keys {
		fmt.Fprintf(w, " %s=%s", k, strconv.FormatFloat(m[k], 'f', -1, 64))
	}
	fmt.Fprintln(w)
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }
