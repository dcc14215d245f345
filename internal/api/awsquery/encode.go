package awsquery

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
)

// Encode flattens a tagged struct (or pointer to one) into query parameters
// using canonical names, numbering list elements from base (0 like sdk-go
// and sdk-python, 1 like sdk-java and the spec).
//
// Like sdk-go it skips nil pointers and empty strings in struct fields, but
// keeps empty strings inside lists, and false and 0 in non-pointer fields.
// Floats are written as sdk-go does, without exponent. A nil src gives empty
// values. Encode panics if src's type is not usable, which is a programming
// error.
func Encode(src any, base int) url.Values {
	if base < 0 {
		panic("awsquery: Encode: negative base")
	}
	out := url.Values{}
	v := reflect.ValueOf(src)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		panic(fmt.Sprintf("awsquery: Encode needs a struct or pointer to struct, got %T", src))
	}
	si, err := structInfoOf(v.Type())
	if err != nil {
		panic(err)
	}
	e := encoder{out: out, base: base}
	e.encodeStruct("", si, v)
	return out
}

type encoder struct {
	out  url.Values
	base int
}

func (e *encoder) encodeStruct(prefix string, st *structInfo, v reflect.Value) {
	for i := range st.fields {
		f := &st.fields[i]
		e.encodeValue(prefix+f.name, f.c, v.Field(f.index), false)
	}
}

func (e *encoder) encodeValue(key string, c *codec, v reflect.Value, inList bool) {
	if c.ptr {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch c.kind {
	case kindScalar:
		var s string
		switch c.sk {
		case reflect.String:
			s = v.String()
			if s == "" && !inList {
				return
			}
		case reflect.Bool:
			s = strconv.FormatBool(v.Bool())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			s = strconv.FormatInt(v.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			s = strconv.FormatUint(v.Uint(), 10)
		case reflect.Float32, reflect.Float64:
			s = strconv.FormatFloat(v.Float(), 'f', -1, c.typ.Bits())
		}
		e.out[key] = []string{s}
	case kindStruct:
		e.encodeStruct(key+".", c.st, v)
	case kindList:
		for i := 0; i < v.Len(); i++ {
			e.encodeValue(key+"."+strconv.Itoa(e.base+i), c.elem, v.Index(i), true)
		}
	}
}
