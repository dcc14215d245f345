package testenv

import (
	"archive/tar"
	"bytes"
	"encoding/json"
)

// BusyboxArchive returns the busybox image of BusyboxImage (same layer and
// config) as a docker-archive tar ("docker save" format) tagged ref, for
// `ctr images import`: programs that run their own containerd (the chaos
// suite, test/chaos) import it without a registry.
func BusyboxArchive(ref string) ([]byte, error) {
	baseLayerOnce.Do(func() { baseLayer, baseLayerErr = busyboxLayer() })
	if baseLayerErr != nil {
		return nil, baseLayerErr
	}
	config, err := imageConfigBlob(ImageConfig{}, []*blob{baseLayer})
	if err != nil {
		return nil, err
	}
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   "config.json",
		"RepoTags": []string{ref},
		"Layers":   []string{"layer.tar.gz"},
	}})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"config.json", config.data},
		{"layer.tar.gz", baseLayer.data}, // containerd detects the gzip
		{"manifest.json", manifest},
	} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
