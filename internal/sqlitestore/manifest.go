package sqlitestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// reservationStep is how far ahead of the modseqs in use the manifest's
// floor is written, so that the manifest is rewritten about once per this
// many write transactions on the busiest mailbox. Tests lower it.
var reservationStep uint64 = 1 << 12

// manifest is manifest.json in a user's directory: the numbers that must
// survive the loss or rollback of meta.db. Version 1 fields:
//   - version: 1.
//   - modseq_floor: above every modseq ever handed out in any mailbox.
//   - previous_modseq_floor: the floor before the last reservation; a
//     database whose meta.modseq_floor equals it crashed between writing the
//     manifest and committing, which is harmless.
//   - uidvalidity_next: the next UIDVALIDITY to give out; values only grow.
type manifest struct {
	Version         int    `json:"version"`
	ModSeqFloor     uint64 `json:"modseq_floor"`
	PrevFloor       uint64 `json:"previous_modseq_floor"`
	UIDValidityNext uint32 `json:"uidvalidity_next"`
}

const manifestName = "manifest.json"

func readManifest(dir string) (manifest, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return manifest{Version: 1, UIDValidityNext: 1}, false, nil
	}
	if err != nil {
		return manifest{}, false, fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return manifest{}, false, fmt.Errorf("read manifest: %w", err)
	}
	if m.Version != 1 {
		return manifest{}, false, fmt.Errorf("manifest version %d not supported", m.Version)
	}
	return m, true, nil
}

// writeManifest replaces the manifest durably: temporary file, fsync,
// rename, directory fsync.
func writeManifest(dir string, m manifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, manifestName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, manifestName)); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return syncDir(dir)
}
