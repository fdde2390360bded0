// wgctrl-read IFNAME: prints, as JSON, the WireGuard device IFNAME as the
// wgctrl-go client library parses it (kernel netlink or the userspace UAPI
// socket in /var/run/wireguard). The netns tests use it to check that a
// device with wgd's UAPI extensions set stays readable by wgctrl-go
// clients. Any error exits non-zero.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

type peerOut struct {
	PublicKey         string   `json:"public_key"`
	Endpoint          string   `json:"endpoint"`
	AllowedIPs        []string `json:"allowed_ips"`
	LastHandshakeUnix int64    `json:"last_handshake_unix"`
	RxBytes           int64    `json:"rx_bytes"`
	TxBytes           int64    `json:"tx_bytes"`
	KeepaliveSeconds  int      `json:"persistent_keepalive_seconds"`
}

type deviceOut struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	PublicKey    string    `json:"public_key"`
	ListenPort   int       `json:"listen_port"`
	FirewallMark int       `json:"fwmark"`
	Peers        []peerOut `json:"peers"`
}

// lastHandshake: 0 for "never" (wgctrl gives the zero time.Time).
func lastHandshake(p wgtypes.Peer) int64 {
	if p.LastHandshakeTime.IsZero() {
		return 0
	}
	return p.LastHandshakeTime.Unix()
}

func convert(d *wgtypes.Device) deviceOut {
	out := deviceOut{
		Name:         d.Name,
		Type:         d.Type.String(),
		PublicKey:    d.PublicKey.String(),
		ListenPort:   d.ListenPort,
		FirewallMark: d.FirewallMark,
		Peers:        []peerOut{},
	}
	for _, p := range d.Peers {
		po := peerOut{
			PublicKey:         p.PublicKey.String(),
			AllowedIPs:        []string{},
			LastHandshakeUnix: lastHandshake(p),
			RxBytes:           p.ReceiveBytes,
			TxBytes:           p.TransmitBytes,
			KeepaliveSeconds:  int(p.PersistentKeepaliveInterval.Seconds()),
		}
		if p.Endpoint != nil {
			po.Endpoint = p.Endpoint.String()
		}
		for _, n := range p.AllowedIPs {
			po.AllowedIPs = append(po.AllowedIPs, n.String())
		}
		out.Peers = append(out.Peers, po)
	}
	return out
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wgctrl-read IFNAME")
		os.Exit(2)
	}
	c, err := wgctrl.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wgctrl-read: wgctrl.New:", err)
		os.Exit(1)
	}
	defer c.Close()
	d, err := c.Device(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "wgctrl-read: device %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(convert(d)); err != nil {
		fmt.Fprintln(os.Stderr, "wgctrl-read: encode:", err)
		os.Exit(1)
	}
}
