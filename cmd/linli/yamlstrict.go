package main

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a config file, printed as
// "FILE:LINE: key: what is wrong" so that editors can jump to it.
type Problem struct {
	File string // the config file's name as given on the command line
	Line int    // 1-based; 0 when yaml.v3 does not say where the problem is
	Key  string // dotted key path such as "sms.aliyun.templates.notice"; empty for whole-file problems
	Msg  string // what is wrong, in plain words
}

// String formats the problem as "FILE:LINE: key: msg". The key part is left
// out when Key is empty, and the line part when Line is 0 (unknown), so the
// output never shows a made-up position.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// keyLines maps each dotted key path seen in the file ("telegram.token",
// "staff[1]", "staff[1].phone") to the line it appears on, so that semantic
// validation done after decoding can still point at the right line.
type keyLines map[string]int

// lineOf returns the line where the key path appears in the file, or 0 when
// it does not appear.
func (k keyLines) lineOf(path string) int {
	return k[path]
}

// nearestLine is lineOf for keys that may be absent: a missing
// "telegram.token" is best reported where "telegram" is, and a missing
// top-level key at line 1. It falls back through the parent paths.
func (k keyLines) nearestLine(path string) int {
	for path != "" {
		if l := k[path]; l > 0 {
			return l
		}
		path = parentPath(path)
	}
	return 1
}

// parentPath strips the last ".key" or "[i]" from a key path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Limits that keep a hostile or broken file from making the decoder run
// away: aliases can refer to each other so that a tiny file expands into an
// enormous (or, with a self-referencing anchor, infinite) tree.
const (
	maxDecodeNodes = 100000 // no real config comes near this
	maxDecodeDepth = 200    // deeper than any config type we decode
)

// errBudget stops the walk once a limit above is hit.
var errBudget = errors.New("budget exhausted")

// parserProblems are the syntax errors that yaml.v3's parser (not its
// scanner) reports (gopkg.in/yaml.v3 parserc.go): their "line N" is 0-based.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxErrLine matches the "yaml: line N: msg" form of yaml.v3's syntax errors.
var syntaxErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeStrict decodes YAML data into out, a non-nil pointer to a struct
// with `yaml:"..."` tags. Unlike yaml.v3's KnownFields mode it keeps going
// after a problem, so `linli check` can list everything wrong at once, and
// every problem carries the file, line and dotted key path. Fields whose keys
// are absent keep the values already in out, so callers fill in defaults
// first. The returned keyLines records where each key was found. Problems are
// sorted by line; within a line they keep the order they were found in.
func decodeStrict(file string, data []byte, out any) ([]Problem, keyLines) {
	d := &strictDecoder{file: file, lines: keyLines{}, lastLine: bytes.Count(data, []byte("\n"))}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		d.lastLine++
	}
	rv := reflect.ValueOf(out)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		// A programming error, but reporting it is kinder than panicking
		// in the middle of start-up.
		d.add(0, "", fmt.Sprintf("internal error: decodeStrict needs a non-nil pointer, got %T", out))
		return d.problems, d.lines
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) { // io.EOF: empty or comments only, which is fine
			d.addSyntax(err)
		}
		return d.problems, d.lines
	}
	root := docRoot(&doc)
	if root != nil && !isNull(root) {
		if root.Kind != yaml.MappingNode {
			// Checked here, not left to the struct walk, so that the
			// message says what the file should look like.
			d.add(root.Line, "", "expected a mapping of keys at the top level, got "+describe(root))
		} else {
			// errBudget has been reported where it struck; there is
			// nothing more to say about it here.
			_ = d.decode(root, rv.Elem(), "", 0)
		}
	}

	// A second document would be silently ignored by yaml.v3; say so instead.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.addSyntax(err)
	default:
		// A lone trailing "---" yields an empty document, which is harmless.
		if r := docRoot(&extra); r != nil && !isNull(r) {
			d.add(r.Line, "", "only one YAML document is allowed; remove the \"---\" and what follows it")
		}
	}

	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
	return d.problems, d.lines
}

// docRoot returns the content of a document node, or nil if it has none.
func docRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// strictDecoder carries the state of one decodeStrict call.
type strictDecoder struct {
	file     string
	problems []Problem
	lines    keyLines
	nodes    int // nodes visited, counting alias expansions, against maxDecodeNodes
	lastLine int // the file's last line, for syntax errors located past it
}

func (d *strictDecoder) add(line int, key, msg string) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Key: key, Msg: msg})
}

// addSyntax records a yaml.v3 parse error, taking the line out of its text
// because yaml.v3 has no structured syntax error type.
func (d *strictDecoder) addSyntax(err error) {
	msg := err.Error()
	if m := syntaxErrLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			if parserProblems[m[2]] {
				// yaml.v3 adds 1 to the 0-based line of scanner errors
				// only; its parser errors point one line too early.
				// Their mark may be the end of the file, after its last
				// newline.
				line = min(line+1, max(d.lastLine, 1))
			}
			d.add(line, "", m[2])
			return
		}
	}
	d.add(0, "", strings.TrimPrefix(msg, "yaml: "))
}

// record remembers the first line a key path appears on. The first one
// wins because a later duplicate is itself reported as a problem.
func (d *strictDecoder) record(path string, line int) {
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = line
	}
}

var (
	nodeType        = reflect.TypeFor[yaml.Node]()
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decode walks node against v (which must be settable) and records every
// problem under the key path. It returns errBudget only when a limit is hit;
// ordinary problems are recorded and the walk goes on.
func (d *strictDecoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) error {
	// Problems about this value are reported where it is written, even
	// if it is an alias to an anchor elsewhere.
	line := n.Line
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.add(line, path, "alias refers to nothing")
			return nil
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes > maxDecodeNodes || depth > maxDecodeDepth {
		// The key path is left out: at this depth it would be huge.
		d.add(line, "", "too deeply nested or too many aliases; stopped checking here")
		return errBudget
	}

	switch {
	case v.Type() == nodeType:
		// A raw yaml.Node field: the caller wants to interpret it later.
		v.Set(reflect.ValueOf(*n))
		return nil
	case isNull(n):
		// null or an empty value leaves whatever default is already there.
		return nil
	}

	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path, depth+1)
	}

	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.addUnmarshalError(line, path, err)
		}
		return nil
	}
	if v.Type() == durationType {
		d.decodeDuration(n, v, line, path)
		return nil
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshType) {
		if n.Kind != yaml.ScalarNode {
			d.add(line, path, "expected a single value, got "+describe(n))
			return nil
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.add(line, path, err.Error())
		}
		return nil
	}

	switch v.Kind() {
	case reflect.Struct:
		return d.decodeStruct(n, v, line, path, depth)
	case reflect.Map:
		return d.decodeMap(n, v, line, path, depth)
	case reflect.Slice:
		return d.decodeSlice(n, v, line, path, depth)
	case reflect.Array:
		return d.decodeArray(n, v, line, path, depth)
	case reflect.Interface:
		d.decodeInterface(n, v, line, path)
		return nil
	default:
		d.decodeScalar(n, v, line, path)
		return nil
	}
}

// isNull reports whether a node is YAML null: "~", "null" or nothing at
// all. A quoted "null" is a string and does not count.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// addUnmarshalError reports an error from a field's own UnmarshalYAML. If
// it came from yaml.v3's node.Decode, that error lists one "line N: ..."
// entry per problem, and each becomes a problem of its own on its line.
func (d *strictDecoder) addUnmarshalError(line int, path string, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		for _, e := range te.Errors {
			l, msg := line, e
			if rest, ok := strings.CutPrefix(e, "line "); ok {
				if num, after, ok := strings.Cut(rest, ": "); ok {
					if v, convErr := strconv.Atoi(num); convErr == nil {
						l, msg = v, after
					}
				}
			}
			d.add(l, path, msg)
		}
		return
	}
	// Errors from yaml.v3 itself (say, from node.Decode) carry its prefix.
	d.add(line, path, strings.TrimPrefix(err.Error(), "yaml: "))
}

// structField is a decodable field of a struct: its key in YAML and the
// index path to reach it (more than one step for fields of ,inline structs).
type structField struct {
	key   string
	index []int
}

// structFields lists the fields of struct type t the way yaml.v3 names
// them: the `yaml` tag's name, or else the lower-cased Go name; "-" and
// unexported fields are skipped; ,inline structs contribute their fields
// and an ,inline map (returned as inlineMap, nil if none) takes any key
// that is not a field.
func structFields(t reflect.Type) (fields []structField, inlineMap []int) {
	var walk func(t reflect.Type, prefix []int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, prefix []int, seen map[reflect.Type]bool) {
		if seen[t] { // a struct inlining itself would otherwise recurse forever
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			index := append(append([]int(nil), prefix...), i)
			if hasOption(opts, "inline") {
				// Inline targets yaml.v3 would refuse (and an unexported
				// pointer, which reflect cannot allocate) are skipped,
				// so their keys come out as unknown.
				ft := f.Type
				switch {
				case ft.Kind() == reflect.Struct:
					walk(ft, index, seen)
				case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && f.IsExported():
					walk(ft.Elem(), index, seen)
				case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && inlineMap == nil && f.IsExported():
					inlineMap = index
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields = append(fields, structField{key: name, index: index})
		}
	}
	walk(t, nil, map[reflect.Type]bool{})
	return fields, inlineMap
}

// hasOption reports whether a comma-separated tag option list contains opt.
func hasOption(opts, opt string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// fieldAt returns the field at index inside struct v, allocating nil
// pointers to inline structs on the way.
func fieldAt(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// mapEntry is one key/value pair of a mapping node after merge keys ("<<")
// have been expanded.
type mapEntry struct {
	key, value *yaml.Node
}

// entries lists a mapping's pairs, reporting duplicate keys (at the second
// occurrence) and appending the pairs pulled in by merge keys for any key
// not given explicitly, the way yaml.v3 does: explicit keys win, then the
// earlier merged mapping wins over a later one.
func (d *strictDecoder) entries(n *yaml.Node, path string) []mapEntry {
	var out, merges []mapEntry
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := aliasedKey(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode {
			if first, dup := firstLine[k.Value]; dup {
				d.add(k.Line, joinKey(path, k.Value), fmt.Sprintf("duplicate key (first given on line %d)", first))
				continue
			}
			firstLine[k.Value] = k.Line
		}
		if isMergeKey(k) {
			merges = append(merges, mapEntry{k, val})
			continue
		}
		out = append(out, mapEntry{k, val})
	}
	if len(merges) == 0 {
		return out
	}

	m := merger{d: d, out: out, have: map[string]bool{}, done: map[*yaml.Node]bool{n: true}}
	for _, e := range out {
		if e.key.Kind == yaml.ScalarNode {
			m.have[e.key.Value] = true
		}
	}
	for _, e := range merges {
		if !m.mergeValue(e.value) {
			d.add(e.key.Line, joinKey(path, "<<"), "a merge key needs a mapping or a list of mappings")
		}
	}
	return m.out
}

// merger expands the merge keys of one mapping. Merged mappings may merge
// others in turn, and through aliases even themselves; done makes each
// mapping count once, which stops cycles and keeps the work linear.
type merger struct {
	d    *strictDecoder
	out  []mapEntry
	have map[string]bool     // keys already given, which merged ones must not override
	done map[*yaml.Node]bool // mappings already merged (or being merged)
}

// mergeValue merges the value of a "<<" key: a mapping or a list of them.
// It reports false when the value is neither.
func (m *merger) mergeValue(v *yaml.Node) bool {
	v = resolveAlias(v)
	if v != nil && v.Kind == yaml.SequenceNode {
		ok := true
		for _, item := range v.Content {
			item = resolveAlias(item)
			if item == nil || item.Kind != yaml.MappingNode {
				ok = false
				continue
			}
			m.mergeMapping(item)
		}
		return ok
	}
	if v == nil || v.Kind != yaml.MappingNode {
		return false
	}
	m.mergeMapping(v)
	return true
}

// mergeMapping adds src's own keys, then those src merges itself. Its
// duplicate keys are not reported here: they are reported where src is
// written.
func (m *merger) mergeMapping(src *yaml.Node) {
	if m.done[src] {
		return
	}
	m.done[src] = true
	var nested []*yaml.Node
	for i := 0; i+1 < len(src.Content); i += 2 {
		// Counted against the node budget because aliases can make
		// a small file merge a great deal.
		if m.d.nodes++; m.d.nodes > maxDecodeNodes {
			return
		}
		k := aliasedKey(src.Content[i])
		if isMergeKey(k) {
			nested = append(nested, src.Content[i+1])
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if m.have[k.Value] {
				continue
			}
			m.have[k.Value] = true
		}
		m.out = append(m.out, mapEntry{k, src.Content[i+1]})
	}
	for _, v := range nested {
		m.mergeValue(v) // a bad nested merge is reported where it is written
	}
}

// aliasedKey resolves a key written as an alias (*name: value) to the
// anchored scalar, keeping the line where the alias is written.
func aliasedKey(k *yaml.Node) *yaml.Node {
	if k.Kind != yaml.AliasNode {
		return k
	}
	r := resolveAlias(k)
	if r == nil {
		return k
	}
	c := *r
	c.Line, c.Column = k.Line, k.Column
	return &c
}

// isMergeKey reports whether k is the YAML merge key "<<" (unquoted).
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// resolveAlias follows an alias to its anchored node.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// joinKey appends a key to a dotted path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *strictDecoder) decodeStruct(n *yaml.Node, v reflect.Value, line int, path string, depth int) error {
	if n.Kind != yaml.MappingNode {
		d.add(line, path, "expected a mapping, got "+describe(n))
		return nil
	}
	fields, inlineMap := structFields(v.Type())
	byKey := make(map[string]structField, len(fields))
	for _, f := range fields {
		byKey[f.key] = f
	}
	for _, e := range d.entries(n, path) {
		if e.key.Kind != yaml.ScalarNode {
			d.add(e.key.Line, path, "expected a key name, got "+describe(e.key))
			continue
		}
		name := e.key.Value
		keyPath := joinKey(path, name)
		d.record(keyPath, e.key.Line)
		if f, ok := byKey[name]; ok {
			if err := d.decode(e.value, fieldAt(v, f.index), keyPath, depth+1); err != nil {
				return err
			}
			continue
		}
		if inlineMap != nil {
			m := fieldAt(v, inlineMap)
			key := reflect.ValueOf(name).Convert(m.Type().Key()) // the key type may be a named string type
			if err := d.setMapEntry(m, key, e.value, keyPath, depth); err != nil {
				return err
			}
			continue
		}
		msg := "unknown key"
		if s := suggest(name, fields); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.add(e.key.Line, keyPath, msg)
	}
	return nil
}

func (d *strictDecoder) decodeMap(n *yaml.Node, v reflect.Value, line int, path string, depth int) error {
	if n.Kind != yaml.MappingNode {
		d.add(line, path, "expected a mapping, got "+describe(n))
		return nil
	}
	kt := v.Type().Key()
	for _, e := range d.entries(n, path) {
		if e.key.Kind != yaml.ScalarNode {
			d.add(e.key.Line, path, "expected a key name, got "+describe(e.key))
			continue
		}
		keyPath := joinKey(path, e.key.Value)
		d.record(keyPath, e.key.Line)
		// Keys go through the same decoding as values, so a map keyed
		// by int reports "expected an integer" for a bad key.
		kv := reflect.New(kt).Elem()
		before := len(d.problems)
		if err := d.decode(e.key, kv, keyPath, depth+1); err != nil {
			return err
		}
		if len(d.problems) > before {
			continue
		}
		if err := d.setMapEntry(v, kv, e.value, keyPath, depth); err != nil {
			return err
		}
	}
	return nil
}

// setMapEntry decodes node into m[key], starting from the entry already
// there so that defaults inside map values survive like struct defaults.
func (d *strictDecoder) setMapEntry(m, key reflect.Value, node *yaml.Node, path string, depth int) error {
	if m.IsNil() {
		m.Set(reflect.MakeMap(m.Type()))
	}
	elem := reflect.New(m.Type().Elem()).Elem()
	if old := m.MapIndex(key); old.IsValid() {
		elem.Set(old)
	}
	err := d.decode(node, elem, path, depth+1)
	m.SetMapIndex(key, elem)
	return err
}

func (d *strictDecoder) decodeSlice(n *yaml.Node, v reflect.Value, line int, path string, depth int) error {
	if n.Kind != yaml.SequenceNode {
		d.add(line, path, "expected a list, got "+describe(n))
		return nil
	}
	// A list in the file replaces a default list rather than extending it.
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.record(p, item.Line)
		if err := d.decode(item, s.Index(i), p, depth+1); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func (d *strictDecoder) decodeArray(n *yaml.Node, v reflect.Value, line int, path string, depth int) error {
	if n.Kind != yaml.SequenceNode {
		d.add(line, path, "expected a list, got "+describe(n))
		return nil
	}
	if len(n.Content) != v.Len() {
		d.add(line, path, fmt.Sprintf("expected a list of %d items, got %d", v.Len(), len(n.Content)))
		return nil
	}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.record(p, item.Line)
		if err := d.decode(item, v.Index(i), p, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// decodeInterface fills an `any` field with whatever yaml.v3 makes of the
// node (maps, lists, scalars); other interface types cannot be decoded.
func (d *strictDecoder) decodeInterface(n *yaml.Node, v reflect.Value, line int, path string) {
	if v.NumMethod() != 0 {
		d.add(line, path, fmt.Sprintf("internal error: cannot decode into %s", v.Type()))
		return
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.addUnmarshalError(line, path, err)
		return
	}
	if x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

func (d *strictDecoder) decodeDuration(n *yaml.Node, v reflect.Value, line int, path string) {
	const want = "expected a duration such as 30m"
	if n.Kind != yaml.ScalarNode {
		d.add(line, path, want+", got "+describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.add(line, path, want+", got "+quote(n.Value))
		return
	}
	v.SetInt(int64(dur))
}

// decodeScalar handles strings, booleans and numbers. It reads the
// scalar's text whatever its quoting, so `port: "8080"` is as good as
// `port: 8080` and `name: 123` is the string "123", as in yaml.v3.
func (d *strictDecoder) decodeScalar(n *yaml.Node, v reflect.Value, line int, path string) {
	want := expectation(v)
	if n.Kind != yaml.ScalarNode {
		d.add(line, path, want+", got "+describe(n))
		return
	}
	s := n.Value
	bad := func(w string) { d.add(line, path, w+", got "+quote(s)) }
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, ok := parseBool(s)
		if !ok {
			bad(want)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, intBase(s), v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			lo, hi := intRange(v.Type().Bits())
			bad(fmt.Sprintf("expected an integer from %d to %d", lo, hi))
			return
		} else if err != nil {
			bad(want)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), intBase(s), v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) || (err != nil && isNegativeInt(s)) {
			bad(fmt.Sprintf("expected an integer from 0 to %d", uint64(math.MaxUint64)>>(64-v.Type().Bits())))
			return
		} else if err != nil {
			bad(want)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := parseFloat(s, v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			bad("expected a number within range")
			return
		} else if err != nil {
			bad(want)
			return
		}
		v.SetFloat(f)
	default:
		d.add(line, path, fmt.Sprintf("internal error: cannot decode into %s", v.Type()))
	}
}

// expectation says what kind of value v wants, for error messages.
func expectation(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return "expected a string"
	case reflect.Bool:
		return "expected true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "expected an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "expected a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "expected a number"
	}
	return "expected a single value"
}

// parseBool accepts YAML 1.2 booleans plus the YAML 1.1 words (yes, on, ...)
// that yaml.v3 also accepts for bool fields, so files that worked with
// plain yaml.Unmarshal keep working.
func parseBool(s string) (value, ok bool) {
	switch s {
	case "true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

// intBase picks the strconv base for YAML 1.2 integers: decimal, or 0x,
// 0o and 0b prefixed (base 0, which also takes Go-style underscores). A
// leading zero alone does not mean octal as it would for base 0: "0755" is 755.
func intBase(s string) int {
	t := strings.TrimLeft(s, "+-")
	if len(t) > 1 && t[0] == '0' && strings.ContainsRune("xXoObB", rune(t[1])) {
		return 0
	}
	return 10
}

// isNegativeInt tells a negative number (out of range for an unsigned
// field) from text that is no number at all.
func isNegativeInt(s string) bool {
	_, err := strconv.ParseInt(s, intBase(s), 64)
	return strings.HasPrefix(s, "-") && (err == nil || errors.Is(err, strconv.ErrRange))
}

// intRange returns the smallest and largest signed integer of a bit size.
func intRange(bits int) (lo, hi int64) {
	hi = int64(uint64(1)<<(bits-1) - 1)
	return -hi - 1, hi
}

// parseFloat accepts YAML's .inf, -.inf and .nan besides ordinary numbers,
// and refuses Go-only spellings such as "Inf" or hex floats that a YAML
// reader would not understand as numbers.
func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return math.Inf(1), nil
	case "-.inf", "-.Inf", "-.INF":
		return math.Inf(-1), nil
	case ".nan", ".NaN", ".NAN":
		return math.NaN(), nil
	}
	if !floatSyntax.MatchString(s) {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), bits)
}

// floatSyntax is a plain decimal number with optional fraction and exponent.
var floatSyntax = regexp.MustCompile(`^[-+]?([0-9][0-9_]*)?(\.[0-9_]*)?([eE][-+]?[0-9]+)?$`)

// describe names the kind of a node for "got ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		case "!!timestamp":
			return "a date"
		}
		return "a string"
	}
	return "something else"
}

// quote shows a scalar in a message: quoted, so an empty or blank value is
// visible, and shortened, so a long (possibly secret) value does not fill
// the terminal.
func quote(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) > maxRunes {
		r := []rune(s)
		s = string(r[:maxRunes]) + "…"
	}
	return strconv.Quote(s)
}

// suggest returns the known key closest to an unknown one when it is close
// enough to be a likely typo, or "". Case and "-" versus "_" are ignored
// because those are the commonest slips; ties go to the earlier field so
// the answer is deterministic.
func suggest(key string, fields []structField) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	k := norm(key)
	limit := 1
	if utf8.RuneCountInString(k) >= 6 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, f := range fields {
		if dist := editDistance(k, norm(f.key)); dist < bestDist {
			best, bestDist = f.key, dist
		}
	}
	return best
}

// editDistance is the edit distance between a and b, by rune, counting a
// swap of two neighbouring characters as one edit (the "optimal string
// alignment" distance) since that is a common typing slip.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice: the transposition looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
