package client

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ClassBlocked is the failure class of a connection refused before it was
// made, because of the address it would go to.
const ClassBlocked = "address refused"

// BlockedAddressError is a connection this plugin refused to open: the
// vendor's name resolved to an address where no vendor lives.
type BlockedAddressError struct {
	Addr string // the address as the dialler had it, ip:port
	Why  string
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s; no allowed_hosts entry can permit it", e.Addr, e.Why)
}

// nat64 is the well-known NAT64 prefix (RFC 6052): on networks with NAT64
// a connection to 64:ff9b::a9fe:a9fe reaches 169.254.169.254.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// metadata are cloud metadata services outside the link-local ranges:
// AWS's and GCP's IPv6 endpoints, Alibaba's and Azure's wire server.
var metadata = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("fd20:ce::254"):    true,
	netip.MustParseAddr("100.100.100.200"): true,
	netip.MustParseAddr("168.63.129.16"):   true,
}

// BlockedAddress says why a connection to a is never made, or "" when it
// may be. IPv4-mapped and NAT64 forms are judged as the IPv4 address they
// carry. Link-local unicast (169.254.0.0/16, fe80::/10) is where cloud
// metadata services listen; an unspecified address (0.0.0.0, ::) connects
// to the local machine; multicast reaches no single vendor.
func BlockedAddress(a netip.Addr) string {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case metadata[a]:
		return "a cloud metadata address"
	case a.IsUnspecified():
		return "an unspecified address (0.0.0.0 or ::), which reaches this machine"
	case a.IsLinkLocalUnicast():
		return "a link-local address (169.254.0.0/16 or fe80::/10, where cloud metadata services listen)"
	case a.IsMulticast():
		return "a multicast address"
	}
	return ""
}

// dialControl runs before every connection, with the address the dialler
// resolved, and refuses the blocked ones whatever the host policy says.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedAddressError{Addr: address, Why: "cannot read the address to check it"}
	}
	if why := BlockedAddress(ap.Addr()); why != "" {
		return &BlockedAddressError{Addr: address, Why: why}
	}
	return nil
}

// newDialer is the dialler of every vendor connection: cleanhttp's
// settings, plus the address check.
func newDialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: dialControl}
}
