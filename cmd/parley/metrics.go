package main

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/node"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/turn"
)

// The closed sets label values come from. A value outside its set (a future
// code the table has not learnt yet) is counted under "other", so nothing a
// client sends can ever become a label value.
var (
	labelModes    = []string{string(matcher.ModeRandom), string(matcher.ModeOpposite), string(matcher.ModeInterests)}
	labelMedia    = []string{string(matcher.MediaText), string(matcher.MediaVideo)}
	labelMessages = []string{
		proto.TypeHello, proto.TypeJoin, proto.TypeSignal, proto.TypeNext,
		proto.TypeLeave, proto.TypeReport, proto.TypeBye,
	}
	labelErrors = proto.Codes()
	// labelRefused are signaling's reasons for refusing an upgrade.
	labelRefused     = []string{"origin", "capacity", "new-sessions", "network"}
	labelTURNRefused = []string{"auth", "banned", "quota", "policy"}
)

const labelOther = "other"

// metricDef is one metric family parley exposes. The table is the single
// source of the exposition, of its test and of the table in
// docs/SELF-HOSTING.md.
type metricDef struct {
	name   string
	kind   string // counter, gauge, summary or histogram
	labels []string
	help   string
}

var metricDefs = []metricDef{
	{"parley_build_info", "gauge", []string{"version"}, "Always 1; the version label is the running build."},
	{"parley_connections_open", "gauge", nil, "WebSocket connections open now."},
	{"parley_connections_total", "counter", nil, "WebSocket connections accepted since start."},
	{"parley_connections_refused_total", "counter", []string{"reason"}, "WebSocket upgrades refused: origin (not an allowed origin), capacity (too many connections from one address or in all), new-sessions (too many new sessions from one address), network (too many new connections from one /24 or /48)."},
	{"parley_sessions", "gauge", nil, "Sessions held in memory: connected, paired, or within their resume window."},
	{"parley_waiting", "gauge", []string{"mode", "media"}, "People waiting in a queue now, per mode and media."},
	{"parley_pairs_total", "counter", nil, "Pairs formed since start (resumed pairs not counted again)."},
	{"parley_chats_today", "gauge", nil, "Pairs formed since midnight UTC."},
	{"parley_join_to_matched_seconds", "histogram", nil, "Time from entering a queue to being matched."},
	{"parley_chat_length_seconds", "histogram", nil, "Length of the chats that ended, from matched to the end."},
	{"parley_messages_total", "counter", []string{"type"}, "Valid client messages handled, per message type."},
	{"parley_errors_total", "counter", []string{"code"}, "Error messages sent to clients, per wire error code."},
	{"parley_signals_forwarded_total", "counter", nil, "Signals (SDP and ICE candidates) passed to a partner."},
	{"parley_signals_stripped_total", "counter", nil, "Signals withheld by the hide-IP policy (non-relay candidates)."},
	{"parley_rate_limited_total", "counter", nil, "Client messages dropped by the rate limits."},
	{"parley_slow_readers_dropped_total", "counter", nil, "Connections closed because their send queue was full."},
	{"parley_queued_bytes", "gauge", nil, "Bytes of messages waiting for slow readers now, in all connections (bounded by --max-queued-total)."},
	{"parley_reports_total", "counter", nil, "Reports accepted against a partner."},
	{"parley_bans_issued_total", "counter", nil, "Bans issued after reports since start."},
	{"parley_bans_active", "gauge", nil, "Bans in force now (address prefixes, stored as keyed hashes)."},
	{"parley_store_write_duration_seconds", "summary", nil, "Time callers waited on database writes (count and sum; failed writes included)."},
	{"parley_store_write_duration_max_seconds", "gauge", nil, "Longest database write since start."},
	{"parley_store_write_errors_total", "counter", nil, "Database writes that failed."},
	{"parley_store_sweeps_total", "counter", nil, "Sweeps of expired records that ran."},
	{"parley_store_sweep_errors_total", "counter", nil, "Sweeps that failed."},
	{"parley_store_swept_records_total", "counter", nil, "Expired records (sessions, reports, bans) the sweeper removed."},
	{"parley_store_corrupt_records_total", "counter", nil, "Stored records that failed to open (corrupt or tampered); should stay 0."},
	{"parley_turn_allocations", "gauge", nil, "TURN relay allocations now."},
	{"parley_turn_allocations_max", "gauge", nil, "The relay's cap on allocations in all (--turn-max-total)."},
	{"parley_turn_allocations_total", "counter", nil, "TURN relay allocations created since start."},
	{"parley_turn_relayed_bytes_total", "counter", nil, "Payload bytes through relay sockets, both directions."},
	{"parley_turn_relayed_packets_total", "counter", nil, "Datagrams through relay sockets, both directions."},
	{"parley_turn_dropped_packets_total", "counter", nil, "Datagrams a client asked to relay to a peer the address policy forbids."},
	{"parley_turn_refused_total", "counter", []string{"reason"}, "TURN requests refused: auth (bad, expired or ended credential), banned, quota, policy (forbidden peer)."},
	{"parley_cluster_leader", "gauge", nil, "1 while this node leads its cluster, 0 while it follows or no leader is reachable. Only in a cluster; the sum over the nodes is 1 when all is well."},
	{"parley_tls_certificate_expiry_timestamp_seconds", "gauge", nil, "When the TLS certificate served now expires (Unix time). Only with TLS; under ACME from the first certificate on."},
	{"parley_tls_certificate_lifetime_seconds", "gauge", nil, "How long that certificate is valid in all (not after minus not before), to compare the time left with."},
}

// tlsOnly says whether a family exists only when parley terminates TLS:
// before a certificate there is no expiry to report, and a made-up one
// would set off the expiry alert.
func (d metricDef) tlsOnly() bool { return strings.HasPrefix(d.name, "parley_tls_") }

// clusterOnly says whether a family exists only in a cluster.
func (d metricDef) clusterOnly() bool { return strings.HasPrefix(d.name, "parley_cluster_") }

// collector reads the components' Stats snapshots at scrape time. It holds
// no state of its own, so a scrape costs nothing between scrapes.
type collector struct {
	sig     *signaling.Server
	node    *node.Node
	store   *store.Store
	relay   *turn.Server // nil when the relay is off
	turnMax int          // the relay's MaxTotal
	tls     *tlsSetup    // nil without TLS
	descs   map[string]*prometheus.Desc
}

func newCollector(a *app) *collector {
	c := &collector{sig: a.sig, node: a.node, store: a.store, relay: a.relay, tls: a.tls, descs: map[string]*prometheus.Desc{}}
	c.turnMax = a.cfg.TURNMaxTotal
	if c.turnMax == 0 {
		c.turnMax = turn.DefaultMaxTotal
	}
	for _, d := range metricDefs {
		c.descs[d.name] = prometheus.NewDesc(d.name, d.help, d.labels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDefs {
		ch <- c.descs[d.name]
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}

	gauge("parley_build_info", 1, version)

	st := c.sig.Stats()
	gauge("parley_connections_open", float64(st.Online))
	counter("parley_connections_total", float64(st.ConnectionsTotal))
	for k, v := range closedSet(st.Refused, labelRefused) {
		counter("parley_connections_refused_total", float64(v), k)
	}
	gauge("parley_sessions", float64(st.Sessions))
	waiting := map[[2]string]int{}
	for _, mode := range labelModes {
		for _, media := range labelMedia {
			waiting[[2]string{mode, media}] = 0
		}
	}
	for _, w := range st.Waiting {
		k := [2]string{string(w.Mode), string(w.Media)}
		if _, known := waiting[k]; known {
			waiting[k] += w.N
		}
	}
	for k, n := range waiting {
		gauge("parley_waiting", float64(n), k[0], k[1])
	}
	counter("parley_pairs_total", float64(st.PairsTotal))
	gauge("parley_chats_today", float64(st.ChatsToday))
	ch <- constHistogram(c.descs["parley_join_to_matched_seconds"], st.JoinToMatched)
	ch <- constHistogram(c.descs["parley_chat_length_seconds"], st.ChatLength)
	for k, v := range closedSet(st.Messages, labelMessages) {
		counter("parley_messages_total", float64(v), k)
	}
	for k, v := range closedSet(st.Errors, labelErrors) {
		counter("parley_errors_total", float64(v), k)
	}
	counter("parley_signals_forwarded_total", float64(st.SignalsForwarded))
	counter("parley_signals_stripped_total", float64(st.SignalsStripped))
	counter("parley_rate_limited_total", float64(st.RateLimited))
	counter("parley_slow_readers_dropped_total", float64(st.SlowDropped))
	gauge("parley_queued_bytes", float64(st.QueuedBytes))
	counter("parley_reports_total", float64(st.Reports))
	counter("parley_bans_issued_total", float64(st.Bans))
	if n, ok := activeBans(c.store, now); ok {
		gauge("parley_bans_active", float64(n))
	}

	ss := c.store.Stats()
	ch <- prometheus.MustNewConstSummary(c.descs["parley_store_write_duration_seconds"],
		ss.Writes+ss.WriteErrors, ss.WriteTime.Seconds(), nil)
	gauge("parley_store_write_duration_max_seconds", ss.WriteTimeMax.Seconds())
	counter("parley_store_write_errors_total", float64(ss.WriteErrors))
	counter("parley_store_sweeps_total", float64(ss.Sweeps))
	counter("parley_store_sweep_errors_total", float64(ss.SweepErrors))
	counter("parley_store_swept_records_total", float64(ss.Removed))
	counter("parley_store_corrupt_records_total", float64(ss.Corrupt))

	if cl := c.node.Cluster; cl != nil {
		_, leading := cl.Leader()
		gauge("parley_cluster_leader", boolGauge(leading))
	}

	if notBefore, notAfter, ok := c.tls.certificate(); ok {
		gauge("parley_tls_certificate_expiry_timestamp_seconds", float64(notAfter.Unix()))
		gauge("parley_tls_certificate_lifetime_seconds", notAfter.Sub(notBefore).Seconds())
	}

	if c.relay == nil {
		return
	}
	ts := c.relay.Stats()
	gauge("parley_turn_allocations", float64(ts.Allocations))
	gauge("parley_turn_allocations_max", float64(c.turnMax))
	counter("parley_turn_allocations_total", float64(ts.AllocationsTotal))
	counter("parley_turn_relayed_bytes_total", float64(ts.BytesRelayed))
	counter("parley_turn_relayed_packets_total", float64(ts.PacketsRelayed))
	counter("parley_turn_dropped_packets_total", float64(ts.Dropped))
	for k, v := range map[string]uint64{
		"auth": ts.Refused.Auth, "banned": ts.Refused.Banned, "quota": ts.Refused.Quota, "policy": ts.Refused.Policy,
	} {
		counter("parley_turn_refused_total", float64(v), k)
	}
}

// constHistogram turns signaling's histogram (a count per bucket, the last
// one above every bound) into Prometheus's cumulative buckets.
func constHistogram(desc *prometheus.Desc, h signaling.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogram(desc, h.Count, h.Sum, buckets)
}

// closedSet maps counts onto a closed label set: every known value (zero
// when absent, so a series never appears out of nowhere) and "other" for
// whatever is not in the set, when there is any.
func closedSet(m map[string]int64, known []string) map[string]int64 {
	out := make(map[string]int64, len(known)+1)
	for _, k := range known {
		out[k] = 0
	}
	for k, v := range m {
		if _, ok := out[k]; ok {
			out[k] += v
		} else {
			out[labelOther] += v
		}
	}
	return out
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
