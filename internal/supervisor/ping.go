package supervisor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// defaultPingTimeout bounds a Ping whose context has no deadline.
const defaultPingTimeout = 5 * time.Second

// versionMethod is the gRPC method Ping calls: containerd's Version service,
// which every containerd since 1.0 serves and which touches no state.
const versionMethod = "/containerd.services.version.v1.Version/Version"

// Ping checks that a containerd answers on address (a unix socket path,
// optionally prefixed with "unix://") by calling its gRPC Version method,
// and returns the daemon's version (e.g. "1.6.20~ds1").
//
// It needs neither ctr nor the containerd client: the call is made with
// net/http's cleartext HTTP/2 (prior knowledge) client over the socket, the
// request being an empty message and the reply a two-string protobuf. A
// missing socket fails at once (ctr would retry for a long time); a socket
// nobody listens on fails with ECONNREFUSED; a process that accepts but does
// not answer (stopped, hung) fails when ctx ends, or after 5 s when ctx has
// no deadline.
func Ping(ctx context.Context, address string) (version string, err error) {
	path := socketPath(address)
	if path == "" {
		return "", errors.New("empty containerd address")
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no socket at %s", path)
		}
		return "", err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return "", fmt.Errorf("%s is not a socket", path)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultPingTimeout)
		defer cancel()
	}

	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &protos,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()

	// A gRPC message is framed as 1 byte "compressed" flag + 4 bytes
	// big-endian length + the protobuf; google.protobuf.Empty is 0 bytes.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://containerd"+versionMethod, bytes.NewReader(make([]byte, 5)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("containerd on %s: %w", path, unwrapDialError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("containerd on %s: reading the reply: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("containerd on %s: HTTP status %s, not a gRPC server", path, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/grpc") {
		return "", fmt.Errorf("containerd on %s: content type %q, not a gRPC server", path, ct)
	}
	// grpc-status comes in the trailers, or in the headers of a
	// "trailers-only" (error) reply.
	status := resp.Trailer.Get("Grpc-Status")
	msg := resp.Trailer.Get("Grpc-Message")
	if status == "" {
		status, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if status != "0" {
		return "", fmt.Errorf("containerd on %s: Version call failed: grpc-status %q %s", path, status, msg)
	}
	if len(body) < 5 || body[0] != 0 {
		return "", fmt.Errorf("containerd on %s: malformed Version reply", path)
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(len(body)-5) < uint64(n) {
		return "", fmt.Errorf("containerd on %s: truncated Version reply", path)
	}
	version, err = parseVersion(body[5 : 5+n])
	if err != nil {
		return "", fmt.Errorf("containerd on %s: %w", path, err)
	}
	return version, nil
}

// socketPath turns a containerd address into the socket path.
func socketPath(address string) string {
	return strings.TrimPrefix(address, "unix://")
}

// unwrapDialError keeps the useful part of a failed round trip: "connection
// refused" rather than a chain of wrappers.
func unwrapDialError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errors.New("connection refused (stale socket: nothing listens)")
	}
	return err
}

// parseVersion reads field 1 (version, a string) of a
// containerd.services.version.v1.VersionResponse, skipping any other field.
func parseVersion(b []byte) (string, error) {
	version := ""
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return "", errors.New("malformed Version reply")
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return "", errors.New("malformed Version reply")
			}
			b = b[n:]
		case 1: // 64-bit
			if len(b) < 8 {
				return "", errors.New("malformed Version reply")
			}
			b = b[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return "", errors.New("malformed Version reply")
			}
			if field == 1 {
				version = string(b[n : n+int(l)])
			}
			b = b[n+int(l):]
		case 5: // 32-bit
			if len(b) < 4 {
				return "", errors.New("malformed Version reply")
			}
			b = b[4:]
		default:
			return "", fmt.Errorf("malformed Version reply (wire type %d)", wire)
		}
	}
	if version == "" {
		return "", errors.New("no version in the Version reply")
	}
	return version, nil
}
