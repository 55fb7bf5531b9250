package replica

// Logins, ACL entries and access keys are compared whole between two
// replicas, each removal kept as a record (a tombstone, a removal row),
// and those records are pruned once every peer holds them
// (docs/replication.md, "Pruning"). settleRecords is the rule they share.

// wholeRecord is one such record: R is its own type.
type wholeRecord[R any] interface {
	// name identifies the thing the record is of (a login, an entry, a
	// mailbox's key).
	name() string
	stamp() uint64
	removed() bool
	// beats reports whether the record wins over o, of the same thing.
	beats(o R) bool
	// removal is the record's removal at its stamp, which beats it.
	removal() R
}

// settleRecords returns what each side lacks of the other's (the records
// of the other side that beat its own, or that it has none of) and what
// both then hold, of the things shared reports both sides can hold.
// common is what the two recorded, on either side, as held in common
// when their last exchange ended. A thing one side has no record of at
// all, while the other's record of it is one they held in common, was
// removed on the first and the removal pruned since (a record leaves a
// replica only so): a held thing gives way to its removal, and a removal
// is not sent back.
func settleRecords[R wholeRecord[R]](a, b []R, common map[string]R, shared func(R) bool) (toA, toB, both []R) {
	ma := make(map[string]R, len(a))
	for _, r := range a {
		ma[r.name()] = r
	}
	mb := make(map[string]R, len(b))
	for _, r := range b {
		mb[r.name()] = r
	}
	for _, ra := range a {
		rb, ok := mb[ra.name()]
		if !ok {
			continue
		}
		w := ra
		if rb.beats(ra) {
			w = rb
			toA = append(toA, rb)
		} else if ra.beats(rb) {
			toB = append(toB, ra)
		}
		if shared(w) {
			both = append(both, w)
		}
	}
	oneSided := func(r R, to, back *[]R) {
		c, held := common[r.name()]
		if !shared(r) || !held || c.stamp() != r.stamp() || c.removed() != r.removed() {
			*to = append(*to, r)
			if shared(r) {
				both = append(both, r)
			}
			return
		}
		rm := r.removal()
		if !r.removed() {
			*back = append(*back, rm)
		}
		both = append(both, rm)
	}
	for _, r := range a {
		if _, ok := mb[r.name()]; !ok {
			oneSided(r, &toB, &toA)
		}
	}
	for _, r := range b {
		if _, ok := ma[r.name()]; !ok {
			oneSided(r, &toA, &toB)
		}
	}
	return toA, toB, both
}

// recorded is what one side recorded as held in common with the other.
type recorded[R wholeRecord[R]] struct {
	known bool
	recs  []R
}

// holds reports whether the record already is both, so that it need not
// be written again: an exchange that changed nothing writes nothing.
func (r recorded[R]) holds(both []R) bool {
	if !r.known || len(r.recs) != len(both) {
		return false
	}
	m := make(map[string]R, len(r.recs))
	for _, x := range r.recs {
		m[x.name()] = x
	}
	for _, x := range both {
		c, ok := m[x.name()]
		if !ok || c.stamp() != x.stamp() || c.removed() != x.removed() {
			return false
		}
	}
	return true
}
