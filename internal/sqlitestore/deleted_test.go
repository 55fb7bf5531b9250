package sqlitestore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestDeletedByAnotherProcess: a second Store on the same directory (as
// `tidemark user del` and `user add` are) deletes and re-creates a user
// whose database this Store has open. The open handle is revoked and
// refuses writes, and a new Open gets the new, empty store.
func TestDeletedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "rita"); err != nil {
		t.Fatal(err)
	}
	old, err := s.openAccount(ctx, "rita")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	inbox := mustMailbox(t, old, "INBOX")
	appendN(t, old, inbox.ID, 2, store.Flags{})

	other := openStore(t, dir, Options{})
	if err := other.DeleteUser(ctx, "rita"); err != nil {
		t.Fatal(err)
	}
	_, err = old.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(testMessage(9, ""))}})
	if !errors.Is(err, store.ErrUserDeleted) {
		t.Fatalf("append into a deleted store: %v, want ErrUserDeleted", err)
	}
	if !old.Revoked() {
		t.Error("handle on a deleted store not revoked")
	}
	if _, err := old.Snapshot(ctx, inbox.ID); !errors.Is(err, store.ErrUserDeleted) {
		t.Errorf("read of a deleted store: %v", err)
	}
	if _, err := s.Open(ctx, "rita"); !errors.Is(err, store.ErrNoUser) {
		t.Fatalf("open after delete: %v, want ErrNoUser", err)
	}
	if err := other.CreateUser(ctx, "rita"); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.openAccount(ctx, "rita")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if fresh.Revoked() {
		t.Error("new store reported revoked")
	}
	if st, err := fresh.Status(ctx, mustMailbox(t, fresh, "INBOX").ID); err != nil || st.Messages != 0 {
		t.Fatalf("re-created user's INBOX: %+v, %v", st, err)
	}
}

// TestUserNameFoldsASCIIOnly: the store folds ASCII case only, as login
// does; "\u212Aate" (KELVIN SIGN) is not "kate".
func TestUserNameFoldsASCIIOnly(t *testing.T) {
	if n, err := ValidUserName("KaTe"); err != nil || n != "kate" {
		t.Errorf("KaTe: %q, %v", n, err)
	}
	if n, err := ValidUserName("\u212Aate"); err == nil {
		t.Errorf("KELVIN SIGN name accepted as %q", n)
	}
}

// TestFilesArePrivate: the user's database and its WAL files, which hold
// message bodies, are readable by the owner only, whatever the umask.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	_, a := newAccount(t)
	appendN(t, a, mustMailbox(t, a, "INBOX").ID, 1, store.Flags{})
	for _, name := range []string{"meta.db", "meta.db-wal", "meta.db-shm"} {
		st, err := os.Stat(filepath.Join(a.u.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", name, st.Mode().Perm())
		}
	}
}
