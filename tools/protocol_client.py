#!/usr/bin/env python3
"""A ringwire client written from the protocol alone (DESIGN §1): 4-byte big-endian length, then
the payload. Sends frames of random sizes in random splits, pipelined, and checks every reply in
order. Usage: protocol_client.py PORT [FRAMES] [MAX_SIZE]   Exit 0 when every reply matched."""
import os, random, socket, struct, sys, threading, time

def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"server closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)

def main():
    port = int(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    max_size = int(sys.argv[3]) if len(sys.argv) > 3 else 70000
    payloads = [os.urandom(random.randint(0, max_size)) for _ in range(count)]
    stream = b"".join(struct.pack(">I", len(p)) + p for p in payloads)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    def send_in_random_splits():  # any split, header splits included; all pipelined
        i = 0
        while i < len(stream):
            n = random.randint(1, 9000)
            sock.sendall(stream[i:i + n])
            i += n
    start = time.monotonic()
    writer = threading.Thread(target=send_in_random_splits)
    writer.start()
    for i, p in enumerate(payloads):
        (length,) = struct.unpack(">I", recv_exact(sock, 4))
        if length != len(p) or recv_exact(sock, length) != p:
            sys.exit(f"reply {i} differs from frame {i}")
    writer.join()
    seconds = time.monotonic() - start
    print(f"{count} frames ({len(stream)} bytes) echoed in order in {seconds:.2f} s "
          f"({count / seconds:.0f} frames/s, {len(stream) / seconds / 1e6:.1f} MB/s each way)")

if __name__ == "__main__":
    main()
