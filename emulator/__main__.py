"""Runs the emulator:

    /usr/bin/python3 -m emulator --fixtures F --glance URL [--port 0] [--port-file P]
                                 [--endpoints-file E] [--obs-port 0] [--obs-file O]
                                 [--pid-file Q] [--log L] [--verbose]

Binds 127.0.0.1:PORT (0 = a free port) for the fixtures' first region, a free port for each
other region and OBS-PORT for OBS (emulator/obs.py), then writes {region: URL} to E, the OBS
URL to O, the first port to P and its pid to Q (each atomically) and serves until SIGTERM or
SIGINT, after which it removes the files."""

import json

import argparse
import logging
import os
import signal
import sys
import threading

from .auth import Authenticator
from .fixtures import FixtureError, Fixtures
from .server import Emulator, Server


def write_atomically(path, text):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m emulator", description="IMS emulator on Glance")
    p.add_argument("--fixtures", required=True, help="fixtures JSON file")
    p.add_argument("--glance", required=True, help="Glance URL, e.g. http://127.0.0.1:9292")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument("--port-file", help="write the bound port here")
    p.add_argument("--endpoints-file", help="write {region: URL} here (JSON)")
    p.add_argument("--obs-port", type=int, default=0, help="OBS port on 127.0.0.1 (0: any)")
    p.add_argument("--obs-file", help="write the OBS endpoint URL here")
    p.add_argument("--pid-file", help="write the process id here")
    p.add_argument("--log", help="log file (default: stderr)")
    p.add_argument("--verbose", action="store_true", help="log at debug level")
    args = p.parse_args(argv)

    logging.basicConfig(filename=args.log, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(threadName)s %(message)s")
    try:
        fixtures = Fixtures(args.fixtures)
    except FixtureError as e:
        print("emulator: %s" % e, file=sys.stderr)
        return 2
    auth = Authenticator(fixtures.raw)
    app = Emulator(fixtures, auth, args.glance)
    servers = [Server(app, args.port if i == 0 else 0, region)
               for i, region in enumerate(fixtures.regions)]
    server = servers[0]
    port = server.server_address[1]
    app.urls = auth.urls = {s.region: "http://127.0.0.1:%d" % s.server_address[1] for s in servers}
    app.public_url = auth.public_url = app.urls[server.region]
    obs = Server(app, args.obs_port, kind="obs")
    app.obs_url = "http://127.0.0.1:%d" % obs.server_address[1]

    written = []
    for path, text in ((args.pid_file, "%d\n" % os.getpid()), (args.port_file, "%d\n" % port),
                       (args.endpoints_file, json.dumps(app.urls)),
                       (args.obs_file, app.obs_url + "\n")):
        if path:
            write_atomically(path, text)
            written.append(path)
    for other in servers[1:]:
        threading.Thread(target=other.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name="region-" + other.region).start()
    threading.Thread(target=obs.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                     name="obs").start()
    servers.append(obs)

    def stop(signum, _frame):
        logging.getLogger("emulator").info("signal %d: shutting down", signum)
        # shutdown() waits for serve_forever to return: not from the thread running it
        for s in servers:
            threading.Thread(target=s.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("emulator").info("serving %s, OBS %s (Glance %s)", app.urls, app.obs_url,
                                       args.glance)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        app.jobs.stop()
        for s in servers:
            s.server_close()
        for path in written:
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
