package awsquery

import (
	"fmt"
	"reflect"
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
	index int    // Go field index
	c     *codec
}

type structInfo struct {
	fields       []field
	byName       map[string]int // every wire spelling -> index into fields
	prefixFields []int          // Go field indices of Prefix fields
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
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("query")
		if sf.Type == prefixType {
			if !sf.IsExported() {
				return nil, fmt.Errorf("awsquery: %v.%s: Prefix field must be exported", t, sf.Name)
			}
			si.prefixFields = append(si.prefixFields, i)
			si.fill = true
			continue
		}
		if !tagged || tag == "-" {
			continue
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("awsquery: %v.%s: tagged field must be exported", t, sf.Name)
		}
		names, max, err := parseTag(tag)
		if err != nil {
			return nil, fmt.Errorf("awsquery: %v.%s: %v", t, sf.Name, err)
		}
		c, err := b.codec(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("awsquery: %v.%s: %v", t, sf.Name, err)
		}
		if max >= 0 {
			if c.kind != kindList {
				return nil, fmt.Errorf("awsquery: %v.%s: max= applies only to slices", t, sf.Name)
			}
			c.max = max
		}
		for _, n := range names {
			if _, dup := si.byName[n]; dup {
				return nil, fmt.Errorf("awsquery: %v.%s: wire name %q used twice", t, sf.Name, n)
			}
			si.byName[n] = len(si.fields)
		}
		si.fields = append(si.fields, field{name: names[0], index: i, c: c})
		// A value struct can't contain itself, so c.st is complete here.
		if c.kind == kindStruct && !c.ptr && c.st.fill {
			si.fill = true
		}
	}
	return si, nil
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
