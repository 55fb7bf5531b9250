package config

import "strings"

// indexLines maps each dotted key of a TOML text, and each table header,
// to its line. The TOML decoder keeps positions to itself, and errors
// found after decoding (a bad address, a missing file) need a line too.
// This is a light scan, not a parser: it understands table headers,
// "key = value" lines, and skips the inside of multi-line strings and
// arrays; anything it does not understand only costs a line number.
func indexLines(src string) map[string]int {
	lines := map[string]int{}
	table := ""
	openString := "" // delimiter of a multi-line string being skipped
	depth := 0       // open brackets of a multi-line array
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		switch {
		case openString != "":
			if strings.Contains(line, openString) {
				openString = ""
			}
			continue
		case depth > 0:
			depth += bracketDelta(line)
			continue
		case line == "" || line[0] == '#':
			continue
		case line[0] == '[':
			header := stripComment(line)
			header = strings.TrimSpace(strings.Trim(header, "[]"))
			table = normalizeKey(header)
			if _, ok := lines[table]; !ok {
				lines[table] = n
			}
			continue
		}
		k, rest, ok := cutAssignment(line)
		if !ok {
			continue
		}
		key := join(table, normalizeKey(k))
		lines[key] = n
		rest = strings.TrimSpace(rest)
		for _, delim := range []string{`"""`, `'''`} {
			if strings.HasPrefix(rest, delim) && strings.Count(rest, delim) == 1 {
				openString = delim
			}
		}
		if strings.HasPrefix(rest, "[") {
			depth = bracketDelta(stripComment(rest))
		}
	}
	return lines
}

// cutAssignment splits "key = value" at the first '=' outside quotes.
func cutAssignment(line string) (key, value string, ok bool) {
	var quote byte
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '=':
			return strings.TrimSpace(line[:i]), line[i+1:], true
		}
	}
	return "", "", false
}

// normalizeKey turns `a . "b.c"` into a.b.c: parts trimmed and unquoted.
func normalizeKey(k string) string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(k); i++ {
		ch := k[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case ch != ' ' && ch != '\t':
			cur.WriteByte(ch)
		}
	}
	parts = append(parts, strings.TrimSpace(cur.String()))
	return strings.Join(parts, ".")
}

// stripComment drops a trailing "# ..." outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '#':
			return s[:i]
		}
	}
	return s
}

// bracketDelta counts '[' minus ']' outside quotes and comments.
func bracketDelta(s string) int {
	s = stripComment(s)
	n := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '[':
			n++
		case ch == ']':
			n--
		}
	}
	return n
}
