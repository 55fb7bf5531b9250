// Package msglist holds a mailbox's messages (or just their UIDs) as one
// list in ascending UID order, stored in chunks of at most ChunkMax
// entries, so that the changes a mailbox sees cost what they change, not
// what the mailbox holds.
//
// A plain array makes removing one message a move of every entry behind it
// and, when the array is shared, a copy of all of it: with 1,000,000
// messages, a 4 MB copy for every expunge in every session. Here removing
// or inserting rewrites only the chunks it touches (at most ChunkMax
// entries each) and the chunk index (one entry per chunk); looking up an
// index or a UID is two binary searches.
//
// # Sharing
//
// Share returns a copy that shares every chunk with the original and can
// be kept by another reader (the open mailbox hands its UID list to every
// session that selects it, see internal/openbox). Neither side ever writes
// into a chunk below the length the other may see: removals and inserts
// build new chunks, and appends go past the copy's length (its last chunk's
// capacity is cut at its length, so its own appends reallocate). Set, which
// writes in place, is for lists that are never shared.
//
// A List is not safe for concurrent use; its owner locks it.
package msglist

import (
	"slices"
	"sort"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// ChunkMax is the most entries a chunk holds. Removing one entry copies at
// most this many; sharing or removing also touches one index entry per
// chunk, so a list of n entries costs n/ChunkMax there.
const ChunkMax = 1024

// List is a UID-ordered list of T in chunks. The zero value is not usable;
// start from New.
type List[T any] struct {
	chunks [][]T
	ends   []int // ends[i]: entries in chunks[0..i]
	key    func(T) store.UID
}

// UIDs returns a list of UIDs, sharing uids (which must be ascending and
// never written again by the caller).
func UIDs(uids []store.UID) List[store.UID] {
	return New(uids, func(u store.UID) store.UID { return u })
}

// New returns a list of items (ascending by key), sharing their array.
func New[T any](items []T, key func(T) store.UID) List[T] {
	l := List[T]{key: key}
	for i := 0; i < len(items); i += ChunkMax {
		j := min(i+ChunkMax, len(items))
		l.chunks = append(l.chunks, items[i:j:j])
		l.ends = append(l.ends, j)
	}
	return l
}

// Len is the number of entries.
func (l *List[T]) Len() int {
	if len(l.ends) == 0 {
		return 0
	}
	return l.ends[len(l.ends)-1]
}

// locate returns the chunk holding index i and i's offset in it.
func (l *List[T]) locate(i int) (c, off int) {
	c = sort.SearchInts(l.ends, i+1)
	if c > 0 {
		off = i - l.ends[c-1]
	} else {
		off = i
	}
	return c, off
}

// At returns entry i (0 <= i < Len).
func (l *List[T]) At(i int) T {
	c, off := l.locate(i)
	return l.chunks[c][off]
}

// Set replaces entry i in place. Only for a list never shared.
func (l *List[T]) Set(i int, x T) {
	c, off := l.locate(i)
	l.chunks[c][off] = x
}

// Ptr returns a pointer to entry i, to change it in place. Only for a list
// never shared.
func (l *List[T]) Ptr(i int) *T {
	c, off := l.locate(i)
	return &l.chunks[c][off]
}

// Last returns the last entry; ok is false when the list is empty.
func (l *List[T]) Last() (x T, ok bool) {
	if len(l.chunks) == 0 {
		return x, false
	}
	c := l.chunks[len(l.chunks)-1]
	return c[len(c)-1], true
}

// Search returns the index of the first entry whose UID is >= u, and
// whether it is u.
func (l *List[T]) Search(u store.UID) (int, bool) {
	c := sort.Search(len(l.chunks), func(i int) bool {
		ch := l.chunks[i]
		return l.key(ch[len(ch)-1]) >= u
	})
	if c == len(l.chunks) {
		return l.Len(), false
	}
	ch := l.chunks[c]
	off := sort.Search(len(ch), func(i int) bool { return l.key(ch[i]) >= u })
	base := 0
	if c > 0 {
		base = l.ends[c-1]
	}
	return base + off, off < len(ch) && l.key(ch[off]) == u
}

// Scan calls fn with the entries from index lo on, in order, as
// consecutive pieces (base is the index of part[0]), until fn returns
// false or the list ends. fn must not keep part.
func (l *List[T]) Scan(lo int, fn func(base int, part []T) bool) {
	if lo >= l.Len() || lo < 0 {
		return
	}
	c, off := l.locate(lo)
	for ; c < len(l.chunks); c, off = c+1, 0 {
		base := l.ends[c] - len(l.chunks[c]) + off
		if !fn(base, l.chunks[c][off:]) {
			return
		}
	}
}

// Locate finds n ascending UIDs, uid(0) .. uid(n-1), in one pass: for each
// one the list holds it calls fn with k, the entry's index and a pointer to
// the entry (to change it in place only in a list never shared). The cost
// is a binary search within a chunk per UID plus one step per chunk passed,
// so a change to every message of a mailbox is one pass, and a change to a
// few is a few searches.
func (l *List[T]) Locate(n int, uid func(k int) store.UID, fn func(k, i int, x *T)) {
	if n == 0 || len(l.chunks) == 0 {
		return
	}
	first := uid(0)
	c := sort.Search(len(l.chunks), func(i int) bool {
		ch := l.chunks[i]
		return l.key(ch[len(ch)-1]) >= first
	})
	off := 0 // entries of chunk c before it are below every UID still to find
	for k := 0; k < n && c < len(l.chunks); k++ {
		u := uid(k)
		ch := l.chunks[c]
		for l.key(ch[len(ch)-1]) < u {
			if c++; c == len(l.chunks) {
				return
			}
			ch, off = l.chunks[c], 0
		}
		j := off
		if l.key(ch[j]) < u { // else: the next entry, as in a pass over every message
			j += sort.Search(len(ch)-off, func(i int) bool { return l.key(ch[off+i]) >= u })
		}
		off = j
		if l.key(ch[j]) == u {
			fn(k, l.ends[c]-len(ch)+j, &ch[j])
			off = j + 1
			if off == len(ch) {
				if c++; c == len(l.chunks) {
					return
				}
				off = 0
			}
		}
	}
}

// Cursor finds UIDs asked in ascending order, each from where the last
// one was found (see Locate): a pass over a whole mailbox costs one binary
// search within a chunk per UID and one step per chunk.
type Cursor[T any] struct {
	l       *List[T]
	c, off  int
	started bool
}

// Cursor returns a cursor at the start of the list. The list must not
// change while it is used.
func (l *List[T]) Cursor() Cursor[T] { return Cursor[T]{l: l} }

// Find returns the index of u and whether the list holds it. Each u must
// be above the one before.
func (cur *Cursor[T]) Find(u store.UID) (int, bool) {
	l := cur.l
	if !cur.started {
		cur.started = true
		cur.c = sort.Search(len(l.chunks), func(i int) bool {
			ch := l.chunks[i]
			return l.key(ch[len(ch)-1]) >= u
		})
	}
	for cur.c < len(l.chunks) {
		ch := l.chunks[cur.c]
		if l.key(ch[len(ch)-1]) < u {
			cur.c, cur.off = cur.c+1, 0
			continue
		}
		off := cur.off
		j := off
		if l.key(ch[j]) < u { // else: the next entry, as in a pass over every message
			j += sort.Search(len(ch)-off, func(i int) bool { return l.key(ch[off+i]) >= u })
		}
		cur.off = j
		return l.ends[cur.c] - len(ch) + j, l.key(ch[j]) == u
	}
	return l.Len(), false
}

// Slice returns the entries as one new array.
func (l *List[T]) Slice() []T {
	out := make([]T, 0, l.Len())
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}

// Share returns a copy sharing every chunk (see the package comment).
func (l *List[T]) Share() List[T] {
	s := List[T]{chunks: slices.Clone(l.chunks), ends: slices.Clone(l.ends), key: l.key}
	if n := len(s.chunks); n > 0 {
		c := s.chunks[n-1]
		s.chunks[n-1] = c[:len(c):len(c)]
	}
	return s
}

// Append adds x, whose UID is above every entry's, at the end.
func (l *List[T]) Append(x T) {
	n := len(l.chunks)
	if n == 0 || len(l.chunks[n-1]) >= ChunkMax {
		c := make([]T, 1, ChunkMax)
		c[0] = x
		l.chunks = append(l.chunks, c)
		l.ends = append(l.ends, l.Len()+1)
		return
	}
	// Past the length of any copy handed out (Share cut their capacity),
	// so in place when there is room.
	l.chunks[n-1] = append(l.chunks[n-1], x)
	l.ends[n-1]++
}

// Insert puts x at index i (the caller found i with Search), into a new
// chunk: the old one may be shared.
func (l *List[T]) Insert(i int, x T) {
	if i >= l.Len() {
		l.Append(x)
		return
	}
	c, off := l.locate(i)
	old := l.chunks[c]
	nc := make([]T, 0, len(old)+1)
	nc = append(append(append(nc, old[:off]...), x), old[off:]...)
	if len(nc) <= ChunkMax {
		l.chunks[c] = nc
	} else {
		h := len(nc) / 2
		l.chunks[c] = nc[:h:h]
		l.chunks = slices.Insert(l.chunks, c+1, nc[h:])
		l.ends = slices.Insert(l.ends, c, 0)
	}
	l.reindex(c)
}

// Remove deletes the entries whose UIDs are in set, calling gone (when not
// nil) with each one's index before the removal and the entry, in
// ascending order. It returns how many went. Only the chunks holding them
// are rebuilt, into new arrays (the old ones may be shared); a chunk left
// small is merged with its neighbour so the chunk count stays near
// Len/ChunkMax.
func (l *List[T]) Remove(set store.UIDSet, gone func(i int, x T)) int {
	removed, first := 0, -1
	ri := 0
	for c := 0; ri < len(set) && c < len(l.chunks); c++ {
		start := set[ri].Start
		c += sort.Search(len(l.chunks)-c, func(i int) bool {
			ch := l.chunks[c+i]
			return l.key(ch[len(ch)-1]) >= start
		})
		if c == len(l.chunks) {
			break
		}
		ch := l.chunks[c]
		base := l.ends[c] - len(ch) // the index is rebuilt only at the end
		var nc []T
		for j, x := range ch {
			k := l.key(x)
			for ri < len(set) && set[ri].Stop < k {
				ri++
			}
			if ri < len(set) && set[ri].Start <= k {
				if nc == nil {
					nc = make([]T, j, len(ch)-1)
					copy(nc, ch[:j])
				}
				if gone != nil {
					gone(base+j, x)
				}
				removed++
				continue
			}
			if nc != nil {
				nc = append(nc, x)
			}
		}
		if nc != nil {
			l.chunks[c] = nc
			if first < 0 {
				first = c
			}
		}
	}
	if first >= 0 {
		l.compact(first)
	}
	return removed
}

// compact drops empty chunks and merges small neighbours from chunk c on,
// then rebuilds the index from there.
func (l *List[T]) compact(c int) {
	out := l.chunks[:c]
	for _, ch := range l.chunks[c:] {
		if len(ch) == 0 {
			continue
		}
		if n := len(out); n > 0 && len(out[n-1])+len(ch) <= ChunkMax/2 {
			prev := out[n-1]
			m := make([]T, 0, len(prev)+len(ch))
			out[n-1] = append(append(m, prev...), ch...)
			continue
		}
		out = append(out, ch)
	}
	clear(l.chunks[len(out):])
	l.chunks = out
	l.ends = l.ends[:len(out)]
	if c > 0 {
		c-- // a merge may have reached back into chunk c-1
	}
	l.reindex(c)
}

// reindex recomputes ends from chunk c on.
func (l *List[T]) reindex(c int) {
	for len(l.ends) < len(l.chunks) {
		l.ends = append(l.ends, 0)
	}
	l.ends = l.ends[:len(l.chunks)]
	for ; c < len(l.chunks); c++ {
		prev := 0
		if c > 0 {
			prev = l.ends[c-1]
		}
		l.ends[c] = prev + len(l.chunks[c])
	}
}
