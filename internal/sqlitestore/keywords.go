package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// kwSetID names a keyword set: a row of keyword_sets, the normalized
// keywords of a message joined by single spaces. 0 is the empty set. A
// message's chunk entry holds the id of its whole set, so the few
// distinct sets a mailbox uses are each stored once, and a STORE maps
// each distinct old set to its new one once.
//
// Rows are never deleted or changed, so an id means the same set forever
// (AUTOINCREMENT: not even a rolled-back id is reused once committed) and
// every process may cache what it has read.
type kwSetID uint32

// kwCache caches committed keyword sets in both directions.
type kwCache struct {
	mu     sync.Mutex
	byID   map[kwSetID][]string // guarded by mu; slices are shared, never modified
	byText map[string]kwSetID   // guarded by mu
}

func newKWCache() *kwCache {
	return &kwCache{byID: map[kwSetID][]string{0: nil}, byText: map[string]kwSetID{"": 0}}
}

func (c *kwCache) lookupID(id kwSetID) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kw, ok := c.byID[id]
	return kw, ok
}

func (c *kwCache) lookupText(s string) (kwSetID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.byText[s]
	return id, ok
}

func (c *kwCache) add(id kwSetID, s string) []string {
	kw := splitKeywords(s)
	kw = kw[:len(kw):len(kw)] // appending to a shared slice must copy
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byID[id]; ok {
		return old
	}
	c.byID[id] = kw
	c.byText[s] = id
	return kw
}

// keywords returns the keywords of set id, reading committed sets through
// q (a transaction that can see the chunk naming id).
func (c *kwCache) keywords(t readCtx, id kwSetID) ([]string, error) {
	if kw, ok := c.lookupID(id); ok {
		return kw, nil
	}
	var s string
	err := t.q.QueryRowContext(t.ctx, `SELECT keywords FROM keyword_sets WHERE id = ?`, id).Scan(&s)
	if err != nil {
		return nil, fmt.Errorf("keyword set %d: %w", id, err)
	}
	if _, ok := t.pending[s]; ok {
		// Created by this very transaction: cached once it commits.
		kw := splitKeywords(s)
		return kw[:len(kw):len(kw)], nil
	}
	return c.add(id, s), nil
}

// readCtx is where a keyword set is read from: a transaction, and the
// sets it created itself when it is a write transaction.
type readCtx struct {
	ctx     context.Context
	q       querier
	pending map[string]kwSetID
}

// kwResolver turns the keyword set ids of many entries into keyword
// lists, going to the shared cache once per distinct id.
type kwResolver struct {
	c     *kwCache
	rc    readCtx
	local map[kwSetID][]string
}

func (r *kwResolver) keywords(id kwSetID) ([]string, error) {
	if id == 0 {
		return nil, nil
	}
	if kw, ok := r.local[id]; ok {
		return kw, nil
	}
	kw, err := r.c.keywords(r.rc, id)
	if err != nil {
		return nil, err
	}
	if r.local == nil {
		r.local = make(map[kwSetID][]string)
	}
	r.local[id] = kw
	return kw, nil
}

// kwSetFor returns the id of the keyword set s (stored form), creating it
// in this transaction if needed.
func (t *writeTx) kwSetFor(s string) (kwSetID, error) {
	if id, ok := t.u.kw.lookupText(s); ok {
		return id, nil
	}
	if id, ok := t.newKW[s]; ok {
		return id, nil
	}
	var id kwSetID
	err := t.tx.QueryRowContext(t.ctx, `SELECT id FROM keyword_sets WHERE keywords = ?`, s).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = t.tx.QueryRowContext(t.ctx, `INSERT INTO keyword_sets (keywords) VALUES (?) RETURNING id`, s).Scan(&id)
		if err == nil {
			t.newKW[s] = id
			return id, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("keyword set: %w", err)
	}
	t.u.kw.add(id, s) // committed by someone else earlier
	return id, nil
}

// keywords returns the keywords of set id as this transaction sees them.
func (t *writeTx) keywords(id kwSetID) ([]string, error) {
	return t.u.kw.keywords(readCtx{ctx: t.ctx, q: t.q, pending: t.newKW}, id)
}

// resolver returns a kwResolver reading through this transaction.
func (t *writeTx) resolver() *kwResolver {
	return &kwResolver{c: t.u.kw, rc: readCtx{ctx: t.ctx, q: t.q, pending: t.newKW}}
}

// keywordText is the stored form of a set of keywords.
func keywordText(kw []string) string { return strings.Join(kw, " ") }
