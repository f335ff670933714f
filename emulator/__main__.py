"""Runs the emulator:

    /usr/bin/python3 -m emulator --fixtures F --glance URL [--port 0] [--port-file P]
                                 [--pid-file Q] [--log L] [--verbose]

Binds 127.0.0.1:PORT (0 = a free port), then writes the port to P and its pid to Q (each
atomically) and serves until SIGTERM or SIGINT, after which it removes both files."""

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
    server = Server(app, args.port)
    port = server.server_address[1]
    app.public_url = auth.public_url = "http://127.0.0.1:%d" % port

    written = []
    for path, text in ((args.pid_file, "%d\n" % os.getpid()), (args.port_file, "%d\n" % port)):
        if path:
            write_atomically(path, text)
            written.append(path)

    def stop(signum, _frame):
        logging.getLogger("emulator").info("signal %d: shutting down", signum)
        # shutdown() waits for serve_forever to return: not from the thread running it
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("emulator").info("serving %s (Glance %s)", app.public_url, args.glance)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        app.jobs.stop()
        server.server_close()
        for path in written:
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
