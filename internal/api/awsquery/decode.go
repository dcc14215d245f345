package awsquery

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Decode fills the struct pointed to by dst from flattened query parameters,
// as described in the package comment.
//
// Fields whose parameters are absent are left as they are (set defaults
// before calling); a list that is present replaces the field's slice. On error
// dst is not modified. Errors about the request are *Error; an error of any
// other type means dst or its type is unusable (a programming error).
func Decode(values url.Values, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("awsquery: Decode needs a non-nil pointer to a struct, got %T", dst)
	}
	si, err := structInfoOf(rv.Elem().Type())
	if err != nil {
		return err
	}

	// Keys are visited in sorted order so that the error reported, and the
	// spelling kept in a Prefix when a client mixes spellings, do not depend
	// on map iteration order.
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	d := decoder{}
	d.root = d.newNode()
	for _, k := range keys {
		if err := d.add(si, k, values[k]); err != nil {
			return err
		}
	}
	storeStruct(rv.Elem(), si, d.root)
	return nil
}

// node is the intermediate tree built from the keys before anything is stored
// into dst: list indices must be sorted and duplicates detected first.
type node struct {
	prefix string  // struct: wire prefix as received
	kids   []*node // struct: by position in structInfo.fields
	elems  []elem  // list: in arrival order
	byIdx  map[int]int32

	// scalar
	key string
	raw string
	val scalar
}

type elem struct {
	idx int
	n   *node
}

type scalar struct {
	i int64
	u uint64
	f float64
	b bool
}

// step is one segment of a key resolved against the type: a struct field
// (fi >= 0) or a list index.
type step struct {
	fi  int
	idx int
	end int    // offset in the key just past this segment and its '.'
	c   *codec // codec of the value this step reaches
	st  *structInfo
}

type decoder struct {
	root     *node
	steps    []step // reused across keys
	elements int
	// Nodes and kids slices are carved from chunks: one allocation per
	// chunk instead of one per parameter.
	nodes []node
	kids  []*node
}

func (d *decoder) newNode() *node {
	if len(d.nodes) == 0 {
		d.nodes = make([]node, 32)
	}
	n := &d.nodes[0]
	d.nodes = d.nodes[1:]
	return n
}

func (d *decoder) newKids(n int) []*node {
	if n > 64 {
		return make([]*node, n)
	}
	if len(d.kids) < n {
		d.kids = make([]*node, 256)
	}
	k := d.kids[:n:n]
	d.kids = d.kids[n:]
	return k
}

// add resolves one key against the type and, if it names a field, records its
// value. Resolution happens before the tree is touched so that ignored keys
// and absent values create no elements.
func (d *decoder) add(root *structInfo, key string, vals []string) error {
	if len(vals) == 0 {
		return nil
	}
	d.steps = d.steps[:0]
	st := root
	pos := 0
	for {
		seg, next, more := segment(key, pos)
		fi, ok := st.byName[seg]
		if !ok {
			// Unknown names are ignored (common parameters at the top,
			// fields we do not model below), but an empty segment inside a
			// known structure is a broken key.
			if seg == "" && pos > 0 {
				return newError(Malformed, key, vals[0], "empty name after %q", clip(key[:pos]))
			}
			return nil
		}
		if len(d.steps) >= MaxDepth {
			return newError(TooLarge, key, "", "nested deeper than %d", MaxDepth)
		}
		c := st.fields[fi].c
		d.steps = append(d.steps, step{fi: fi, end: next, c: c, st: st})
		for c.kind == kindList {
			if !more {
				return newError(Malformed, key, vals[0], "%q is a list and needs an index, e.g. %s.1", clip(key), clip(key))
			}
			seg, next, more = segment(key, next)
			idx, err := parseIndex(key, vals[0], seg, c.max)
			if err != nil {
				return err
			}
			c = c.elem
			d.steps = append(d.steps, step{fi: -1, idx: idx, end: next, c: c})
		}
		switch c.kind {
		case kindScalar:
			if more {
				return newError(Malformed, key, vals[0], "%q is not a structure or list", clip(key[:next-1]))
			}
			return d.leaf(key, vals, c)
		case kindStruct:
			if !more {
				return newError(Malformed, key, vals[0], "%q is a structure and needs a sub-parameter", clip(key))
			}
			st, pos = c.st, next
		}
	}
}

// segment returns the segment of key starting at pos, the offset after it and
// its '.', and whether a '.' followed (so that "a." has an empty last segment).
func segment(key string, pos int) (seg string, next int, more bool) {
	i := strings.IndexByte(key[pos:], '.')
	if i < 0 {
		return key[pos:], len(key), false
	}
	return key[pos : pos+i], pos + i + 1, true
}

// parseIndex accepts only ASCII digits: no sign, no spaces, no Unicode
// digits. Leading zeros are allowed, so "01" is element 1.
func parseIndex(key, val, seg string, max int) (int, error) {
	if seg == "" {
		return 0, newError(Malformed, key, val, "empty list index")
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		ch := seg[i]
		if ch < '0' || ch > '9' {
			return 0, newError(Malformed, key, val, "list index %q is not a non-negative decimal integer", clip(seg))
		}
		if n <= max { // stop growing once out of range; avoids overflow
			n = n*10 + int(ch-'0')
		}
	}
	if n > max {
		return 0, newError(IndexOutOfRange, key, val, "list index %s is larger than %d", clip(seg), max)
	}
	return n, nil
}

func (d *decoder) leaf(key string, vals []string, c *codec) error {
	// An empty value for a non-string scalar means "not given": SDKs send
	// Foo= for unset optional numbers. Repeats must agree, since a client
	// merging query string and body may legitimately send a key twice.
	var raw string
	have := false
	for _, v := range vals {
		if v == "" && c.sk != reflect.String {
			continue
		}
		if !have {
			raw, have = v, true
		} else if v != raw {
			return newError(Duplicate, key, v, "given twice with different values (%q)", clip(raw))
		}
	}
	if !have {
		return nil
	}
	val, err := parseScalar(key, raw, c)
	if err != nil {
		return err
	}

	cur := d.root
	for i := range d.steps {
		s := &d.steps[i]
		var next *node
		if s.fi >= 0 {
			if cur.kids == nil {
				cur.kids = d.newKids(len(s.st.fields))
			}
			next = cur.kids[s.fi]
			if next == nil {
				next = d.newNode()
				cur.kids[s.fi] = next
			}
		} else {
			next = cur.lookup(s.idx)
			if next == nil {
				if d.elements >= MaxElements {
					return newError(TooLarge, key, "", "more than %d list elements in the request", MaxElements)
				}
				d.elements++
				next = d.newNode()
				cur.insert(s.idx, next)
			}
		}
		if next.prefix == "" && s.c.kind == kindStruct {
			next.prefix = key[:s.end]
		}
		cur = next
	}
	if cur.key != "" {
		if cur.raw != raw {
			return newError(Duplicate, key, raw, "conflicts with %s=%q", clip(cur.key), clip(cur.raw))
		}
		return nil
	}
	cur.key, cur.raw, cur.val = key, raw, val
	return nil
}

func (n *node) lookup(idx int) *node {
	if n.byIdx != nil {
		if i, ok := n.byIdx[idx]; ok {
			return n.elems[i].n
		}
		return nil
	}
	// Sorted keys keep one element's keys together, so the last element is
	// the usual hit; short lists are scanned, long ones get a map.
	for i := len(n.elems) - 1; i >= 0; i-- {
		if n.elems[i].idx == idx {
			return n.elems[i].n
		}
	}
	return nil
}

func (n *node) insert(idx int, kid *node) {
	n.elems = append(n.elems, elem{idx: idx, n: kid})
	if n.byIdx == nil && len(n.elems) > 8 {
		n.byIdx = make(map[int]int32, 2*len(n.elems))
		for i, e := range n.elems {
			n.byIdx[e.idx] = int32(i)
		}
	} else if n.byIdx != nil {
		n.byIdx[idx] = int32(len(n.elems) - 1)
	}
}

func parseScalar(key, raw string, c *codec) (scalar, error) {
	var v scalar
	bits := 0
	if c.sk != reflect.String && c.sk != reflect.Bool {
		bits = c.typ.Bits()
	}
	switch c.sk {
	case reflect.String:
	case reflect.Bool:
		switch {
		case strings.EqualFold(raw, "true"):
			v.b = true
		case strings.EqualFold(raw, "false"):
		default:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return v, newError(InvalidValue, key, raw, "not a boolean")
			}
			v.b = b
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(raw, 10, bits)
		if err != nil {
			return v, newError(InvalidValue, key, raw, "not a decimal integer in range")
		}
		v.i = i
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(raw, 10, bits)
		if err != nil {
			return v, newError(InvalidValue, key, raw, "not a non-negative decimal integer in range")
		}
		v.u = u
	case reflect.Float32, reflect.Float64:
		// ParseFloat also takes hex floats, underscores, "Inf" and "NaN";
		// none of those is a decimal as the API defines it.
		if strings.IndexFunc(raw, notDecimalFloatRune) >= 0 {
			return v, newError(InvalidValue, key, raw, "not a decimal number")
		}
		f, err := strconv.ParseFloat(raw, bits)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return v, newError(InvalidValue, key, raw, "not a finite decimal number")
		}
		v.f = f
	}
	return v, nil
}

func notDecimalFloatRune(r rune) bool {
	return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-')
}

// storeStruct copies the tree into v. It cannot fail: every value was parsed
// and every bound checked while building the tree.
func storeStruct(v reflect.Value, st *structInfo, n *node) {
	for _, i := range st.prefixFields {
		v.FieldByIndex(i).SetString(n.prefix)
	}
	for i := range st.fields {
		f := &st.fields[i]
		var kid *node
		if n.kids != nil {
			kid = n.kids[i]
		}
		if kid != nil {
			storeValue(v.FieldByIndex(f.index), f.c, kid)
		} else if f.c.kind == kindStruct && !f.c.ptr && f.c.st.fill {
			fillPrefix(v.FieldByIndex(f.index), f.c.st, n.prefix+f.name+".")
		}
	}
}

// fillPrefix sets the Prefix fields of an absent value struct to the
// canonical spelling, so messages about its missing fields name full keys.
func fillPrefix(v reflect.Value, st *structInfo, prefix string) {
	for _, i := range st.prefixFields {
		v.FieldByIndex(i).SetString(prefix)
	}
	for i := range st.fields {
		f := &st.fields[i]
		if f.c.kind == kindStruct && !f.c.ptr && f.c.st.fill {
			fillPrefix(v.FieldByIndex(f.index), f.c.st, prefix+f.name+".")
		}
	}
}

func storeValue(v reflect.Value, c *codec, n *node) {
	if c.ptr {
		if c.kind != kindStruct || v.IsNil() {
			v.Set(reflect.New(c.typ))
		}
		v = v.Elem()
	}
	switch c.kind {
	case kindScalar:
		switch c.sk {
		case reflect.String:
			v.SetString(n.raw)
		case reflect.Bool:
			v.SetBool(n.val.b)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v.SetInt(n.val.i)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(n.val.u)
		case reflect.Float32, reflect.Float64:
			v.SetFloat(n.val.f)
		}
	case kindStruct:
		storeStruct(v, c.st, n)
	case kindList:
		slices.SortFunc(n.elems, func(a, b elem) int { return a.idx - b.idx })
		s := reflect.MakeSlice(c.typ, len(n.elems), len(n.elems))
		for i, e := range n.elems {
			storeValue(s.Index(i), c.elem, e.n)
		}
		v.Set(s)
	}
}
