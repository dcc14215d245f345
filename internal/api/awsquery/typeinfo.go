package awsquery

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Prefix is the type of a struct field that Decode fills with the wire prefix
// of the struct instance exactly as received ("" at top level, "Container.0."
// or "Container.1.Port.2." below), so that validation messages can name
// parameters the way the client spelled them: string(c.At) + "Name".
//
// For a value (non-pointer) struct absent from the request the prefix is
// built from the parent's prefix and the field's canonical name, so that a
// "missing parameter" message still names the full key. Prefix fields carry
// no query tag, so kci.Flatten ignores them.
type Prefix string

const (
	// DefaultMaxIndex is the largest list index accepted when the tag sets no
	// max=. It bounds what a client can make us track, not the list length
	// the API allows; that is domain validation.
	DefaultMaxIndex = 1000
	// maxIndexLimit caps what a max= option may ask for.
	maxIndexLimit = 1 << 20
	// MaxElements bounds the total number of list elements one Decode call
	// creates, over all lists and nesting levels. Indices are only ordering
	// keys, so memory is proportional to the elements actually sent, and
	// this caps it for hostile requests.
	MaxElements = 10000
	// MaxDepth bounds the structures a key may descend into. Only recursive
	// types can go deep, and for them it bounds the decoder's recursion.
	MaxDepth = 64
)

var prefixType = reflect.TypeFor[Prefix]()

type codecKind uint8

const (
	kindScalar codecKind = iota
	kindStruct
	kindList
)

// codec describes how one Go type maps to the wire.
type codec struct {
	kind codecKind
	ptr  bool         // the value is a *typ, allocated when present
	typ  reflect.Type // the type after removing ptr
	sk   reflect.Kind // kindScalar: typ.Kind()
	st   *structInfo  // kindStruct
	elem *codec       // kindList
	max  int          // kindList: largest index accepted
}

type field struct {
	name  string // canonical wire name, used by the absent-prefix fill
	index []int  // Go field index path, through embedded structs
	c     *codec
}

type structInfo struct {
	fields       []field
	byName       map[string]int // every wire spelling -> index into fields
	prefixFields [][]int        // Go field index paths of Prefix fields
	// fill: this struct, or a value-struct field below it, has a Prefix field,
	// so Decode must visit it even when absent from the request.
	fill bool
}

type cacheEntry struct {
	si  *structInfo
	err error
}

// cache maps reflect.Type to *cacheEntry. Building is deterministic, so two
// goroutines racing on a new type build equal entries and either may win.
var cache sync.Map

func structInfoOf(t reflect.Type) (*structInfo, error) {
	if e, ok := cache.Load(t); ok {
		e := e.(*cacheEntry)
		return e.si, e.err
	}
	b := builder{building: map[reflect.Type]*structInfo{}}
	si, err := b.structInfo(t)
	e, _ := cache.LoadOrStore(t, &cacheEntry{si, err})
	ce := e.(*cacheEntry)
	return ce.si, ce.err
}

type builder struct {
	// building holds structs under construction, so recursive types (a
	// struct reaching itself through a pointer or slice) terminate.
	building map[reflect.Type]*structInfo
}

func (b *builder) structInfo(t reflect.Type) (*structInfo, error) {
	if si, ok := b.building[t]; ok {
		return si, nil
	}
	si := &structInfo{byName: map[string]int{}}
	b.building[t] = si
	var tagged []taggedField
	if err := collectFields(t, nil, 0, si, &tagged); err != nil {
		return nil, err
	}
	slices.SortStableFunc(tagged, func(a, b taggedField) int { return a.depth - b.depth })
	// A promoted field's wire names that a shallower field also uses are
	// hidden by it, as encoding/json hides them (hence shallowest first).
	// Two fields of one depth naming the same wire name are an error.
	depthOf := map[string]int{}
	for _, tf := range tagged {
		names, max, err := parseTag(tf.tag)
		if err != nil {
			return nil, fmt.Errorf("awsquery: %v.%s: %v", tf.owner, tf.sf.Name, err)
		}
		var visible []string
		for _, n := range names {
			d, seen := depthOf[n]
			if seen && d < tf.depth {
				continue
			}
			if seen {
				return nil, fmt.Errorf("awsquery: %v.%s: wire name %q used twice", tf.owner, tf.sf.Name, n)
			}
			depthOf[n] = tf.depth
			visible = append(visible, n)
		}
		if len(visible) == 0 {
			continue
		}
		c, err := b.codec(tf.sf.Type)
		if err != nil {
			return nil, fmt.Errorf("awsquery: %v.%s: %v", tf.owner, tf.sf.Name, err)
		}
		if max >= 0 {
			if c.kind != kindList {
				return nil, fmt.Errorf("awsquery: %v.%s: max= applies only to slices", tf.owner, tf.sf.Name)
			}
			c.max = max
		}
		for _, n := range visible {
			si.byName[n] = len(si.fields)
		}
		si.fields = append(si.fields, field{name: visible[0], index: tf.index, c: c})
		// A value struct can't contain itself, so c.st is complete here.
		if c.kind == kindStruct && !c.ptr && c.st.fill {
			si.fill = true
		}
	}
	return si, nil
}

// taggedField is a field with a query tag found by collectFields: in t
// itself (depth 0) or promoted from a struct embedded in it.
type taggedField struct {
	owner reflect.Type // the struct that declares it
	sf    reflect.StructField
	tag   string
	index []int // from t, for reflect.Value.FieldByIndex
	depth int
}

// collectFields lists the Prefix and tagged fields of t (reached from the
// top struct through index), and those of the structs it embeds without
// a query tag, as encoding/json promotes an embedded struct's fields: they
// are on the wire as if declared in the embedding struct. An embedded pointer is refused (Decode would have to
// allocate it for any of its fields; embed the struct by value).
func collectFields(t reflect.Type, index []int, depth int, si *structInfo, out *[]taggedField) error {
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		at := append(index[:len(index):len(index)], i)
		tag, tagged := sf.Tag.Lookup("query")
		if sf.Type == prefixType {
			if !sf.IsExported() {
				return fmt.Errorf("awsquery: %v.%s: Prefix field must be exported", t, sf.Name)
			}
			si.prefixFields = append(si.prefixFields, at)
			si.fill = true
			continue
		}
		if sf.Anonymous && !tagged {
			switch {
			case sf.Type.Kind() == reflect.Struct:
				embedded = append(embedded, sf)
			case sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct:
				return fmt.Errorf("awsquery: %v: embedded %v: embed the struct by value", t, sf.Type)
			}
			continue
		}
		if !tagged || tag == "-" {
			continue
		}
		if !sf.IsExported() {
			return fmt.Errorf("awsquery: %v.%s: tagged field must be exported", t, sf.Name)
		}
		*out = append(*out, taggedField{owner: t, sf: sf, tag: tag, index: at, depth: depth})
	}
	for _, sf := range embedded {
		if err := collectFields(sf.Type, append(index[:len(index):len(index)], sf.Index[0]), depth+1, si, out); err != nil {
			return err
		}
	}
	return nil
}

// codec returns a fresh codec for t; fresh because max= is per field.
func (b *builder) codec(t reflect.Type) (*codec, error) {
	ptr := false
	if t.Kind() == reflect.Pointer {
		ptr = true
		t = t.Elem()
	}
	c := &codec{ptr: ptr, typ: t}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if t == prefixType {
			return nil, fmt.Errorf("Prefix cannot be a list element or pointer")
		}
		c.kind, c.sk = kindScalar, t.Kind()
	case reflect.Struct:
		st, err := b.structInfo(t)
		if err != nil {
			return nil, err
		}
		c.kind, c.st = kindStruct, st
	case reflect.Slice:
		if ptr {
			return nil, fmt.Errorf("unsupported type *%v", t)
		}
		elem, err := b.codec(t.Elem())
		if err != nil {
			return nil, err
		}
		c.kind, c.elem, c.max = kindList, elem, DefaultMaxIndex
	default:
		return nil, fmt.Errorf("unsupported type %v", t)
	}
	return c, nil
}

// parseTag splits `Name,Alt,max=N` into names (canonical first) and the max
// option (-1 when unset).
func parseTag(tag string) (names []string, max int, err error) {
	max = -1
	for _, part := range strings.Split(tag, ",") {
		if opt, val, ok := strings.Cut(part, "="); ok {
			if opt != "max" {
				return nil, 0, fmt.Errorf("unknown tag option %q", opt)
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > maxIndexLimit {
				return nil, 0, fmt.Errorf("bad max=%q (want 0..%d)", val, maxIndexLimit)
			}
			max = n
			continue
		}
		if part == "" || strings.ContainsAny(part, ". ") {
			return nil, 0, fmt.Errorf("bad wire name %q in tag %q", part, tag)
		}
		names = append(names, part)
	}
	if len(names) == 0 {
		return nil, 0, fmt.Errorf("tag %q has no wire name", tag)
	}
	return names, max, nil
}
