#!/usr/bin/python3
"""
Send hand-made Ethernet frames from inside a client namespace, for the
tests a kernel UDP socket cannot express: a wrong or zero UDP checksum, a
broadcast destination MAC, a datagram split into IP fragments. Runs as
`ip netns exec NS /usr/bin/python3 rawframe.py ARGS` (ARGS: one JSON
object); it must never run in the root namespace. Prints {"sent": N}.

ARGS: iface, src_mac, dst_mac, src_ip, dst_ip, src_port, dst_port,
payload (hex), cksum ("ok" | "bad" | "zero"), frag (0: one datagram; N:
IP fragments carrying N bytes of the UDP datagram each, a multiple of 8).
"""

import json
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ip4(a):
    return socket.inet_aton(a)


def mac(m):
    return bytes(int(x, 16) for x in m.split(":"))


def udp_datagram(a):
    payload = bytes.fromhex(a["payload"])
    ulen = 8 + len(payload)
    hdr = struct.pack("!HHHH", a["src_port"], a["dst_port"], ulen, 0)
    pseudo = ip4(a["src_ip"]) + ip4(a["dst_ip"]) + struct.pack("!BBH", 0, 17, ulen)
    ck = (~csum(pseudo + hdr + payload)) & 0xFFFF or 0xFFFF
    if a.get("cksum") == "zero":
        ck = 0
    elif a.get("cksum") == "bad":
        ck ^= 0x0101
    return struct.pack("!HHHH", a["src_port"], a["dst_port"], ulen, ck) + payload


def ip_packet(a, body, ident, off, more):
    flags = (0x2000 if more else 0) | (off // 8)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, flags,
                    64, 17, 0, ip4(a["src_ip"]), ip4(a["dst_ip"]))
    h = h[:10] + struct.pack("!H", (~csum(h)) & 0xFFFF) + h[12:]
    return h + body


def main():
    a = json.loads(sys.argv[1])
    dgram = udp_datagram(a)
    eth = mac(a["dst_mac"]) + mac(a["src_mac"]) + b"\x08\x00"
    frag = a.get("frag", 0)
    if frag:
        pieces = [(o, dgram[o:o + frag]) for o in range(0, len(dgram), frag)]
    else:
        pieces = [(0, dgram)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a["iface"], 0))
    for i, (off, body) in enumerate(pieces):
        more = bool(frag) and i + 1 < len(pieces)
        s.send(eth + ip_packet(a, body, 0x4321, off, more) if frag else
               eth + ip_packet(a, body, 0x4321, 0, False))
    print(json.dumps({"sent": len(pieces)}))


if __name__ == "__main__":
    main()
