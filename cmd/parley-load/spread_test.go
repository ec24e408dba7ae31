package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/signaling"
)

// Person i goes to the (i mod n)th URL; the two of a forward pair, 2k and
// 2k+1, are on different servers whatever n; one URL is as before.
func TestURLSpreading(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var list []string
			for j := range n {
				list = append(list, fmt.Sprintf("ws://127.0.0.1:%d/ws", 9000+j))
			}
			c := common{URL: strings.Join(list, ","), PerSource: 12, Media: "text", Timeout: 1}
			if err := c.check(); err != nil {
				t.Fatal(err)
			}
			for i := range 12 {
				if got, want := c.urlOf(i), list[i%n]; got != want {
					t.Errorf("person %d: %s, want %s", i, got, want)
				}
				if c.nodeOf(i) != i%n {
					t.Errorf("person %d: node %d", i, c.nodeOf(i))
				}
			}
			// Persons 0..9 with 3 and 8 missing: their partners 2 and 9 drop out.
			var all []*vconn
			for i := range 10 {
				if i != 3 && i != 8 {
					all = append(all, &vconn{i: i, node: c.nodeOf(i)})
				}
			}
			got, dropped := pairsAcross(all)
			var is, ds []int
			for _, v := range got {
				is = append(is, v.i)
			}
			for _, v := range dropped {
				ds = append(ds, v.i)
			}
			if fmt.Sprint(is) != "[0 1 4 5 6 7]" || fmt.Sprint(ds) != "[2 9]" {
				t.Fatalf("pairs %v, dropped %v", is, ds)
			}
			for k := 0; k < len(got); k += 2 {
				if n > 1 && got[k].node == got[k+1].node {
					t.Errorf("persons %d and %d on the same server", got[k].i, got[k+1].i)
				}
			}
		})
	}
	c := common{URL: "ws://127.0.0.1:1/ws,ws://10.0.0.1:1/ws", PerSource: 12, Media: "text", Timeout: 1}
	if err := c.check(); err == nil {
		t.Error("a list with an address off loopback was taken")
	}
	c = common{URL: "ws://127.0.0.1:1/ws,ws://127.0.0.2:1/ws", PerSource: 12, Media: "text", Timeout: 1, oneURL: true}
	if err := c.check(); err == nil {
		t.Error("a mode of one server took two")
	}
}

// -per-network spreads the source addresses over /24s, parley counting new
// connections per /24; the default keeps the layout as it was.
func TestSourcesPerNetwork(t *testing.T) {
	for _, tc := range []struct {
		perNetwork, addrs int
		first, last       string
		networks          int
	}{
		{0, 300, "127.0.1.1", "127.0.2.50", 2},
		{250, 300, "127.0.1.1", "127.0.2.50", 2},
		{16, 40, "127.0.1.1", "127.0.3.8", 3},
	} {
		t.Run(fmt.Sprint(tc.perNetwork), func(t *testing.T) {
			s, err := newSources(tc.addrs, 1, 0, tc.perNetwork)
			if err != nil {
				t.Fatal(err)
			}
			nets := map[netip.Prefix]int{}
			var order []netip.Addr
			for range tc.addrs {
				a := <-s.slots
				order = append(order, a)
				p, _ := a.Prefix(24)
				nets[p]++
			}
			if order[0].String() != tc.first || order[len(order)-1].String() != tc.last || len(nets) != tc.networks {
				t.Errorf("first %s, last %s, %d networks", order[0], order[len(order)-1], len(nets))
			}
			max := tc.perNetwork
			if max == 0 {
				max = 250
			}
			for p, n := range nets {
				if n > max {
					t.Errorf("%s holds %d addresses", p, n)
				}
			}
		})
	}
}

func TestParsePIDs(t *testing.T) {
	for in, want := range map[string]string{"": "[]", "0": "[]", "12": "[12]", "12,34, 56": "[12 34 56]"} {
		got, err := parsePIDs(in)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("parsePIDs(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parsePIDs("12,x"); err == nil {
		t.Error("a pid of x was taken")
	}
}

// match with two servers in -url: half the people connect to each, and
// with two process ids CPU is reported per process and in all.
func TestMatchOverTwoServers(t *testing.T) {
	var urls []string
	var srvs []*signaling.Server
	for range 2 {
		u, _, srv := startSignaling(t, signaling.Config{})
		urls, srvs = append(urls, u), append(srvs, srv)
	}
	var out strings.Builder
	cfg := matchConfig{common: common{URL: strings.Join(urls, ","), PIDs: []int{os.Getpid(), os.Getpid()}, PerSource: 12, Timeout: 10e9, Media: "text", Out: &out},
		People: 40, Rate: 40, Duration: 1e9, DialRate: 500}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	res, err := runMatch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for i, srv := range srvs {
		if got := srv.Stats().ConnectionsTotal; got != 20 {
			t.Errorf("server %d had %d connections, want 20", i, got)
		}
		if srv.Stats().PairsTotal == 0 {
			t.Errorf("server %d made no pair", i)
		}
	}
	if len(res.Errors) > 0 || res.Pairs == 0 {
		t.Errorf("pairs %d, errors %v", res.Pairs, res.Errors)
	}
	for _, w := range []string{"same server:", "node 0 cpu:", "node 1 cpu:", "cpu_us_per_join_node1=", "RESULT mode=match"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no %q in the report", w)
		}
	}
}

// forward with two URLs joins pair by pair, so that 2k meets 2k+1: with
// the same server twice (two "nodes" of one matcher) every pair is
// reported across, and the signals flow.
func TestForwardPairsAcrossURLs(t *testing.T) {
	u, _ := startServer(t)
	var out, errOut strings.Builder
	args := []string{"forward", "-url", u + "," + u, "-pairs", "10", "-rate", "100", "-duration", "500ms", "-pid", fmt.Sprintf("%d,%d", os.Getpid(), os.Getpid())}
	if code := run(args, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	for _, w := range []string{"pairs across nodes: 10 of 10", "errors:            none", "pairs_across=10", "cpu_us_per_msg_node0=", "servers 0-1:", "p99_ms_nodes01="} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no %q in\n%s", w, out.String())
		}
	}
}
