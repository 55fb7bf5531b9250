package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var _ store.Settings = (*Store)(nil)

// Setting reads one key of the settings table (store.Settings).
func (s *Store) Setting(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("setting %s: %w", key, err)
	}
	return v, true, nil
}

// Settings reads every key starting with prefix (a small table: a scan).
func (s *Store) Settings(ctx context.Context, prefix string) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM settings WHERE starts_with(key, $1)`, prefix)
	if err != nil {
		return nil, fmt.Errorf("settings %s: %w", prefix, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("settings %s: %w", prefix, err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// PutSettings writes values in one transaction (nil deletes a key).
func (s *Store) PutSettings(ctx context.Context, values map[string][]byte) error {
	if len(values) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for k, v := range values {
		if v == nil {
			batch.Queue(`DELETE FROM settings WHERE key = $1`, k)
		} else {
			batch.Queue(`INSERT INTO settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, batch).Close() })
	if err != nil {
		return fmt.Errorf("put settings: %w", err)
	}
	return nil
}
