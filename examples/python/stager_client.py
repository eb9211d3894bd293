#!/usr/bin/env python3
"""A stager in Python: archives files, waits until they are on tape, recalls
them and compares the bytes, speaking proto/stager.proto over ZMQ to a
running tapeserverd. Its protobuf classes are generated from proto/ at run
time (grpcio-tools' protoc), so it agrees with the .proto files, not with
tapeserver's Rust code.

    pip install pyzmq protobuf grpcio-tools
    examples/python/stager_client.py ENDPOINT FILE... --recall-dir DIR

ENDPOINT is the daemon's stager endpoint (ipc://RUN_DIR/stager.sock, or
tcp://HOST:PORT). Exit 0 when every file came back identical.
"""

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time

import zmq

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")


def generated_modules():
    """Runs protoc on proto/ into a temporary directory and imports the result."""
    out = tempfile.mkdtemp(prefix="tapeserver-proto-")
    protos = [p for p in os.listdir(PROTO_DIR) if p.endswith(".proto")]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out}"]
        + protos,
        check=True,
    )
    sys.path.insert(0, out)
    return importlib.import_module("stager_pb2"), importlib.import_module("errors_pb2")


class Stager:
    def __init__(self, endpoint, timeout_ms=10000):
        self.stager_pb2, self.errors_pb2 = generated_modules()
        self.ctx = zmq.Context()
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.next_id = 1

    def call(self, **kind):
        pb = self.stager_pb2
        request = pb.StagerRequest(request_id=self.next_id, **kind)
        self.next_id += 1
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        sock.connect(self.endpoint)
        try:
            sock.send(request.SerializeToString())
            reply = pb.StagerReply.FromString(sock.recv())
        finally:
            sock.close()
        if reply.request_id != request.request_id:
            raise RuntimeError(f"reply to request {reply.request_id}, not {request.request_id}")
        which = reply.WhichOneof("kind")
        if which == "error":
            code = self.errors_pb2.ErrorCode.Name(reply.error.code)
            raise RuntimeError(f"{code}: {reply.error.message}")
        return getattr(reply, which)

    def archive(self, paths):
        reply = self.call(archive=self.stager_pb2.ArchiveRequest(paths=paths))
        return [(f.file_id, f.path) for f in reply.files]

    def status(self, ids):
        return self.call(status=self.stager_pb2.StatusRequest(file_ids=ids)).files

    def recall(self, file_id, destination):
        reply = self.call(
            recall=self.stager_pb2.RecallRequest(file_id=file_id, destination=destination)
        )
        return reply.recall_id

    def recalls(self, ids):
        return self.call(recall_status=self.stager_pb2.RecallStatusRequest(recall_ids=ids)).recalls


def wait(what, done, limit=120):
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--recall-dir", required=True)
    args = parser.parse_args()

    stager = Stager(args.endpoint)
    pb = stager.stager_pb2
    files = stager.archive([os.path.abspath(f) for f in args.files])
    ids = [i for i, _ in files]
    print(f"queued {len(ids)} files: {ids}")
    on_tape = pb.FileState.Value("FILE_STATE_ON_TAPE")
    wait("the files on tape", lambda: all(f.state == on_tape for f in stager.status(ids)))
    for f in stager.status(ids):
        print(f"file {f.id} on tape {f.vid} fseq {f.fseq}")

    recalls = {}
    for file_id, path in files:
        dest = os.path.join(os.path.abspath(args.recall_dir), f"{file_id}")
        recalls[stager.recall(file_id, dest)] = (path, dest)
    done = pb.RecallState.Value("RECALL_STATE_DONE")
    failed = pb.RecallState.Value("RECALL_STATE_FAILED")

    def ended():
        states = stager.recalls(list(recalls))
        if any(r.state == failed for r in states):
            raise RuntimeError(f"a recall failed: {[r.error for r in states if r.error]}")
        return all(r.state == done for r in states)

    wait("the recalls", ended)
    for path, dest in recalls.values():
        with open(path, "rb") as a, open(dest, "rb") as b:
            if a.read() != b.read():
                print(f"{dest} differs from {path}")
                return 1
    print(f"recalled {len(recalls)} files byte-exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
