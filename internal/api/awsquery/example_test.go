package awsquery_test

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/openkci/openkci/internal/api/awsquery"
)

type Port struct {
	At       awsquery.Prefix
	Port     *int   `query:"Port"`
	Protocol string `query:"Protocol"`
}

type Container struct {
	At   awsquery.Prefix
	Name string `query:"Name"`
	Port []Port `query:"Port"`
}

type Request struct {
	Container []Container `query:"Container"`
}

func ExampleDecode() {
	// 1-based as in the spec; 0-based SDKs work the same.
	q, _ := url.ParseQuery("Action=CreateContainerGroup&Container.1.Port.1.Port=80&Container.2.Name=b")
	var r Request
	if err := awsquery.Decode(q, &r); err != nil {
		fmt.Println(err)
		return
	}
	// Validation names parameters the way the client sent them.
	for _, c := range r.Container {
		if c.Name == "" {
			fmt.Println("missing", string(c.At)+"Name")
		}
		for _, p := range c.Port {
			fmt.Println(string(p.At)+"Port", "=", *p.Port)
		}
	}
	// Output:
	// missing Container.1.Name
	// Container.1.Port.1.Port = 80
}

func ExampleError() {
	q, _ := url.ParseQuery("Container.x.Name=a")
	var r Request
	var qe *awsquery.Error
	if errors.As(awsquery.Decode(q, &r), &qe) {
		fmt.Println(qe.Kind, qe.Param)
	}
	// Output: Malformed Container.x.Name
}
