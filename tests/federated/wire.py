"""What crosses the wire from the sites: a TCP relay the sites dial instead of the
SuperLink (FederationCreate.site_address), keeping every byte they send, and a reader
that takes those bytes apart with Flower's own classes: HTTP requests, the protobuf
bodies of the Fleet API, the objects they push, and the records those objects make."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Relay:
    """127.0.0.1:port -> target; `uploads` holds what each connection sent upstream."""

    target: tuple[str, int]
    uploads: list[bytearray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:  # the SuperLink is not up yet: the site retries
                client.close()
                continue
            sent = bytearray()
            with self.lock:
                self.uploads.append(sent)
            threading.Thread(target=self._pipe, args=(client, upstream, sent), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, source: socket.socket, dest: socket.socket, keep: bytearray | None) -> None:
        try:
            while data := source.recv(65536):
                if keep is not None:
                    with self.lock:
                        keep.extend(data)
                dest.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, dest):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()

    def requests(self) -> list[tuple[str, bytes]]:
        """Every HTTP request the sites sent: (path, body)."""
        with self.lock:
            streams = [bytes(s) for s in self.uploads]
        found = []
        for stream in streams:
            found += http_requests(stream)
        return found


def http_requests(stream: bytes) -> list[tuple[str, bytes]]:
    """HTTP/1.1 requests one after another on a connection (bodies by Content-Length)."""
    found, at = [], 0
    while (end := stream.find(b"\r\n\r\n", at)) >= 0:
        head = stream[at:end].decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        assert "chunked" not in headers.get("transfer-encoding", ""), headers
        length = int(headers.get("content-length", "0"))
        if end + 4 + length > len(stream):
            break  # still on its way when the relay was read
        found.append((head[0].split()[1], stream[end + 4 : end + 4 + length]))
        at = end + 4 + length
    return found


def pushed_objects(requests: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Every object the sites pushed (Fleet PushObject), by id; each id is checked to be
    the SHA-256 of its content, so nothing rides along unaccounted."""
    from flwr.proto.message_pb2 import PushObjectRequest

    found = {}
    for path, body in requests:
        if path.endswith("/push-object"):
            request = PushObjectRequest.FromString(body)
            assert hashlib.sha256(request.object_content).hexdigest() == request.object_id
            found[request.object_id] = request.object_content
    return found
