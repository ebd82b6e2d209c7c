"""http_keepalive_load.py PORT N C: N keep-alive `GET /hello` requests over
C connections, one request per connection at a time, round robin; checks
every answer ends with the hello body. A fixed amount of work, for
instruction counts (callgrind_http.sh), not for timing."""

import socket
import sys


def main():
    port, n, c = (int(a) for a in sys.argv[1:4])
    request = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30)
             for _ in range(c)]
    for _ in range(n // c):
        for s in conns:
            s.sendall(request)
        for s in conns:
            answer = b""
            while not answer.endswith(b"Hello, World!\n"):
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit("the server closed a connection")
                answer += chunk
            if not answer.startswith(b"HTTP/1.1 200 "):
                sys.exit("unexpected answer: %r" % answer[:80])
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
