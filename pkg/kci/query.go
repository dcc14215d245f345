package kci

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Flatten turns a request structure into the flat parameters of the KCI
// wire format, the form every KCI SDK sends:
//
//   - a field is sent only if it has a `query:"Name"` tag (a name of "-"
//     or no tag skips it);
//   - a nested structure (or pointer to one) becomes Name.Sub;
//   - the fields of a struct embedded without a tag are sent as if the
//     embedding struct declared them, as encoding/json promotes them (a
//     field of the embedding struct hides a promoted one of the same name);
//   - a slice becomes Name.1, Name.2, … counted from 1 as the spec and the
//     Java SDK count (kcid accepts 0 and 1);
//   - a scalar that is its type's zero value (empty string, 0, false) is
//     left out, because every optional parameter of the API treats absent
//     and zero alike and required ones are never validly zero; inside a
//     slice elements are always sent, so positions are kept;
//   - a pointer to a scalar is sent whenever it is non-nil, zero or not;
//   - floats are written without exponent (1.5, 0.001), booleans as
//     true/false.
//
// src must be a struct or a pointer to one (nil gives no parameters).
// Flatten panics on a field of an unsupported type (a map, a channel, …),
// which is a programming error in the request type.
func Flatten(src any) url.Values {
	out := url.Values{}
	v := reflect.ValueOf(src)
	if !v.IsValid() {
		return out
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		panic(fmt.Sprintf("kci: Flatten needs a struct or a pointer to one, got %T", src))
	}
	flattenStruct(out, "", v)
	return out
}

func flattenStruct(out url.Values, prefix string, v reflect.Value) {
	for _, f := range queryFields(v.Type()) {
		flattenValue(out, prefix+f.name, v.FieldByIndex(f.index), false)
	}
}

// queryField is a field sent on the wire: its name and its index path
// from the struct, through embedded structs.
type queryField struct {
	name  string
	index []int
}

// queryFields lists t's tagged fields and, after them, those promoted
// from the structs t embeds without a tag, leaving out a promoted field
// whose name a shallower field has. Two fields of one depth with one
// name, or an embedded pointer, panic: the request type is wrong.
func queryFields(t reflect.Type) []queryField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]queryField)
	}
	fields := readQueryFields(t)
	fieldCache.Store(t, fields)
	return fields
}

// fieldCache maps a struct type to its queryFields.
var fieldCache sync.Map

func readQueryFields(t reflect.Type) []queryField {
	var fields []queryField
	seen := map[string]bool{}
	level := []queryField{{index: nil}} // the structs to read at this depth
	for len(level) > 0 {
		var next []queryField
		atDepth := map[string]bool{}
		for _, s := range level {
			st := t
			if len(s.index) > 0 {
				st = t.FieldByIndex(s.index).Type
			}
			for i := 0; i < st.NumField(); i++ {
				f := st.Field(i)
				index := append(s.index[:len(s.index):len(s.index)], i)
				tag, tagged := f.Tag.Lookup("query")
				if f.Anonymous && !tagged {
					switch {
					case f.Type.Kind() == reflect.Struct:
						next = append(next, queryField{index: index})
					case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
						panic(fmt.Sprintf("kci: Flatten: %v embeds %v: embed the struct by value", st, f.Type))
					}
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if name == "" || name == "-" || !f.IsExported() || seen[name] {
					continue
				}
				if atDepth[name] {
					panic(fmt.Sprintf("kci: Flatten: %v: two fields are named %s", t, name))
				}
				atDepth[name] = true
				fields = append(fields, queryField{name: name, index: index})
			}
		}
		for n := range atDepth {
			seen[n] = true
		}
		level = next
	}
	return fields
}

// flattenValue writes one value; inList keeps zero scalars (a list
// element's position matters) and explicit marks a non-nil pointer.
func flattenValue(out url.Values, key string, v reflect.Value, inList bool) {
	explicit := inList
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v, explicit = v.Elem(), true
	}
	switch v.Kind() {
	case reflect.Struct:
		flattenStruct(out, key+".", v)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			flattenValue(out, key+"."+strconv.Itoa(i+1), v.Index(i), true)
		}
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if v.IsZero() && !explicit {
			return
		}
		out.Set(key, scalarString(v))
	default:
		panic(fmt.Sprintf("kci: Flatten: %s has unsupported type %s", key, v.Type()))
	}
}

func scalarString(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	default: // floats
		return strconv.FormatFloat(v.Float(), 'f', -1, v.Type().Bits())
	}
}
