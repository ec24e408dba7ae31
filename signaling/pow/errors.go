package pow

import "errors"

// Sentinel errors of Verify, one per way a solution fails. The server answers
// every one of them with the same wire code (bad_pow); they differ for tests
// and metrics.
var (
	ErrForged    = errors.New("pow: the challenge was not issued to this session by this server")
	ErrExpired   = errors.New("pow: the challenge expired")
	ErrReplayed  = errors.New("pow: the challenge was already used")
	ErrWrong     = errors.New("pow: a nonce does not solve its part")
	ErrBadConfig = errors.New("pow: bad config")
)
