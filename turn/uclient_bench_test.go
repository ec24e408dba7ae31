package turn

import (
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRelayUclient is scripts/bench-turn's parley half in process, for
// profiling (-cpuprofile): coturn's turnutils_uclient (CLIENTS clients of
// MESSAGES messages of 120 bytes, as fast as it sends) through this relay
// on 127.0.0.2 to turnutils_peer echoing on 127.0.0.1. It reports the
// relay's CPU time per relayed packet (the process's rusage: the client and
// the peer are other processes) and the loss the client counts. -benchtime
// 1x; needs Debian's coturn.
func BenchmarkRelayUclient(b *testing.B) {
	if _, err := exec.LookPath("turnutils_peer"); err != nil {
		b.Skip("coturn's tools are not installed")
	}
	const clients, messages = "20", "5000"
	peerPort := 34801
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	peer := exec.CommandContext(ctx, "turnutils_peer", "-L", "127.0.0.1", "-p", strconv.Itoa(peerPort))
	if err := peer.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cancel(); _ = peer.Wait() }()
	ts := newTestServer(b, func(c *Config) {
		listenOn2(c)
		c.Logger = slog.New(slog.DiscardHandler)
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.MaxPerSession, c.MaxPerPrefix, c.MaxTotal = 4096, 4096, 4096
	})
	user, pass := ts.Credentials(ts.live("bench"), time.Now())
	time.Sleep(200 * time.Millisecond) // the peer binds
	sent := regexp.MustCompile(`tot_send_msgs=(\d+)`)
	recv := regexp.MustCompile(`tot_recv_msgs=(\d+)`)
	for range b.N {
		before := ts.Stats().PacketsRelayed
		c0 := cpuTime()
		out, err := exec.CommandContext(ctx, "turnutils_uclient", "-u", user, "-w", pass,
			"-p", strconv.Itoa(port(ts.UDPAddr())), "-L", "127.0.0.1", "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort),
			"-m", clients, "-n", messages, "-l", "120", "-z", "0", "-c", "127.0.0.2").CombinedOutput()
		if err != nil {
			b.Fatalf("uclient: %v\n%s", err, out)
		}
		cpu := cpuTime() - c0
		relayed := ts.Stats().PacketsRelayed - before
		s, r := lastInt(sent, out), lastInt(recv, out)
		b.ReportMetric(float64(cpu.Microseconds())/float64(relayed), "cpu-µs/packet")
		b.ReportMetric(100*float64(s-r)/float64(max(s, 1)), "loss-%")
		b.ReportMetric(float64(relayed), "relayed")
	}
}

func lastInt(re *regexp.Regexp, out []byte) int {
	m := re.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
