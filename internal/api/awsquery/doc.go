// Package awsquery owns the wire format of KCI's AWS-query-style API: it turns
// flattened request parameters (Container.1.Port.2.Port=80) into typed Go
// request structs and back.
//
// The mapping is driven entirely by struct tags, so request types carry no
// per-field parsing code:
//
//	type Container struct {
//		At    awsquery.Prefix // filled with "Container.1." etc., for messages
//		Name  string          `query:"Name"`
//		Cpu   *float64        `query:"Cpu"`
//		Port  []Port          `query:"Port"`
//	}
//	type Request struct {
//		Container []Container `query:"Container"`
//		HostAlias []HostAlias `query:"HostAliase,HostAlias"` // first name is canonical
//		Filter    []Filter    `query:"Filter,max=100"`       // largest index accepted
//	}
//
// Tag syntax: `query:"Name[,Alt...][,max=N]"`. Names are matched
// case-sensitively; alternatives exist because the spec and the SDKs disagree
// on some spellings. `query:"-"` and untagged fields are skipped, except
// fields of type [Prefix], which need no tag, and structs embedded without a
// tag: their fields (Prefix fields too) are on the wire as the embedding
// struct's own, as encoding/json promotes them, so that two requests of
// one shape share one struct. A field hides a promoted one of the same
// wire name from deeper down; two of one depth are an error, and so is an
// embedded pointer (embed the struct by value). An embedded struct with a
// tag is an ordinary field.
//
// Decoding follows what real clients send (KCI API notes, kci-api.md §3.4
// and §3.5):
//   - list indices are ordering keys: any non-negative decimal, 0- or 1-based,
//     gaps allowed, sorted numerically, "01" equal to "1";
//   - bools are case-insensitive ("True" from Python), floats accept "1.0",
//     "1e-05" and "1.0E-5";
//   - list indices above DefaultMaxIndex (or the tag's max=) are rejected, and
//     one request may create at most MaxElements list elements, so memory
//     stays proportional to what a client sends and bounded;
//   - keys that match no field are ignored, because every request also carries
//     common parameters (Action, Service, X-Amz-*) handled elsewhere; but a
//     key that enters a known list or structure and then has the wrong shape is
//     an error, since it shows a client bug rather than an unknown extension.
//
// Decode only checks the wire shape and scalar syntax. Domain rules (required
// fields, ranges, enumerations) belong to the caller's validation, which can
// name parameters exactly as received by using the [Prefix] fields.
//
// [FlattenJSON] accepts the alternative JSON request body and produces the
// same keys. The package has no encoder: pkg/kci's Flatten is the one query
// encoder of the project (its client sends with it), and this package's
// tests check that Decode inverts it.
package awsquery
