package message

import (
	"bytes"
	"encoding/json"
	"testing"
)

// BenchmarkParse parses every message of the benchmark mailbox; MB/s is
// over the message bytes.
func BenchmarkParse(b *testing.B) {
	msgs := loadMbox(b)
	var total int64
	for _, m := range msgs {
		total += int64(len(m))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := Parse(bytes.NewReader(m)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func marshalAll(b *testing.B) [][]byte {
	msgs := loadMbox(b)
	encs := make([][]byte, len(msgs))
	for i, m := range msgs {
		s := mustParse(b, m)
		enc, err := s.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		encs[i] = enc
	}
	return encs
}

// BenchmarkUnmarshal decodes one stored structure per op (cycling through
// the mailbox): the cost FETCH ENVELOPE / BODYSTRUCTURE pays per message.
func BenchmarkUnmarshal(b *testing.B) {
	encs := marshalAll(b)
	var size int
	for _, e := range encs {
		size += len(e)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Unmarshal(encs[i%len(encs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(size)/float64(len(encs)), "stored-bytes/msg")
}

// BenchmarkDecode decodes one stored structure per op as the store's
// readers do (one string, nothing copied): everything, as Messages does
// for SEARCH and SORT (version 3 derives the search fields from the
// envelope; version 2 stores them), and what FETCH takes (no search
// fields).
func BenchmarkDecode(b *testing.B) {
	msgs := loadMbox(b)
	forms := map[string][]string{}
	for _, m := range msgs {
		st := mustParse(b, m)
		v3, err := st.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		forms["v3"] = append(forms["v3"], string(v3))
		forms["v2"] = append(forms["v2"], string(marshalV2(st)))
	}
	for _, c := range []struct {
		name string
		what Decoding
	}{{"all", DecodeAll}, {"fetch", DecodeForFetch}, {"envelope", DecodeEnvelope}} {
		for _, v := range []string{"v2", "v3"} {
			b.Run(c.name+"/"+v, func(b *testing.B) {
				encs := forms[v]
				var s Structure
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := s.DecodeShallow(encs[i%len(encs)], c.what); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkUnmarshalEnvelope decodes only the envelope of one stored
// structure per op.
func BenchmarkUnmarshalEnvelope(b *testing.B) {
	encs := marshalAll(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := UnmarshalEnvelope(encs[i%len(encs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUnmarshalJSON is the encoding/json baseline for the same data.
func BenchmarkUnmarshalJSON(b *testing.B) {
	msgs := loadMbox(b)
	encs := make([][]byte, len(msgs))
	for i, m := range msgs {
		encs[i], _ = json.Marshal(mustParse(b, m))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Unmarshal(encs[i%len(encs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMarshal(b *testing.B) {
	msgs := loadMbox(b)
	ss := make([]*Structure, len(msgs))
	for i, m := range msgs {
		ss[i] = mustParse(b, m)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ss[i%len(ss)].Marshal(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBodyContains searches the whole mailbox for a string that is
// not there, so every text part is decoded and scanned.
func BenchmarkBodyContains(b *testing.B) {
	msgs := loadMbox(b)
	ss := make([]*Structure, len(msgs))
	var total int64
	for i, m := range msgs {
		ss[i] = mustParse(b, m)
		total += int64(len(m))
	}
	m := NewMatcher("zqxjkv-not-there")
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for i, s := range ss {
			if ok, err := BodyContains(s, bytes.NewReader(msgs[i]), m); ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	}
}
