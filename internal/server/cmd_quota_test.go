package server

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/store"
)

var _ QuotaManager = (*quota.Manager)(nil)

// newQuotaEnv is a test server whose quota manager gives testUser limits
// and makes the users in admins quota administrators.
func newQuotaEnv(t *testing.T, limits quota.Limits, admins ...string) (*testEnv, *quota.Manager) {
	var m *quota.Manager
	env := newTestEnv(t, func(c *Config) {
		var err error
		m, err = quota.New(c.Store, quota.Config{
			Default:       limits,
			Admins:        admins,
			OverridesFile: filepath.Join(t.TempDir(), quota.OverridesFileName),
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Quota = m
	})
	return env, m
}

func TestGetQuotaTranscript(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{StorageBytes: 1 << 20, Messages: 3})
	env.appendMessages("INBOX", 2, store.Flags{}) // 47 bytes each
	c := env.dial()
	c.send("a CAPABILITY")
	c.expect(`^\* CAPABILITY .* QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE( |$).*`, `^a OK .*`)
	c.login()
	c.send(`b GETQUOTAROOT INBOX`)
	c.expect(`^\* QUOTAROOT INBOX ""$`, `^\* QUOTA "" \(STORAGE 1 1024 MESSAGE 2 3\)$`, `^b OK GETQUOTAROOT completed$`)
	// A mailbox that does not exist yet has the same root (RFC 9208 4.1.2).
	c.send(`c GETQUOTAROOT "Not Yet"`)
	c.expect(`^\* QUOTAROOT "Not Yet" ""$`, `^\* QUOTA "" \(STORAGE 1 1024 MESSAGE 2 3\)$`, `^c OK .*`)
	c.send(`d GETQUOTA ""`)
	c.expect(`^\* QUOTA "" \(STORAGE 1 1024 MESSAGE 2 3\)$`, `^d OK GETQUOTA completed$`)
	c.send(`e GETQUOTA "#user/joe"`)
	c.expect(`^\* QUOTA #user/joe \(STORAGE 1 1024 MESSAGE 2 3\)$`, `^e OK .*`)
	c.send(`f GETQUOTA "#user/other"`)
	c.expect(`^f NO \[NONEXISTENT\] No such quota root$`)
	c.send(`g GETQUOTA elsewhere`)
	c.expect(`^g NO \[NONEXISTENT\] No such quota root$`)
	// SETQUOTA is for administrators (RFC 9208 4.1.3), and QUOTASET is
	// not offered to others.
	c.send(`h SETQUOTA "" (STORAGE 10)`)
	c.expect(`^h NO \[NOPERM\] Only quota administrators may set quotas$`)
	c.send("i CAPABILITY")
	l := c.expect(`^\* CAPABILITY .*`, `^i OK .*`)
	if strings.Contains(l[0], "QUOTASET") {
		t.Errorf("QUOTASET offered to a non-administrator: %s", l[0])
	}
	c.send(`j GETQUOTA`)
	c.expect(`^j BAD .*`)
}

func TestUnlimitedQuotaRoot(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{})
	c := env.dial()
	c.login()
	c.send(`a GETQUOTA ""`)
	c.expect(`^\* QUOTA "" \(\)$`, `^a OK .*`)
}

func TestSetQuotaByAdmin(t *testing.T) {
	env, m := newQuotaEnv(t, quota.Limits{Messages: 100}, testUser)
	env.appendMessages("INBOX", 1, store.Flags{})
	c := env.dial()
	c.login()
	c.send("a CAPABILITY")
	c.expect(`^\* CAPABILITY .* QUOTASET( |$).*`, `^a OK .*`)
	c.send(`b SETQUOTA "" (STORAGE 10 MESSAGE 5)`)
	c.expect(`^\* QUOTA "" \(STORAGE 1 10 MESSAGE 1 5\)$`, `^b OK SETQUOTA completed$`)
	if s, n := m.QuotaLimits(testUser); s != 10240 || n != 5 {
		t.Fatalf("limits %d %d", s, n)
	}
	// Resources left out are no longer limited (RFC 9208 4.1.3).
	c.send(`c SETQUOTA "#user/joe" (MESSAGE 7)`)
	c.expect(`^\* QUOTA #user/joe \(MESSAGE 1 7\)$`, `^c OK .*`)
	c.send(`d SETQUOTA "" (MAILBOX 3)`)
	c.expect(`^d NO Unsupported quota resource MAILBOX$`)
	c.send(`e SETQUOTA "" (STORAGE x)`)
	c.expect(`^e BAD .*`)
}

// APPEND and COPY past a limit get NO [OVERQUOTA] and change nothing;
// MOVE inside the store adds nothing and passes.
func TestQuotaEnforcedOnAppendCopyMove(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{Messages: 3})
	env.appendMessages("INBOX", 2, store.Flags{})
	a := env.account()
	if _, err := a.CreateMailbox(t.Context(), "Archive", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.login()
	c.send("a APPEND INBOX {4+}")
	c.send("x: y")
	c.expect(`^a OK \[APPENDUID \d+ 3\] APPEND completed$`)
	c.send("b APPEND INBOX {4+}")
	c.send("x: z")
	c.expect(`^b NO \[OVERQUOTA\] Over quota$`)
	c.send("c SELECT INBOX")
	c.until("c OK")
	c.send("d COPY 1 Archive")
	c.expect(`^d NO \[OVERQUOTA\] Over quota$`)
	c.send("e MOVE 1:2 Archive")
	c.until("e OK")
	u, err := a.Usage(t.Context())
	if err != nil || u.Messages != 3 {
		t.Fatalf("usage %+v %v", u, err)
	}
}

// The go-imap client reads the QUOTA responses as a client would.
func TestQuotaWithIMAPClient(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{StorageBytes: 4 << 10, Messages: 10})
	env.appendMessages("INBOX", 3, store.Flags{})
	cl, err := imapclient.DialInsecure(env.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	roots, err := cl.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0].Root != "" {
		t.Fatalf("roots %+v", roots)
	}
	st := roots[0].Resources[imap.QuotaResourceStorage]
	msg := roots[0].Resources[imap.QuotaResourceMessage]
	if st.Usage != 1 || st.Limit != 4 || msg.Usage != 3 || msg.Limit != 10 {
		t.Fatalf("resources %+v", roots[0].Resources)
	}
	// A message that would pass the storage limit is refused.
	big := make([]byte, 5<<10)
	for i := range big {
		big[i] = 'a'
	}
	cmd := cl.Append("INBOX", int64(len(big)), nil)
	cmd.Write(big)
	cmd.Close()
	if _, err := cmd.Wait(); err == nil {
		t.Fatal("APPEND over the storage quota succeeded")
	} else if ie, ok := err.(*imap.Error); !ok || ie.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND error %v", err)
	}
}

// A quota root names its user as a login does: SETQUOTA "#user/JOE" sets
// joe's limit, the one enforcement then applies.
func TestSetQuotaRootNameFoldsCase(t *testing.T) {
	env, m := newQuotaEnv(t, quota.Limits{}, testUser)
	env.appendMessages("INBOX", 1, store.Flags{})
	c := env.dial()
	c.login()
	c.send(`a SETQUOTA "#user/JOE" (MESSAGE 2)`)
	c.expect(`^\* QUOTA #user/JOE \(MESSAGE 1 2\)$`, `^a OK .*`)
	if _, n := m.QuotaLimits(testUser); n != 2 {
		t.Fatalf("joe's message limit is %d", n)
	}
	c.send("b APPEND INBOX {4+}")
	c.send("x: y")
	c.expect(`^b OK \[APPENDUID .*`)
	c.send("c APPEND INBOX {4+}")
	c.send("x: z")
	c.expect(`^c NO \[OVERQUOTA\] Over quota$`)
	c.send(`d GETQUOTA "#user/Joe"`)
	c.expect(`^\* QUOTA #user/Joe \(MESSAGE 2 2\)$`, `^d OK .*`)
}

// STATUS DELETED-STORAGE (RFC 9208 4.1.4) is what an EXPUNGE would take
// off the STORAGE usage: the sizes of the \Deleted messages, in units of
// 1024 octets, here computed from the bytes appended.
func TestStatusDeletedStorage(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{StorageBytes: 1 << 20})
	c := env.dial()
	c.login()
	c.send("s STATUS INBOX (DELETED DELETED-STORAGE)")
	c.expect(`^\* STATUS INBOX \(DELETED 0 DELETED-STORAGE 0\)$`, `^s OK .*`)
	sizes := []int{1500, 700, 3000}
	flags := []string{`(\Deleted) `, "", `(\Deleted \Seen) `}
	deleted := 0
	for i, n := range sizes {
		body := "Subject: s\r\n\r\n" + strings.Repeat("x", n-len("Subject: s\r\n\r\n"))
		c.send(fmt.Sprintf("a%d APPEND INBOX %s{%d+}", i, flags[i], len(body)))
		c.send(body)
		c.expect(fmt.Sprintf(`^a%d OK \[APPENDUID .*`, i))
		if flags[i] != "" {
			deleted += n
		}
	}
	want := (deleted + 1023) / 1024
	c.send("t STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)")
	c.expect(fmt.Sprintf(`^\* STATUS INBOX \(MESSAGES 3 DELETED 2 DELETED-STORAGE %d\)$`, want), `^t OK .*`)
	// The same through LIST RETURN (STATUS) (RFC 5819).
	c.send(`u LIST "" INBOX RETURN (STATUS (DELETED-STORAGE))`)
	c.expect(`^\* LIST .*INBOX$`, fmt.Sprintf(`^\* STATUS INBOX \(DELETED-STORAGE %d\)$`, want), `^u OK .*`)
	// After EXPUNGE nothing is left to reclaim, and the usage fell by it.
	c.send("v SELECT INBOX")
	c.until("v OK")
	c.send("w EXPUNGE")
	c.until("w OK")
	c.send("x STATUS INBOX (DELETED DELETED-STORAGE SIZE)")
	c.expect(`^\* STATUS INBOX \(DELETED 0 DELETED-STORAGE 0 SIZE 700\)$`, `^x OK .*`)
}
