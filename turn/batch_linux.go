package turn

// batchSupported: recvmmsg exists on Linux; elsewhere x/net reads one
// datagram per call anyway.
const batchSupported = true
