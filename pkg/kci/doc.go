// Package kci is a Go client for Kingsoft Cloud's KCI OpenAPI (version
// 2020-07-02) and the read actions of its VPC API (2016-03-04), as served
// by OpenKCI's kcid and by the cloud itself.
//
// Every action has a typed request and response: CreateContainerGroup,
// DescribeContainerGroup, DescribeContainerLog, DeleteContainerGroup and
// DescribeRegions (service "kci"), and DescribeVpcs, DescribeSubnets and
// DescribeSecurityGroups (service "vpc"). List* helpers follow the pages
// for you. Do calls any other action with a request type of your own.
//
// The response types are OpenKCI's wire model: kcid renders its answers
// with these very types, so their JSON (field order, nulls, integer Cpu
// and Memory, CloudTime and RFC 3339 times) is the server's, and a test
// renders every action on kcid and decodes it here byte for byte.
//
// Requests are POSTed as a form body, the way the official Go SDK sends
// them, flattened by Flatten from `query:"Name"` struct tags (lists counted
// from 1), and signed with AWS SigV4 by aws-sdk-go-v2's signer, with the
// service of the action in the credential scope. The package imports
// nothing of OpenKCI's server, so any module can use it.
//
// Calls honour their context. Only transient failures are retried, with
// exponential back-off and full jitter (Config.MaxAttempts, MinBackoff,
// MaxBackoff): throttling (LimitExceeded, 429), ServiceUnavailable and
// ServiceTimeout, a proxy's 502/503/504, and transport failures (see
// TransientCode and APIError.Transient). A create is re-sent only when it
// cannot have been done: throttled, refused with the server's
// ServiceUnavailable, or never sent because the connection failed; a
// refused create is sent once.
//
// Failed calls return *APIError with the server's Code, Message, HTTP
// status and RequestId:
//
//	c, err := kci.New(kci.Config{
//		Endpoint:        "http://127.0.0.1:8080",
//		Region:          "cn-beijing-6",
//		AccessKeyID:     os.Getenv("KCI_ACCESS_KEY_ID"),
//		SecretAccessKey: os.Getenv("KCI_SECRET_ACCESS_KEY"),
//	})
//	if err != nil { … }
//	out, err := c.CreateContainerGroup(ctx, &kci.CreateContainerGroupRequest{
//		ContainerGroupName: "hello",
//		SubnetID:           subnetID,
//		SecurityGroupIDs:   []string{sgID},
//		CPU:                1,
//		Memory:             1,
//		Containers: []kci.Container{{InitContainer: kci.InitContainer{
//			Name:    "main",
//			Image:   "busybox:1.36",
//			Command: []string{"sh", "-c", "echo hello"},
//		}}},
//	})
//	var apiErr *kci.APIError
//	if errors.As(err, &apiErr) {
//		log.Fatalf("%s: %s (RequestId %s)", apiErr.Code, apiErr.Message, apiErr.RequestID)
//	}
package kci
