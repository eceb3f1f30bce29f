"""Find the addresses other devices in the room can reach this machine at, and draw one as a QR code."""

import io
import ipaddress
import socket

import psutil
import segno

# Interfaces of containers and virtual machines: no phone in the room can reach them.
VIRTUAL_PREFIXES = ("docker", "br-", "veth", "virbr", "lxc", "cni", "flannel", "vboxnet", "vmnet", "tailscale")


def room_addresses() -> list[str]:
    """Return this machine's IPv4 addresses a phone on the same network may use, private ones first."""
    found = set()
    for name, entries in psutil.net_if_addrs().items():
        if name.startswith(VIRTUAL_PREFIXES):
            continue
        for entry in entries:
            if entry.family == socket.AF_INET:
                address = ipaddress.ip_address(entry.address)
                if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                    found.add(address)
    # A Wi-Fi network hands out private addresses; a public one is listed after them.
    return [str(a) for a in sorted(found, key=lambda a: (not a.is_private, a))]


def url(host: str, port: int, path: str = "/") -> str:
    """Return the http URL of host:port, with an IPv6 host in brackets."""
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


def qr_code(text: str) -> str:
    """Return a QR code of the text drawn with block characters, two rows of modules per line."""
    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()
