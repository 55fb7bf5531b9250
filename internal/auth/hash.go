package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id parameters for new password hashes (RFC 9106
// section 3.1). Memory is in KiB.
type HashParams struct {
	Memory  uint32 // m, KiB
	Time    uint32 // t, passes
	Threads uint8  // p, lanes
	SaltLen int    // bytes of random salt
	KeyLen  int    // bytes of derived key
}

// DefaultHashParams are OWASP's minimum argon2id configuration: 19 MiB, two
// passes, one lane. One hash takes about 30-60 ms of one core; the memory
// cost bounds how many a server can run at once (Options.MaxConcurrentHashes).
var DefaultHashParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters read back from a record, so a damaged or hostile
// record cannot make a login allocate gigabytes or spin for minutes.
const (
	maxHashMemory  = 1 << 21 // KiB, 2 GiB
	maxHashTime    = 64
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	phcAlgorithm   = "argon2id"
	phcVersionPart = "v=19" // argon2.Version, 0x13
)

var errBadHash = errors.New("malformed password hash")

var b64 = base64.RawStdEncoding

// phcHash is a decoded PHC string.
type phcHash struct {
	params HashParams
	salt   []byte
	key    []byte
}

// hashPassword makes a PHC string for password with fresh random salt.
func hashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return encodePHC(p, salt, key), nil
}

func encodePHC(p HashParams, salt, key []byte) string {
	return fmt.Sprintf("$%s$%s$m=%d,t=%d,p=%d$%s$%s", phcAlgorithm, phcVersionPart,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC decodes and bounds-checks a PHC string made by encodePHC.
func parsePHC(s string) (phcHash, error) {
	var h phcHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, fmt.Errorf("%w: want 5 '$'-separated fields", errBadHash)
	}
	if parts[1] != phcAlgorithm {
		return h, fmt.Errorf("%w: algorithm %q", errBadHash, parts[1])
	}
	if parts[2] != phcVersionPart {
		return h, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return h, fmt.Errorf("%w: parameter %q", errBadHash, kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, fmt.Errorf("%w: parameter %q: %w", errBadHash, kv, err)
		}
		switch k {
		case "m":
			h.params.Memory, seen = uint32(n), seen|1
		case "t":
			h.params.Time, seen = uint32(n), seen|2
		case "p":
			if n > 255 {
				return h, fmt.Errorf("%w: p=%d", errBadHash, n)
			}
			h.params.Threads, seen = uint8(n), seen|4
		default:
			return h, fmt.Errorf("%w: unknown parameter %q", errBadHash, k)
		}
	}
	if seen != 7 {
		return h, fmt.Errorf("%w: parameters m, t and p are all required", errBadHash)
	}
	p := h.params
	if p.Time < 1 || p.Time > maxHashTime || p.Threads < 1 ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory {
		return h, fmt.Errorf("%w: parameters out of range (m=%d t=%d p=%d)", errBadHash, p.Memory, p.Time, p.Threads)
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil {
		return h, fmt.Errorf("%w: salt: %w", errBadHash, err)
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil {
		return h, fmt.Errorf("%w: key: %w", errBadHash, err)
	}
	if len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return h, fmt.Errorf("%w: salt or key length out of range", errBadHash)
	}
	h.params.SaltLen, h.params.KeyLen = len(h.salt), len(h.key)
	return h, nil
}

// verify recomputes the key for password and compares in constant time.
func (h phcHash) verify(password string) bool {
	p := h.params
	k := argon2.IDKey([]byte(password), h.salt, p.Time, p.Memory, p.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(k, h.key) == 1
}

// outdated reports whether a record should be re-hashed with cur.
func (h phcHash) outdated(cur HashParams) bool {
	return h.params != cur
}

func (p HashParams) validate() error {
	if p.Time < 1 || p.Time > maxHashTime || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory ||
		p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen || p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen {
		return fmt.Errorf("auth: argon2id parameters out of range: %+v", p)
	}
	return nil
}
