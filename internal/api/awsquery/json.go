package awsquery

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
)

// Bounds for FlattenJSON. Flattening repeats every parent name in each
// child's key, so key bytes, not just body bytes, must be capped.
const (
	MaxJSONBytes    = 8 << 20 // body size
	MaxJSONDepth    = 32      // nesting of objects and arrays
	MaxJSONKeyLen   = 1024    // one flattened key
	MaxJSONKeyBytes = 4 << 20 // all flattened keys together
)

// FlattenJSON turns a JSON request body into the wire keys Decode expects:
// object members are joined with '.', array elements are numbered from 1
// (Container.1.Port.1.Port), numbers keep their literal text, bools become
// true/false, strings are kept as is and nulls are dropped (an array's later
// elements keep their positions). The top level must be an object. Repeated
// object members become repeated values, which Decode reports as Duplicate
// when they differ.
func FlattenJSON(body []byte) (url.Values, error) {
	if len(body) > MaxJSONBytes {
		return nil, newError(TooLarge, "", "", "JSON body larger than %d bytes", MaxJSONBytes)
	}
	f := flattener{dec: json.NewDecoder(bytes.NewReader(body)), out: url.Values{}}
	f.dec.UseNumber()
	tok, err := f.dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if tok != json.Delim('{') {
		return nil, newError(InvalidJSON, "", "", "JSON body must be an object")
	}
	if err := f.object("", 1); err != nil {
		return nil, err
	}
	if _, err := f.dec.Token(); err != io.EOF {
		if err == nil {
			return nil, newError(InvalidJSON, "", "", "data after the JSON object")
		}
		return nil, jsonError(err)
	}
	return f.out, nil
}

type flattener struct {
	dec      *json.Decoder
	out      url.Values
	keyBytes int
}

func jsonError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return newError(InvalidJSON, "", "", "%v", err)
}

// object reads members up to and including the closing '}'; the '{' has
// been read. prefix is "" or ends in '.'.
func (f *flattener) object(prefix string, depth int) error {
	if depth > MaxJSONDepth {
		return newError(TooLarge, clip(prefix), "", "JSON nested deeper than %d", MaxJSONDepth)
	}
	for f.dec.More() {
		tok, err := f.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		name, ok := tok.(string)
		if !ok { // Token reports syntax errors itself; this is defensive
			return newError(InvalidJSON, "", "", "object member name is not a string")
		}
		if err := f.value(prefix+name, depth); err != nil {
			return err
		}
	}
	_, err := f.dec.Token() // '}'
	if err != nil {
		return jsonError(err)
	}
	return nil
}

func (f *flattener) value(key string, depth int) error {
	if len(key) > MaxJSONKeyLen {
		return newError(TooLarge, clip(key), "", "flattened key longer than %d bytes", MaxJSONKeyLen)
	}
	// Counted for every value, even empty arrays and nulls, since the key
	// was built either way.
	f.keyBytes += len(key)
	if f.keyBytes > MaxJSONKeyBytes {
		return newError(TooLarge, clip(key), "", "flattened keys exceed %d bytes", MaxJSONKeyBytes)
	}
	tok, err := f.dec.Token()
	if err != nil {
		return jsonError(err)
	}
	var s string
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return f.object(key+".", depth+1)
		case '[':
			return f.array(key, depth+1)
		}
		return newError(InvalidJSON, "", "", "unexpected %v", t)
	case nil:
		return nil
	case string:
		s = t
	case json.Number:
		s = string(t)
	case bool:
		s = strconv.FormatBool(t)
	default:
		return newError(InvalidJSON, "", "", "unexpected token %v", t)
	}
	f.out[key] = append(f.out[key], s)
	return nil
}

// array reads elements up to and including the closing ']'.
func (f *flattener) array(key string, depth int) error {
	if depth > MaxJSONDepth {
		return newError(TooLarge, clip(key), "", "JSON nested deeper than %d", MaxJSONDepth)
	}
	for i := 1; f.dec.More(); i++ {
		if err := f.value(key+"."+strconv.Itoa(i), depth); err != nil {
			return err
		}
	}
	_, err := f.dec.Token() // ']'
	if err != nil {
		return jsonError(err)
	}
	return nil
}
