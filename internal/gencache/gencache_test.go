package gencache

import (
	"fmt"
	"testing"
)

// TestBounded: every entry put is found right after; the cache never
// holds more than its budget; recent entries stay and the oldest go; an
// entry read from the old generation survives the next turn.
func TestBounded(t *testing.T) {
	c := Cache[string, []byte]{Max: 64 << 10, Size: func(k string, v []byte) int { return len(k) + len(v) }}
	body := make([]byte, 1000)
	for i := range 1000 {
		k := fmt.Sprint(i)
		c.Put(k, body)
		if _, ok := c.Get(k); !ok {
			t.Fatalf("entry %d not kept", i)
		}
		if _, ok := c.Get("0"); !ok && i < 30 {
			t.Fatalf("entry 0 dropped after %d entries", i+1)
		}
		if held := c.Held(); held > c.Max {
			t.Fatalf("after %d entries the cache holds %d bytes, over %d", i+1, held, c.Max)
		}
	}
	if _, ok := c.Get("999"); !ok {
		t.Fatal("the last entry was dropped")
	}
	if _, ok := c.Get("1"); ok {
		t.Fatal("an old entry is still held")
	}
	c.Put("big", make([]byte, c.Max/64))
	if _, ok := c.Get("big"); ok {
		t.Fatal("an entry over Max/64 was kept")
	}
	c.Clear()
	if _, ok := c.Get("999"); ok || c.Held() != 0 {
		t.Fatal("entries left after Clear")
	}
}
