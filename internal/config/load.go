package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a configuration file.
type Error struct {
	Line int    // 1-based; 0 when unknown
	Key  string // dotted key ("imap.listen"); "" for a syntax error
	Msg  string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file, in the order of the file.
type Errors []Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Load reads and checks the file at path. On any problem it returns
// Errors listing them all.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(string(src))
}

// Parse reads and checks a configuration given as text.
func Parse(src string) (*Config, error) {
	c := Default()
	c.lines = indexLines(src)
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{Line: pe.Position.Line, Msg: pe.Message}}
		}
		return nil, Errors{{Msg: err.Error()}}
	}
	d := decoder{c: &c}
	d.table(reflect.ValueOf(&c).Elem(), raw, "")
	errs := append(d.errs, c.Validate()...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return &c, nil
}

// decoder fills a Config from decoded TOML by walking the struct's toml
// tags, collecting every mismatch instead of stopping at the first.
type decoder struct {
	c    *Config
	errs Errors
}

func (d *decoder) add(key, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: d.c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) table(rv reflect.Value, m map[string]any, path string) {
	t := rv.Type()
	known := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" || !f.IsExported() {
			continue
		}
		known[name] = true
		if v, ok := m[name]; ok {
			d.value(rv.Field(i), v, join(path, name))
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !known[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.add(join(path, k), "unknown key")
	}
}

// defaulter is implemented by table types whose absent keys do not mean
// zero (per-user quota overrides).
type defaulter interface{ setDefaults() }

func (u *UserQuota) setDefaults() { *u = UserQuota{Storage: -1, Messages: -1} }

func (d *decoder) value(fv reflect.Value, v any, key string) {
	if p, ok := fv.Addr().Interface().(valueParser); ok {
		if err := p.parseValue(v); err != nil {
			d.add(key, "%v", err)
		}
		return
	}
	switch fv.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.add(key, "want a table, got %s", typeName(v))
			return
		}
		d.table(fv, m, key)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.add(key, "want a string, got %s", typeName(v))
			return
		}
		fv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.add(key, "want true or false, got %s", typeName(v))
			return
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			d.add(key, "want an integer, got %s", typeName(v))
			return
		}
		if n < 0 || (fv.Kind() == reflect.Int && n > math.MaxInt32) {
			d.add(key, "%d is out of range", n)
			return
		}
		fv.SetInt(n)
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			d.add(key, "want an array of strings, got %s", typeName(v))
			return
		}
		out := make([]string, 0, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				d.add(key, "element %d: want a string, got %s", i+1, typeName(e))
				continue
			}
			out = append(out, s)
		}
		fv.Set(reflect.ValueOf(out))
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			d.add(key, "want a table, got %s", typeName(v))
			return
		}
		mp := reflect.MakeMapWithSize(fv.Type(), len(m))
		for k, sub := range m {
			ev := reflect.New(fv.Type().Elem()).Elem()
			if def, ok := ev.Addr().Interface().(defaulter); ok {
				def.setDefaults()
			}
			d.value(ev, sub, join(key, k))
			mp.SetMapIndex(reflect.ValueOf(k), ev)
		}
		fv.Set(mp)
	default:
		panic("config: unsupported field kind " + fv.Kind().String())
	}
}

// lineOf finds the line that set key, or the line of the nearest
// enclosing table.
func (c *Config) lineOf(key string) int {
	for key != "" {
		if n, ok := c.lines[key]; ok {
			return n
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
