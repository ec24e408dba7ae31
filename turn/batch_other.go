//go:build !linux

package turn

const batchSupported = false
