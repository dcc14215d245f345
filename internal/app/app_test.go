package app

import (
	"runtime"
	"testing"

	"github.com/openkci/openkci/internal/config"
)

func TestNodeCapacity(t *testing.T) {
	cpu, mem := nodeCapacity(config.Node{})
	if cpu != float64(runtime.NumCPU()) || mem < 0.1 {
		t.Fatalf("machine capacity: cpu %v, memory %v GiB", cpu, mem)
	}
	cpu, mem = nodeCapacity(config.Node{CPU: 1.5, Memory: 3})
	if cpu != 1.5 || mem != 3 {
		t.Fatalf("configured capacity: %v %v", cpu, mem)
	}
}
