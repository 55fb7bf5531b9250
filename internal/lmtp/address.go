package lmtp

import (
	"strings"
)

// candidate is one reading of a recipient's local part.
type candidate struct {
	user   string
	detail string // sub-address after the separator; "" if none
}

// address is a recipient as Tidemark understands it: the readings to try,
// in order: the local part split at the sub-address separator, then the
// whole local part (for a user whose name contains the separator), each as
// given and lowercased.
type address struct {
	candidates []candidate
}

// parseAddress splits an RCPT address into user and sub-address. It
// reports false for an address in a domain that is not served. An empty
// domains list accepts any domain: the MTA in front has already routed the
// mail here.
func parseAddress(addr string, domains []string, separator string) (address, bool) {
	local, domain := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], addr[i+1:]
		if domain == bareDomain {
			// "RCPT TO:<name>" without a domain: a local user (bare.go).
		} else if !domainServed(domain, domains) {
			return address{}, false
		}
	}
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		local = local[1 : len(local)-1] // RFC 5321 4.1.2 Quoted-string
	}
	if local == "" {
		return address{}, false
	}
	var a address
	add := func(c candidate) {
		for _, o := range a.candidates {
			if o.user == c.user {
				return
			}
		}
		a.candidates = append(a.candidates, c)
	}
	if separator != "" {
		if u, d, ok := strings.Cut(local, separator); ok && u != "" {
			add(candidate{u, d})
			add(candidate{asciiLower(u), d})
		}
	}
	add(candidate{local, ""})
	add(candidate{asciiLower(local), ""})
	return a, true
}

// asciiLower folds ASCII letters only, as login does: Unicode case mapping
// would deliver "\u212Aate" (KELVIN SIGN) to "kate", past the MTA's rules
// for that address.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func domainServed(domain string, domains []string) bool {
	if len(domains) == 0 {
		return true
	}
	domain = strings.TrimSuffix(domain, ".")
	for _, d := range domains {
		if strings.EqualFold(domain, strings.TrimSuffix(d, ".")) {
			return true
		}
	}
	return false
}
