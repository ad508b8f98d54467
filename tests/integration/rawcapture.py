#!/usr/bin/python3
"""
Capture one frame, or send one back as it was, for the replay tests:
`ip netns exec NS /usr/bin/python3 rawcapture.py ARGS` (ARGS: one JSON
object); it must never run in the root namespace.

{"capture": IFACE, "src_ip": A, "dst_port": P, "op": N, "contains": HEX,
 "timeout": S}: print {"frame": HEX} of the first IPv4 UDP frame seen on
IFACE from A to UDP port P whose payload opens with a catena message of
opcode N and contains the bytes HEX; {"frame": null} if none came within S
seconds. Prints {"ready": true} first, once the socket listens.

{"send": IFACE, "frame": HEX}: send those bytes as one frame on IFACE;
prints {"sent": 1}.
"""

import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def matches(f, a):
    if len(f) < 14 + 20 + 8 + 40 or f[12:14] != b"\x08\x00":
        return False
    ihl = (f[14] & 15) * 4
    if f[14 + 9] != 17 or socket.inet_ntoa(f[26:30]) != a["src_ip"]:
        return False
    udp = 14 + ihl
    if struct.unpack("!H", f[udp + 2:udp + 4])[0] != a["dst_port"]:
        return False
    payload = f[udp + 8:]
    return payload[3] == a["op"] and bytes.fromhex(a["contains"]) in payload


def capture(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a["capture"], 0))
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + a.get("timeout", 10)
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        f, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if matches(f, a):
            print(json.dumps({"frame": f.hex()}), flush=True)
            return
    print(json.dumps({"frame": None}), flush=True)


def send(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a["send"], 0))
    s.send(bytes.fromhex(a["frame"]))
    print(json.dumps({"sent": 1}))


def main():
    a = json.loads(sys.argv[1])
    if "capture" in a:
        capture(a)
    else:
        send(a)


if __name__ == "__main__":
    main()
