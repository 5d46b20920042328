package vendor

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Host policy. A URL's host is matched in the form it is dialled in, and
// only a host already in that form is accepted: Go's HTTP client looks a
// name up in its IDNA ASCII form (idna.Lookup), so "evil。acme.vendor.example"
// is dialled as evil.acme.vendor.example, and an IPv6 zone id may hold dots.
// allowed_hosts entries are name patterns, where "*" is exactly one label,
// or IP addresses and CIDRs; an IP literal host is matched as an address
// against those alone, a name against name patterns alone.

// normalHost reads a URL host (as url.URL.Hostname gives it). It returns
// the name to match (lower case, no trailing dot), or the address when the
// host is an IP literal, or why the host is refused; the reason completes
// the sentence `host "x" ...`.
func normalHost(host string) (string, netip.Addr, error) {
	if host == "" {
		return "", netip.Addr{}, errors.New("is empty")
	}
	if strings.Contains(host, "%") {
		return "", netip.Addr{}, errors.New("carries an IPv6 zone id or an escape ('%'); zone ids are refused: write a plain name or address")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is4In6() {
			return "", netip.Addr{}, fmt.Errorf("is an IPv4-mapped IPv6 address; write it as %s", a.Unmap())
		}
		if a.String() != strings.ToLower(host) {
			return "", netip.Addr{}, fmt.Errorf("is not in normal form; write it as %s", a)
		}
		return "", a, nil
	}
	if !isASCII(host) {
		if a, err := idna.Lookup.ToASCII(host); err == nil {
			return "", netip.Addr{}, fmt.Errorf("is not in normal form: it would be looked up as %q; write that if it is the vendor's host", a)
		}
		return "", netip.Addr{}, errors.New("is not a valid host name")
	}
	name := strings.TrimSuffix(host, ".")
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return "", netip.Addr{}, errors.New("has an empty label")
		}
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("is not a valid host name (%v)", err)
	}
	name = strings.ToLower(name)
	if a != name {
		return "", netip.Addr{}, fmt.Errorf("is not in normal form; write it as %s", a)
	}
	if numericLabel(labels[len(labels)-1]) {
		return "", netip.Addr{}, errors.New("ends in a number, so resolvers read it as an IPv4 address; write the address as four decimal numbers, like 10.1.2.3")
	}
	return name, netip.Addr{}, nil
}

// normalPattern validates one allowed_hosts entry and returns it in normal
// form: a name pattern as IDNA ASCII in lower case, an address or CIDR as
// netip writes it.
func normalPattern(p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", errors.New("has an empty entry")
	}
	if strings.Contains(p, "%") {
		return "", fmt.Errorf("entry %q holds an IPv6 zone id ('%%'); zone ids are refused", p)
	}
	if strings.Contains(p, "/") {
		if pr, err := netip.ParsePrefix(p); err == nil {
			return ipEntry(p, pr.Addr(), pr)
		}
	} else if a, err := netip.ParseAddr(p); err == nil {
		return ipEntry(p, a, netip.Prefix{})
	}
	if strings.ContainsAny(p, "/:@?# ") {
		return "", fmt.Errorf("entry %q must be a host name pattern like *.vendor.example, an IP address, or a CIDR such as 10.0.0.0/8 or fd00::/8, without scheme, port or path", p)
	}
	// The full stops IDNA maps to '.', so that they separate labels here too.
	p = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(p)
	labels := strings.Split(strings.TrimSuffix(p, "."), ".")
	literal, numeric, otherLabel := false, false, false
	for i, l := range labels {
		switch {
		case l == "":
			return "", fmt.Errorf("entry %q has an empty label", p)
		case l == "*":
			continue
		case strings.Contains(l, "*"):
			return "", fmt.Errorf("entry %q: * must stand alone for one whole label, as in *.vendor.example or api.*.vendor.example", p)
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil || a == "" || strings.Contains(a, ".") {
			return "", fmt.Errorf("entry %q: %q is not a valid host name label", p, l)
		}
		labels[i], literal = a, true
		if numericLabel(a) {
			numeric = true
		} else {
			otherLabel = true
		}
	}
	if (numeric && !otherLabel) || numericLabel(labels[len(labels)-1]) {
		return "", fmt.Errorf("entry %q looks like an IP address pattern, which would match names like 10.attacker.example.com label by label; write an IP address or a CIDR%s", p, cidrHint(labels))
	}
	if !literal {
		return "", fmt.Errorf("entry %q matches almost any host; name at least one label", p)
	}
	return strings.Join(labels, "."), nil
}

// ipEntry validates an address entry (pr invalid) or a CIDR entry.
func ipEntry(p string, a netip.Addr, pr netip.Prefix) (string, error) {
	if a.Is4In6() {
		return "", fmt.Errorf("entry %q is an IPv4-mapped IPv6 address; write it in IPv4 form, like %s", p, a.Unmap())
	}
	if why := client.BlockedAddress(a); why != "" {
		if !pr.IsValid() {
			return "", fmt.Errorf("entry %q is %s, which is never dialled", p, why)
		}
		if blockedRange(pr) {
			return "", fmt.Errorf("entry %q holds only addresses that are never dialled: %s", p, why)
		}
	}
	if !pr.IsValid() {
		return a.String(), nil
	}
	if pr != pr.Masked() {
		return "", fmt.Errorf("entry %q has bits set beyond the /%d; write %s", p, pr.Bits(), pr.Masked())
	}
	if pr.Bits() == 0 {
		return "", fmt.Errorf("entry %q matches every address; name a narrower range", p)
	}
	return pr.String(), nil
}

// blocked are the ranges no connection goes to (client.BlockedAddress).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("fd00:ec2::254/128"), netip.MustParsePrefix("fd20:ce::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"), netip.MustParsePrefix("168.63.129.16/32"),
}

// blockedRange reports whether every address of pr is in one blocked range.
func blockedRange(pr netip.Prefix) bool {
	for _, b := range blocked {
		if b.Bits() <= pr.Bits() && b.Contains(pr.Addr()) {
			return true
		}
	}
	return false
}

// cidrHint suggests the CIDR for a pattern like 10.*.*.* or 192.168.1.*.
func cidrHint(labels []string) string {
	if len(labels) != 4 {
		return " such as 10.0.0.0/8"
	}
	var b [4]byte
	n := 0
	for n < 4 && labels[n] != "*" {
		var v int
		if _, err := fmt.Sscanf(labels[n], "%d", &v); err != nil || v > 255 || fmt.Sprint(v) != labels[n] {
			return " such as 10.0.0.0/8"
		}
		b[n] = byte(v)
		n++
	}
	for i := n; i < 4; i++ {
		if labels[i] != "*" {
			return " such as 10.0.0.0/8"
		}
	}
	return fmt.Sprintf(" such as %s", netip.PrefixFrom(netip.AddrFrom4(b), 8*n))
}

// numericLabel reports whether resolvers would read a last label as part
// of an IPv4 address: decimal, octal or 0x hexadecimal digits.
func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	digits, hex := l, false
	if strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0X") {
		digits, hex = l[2:], true
	}
	for _, c := range digits {
		switch {
		case c >= '0' && c <= '9':
		case hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// checkHostPattern validates one allowed_hosts entry.
func checkHostPattern(p string) error {
	_, err := normalPattern(p)
	return err
}

// hostAllowed reports whether host, as url.URL.Hostname gives it, is in
// normal form and matches one of patterns: an IP literal by address
// against the IP and CIDR entries, a name label by label against the name
// patterns, where "*" stands for exactly one DNS label: "*.vendor.example"
// matches "acme.vendor.example", not "vendor.example" or "a.b.vendor.example". Entries
// are judged by today's rules, so one stored before them that they refuse
// matches nothing.
func hostAllowed(patterns []string, host string) bool {
	name, addr, err := normalHost(host)
	if err != nil {
		return false
	}
	hl := strings.Split(name, ".")
	for _, raw := range patterns {
		p, err := normalPattern(raw)
		if err != nil {
			continue
		}
		pr, perr := netip.ParsePrefix(p)
		a, aerr := netip.ParseAddr(p)
		switch {
		case addr.IsValid():
			if (perr == nil && pr.Contains(addr)) || (aerr == nil && a == addr) {
				return true
			}
			continue
		case perr == nil || aerr == nil:
			continue
		}
		pl := strings.Split(p, ".")
		if len(pl) != len(hl) {
			continue
		}
		ok := true
		for i := range pl {
			if pl[i] != "*" && pl[i] != hl[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
