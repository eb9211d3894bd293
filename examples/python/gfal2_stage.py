#!/usr/bin/python3
"""Stages files from tapegw through gfal2 (Debian's python3-gfal2 with its
HTTP plugin), a WLCG Tape REST API client no one here wrote, and prints
what gfal2 reported as one JSON object.

Usage: gfal2_stage.py stage BASE TOKEN READ_ONLY_TOKEN PATH...
       gfal2_stage.py abort BASE TOKEN PATH
  BASE is https://HOST:PORT; the CA must be in $X509_CERT_DIR.
abort: bring_online of PATH, abort_bring_online, then the poll's error
(keys "aborted", "poll").
stage, steps (each a key of the output):
  status_before  user.status (archive info) of each path
  single         bring_online of the first path, polled until online
  list           bring_online of the others as one request, polled
  status_after   user.status of each path
  archive_poll   archive_poll of the first path (1: on tape)
  release        release of the first path
  unknown        the error of staging a path nobody archived
  no_scope       the error of staging with a token without storage.stage
"""

import json
import sys
import time

import gfal2

mode, base, token = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}


def context(bearer):
    ctx = gfal2.creat_context()
    ctx.cred_set(base + "/", ctx.cred_new("BEARER", bearer))
    return ctx


def poll_until_online(ctx, urls, request):
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(urls) == 1:
            if ctx.bring_online_poll(urls[0], request) == 1:
                return True
        else:
            errors = ctx.bring_online_poll(urls, request)
            if all(e is None for e in errors):
                return True
            hard = [e for e in errors if e is not None and e.code != 11]  # EAGAIN
            if hard:
                raise RuntimeError("; ".join(e.message for e in hard))
        time.sleep(0.1)
    return False


ctx = context(token)
if mode == "abort":
    url = base + sys.argv[4]
    _, request = ctx.bring_online(url, 3600, 60, True)
    out["aborted"] = ctx.abort_bring_online(url, request)
    try:
        out["poll"] = ctx.bring_online_poll(url, request)
    except gfal2.GError as e:
        out["poll"] = e.message
    print(json.dumps(out))
    sys.exit(0)

read_only, paths = sys.argv[4], sys.argv[5:]
urls = [base + p for p in paths]
out["status_before"] = [ctx.getxattr(u, "user.status") for u in urls]
status, request = ctx.bring_online(urls[0], 3600, 60, True)
out["single"] = {"queued": status, "online": poll_until_online(ctx, urls[:1], request)}
first_request = request
_, request = ctx.bring_online(urls[1:], 3600, 60, True)
out["list"] = {"online": poll_until_online(ctx, urls[1:], request)}
out["status_after"] = [ctx.getxattr(u, "user.status") for u in urls]
out["archive_poll"] = ctx.archive_poll(urls[0])
out["release"] = ctx.release(urls[0], first_request)

unknown = base + "/no/such/file"
try:
    _, request = ctx.bring_online(unknown, 3600, 60, True)
    poll_until_online(ctx, [unknown], request)
    out["unknown"] = None
except gfal2.GError as e:
    out["unknown"] = e.message

try:
    context(read_only).bring_online(urls[0], 3600, 60, True)
    out["no_scope"] = None
except gfal2.GError as e:
    out["no_scope"] = e.message

print(json.dumps(out))
