package sqlitestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/tidemark-mail/tidemark/internal/blob"
	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/derived"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Message bodies live in one of two places, under the same content id
// (hex SHA-256 of the bytes): bodies up to userDB.inlineMax in the bodies
// table, written in the transaction that adds their messages, so that one
// WAL commit makes bytes and metadata durable together; larger ones in
// blob files, made durable before that transaction (see the package doc).

// inlineBatchBudget bounds the bytes one Append holds in memory for
// inline bodies; the rest of a very large batch goes to blob files.
const inlineBatchBudget = 32 << 20

// bodyReader is how a body reaches prepareBody: the message bytes and the
// inline bytes still available to the call.
type bodyReader struct {
	r      io.Reader
	budget *int64
	gc     *gcHold // held before a blob file is written
}

// prepareBody reads a message body. A body that fits under the inline
// threshold (and the call's budget) is returned in memory, for
// finishInline to hash, parse and compress (on another core, while the
// next body is read) and the transaction to store; a larger one is
// streamed to a pending blob file and parsed from there, never held in
// memory, and returned as the Pending.
func (u *userDB) prepareBody(p *preparedMessage, body bodyReader) ([]byte, *blob.Pending, error) {
	limit := min(u.inlineMax, *body.budget)
	if limit < 0 {
		body.gc.hold()
		pend, err := u.prepareFileBody(p, body.r)
		return nil, pend, err
	}
	if data, ok, err := readSized(body.r, limit); ok || err != nil {
		if err != nil {
			return nil, nil, fmt.Errorf("read: %w", err)
		}
		if u.maxSize > 0 && int64(len(data)) > u.maxSize {
			return nil, nil, fmt.Errorf("message larger than %d bytes: %w", u.maxSize, store.ErrTooBig)
		}
		*body.budget -= int64(len(data))
		return data, nil, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(body.r, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if n > limit {
		// Too large to inline: the bytes read so far start the file.
		body.gc.hold()
		pend, err := u.prepareFileBody(p, io.MultiReader(&buf, body.r))
		return nil, pend, err
	}
	if u.maxSize > 0 && n > u.maxSize {
		return nil, nil, fmt.Errorf("message larger than %d bytes: %w", u.maxSize, store.ErrTooBig)
	}
	*body.budget -= n
	return buf.Bytes(), nil, nil
}

// readSized reads a body whose reader tells its length (a bytes.Reader:
// a spooled literal, an import's message) in one allocation of that size
// rather than growing a buffer to it; ok is false when r does not tell or
// holds more than limit (or nothing: the general path decides what an
// empty body is).
func readSized(r io.Reader, limit int64) (data []byte, ok bool, err error) {
	l, sized := r.(interface{ Len() int })
	if !sized || l.Len() == 0 || int64(l.Len()) > limit {
		return nil, false, nil
	}
	data = make([]byte, l.Len())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// finishInline hashes, parses and compresses an inline body: the CPU work
// of an append, safe to run for several messages at once.
func (p *preparedMessage) finishInline(data []byte, withText bool) error {
	sum := sha256.Sum256(data)
	p.blobID, p.size, p.inline = hex.EncodeToString(sum[:]), int64(len(data)), data
	if p.packed == nil { // else: a replica's body, kept as it arrived (Replica.Apply)
		p.packed = bodypack.Pack(data)
	}
	return p.parse(bytes.NewReader(data), withText)
}

func (u *userDB) prepareFileBody(p *preparedMessage, body io.Reader) (*blob.Pending, error) {
	b, err := u.blobs.Write(body)
	if err != nil {
		return nil, err
	}
	p.blobID, p.size = b.ID, b.Size
	if err := p.parse(io.NewSectionReader(b.ReaderAt(), 0, b.Size), !u.noText && !p.textLater); err != nil {
		u.blobs.Abort([]*blob.Pending{b})
		return nil, err
	}
	return b, nil
}

// parse fills in the structure, thread headers, summary and (withText)
// index text from the body, once p.blobID and p.size are its own: the
// structure and summary come from p.derived when it was sealed for these
// bytes (a replica's append), else from parsing them.
func (p *preparedMessage) parse(r derived.Body, withText bool) error {
	d, st, used, err := derived.From(p.derived, p.blobID, p.size, r, false) // previews are computed on FETCH (summary.go)
	if err != nil {
		return err
	}
	p.usedDerived = used
	// Stored as it is: the stored form (version 3) is about the size of
	// the version 2 form under zstd, and a read decodes it in place.
	p.structure, p.sortKeys = d.Structure, d.SortKeys
	p.thread = st.ThreadRefs()
	if withText {
		p.indexText(st, r)
	}
	return nil
}

// inlineBody is a body read from the bodies table. It implements
// store.Blob; bytes.Reader's Size is the body's length.
type inlineBody struct{ *bytes.Reader }

func (inlineBody) Close() error { return nil }

var _ store.Blob = inlineBody{}

// queryer is what both a transaction and a database offer.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inlineData returns the body stored in the database under id, or
// ok false when there is none.
func inlineData(ctx context.Context, q queryer, id string) (data []byte, ok bool, err error) {
	return scanInline(q.QueryRowContext(ctx, `SELECT data FROM bodies WHERE id = ?`, id), id)
}

func scanInline(row *sql.Row, id string) (data []byte, ok bool, err error) {
	err = row.Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read body %s: %w", id, err)
	}
	if data, err = bodypack.Unpack(data); err != nil {
		return nil, false, fmt.Errorf("read body %s: %w", id, err)
	}
	return data, true, nil
}

// openBody opens a body wherever it is stored: the database first (where
// small bodies are), then the blob files.
func (u *userDB) openBody(ctx context.Context, id string) (store.Blob, error) {
	data, ok, err := scanInline(u.bodyByID.QueryRowContext(ctx, id), id)
	if err != nil {
		return nil, err
	}
	if ok {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	f, err := u.blobs.Open(id)
	if err != nil {
		return nil, storageErr(err)
	}
	return f, nil
}

// verifyBody rereads a body and checks that it hashes to its id; it
// returns its size.
func (u *userDB) verifyBody(ctx context.Context, q queryer, id string) (int64, error) {
	data, ok, err := inlineData(ctx, q, id)
	if err != nil {
		return 0, err
	}
	if !ok {
		return u.blobs.Verify(id)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != id {
		return int64(len(data)), fmt.Errorf("body %s: content hashes to %s", id, got)
	}
	return int64(len(data)), nil
}
