package core

import "time"

// GroupStats is one reading of a group's resource usage: cumulative CPU
// time and network counters, and memory as it stood at Time. Runtimes that
// can measure groups return it (service.StatsReader).
type GroupStats struct {
	Time time.Time
	// CPUNanos is the CPU time used by the group's processes since its
	// cgroup (or pod) was made, in nanoseconds.
	CPUNanos uint64
	Memory   MemoryStats
	// Interfaces are the group's network interfaces but loopback; empty
	// while no process holds the group's network namespace.
	Interfaces []InterfaceStats
	Containers []ContainerStats
}

// MemoryStats is memory in bytes. WorkingSet is what the kernel cannot
// reclaim easily (usage minus inactive file pages, as the kubelet counts
// it): the figure the memory limit is enforced against.
type MemoryStats struct {
	Usage      uint64
	WorkingSet uint64
	RSS        uint64
	Cache      uint64
}

// ContainerStats is one container's share of its group's CPU and memory.
type ContainerStats struct {
	Name     string
	CPUNanos uint64
	Memory   MemoryStats
}

// InterfaceStats are one network interface's cumulative counters.
type InterfaceStats struct {
	Name                                  string
	RxBytes, RxPackets, RxErrors, RxDrops uint64
	TxBytes, TxPackets, TxErrors, TxDrops uint64
}
