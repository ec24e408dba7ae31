//go:build tools

package parley

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/gorilla/websocket"
	_ "github.com/pion/sdp/v3"
	_ "github.com/pion/ice/v4"
	_ "github.com/pion/turn/v4"
	_ "github.com/pion/webrtc/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/chacha20poly1305"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/crypto/acme/autocert"
	_ "golang.org/x/time/rate"
	_ "golang.org/x/sys/unix"
	_ "go.uber.org/goleak"
	_ "github.com/pion/stun/v3"
	_ "github.com/pion/transport/v4"
)
