package proto

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// A session description is parsed into the values WebRTC needs (sdpDesc,
// mediaSection) and written anew from them; no line of the input is copied.
// This file holds the session level, the transport attributes and the
// identifiers the server derives; the media sections are parsed in
// sdp_media.go, and everything is written in sdp_write.go.

// Bounds. A Chromium offer with audio, video and a data channel has 3
// sections and about 200 lines; its receive-only video section lists 34
// formats.
const (
	maxSDPBytes       = MaxFrameBytes
	maxSDPLines       = 4096
	maxLineBytes      = 1024
	maxSections       = 16
	maxFormats        = 64
	maxSDPCandidates  = 64
	maxSSRCs          = 4 // a primary, its retransmission and FEC streams
	maxFmtpParams     = 16
	maxStreamIDLength = 64 // RFC 8830
)

// transport holds the attributes RFC 8859 puts in the TRANSPORT category.
// Every m= section in use shares them (they are bundled, and even unbundled
// every browser and pion use one ICE agent and one certificate), so a
// description carries them once: a section that says otherwise is refused
// rather than trusted, and the one set is written into every section.
type transport struct {
	ufrag, pwd string
	fpAlg, fp  string // "sha-256", "AB:CD:..." in upper case
	setup      string
	trickle    bool
}

type sdpDesc struct {
	answer bool
	hide   bool

	sess       transport // session-level values, defaults for the sections
	sessDir    string
	bundle     []string // mids of the BUNDLE group, as given
	allowMixed bool     // a=extmap-allow-mixed
	msidSem    bool     // a=msid-semantic: WMS

	media  []mediaSection
	params []fmtpParam // fmtp parameters of every codec, by range
	ncands int

	tr  transport // the description's one transport, once checked
	ids derivedIDs
}

// cleanSDP checks a description and writes what may be forwarded. version is
// the o= session version to write (see sessionVersion).
func cleanSDP(s *SessionDescription, hide bool, version uint64) (*SessionDescription, error) {
	answer := false
	switch s.Type {
	case "offer":
	case "answer":
		answer = true
	default:
		return nil, fmt.Errorf("%w: type must be offer or answer", ErrBadSDP)
	}
	if len(s.SDP) > maxSDPBytes {
		return nil, fmt.Errorf("%w: too long", ErrBadSDP)
	}
	d := &sdpDesc{answer: answer, hide: hide}
	if err := d.parse(s.SDP); err != nil {
		return nil, err
	}
	out := d.write(version, len(s.SDP))
	if len(out) > maxSDPBytes {
		// The transport attributes are written in every section: a
		// description that gave them once for 16 sections grows.
		return nil, bad("too long once written")
	}
	return &SessionDescription{Type: s.Type, SDP: out}, nil
}

func bad(reason string) error { return fmt.Errorf("%w: %s", ErrBadSDP, reason) }

func (d *sdpDesc) parse(text string) error {
	d.media = make([]mediaSection, 0, 4)
	var cur *mediaSection
	for n := 0; text != ""; n++ {
		line, rest, _ := cut(text, '\n')
		text = rest
		line = strings.TrimSuffix(line, "\r")
		if n >= maxSDPLines {
			return bad("too many lines")
		}
		if len(line) > maxLineBytes {
			return bad("line too long")
		}
		if n == 0 {
			if line != "v=0" {
				return bad("does not start with v=0")
			}
			continue
		}
		if line == "" && text == "" {
			break // a final line end
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return bad("malformed line")
		}
		switch line[0] {
		case 'm':
			if cur != nil {
				if err := cur.finish(d); err != nil {
					return err
				}
			}
			if len(d.media) == maxSections {
				return bad("too many media sections")
			}
			d.media = append(d.media, mediaSection{})
			cur = &d.media[len(d.media)-1]
			if err := cur.parseMLine(line[2:]); err != nil {
				return err
			}
		case 'a':
			name, value, _ := cut(line[2:], ':')
			var err error
			if cur == nil {
				err = d.sessionAttribute(name, value)
			} else {
				err = cur.attribute(d, name, value)
			}
			if err != nil {
				return err
			}
		case 'v':
			return bad("v= twice")
		default:
			// o=, s=, t= and c= are written anew; i=, u=, e=, p=, b=, z=,
			// k= and r= are dropped.
		}
	}
	if cur == nil {
		return bad("no media section")
	}
	if err := cur.finish(d); err != nil {
		return err
	}
	return d.check()
}

func (d *sdpDesc) sessionAttribute(name, value string) error {
	switch name {
	case "group":
		sem, mids := nextField(value)
		if sem != "BUNDLE" || d.bundle != nil {
			return nil // other groupings (LS) and a second BUNDLE group are dropped
		}
		d.bundle = make([]string, 0, 4)
		for mids != "" {
			var mid string
			mid, mids = nextField(mids)
			if !validMid(mid) {
				return bad("bad mid in BUNDLE group")
			}
			if len(d.bundle) == maxSections {
				return bad("BUNDLE group too large")
			}
			d.bundle = append(d.bundle, mid)
		}
	case "extmap-allow-mixed":
		d.allowMixed = true
	case "msid-semantic":
		if sem, _ := nextField(strings.TrimPrefix(value, " ")); sem == "WMS" {
			d.msidSem = true
		}
	case "sendrecv", "sendonly", "recvonly", "inactive":
		if d.sessDir != "" && d.sessDir != name {
			return bad("two directions")
		}
		d.sessDir = name
	default:
		if ok, err := d.sess.attribute(name, value, d.answer); ok || err != nil {
			return err
		}
		// Anything else at session level is dropped.
	}
	return nil
}

// attribute takes a transport attribute; ok is false when name is not one.
func (t *transport) attribute(name, value string, answer bool) (ok bool, err error) {
	set := func(field *string, v, what string) error {
		if *field != "" && *field != v {
			return bad("two different " + what)
		}
		*field = v
		return nil
	}
	switch name {
	case "ice-ufrag":
		if !validUfrag(value) {
			return true, bad("bad ice-ufrag")
		}
		return true, set(&t.ufrag, value, "ice-ufrag")
	case "ice-pwd":
		if !validPwd(value) {
			return true, bad("bad ice-pwd")
		}
		return true, set(&t.pwd, value, "ice-pwd")
	case "ice-options":
		for value != "" {
			var opt string
			opt, value = nextField(value)
			if opt == "trickle" {
				t.trickle = true
			}
		}
		return true, nil
	case "fingerprint":
		alg, fp, err := parseFingerprint(value)
		if err != nil {
			return true, err
		}
		if err := set(&t.fpAlg, alg, "fingerprints"); err != nil {
			return true, err
		}
		return true, set(&t.fp, fp, "fingerprints")
	case "setup":
		switch value {
		case "active", "passive":
		case "actpass":
			if answer {
				return true, bad("actpass in an answer")
			}
		default:
			return true, bad("bad setup")
		}
		return true, set(&t.setup, value, "setup roles")
	}
	return false, nil
}

// parseFingerprint checks a certificate fingerprint: one of the hashes
// browsers and pion use, and exactly its length in colon-separated hex pairs.
// It returns them in upper case, as browsers write them (the safety code
// compares them in upper case too).
func parseFingerprint(v string) (alg, fp string, err error) {
	alg, fp = nextField(v)
	var size int
	switch strings.ToLower(alg) {
	case "sha-256":
		alg, size = "sha-256", 32
	case "sha-384":
		alg, size = "sha-384", 48
	case "sha-512":
		alg, size = "sha-512", 64
	default:
		return "", "", bad("fingerprint hash not allowed")
	}
	if len(fp) != 3*size-1 {
		return "", "", bad("bad fingerprint")
	}
	lower := false
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if i%3 == 2 {
			if c != ':' {
				return "", "", bad("bad fingerprint")
			}
			continue
		}
		if !isHex(c) {
			return "", "", bad("bad fingerprint")
		}
		if c >= 'a' {
			lower = true
		}
	}
	if lower {
		fp = strings.ToUpper(fp)
	}
	return alg, fp, nil
}

// check applies the rules across sections: unique mids, one transport.
func (d *sdpDesc) check() error {
	first := true
	for i := range d.media {
		m := &d.media[i]
		if m.mid != "" {
			for j := range i {
				if d.media[j].mid == m.mid {
					return bad("two sections with one mid")
				}
			}
		}
		if m.dir == "" {
			m.dir = d.sessDir
		}
		if m.port0 {
			continue // rejected or bundle-only: no transport of its own
		}
		t, ok := m.tr.over(&d.sess)
		if !ok || (!first && t != d.tr) {
			return bad("sections disagree on ICE credentials, fingerprint or setup")
		}
		d.tr, first = t, false
	}
	d.ids = deriveIDs(&d.tr)
	return nil
}

// over returns t with what it leaves unset taken from the session level;
// ok is false when it contradicts the session level (which would leave the
// partner a fingerprint the sender's own safety code does not count).
func (t transport) over(sess *transport) (transport, bool) {
	ok := true
	take := func(field *string, session string) {
		switch {
		case *field == "":
			*field = session
		case session != "" && session != *field:
			ok = false
		}
	}
	take(&t.ufrag, sess.ufrag)
	take(&t.pwd, sess.pwd)
	take(&t.fpAlg, sess.fpAlg)
	take(&t.fp, sess.fp)
	take(&t.setup, sess.setup)
	t.trickle = t.trickle || sess.trickle
	return t, ok
}

// derivedIDs are the identifiers the server writes in place of the ones a
// browser chose freely: the o= session ID, the RTCP CNAME and the msid
// stream and track IDs. They are derived from the certificate fingerprint,
// which the description carries anyway: stable for the life of a
// PeerConnection (so renegotiations keep them, as RFC 3264 and RFC 8830
// want), distinct between people, and carrying no bit the sender chose
// beyond the fingerprint itself.
type derivedIDs struct {
	seed      [32]byte
	sessionID uint64
	cname     string
}

func deriveIDs(t *transport) derivedIDs {
	var ids derivedIDs
	ids.seed = sha256.Sum256([]byte("parley sdp ids\x00" + t.fpAlg + " " + t.fp))
	ids.sessionID = binary.BigEndian.Uint64(ids.seed[:8]) >> 2 // 62 bits, as JSEP says
	ids.cname = base64.RawStdEncoding.EncodeToString(ids.seed[8:20])
	return ids
}

// uuid derives a version 4 UUID from the seed, a label and a name.
func (ids *derivedIDs) uuid(label byte, name string) string {
	h := sha256.New()
	h.Write(ids.seed[:])
	h.Write([]byte{label})
	h.Write([]byte(name))
	var sum [32]byte
	u := h.Sum(sum[:0])[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
