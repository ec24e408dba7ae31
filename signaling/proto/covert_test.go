package proto

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// The covert channel that is left: a modified client (the attacker) packs a
// payload into every value Clean still lets it choose, the server cleans,
// and the partner's modified client reads the payload back from what it
// received. The payload is a big number written as a sequence of choices,
// each a digit in the radix of the choices a field allows (arithmetic
// coding), so the capacity measured is the sum of log2 of those radices over
// every field the attacker fills, and the test proves each bit arrives.
//
// Three signals are measured: a trickled candidate; a "dense" description
// (one data channel section, the longest ICE credentials, a SHA-512
// fingerprint, 64 candidates: the most payload per byte of signaling); and a
// "full" description (16 sections and every field, up to the 64 KiB frame:
// the most payload per signal). What the attacker leaves unused is counted
// in covertUnmeasured, so the figures stated are upper bounds.

// encoder turns the payload into choices.
type encoder struct {
	n    *big.Int
	bits float64
	log  decoder // the choices made, to find where a decoding goes wrong
	max  bool    // every choice the last one: the longest text (every line present)
}

func (e *encoder) pick(radix uint64) uint64 {
	if radix <= 1 {
		return 0
	}
	if e.max {
		e.bits += math.Log2(float64(radix))
		return radix - 1
	}
	r := new(big.Int)
	e.n.DivMod(e.n, new(big.Int).SetUint64(radix), r)
	e.bits += math.Log2(float64(radix))
	e.log.put(r.Uint64(), radix)
	return r.Uint64()
}

// decoder collects the choices read back and rebuilds the payload.
type decoder struct{ v, radix []uint64 }

func (d *decoder) put(v, radix uint64) {
	if radix > 1 {
		d.v, d.radix = append(d.v, v), append(d.radix, radix)
	}
}

func (d *decoder) value() *big.Int {
	n := new(big.Int)
	for i := len(d.v) - 1; i >= 0; i-- {
		n.Mul(n, new(big.Int).SetUint64(d.radix[i]))
		n.Add(n, new(big.Int).SetUint64(d.v[i]))
	}
	return n
}

const iceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func encodeICE(e *encoder, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = iceAlphabet[e.pick(64)]
	}
	return string(b)
}

func decodeICE(d *decoder, s string) {
	for i := 0; i < len(s); i++ {
		d.put(uint64(strings.IndexByte(iceAlphabet, s[i])), 64)
	}
}

// pickDistinct chooses a value of 0..n-1 not in used (a Lehmer code digit).
func pickDistinct(e *encoder, n uint64, used []uint64) uint64 {
	r := e.pick(n - uint64(len(used)))
	for v := range n {
		if !slices.Contains(used, v) {
			if r == 0 {
				return v
			}
			r--
		}
	}
	panic("no value left")
}

func putDistinct(d *decoder, v, n uint64, used []uint64) {
	r := uint64(0)
	for u := range v {
		if !slices.Contains(used, u) {
			r++
		}
	}
	d.put(r, n-uint64(len(used)))
}

// covertCandidate is a candidate with every free field filled: component,
// transport and TCP type, the upper 24 bits of the priority, an IPv6
// address (first nibble 2, so neither unspecified, mapped nor multicast),
// port and type. slot, when not negative, takes the address's last 6 bits,
// so that the receiver can order candidates the server sorted.
func covertCandidate(e *encoder, hide bool, slot int) string {
	comp := 1 + e.pick(2)
	tcp := e.pick(4) // udp, tcp active, passive, so
	prio := e.pick(1<<24)<<8 | (256 - comp)
	var a [16]byte
	a[0] = 0x20 | byte(e.pick(16))
	last := 15
	if slot >= 0 {
		a[15] = byte(slot)
		last = 15 - 1
		a[15] |= byte(e.pick(4)) << 6
	}
	for i := 1; i <= last; i++ {
		a[i] = byte(e.pick(256))
	}
	port := 1 + e.pick(65535)
	typ := "relay"
	if !hide {
		typ = []string{"host", "srflx", "prflx", "relay"}[e.pick(4)]
	}
	s := fmt.Sprintf("candidate:1 %d %s %d %s %d typ %s", comp, []string{"udp", "tcp", "tcp", "tcp"}[tcp], prio,
		netip.AddrFrom16(a), port, typ)
	if tcp > 0 {
		s += " tcptype " + []string{"", "active", "passive", "so"}[tcp]
	}
	return s
}

func decodeCandidate(t testing.TB, d *decoder, s string, hide bool, slotted bool) {
	t.Helper()
	f := strings.Fields(strings.TrimPrefix(s, "candidate:"))
	comp, _ := strconv.ParseUint(f[1], 10, 8)
	d.put(comp-1, 2)
	tcp := uint64(0)
	if f[2] == "tcp" {
		tcp = uint64(slices.Index([]string{"", "active", "passive", "so"}, f[len(f)-1]))
	}
	d.put(tcp, 4)
	prio, _ := strconv.ParseUint(f[3], 10, 32)
	d.put(prio>>8, 1<<24)
	a := netip.MustParseAddr(f[4]).As16()
	d.put(uint64(a[0]&0x0f), 16)
	last := 15
	if slotted {
		d.put(uint64(a[15]>>6), 4)
		last = 14
	}
	for i := 1; i <= last; i++ {
		d.put(uint64(a[i]), 256)
	}
	port, _ := strconv.ParseUint(f[5], 10, 16)
	d.put(port-1, 65535)
	if !hide {
		d.put(uint64(slices.Index([]string{"host", "srflx", "prflx", "relay"}, f[7])), 4)
	}
}

// covertTrickle fills a trickled candidate and its sdpMid, sdpMLineIndex
// and usernameFragment (16 ice-chars).
func covertTrickle(e *encoder, hide bool) *Candidate {
	c := &Candidate{Candidate: covertCandidate(e, hide, -1)}
	mid := strconv.FormatUint(e.pick(maxMidValue+1), 10)
	index := uint16(e.pick(maxMLineIndex + 1))
	ufrag := encodeICE(e, maxUfrag)
	c.SDPMid, c.SDPMLineIndex, c.UsernameFragment = &mid, &index, &ufrag
	return c
}

func decodeTrickle(t testing.TB, d *decoder, c *Candidate, hide bool) {
	decodeCandidate(t, d, c.Candidate, hide, false)
	mid, _ := strconv.ParseUint(*c.SDPMid, 10, 16)
	d.put(mid, maxMidValue+1)
	d.put(uint64(*c.SDPMLineIndex), maxMLineIndex+1)
	decodeICE(d, *c.UsernameFragment)
}

// covertShape is the shape of an attacker's description.
type covertShape struct {
	video      int // video sections after the data channel section
	formats    int // VP9 formats in each
	candidates int // per section
}

var (
	denseShape = covertShape{video: 0, candidates: maxSDPCandidates}
	// 12 formats a section: a random payload then writes 60.9 KB on average,
	// 8.7 standard deviations below the frame.
	fullShape = covertShape{video: maxSections - 1, formats: 12, candidates: maxSDPCandidates / maxSections}
)

var directions = []string{"sendrecv", "sendonly", "recvonly", "inactive"}

var extmapDirections = []string{"", "/sendrecv", "/sendonly", "/recvonly", "/inactive"}

// covertOffer writes an offer of the shape with the payload in it.
func covertOffer(e *encoder, shape covertShape, hide bool) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
	sections := 1 + shape.video
	var mids []uint64
	for range sections {
		mids = append(mids, pickDistinct(e, maxMidValue+1, mids))
	}
	var group []string
	for _, m := range mids {
		if e.pick(2) == 1 {
			group = append(group, strconv.FormatUint(m, 10))
		}
	}
	if len(group) > 0 {
		b.WriteString("a=group:BUNDLE " + strings.Join(group, " ") + "\r\n")
	}
	if e.pick(2) == 1 {
		b.WriteString("a=extmap-allow-mixed\r\n")
	}
	if e.pick(2) == 1 {
		b.WriteString("a=msid-semantic: WMS\r\n")
	}
	b.WriteString("a=ice-ufrag:" + encodeICE(e, maxUfrag) + "\r\n")
	b.WriteString("a=ice-pwd:" + encodeICE(e, maxPwd) + "\r\n")
	fp := make([]string, 64)
	for i := range fp {
		fp[i] = fmt.Sprintf("%02X", e.pick(256))
	}
	b.WriteString("a=fingerprint:sha-512 " + strings.Join(fp, ":") + "\r\n")
	b.WriteString("a=setup:" + []string{"actpass", "active", "passive"}[e.pick(3)] + "\r\n")
	if e.pick(2) == 1 {
		b.WriteString("a=ice-options:trickle\r\n")
	}
	slot := 0
	candidates := func() {
		for range shape.candidates {
			b.WriteString("a=" + covertCandidate(e, hide, slot) + "\r\n")
			slot++
		}
	}
	flag := func(line string) {
		if e.pick(2) == 1 {
			b.WriteString(line + "\r\n")
		}
	}
	// The data channel section.
	b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n")
	b.WriteString("a=mid:" + strconv.FormatUint(mids[0], 10) + "\r\n")
	flag("a=rtcp:9")
	flag("a=end-of-candidates")
	flag("a=sctp-port:5000")
	switch size := e.pick(34); size { // absent, 0 or 2^0..2^31
	case 0:
	case 1:
		b.WriteString("a=max-message-size:0\r\n")
	default:
		b.WriteString("a=max-message-size:" + strconv.FormatUint(1<<(size-2), 10) + "\r\n")
	}
	candidates()
	for i := 1; i < sections; i++ {
		var pts []uint64
		for range shape.formats {
			pts = append(pts, pickDistinct(e, 128, pts))
		}
		fmts := make([]string, len(pts))
		for j, pt := range pts {
			fmts[j] = strconv.FormatUint(pt, 10)
		}
		b.WriteString("m=video 9 UDP/TLS/RTP/SAVPF " + strings.Join(fmts, " ") + "\r\nc=IN IP4 0.0.0.0\r\n")
		b.WriteString("a=mid:" + strconv.FormatUint(mids[i], 10) + "\r\n")
		b.WriteString("a=" + directions[e.pick(4)] + "\r\n")
		for _, l := range []string{"a=rtcp:9", "a=rtcp-mux", "a=rtcp-rsize", "a=rtcp-xr:rcvr-rtt=all", "a=extmap-allow-mixed", "a=end-of-candidates"} {
			flag(l)
		}
		var uris []uint64
		for id := 1; id <= 14; id++ {
			u := pickDistinct(e, uint64(len(extensionURIs)), uris)
			uris = append(uris, u)
			fmt.Fprintf(&b, "a=extmap:%d%s %s\r\n", id, extmapDirections[e.pick(5)], extensionURIs[u])
		}
		flag(fmt.Sprintf("a=msid:stream%d track", i))
		for _, pt := range pts {
			fmt.Fprintf(&b, "a=rtpmap:%d VP9/90000\r\n", pt)
			for f, name := range feedbackTypes {
				if e.pick(2) == 1 {
					fmt.Fprintf(&b, "a=rtcp-fb:%d %s\r\n", pt, name)
				}
				_ = f
			}
			var params []string
			if v := e.pick(5); v > 0 {
				params = append(params, fmt.Sprintf("profile-id=%d", v-1))
			}
			if v := e.pick(241); v > 0 {
				params = append(params, fmt.Sprintf("max-fr=%d", v))
			}
			if v := e.pick(1<<18 + 1); v > 0 {
				params = append(params, fmt.Sprintf("max-fs=%d", v))
			}
			if len(params) > 0 {
				fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", pt, strings.Join(params, ";"))
			}
		}
		var ssrcs [4]uint64
		for k := range ssrcs {
			ssrcs[k] = uint64(k)<<30 | e.pick(1<<30) // the top bits keep the order
			fmt.Fprintf(&b, "a=ssrc:%d cname:x\r\n", ssrcs[k])
		}
		for _, sem := range []string{"FID", "FEC-FR"} {
			if pair := e.pick(13); pair > 0 {
				x, y := ssrcPair(pair - 1)
				fmt.Fprintf(&b, "a=ssrc-group:%s %d %d\r\n", sem, ssrcs[x], ssrcs[y])
			}
		}
		candidates()
	}
	return b.String()
}

// ssrcPair maps 0..11 to an ordered pair of distinct indexes of 0..3.
func ssrcPair(n uint64) (x, y uint64) {
	x, y = n/3, n%3
	if y >= x {
		y++
	}
	return x, y
}

// decodeOffer reads the payload back from what the partner received, in
// the order covertOffer wrote it.
func decodeOffer(t testing.TB, d *decoder, text string, shape covertShape, hide bool) {
	t.Helper()
	var s sdp.SessionDescription
	if err := s.UnmarshalString(text); err != nil {
		t.Fatal(err)
	}
	has := func(attrs []sdp.Attribute, key, value string) bool {
		for _, a := range attrs {
			if a.Key == key && a.Value == value {
				return true
			}
		}
		return false
	}
	flag := func(ok bool) {
		if ok {
			d.put(1, 2)
		} else {
			d.put(0, 2)
		}
	}
	m0 := s.MediaDescriptions[0]
	var mids []uint64
	for _, m := range s.MediaDescriptions {
		v, _ := m.Attribute("mid")
		mid, _ := strconv.ParseUint(v, 10, 16)
		putDistinct(d, mid, maxMidValue+1, mids)
		mids = append(mids, mid)
	}
	group, _ := s.Attribute("group")
	members := strings.Fields(strings.TrimPrefix(group, "BUNDLE"))
	for _, m := range mids {
		flag(slices.Contains(members, strconv.FormatUint(m, 10)))
	}
	flag(has(s.Attributes, "extmap-allow-mixed", ""))
	_, sem := s.Attribute("msid-semantic")
	flag(sem)
	ufrag, _ := m0.Attribute("ice-ufrag")
	decodeICE(d, ufrag)
	pwd, _ := m0.Attribute("ice-pwd")
	decodeICE(d, pwd)
	fp, _ := m0.Attribute("fingerprint")
	for _, h := range strings.Split(strings.TrimPrefix(fp, "sha-512 "), ":") {
		v, _ := strconv.ParseUint(h, 16, 8)
		d.put(v, 256)
	}
	setup, _ := m0.Attribute("setup")
	d.put(uint64(slices.Index([]string{"actpass", "active", "passive"}, setup)), 3)
	flag(has(m0.Attributes, "ice-options", "trickle"))
	// Candidates come back sorted; their slot bits put them in order.
	var cands []string
	for _, m := range s.MediaDescriptions {
		for _, a := range m.Attributes {
			if a.Key == "candidate" {
				cands = append(cands, "candidate:"+a.Value)
			}
		}
	}
	slices.SortFunc(cands, func(x, y string) int {
		ax := netip.MustParseAddr(strings.Fields(x)[4]).As16()
		ay := netip.MustParseAddr(strings.Fields(y)[4]).As16()
		return int(ax[15]&0x3f) - int(ay[15]&0x3f)
	})
	slot := 0
	candidates := func() {
		for range shape.candidates {
			decodeCandidate(t, d, cands[slot], hide, true)
			slot++
		}
	}
	_, rtcp := m0.Attribute("rtcp")
	flag(rtcp)
	_, eoc := m0.Attribute("end-of-candidates")
	flag(eoc)
	_, sctp := m0.Attribute("sctp-port")
	flag(sctp)
	size := uint64(0)
	if v, ok := m0.Attribute("max-message-size"); ok {
		n, _ := strconv.ParseUint(v, 10, 32)
		size = 1
		for n > 0 {
			size++
			n >>= 1
		}
	}
	d.put(size, 34)
	candidates()
	for i := 1; i < len(s.MediaDescriptions); i++ {
		m := s.MediaDescriptions[i]
		var pts []uint64
		for _, f := range m.MediaName.Formats {
			pt, _ := strconv.ParseUint(f, 10, 8)
			putDistinct(d, pt, 128, pts)
			pts = append(pts, pt)
		}
		dir := ""
		for _, a := range m.Attributes {
			if slices.Contains(directions, a.Key) {
				dir = a.Key
			}
		}
		d.put(uint64(slices.Index(directions, dir)), 4)
		for _, key := range []string{"rtcp", "rtcp-mux", "rtcp-rsize", "rtcp-xr", "extmap-allow-mixed", "end-of-candidates"} {
			_, ok := m.Attribute(key)
			flag(ok)
		}
		var uris []uint64
		for id := 1; id <= 14; id++ {
			for _, a := range m.Attributes {
				idField, uri, _ := strings.Cut(a.Value, " ")
				n, dir, _ := strings.Cut(idField, "/")
				if a.Key != "extmap" || n != strconv.Itoa(id) {
					continue
				}
				u := uint64(slices.Index(extensionURIs, uri))
				putDistinct(d, u, uint64(len(extensionURIs)), uris)
				uris = append(uris, u)
				if dir != "" {
					dir = "/" + dir
				}
				d.put(uint64(slices.Index(extmapDirections, dir)), 5)
			}
		}
		_, msid := m.Attribute("msid")
		flag(msid)
		for _, pt := range pts {
			p := strconv.FormatUint(pt, 10)
			for _, name := range feedbackTypes {
				flag(has(m.Attributes, "rtcp-fb", p+" "+name))
			}
			params := map[string]uint64{}
			for _, a := range m.Attributes {
				if rest, ok := strings.CutPrefix(a.Value, p+" "); ok && a.Key == "fmtp" {
					for _, kv := range strings.Split(rest, ";") {
						k, v, _ := strings.Cut(kv, "=")
						n, _ := strconv.ParseUint(v, 10, 32)
						params[k] = n + 1
					}
				}
			}
			d.put(params["profile-id"], 5)
			if v := params["max-fr"]; v > 0 {
				d.put(v-1, 241)
			} else {
				d.put(0, 241)
			}
			if v := params["max-fs"]; v > 0 {
				d.put(v-1, 1<<18+1)
			} else {
				d.put(0, 1<<18+1)
			}
		}
		var ssrcs []uint64
		for _, a := range m.Attributes {
			if a.Key == "ssrc" {
				n, _ := strconv.ParseUint(strings.Fields(a.Value)[0], 10, 32)
				ssrcs = append(ssrcs, n)
			}
		}
		slices.SortFunc(ssrcs, func(x, y uint64) int { return int(x>>30) - int(y>>30) })
		for _, v := range ssrcs {
			d.put(v&(1<<30-1), 1<<30)
		}
		for _, sem := range []string{"FID", "FEC-FR"} {
			pair := uint64(0)
			for _, a := range m.Attributes {
				f := strings.Fields(a.Value)
				if a.Key == "ssrc-group" && f[0] == sem {
					x, _ := strconv.ParseUint(f[1], 10, 32)
					y, _ := strconv.ParseUint(f[2], 10, 32)
					for n := range uint64(12) {
						if i, j := ssrcPair(n); ssrcs[i] == x && ssrcs[j] == y {
							pair = n + 1
						}
					}
				}
			}
			d.put(pair, 13)
		}
		candidates()
	}
}

// covertUnmeasured lists, with their upper bounds in bits, the choices the
// attacker above leaves unused. They are added to the measured figures.
var covertUnmeasured = []struct {
	what string
	bits func(shape covertShape) float64
}{
	{"lengths of ufrag and pwd (4..16, 22..32)", func(covertShape) float64 { return math.Log2(13) + math.Log2(11) }},
	{"the fingerprint's hash (sha-256, -384, -512) beyond sha-512", func(covertShape) float64 { return 1.6 }},
	{"the BUNDLE tag among its members", func(s covertShape) float64 { return math.Log2(float64(s.video + 1)) }},
	{"mids written as sdparta_N", func(s covertShape) float64 { return float64(s.video + 1) }},
	{"section kinds and ports (audio, video, data; 0 or 9)", func(s covertShape) float64 { return float64(s.video+1) * math.Log2(6) }},
	{"which sections share a stream (Bell number of the sections)", func(s covertShape) float64 { return bellLog2(s.video + 1) }},
	{"the codec of each format beyond VP9, and its parameters beyond VP9's", func(s covertShape) float64 {
		// 17 codecs; the richest parameter set, Opus's (35 bits), has 7
		// more than VP9's.
		return float64(s.video*s.formats) * (math.Log2(17) + 7.1)
	}},
	{"the order of candidates and SSRCs beyond what the attacker spends on it", func(s covertShape) float64 {
		n := s.candidates * (s.video + 1)
		// The candidates come back sorted: the attacker spends 6 bits of
		// each on its place, where log2(n!) would do. The SSRCs keep the
		// order given: the 2 bits of each spent on it are free.
		return float64(6*n) - lgFactorial(n) + float64(s.video)*8
	}},
	{"retransmission formats' apt and red lists", func(s covertShape) float64 { return float64(s.video*s.formats) * 7 }},
	{"IPv4 or mDNS instead of IPv6 addresses", func(s covertShape) float64 { return float64(s.candidates*(s.video+1)) * 0.1 }},
	{"the number of sections, formats, candidates, SSRCs and groups", func(s covertShape) float64 {
		return math.Log2(maxSections) + float64(s.video+1)*(math.Log2(maxFormats)+math.Log2(maxSDPCandidates)+math.Log2(5)+2)
	}},
}

func lgFactorial(n int) float64 {
	v, _ := math.Lgamma(float64(n + 1))
	return v / math.Ln2
}

func bellLog2(n int) float64 {
	// Bell numbers by the triangle; log2 of B(n).
	row := []*big.Int{big.NewInt(1)}
	for i := 1; i < n; i++ {
		next := []*big.Int{new(big.Int).Set(row[len(row)-1])}
		for _, v := range row {
			next = append(next, new(big.Int).Add(next[len(next)-1], v))
		}
		row = next
	}
	f, _ := new(big.Float).SetInt(row[len(row)-1]).Float64()
	return math.Log2(f)
}

// randomPayload returns a random number of bits bits.
func randomPayload(t testing.TB, bits int) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// capacity is the bits the attacker's choices can carry in a shape, found
// by writing it once with a payload of zeros.
func capacity(write func(*encoder)) float64 {
	e := &encoder{n: new(big.Int)}
	write(e)
	return e.bits
}

func TestCovertCapacityPerCandidate(t *testing.T) {
	for _, hide := range []bool{false, true} {
		bits := capacity(func(e *encoder) { covertTrickle(e, hide) })
		payload := randomPayload(t, int(bits))
		e := &encoder{n: new(big.Int).Set(payload)}
		in := covertTrickle(e, hide)
		out, ok, err := (&SignalData{Candidate: in}).Clean(hide)
		if err != nil || !ok {
			t.Fatalf("hide %v: %v %v (%q)", hide, ok, err, in.Candidate)
		}
		d := &decoder{}
		decodeTrickle(t, d, out.Candidate, hide)
		if d.value().Cmp(payload) != 0 {
			t.Fatalf("hide %v: the payload did not survive", hide)
		}
		size := len(Encode(&Outbound{Type: TypeSignal, From: "p", Data: out}))
		t.Logf("trickled candidate, hide %v: %.0f bits (%.1f bytes) of payload in a %d-byte signal (%.0f%%)",
			hide, bits, bits/8, size, 100*bits/8/float64(size))
		// Unmeasured: the ufrag's length (4..16), leaving out sdpMid,
		// sdpMLineIndex or usernameFragment, and sdpMid as sdparta_N: under
		// 7 bits.
		if bits+7 > 290 {
			t.Errorf("a candidate carries %.0f bits, more than the 290 stated", bits+7)
		}
	}
}

func TestCovertCapacityPerDescription(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape covertShape
		limit float64 // bits, as stated
	}{
		{"dense", denseShape, 12000},
		{"full", fullShape, 32000},
	} {
		for _, hide := range []bool{false, true} {
			bits := capacity(func(e *encoder) { covertOffer(e, tc.shape, hide) })
			payload := randomPayload(t, int(bits))
			e := &encoder{n: new(big.Int).Set(payload)}
			in := covertOffer(e, tc.shape, hide)
			if len(in) > maxSDPBytes {
				t.Fatalf("%s: the attacker's offer is %d bytes, over the frame", tc.name, len(in))
			}
			out, ok, err := (&SignalData{SDP: &SessionDescription{Type: "offer", SDP: in}}).Clean(hide)
			if err != nil || !ok {
				t.Fatalf("%s hide %v: %v %v", tc.name, hide, ok, err)
			}
			d := &decoder{}
			decodeOffer(t, d, out.SDP.SDP, tc.shape, hide)
			if d.value().Cmp(payload) != 0 {
				for i := range e.log.v {
					if i >= len(d.v) || d.v[i] != e.log.v[i] || d.radix[i] != e.log.radix[i] {
						t.Logf("choice %d of %d: wrote %d/%d", i, len(e.log.v), e.log.v[i], e.log.radix[i])
						if i < len(d.v) {
							t.Logf("read %d/%d", d.v[i], d.radix[i])
						}
						break
					}
				}
				t.Fatalf("%s hide %v: the payload did not survive\n%s", tc.name, hide, out.SDP.SDP)
			}
			extra := 0.0
			for _, u := range covertUnmeasured {
				extra += u.bits(tc.shape)
			}
			size := len(Encode(&Outbound{Type: TypeSignal, From: "p", Data: out}))
			t.Logf("%s offer, hide %v: %.0f bits measured + %.0f unmeasured = %.0f bits (%.0f bytes) in a %d-byte signal from a %d-byte offer (%.1f%% of the signal)",
				tc.name, hide, bits, extra, bits+extra, (bits+extra)/8, size, len(in), 100*(bits+extra)/8/float64(size))
			if bits+extra > tc.limit {
				t.Errorf("%s: %.0f bits, more than the %.0f stated", tc.name, bits+extra, tc.limit)
			}
		}
	}
}

// The transport attributes are written into each section, so a description
// that gives them once can grow; what would outgrow a frame is refused.
func TestCleanRefusesWhatGrowsOverTheFrame(t *testing.T) {
	shape := fullShape
	shape.formats = 8
	in := covertOffer(&encoder{n: new(big.Int), max: true}, shape, false)
	if len(in) > maxSDPBytes {
		t.Fatalf("the input itself is over the frame: %d bytes", len(in))
	}
	_, _, err := (&SignalData{SDP: &SessionDescription{Type: "offer", SDP: in}}).Clean(false)
	if !errors.Is(err, ErrBadSDP) {
		t.Fatalf("got %v, want ErrBadSDP", err)
	}
}
