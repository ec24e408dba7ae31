package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"
)

func fuzzRing(t testing.TB) *keyring {
	a, err := parseKey(keyA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseKey(keyB)
	if err != nil {
		t.Fatal(err)
	}
	return newKeyring(a, [][]byte{b})
}

// FuzzOpenValue feeds arbitrary stored bytes to the opener and the record
// decoders behind it: nothing may panic, and nothing may open that was not
// sealed under a key of the ring. The seeds under testdata/fuzz hold real
// values sealed under keyA.
func FuzzOpenValue(f *testing.F) {
	ring := fuzzRing(f)
	ks := ring.current()
	sk, _ := hex.DecodeString(testID("seed"))
	sess, _ := json.Marshal(testSession("seed", t0))
	f.Add("sessions", sk, ks.seal(bucketSessions, sk, t0.UnixNano(), sess))
	f.Add("reports", bytes.Repeat([]byte{1}, 64), ks.seal(bucketReports, bytes.Repeat([]byte{1}, 64), 5, report{at: 1, reason: 2}.marshal()))
	f.Add("bans", bytes.Repeat([]byte{2}, 32), ks.seal(bucketBans, bytes.Repeat([]byte{2}, 32), 9, banRecord{until: 9, count: 3, bits: 64,
		strikes: [][]byte{bytes.Repeat([]byte{3}, strikeKeySize), bytes.Repeat([]byte{4}, strikeKeySize)}}.marshal()))
	f.Add("strikes", bytes.Repeat([]byte{3}, strikeKeySize), ks.seal(bucketStrikes, bytes.Repeat([]byte{3}, strikeKeySize), 9, strikePlain))
	f.Add("meta", checkKey(ks.id), ks.seal(bucketMeta, checkKey(ks.id), 0, checkPlain))
	f.Add("sessions", sk, []byte{})
	f.Add("bans", []byte{}, []byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, bucket string, key, value []byte) {
		parseIndexKey(value)
		plain, h, err := ring.open([]byte(bucket), key, value)
		if err != nil {
			if plain != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		if len(value) < minSealed || ring.byID[h.id] == nil || h.expiry < 0 {
			t.Fatalf("opened a value it should not have: header %+v, %d bytes", h, len(value))
		}
		switch bucket {
		case "reports":
			unmarshalReport(plain)
		case "bans":
			unmarshalBan(plain)
			unmarshalBanV1(plain)
		}
	})
}

// FuzzDecodeRecords feeds arbitrary plaintext to the record decoders: they
// must not panic, and what they accept must encode back to the same bytes.
func FuzzDecodeRecords(f *testing.F) {
	sess, _ := json.Marshal(testSession("seed", t0))
	f.Add(sess)
	f.Add(report{at: t0.UnixNano(), reason: 3}.marshal())
	f.Add(banRecord{until: t0.UnixNano(), count: 7}.marshal())
	f.Add(banRecord{until: t0.UnixNano(), count: 2, bits: 56, strikes: [][]byte{bytes.Repeat([]byte{5}, strikeKeySize)}}.marshal())
	f.Add([]byte(`{"id":"` + testID("seed") + `","met":{"x":1},"avoid":[null]}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, plain []byte) {
		parseHeader(plain)
		parseIndexKey(plain)
		if r, err := unmarshalReport(plain); err == nil && !bytes.Equal(r.marshal(), plain) {
			t.Fatalf("report %x does not round-trip", plain)
		}
		if b, err := unmarshalBan(plain); err == nil && !bytes.Equal(b.marshal(), plain) {
			t.Fatalf("ban %x does not round-trip", plain)
		}
		if b, err := unmarshalBanV1(plain); err == nil && (b.until <= 0 || b.bits != 0 || b.strikes != nil) {
			t.Fatalf("format-1 ban %x decoded to %+v", plain, b)
		}
	})
}
