#!/usr/bin/python3
"""End-to-end tests of tools/grpcurl/grpcurl against the real quote-api and a throwaway Postgres.

Run: /usr/bin/python3 tools/grpcurl/test_grpcurl.py   (or /usr/bin/python3 -m unittest from tools/grpcurl);
ctest runs it as grpcurl_client_test.
The quote-api binary is taken from $QUOTE_API, else the first build*/api/quote-api under the repo; the server
tests are skipped when there is none. Debian bookworm has no grpcio-reflection, so there is no pure-Python
reflection server to test against: the real server is the reference.
"""

import glob
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import uuid

import grpc

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# $GRPCURL: the real grpcurl (ctest grpcurl_real_test runs this file with it, so that the stand-in and
# grpcurl 1.9.3 pass the same walkthrough); default: the stand-in beside this file.
GRPCURL = os.environ.get("GRPCURL") or os.path.join(HERE, "grpcurl")
REAL = os.path.realpath(GRPCURL) != os.path.realpath(os.path.join(HERE, "grpcurl"))
stand_in_only = unittest.skipIf(REAL, "the stand-in's own argument checks and internals")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grpcurl(*args, stdin=None):
    return subprocess.run([GRPCURL, *args], input=stdin, capture_output=True, text=True, timeout=60)


class Postgres:
    """initdb + pg_ctl in a temp dir; as root, the cluster runs as `postgres` (initdb refuses root)."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise unittest.SkipTest("PostgreSQL server binaries not installed")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="grpcurl-test-pg-")
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self._run("initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "quoteflow")
        self._run("pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "start",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1")
        self.url = f"postgresql://quoteflow@127.0.0.1:{self.port}/postgres"

    def _run(self, tool, *args):
        subprocess.run([*self.as_user, f"{self.bin}/{tool}", *args], check=True, capture_output=True, timeout=120)

    def stop(self):
        self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def find_quote_api():
    candidates = [os.environ.get("QUOTE_API", "")] + sorted(glob.glob(f"{REPO}/build*/api/quote-api"))
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


class OfflineTest(unittest.TestCase):
    @stand_in_only
    def test_conflicting_tls_flags_are_usage_errors(self):
        r = grpcurl("-plaintext", "-cacert", "ca.pem", "127.0.0.1:1", "list")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-plaintext cannot be combined", r.stderr)
        r = grpcurl("-cert", "client.pem", "127.0.0.1:1", "list")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-cert and -key go together", r.stderr)

    def test_unreadable_ca_file(self):
        r = grpcurl("-cacert", "/nonexistent/ca.pem", f"127.0.0.1:{free_port()}", "list")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, "cannot read /nonexistent/ca.pem|could not read ca certificate")

    def test_connection_refused_fails_fast(self):
        r = grpcurl("-plaintext", f"127.0.0.1:{free_port()}", "list")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Failed to dial target host", r.stderr)


class StatusDetailsTest(unittest.TestCase):
    """Details must print even when reflection cannot describe their types."""

    @stand_in_only
    def test_fallbacks(self):
        loader = importlib.machinery.SourceFileLoader("grpcurl_cli", GRPCURL)  # the script has no .py suffix
        cli = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
        loader.exec_module(cli)

        class NoReflection:
            def message_class(self, descriptor):
                raise AssertionError("unreachable")

            def find_symbol(self, name):
                raise cli.ReflectionError("Symbol not found: " + name)

        bad = cli.BadRequest()
        bad.field_violations.add(field="premium", description="must be > 0")
        status = cli.Status(code=3, message="m")
        status.details.add().Pack(bad)
        status.details.add(type_url="type.googleapis.com/x.Unknown", value=b"\x08\x01")
        first, second = (json.loads(cli.detail_json(d, NoReflection())) for d in status.details)
        self.assertEqual(first, {"@type": "type.googleapis.com/google.rpc.BadRequest",
                                 "field_violations": [{"field": "premium", "description": "must be > 0"}]})
        self.assertEqual(second["@value"], "CAE=")
        self.assertIn("not recognized", second["@error"])


class QuoteApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        binary = find_quote_api()
        if binary is None:
            raise unittest.SkipTest("no quote-api binary (set $QUOTE_API or build target quote-api)")
        cls.pg = Postgres()
        cls.addr = f"127.0.0.1:{free_port()}"
        cls.log = tempfile.TemporaryFile()
        cls.server = subprocess.Popen([binary, f"--database-url={cls.pg.url}", "--migrate=true",
                                       f"--grpc-address={cls.addr}"], stdout=cls.log, stderr=cls.log)
        try:
            with grpc.insecure_channel(cls.addr) as ch:
                grpc.channel_ready_future(ch).result(timeout=30)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.pg.stop()
        cls.log.close()

    def call(self, method, data=None, *flags):
        args = ["-plaintext", *flags] + (["-d", json.dumps(data)] if data is not None else [])
        return grpcurl(*args, self.addr, method)

    def ok_json(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_list(self):
        r = grpcurl("-plaintext", self.addr, "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), sorted(r.stdout.split()))
        self.assertIn("quoteflow.v1.QuoteService", r.stdout.split())
        self.assertIn("grpc.health.v1.Health", r.stdout.split())

    def test_list_methods(self):
        r = grpcurl("-plaintext", self.addr, "list", "quoteflow.v1.QuoteService")
        self.assertEqual(r.stdout.split(), ["quoteflow.v1.QuoteService.ApproveQuote",
                                            "quoteflow.v1.QuoteService.CreateQuote",
                                            "quoteflow.v1.QuoteService.GetQuote"])

    def test_describe(self):
        r = grpcurl("-plaintext", self.addr, "describe", "quoteflow.v1.QuoteService")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rpc CreateQuote ( .quoteflow.v1.CreateQuoteRequest ) returns ( .quoteflow.v1.Quote );",
                      r.stdout)
        r = grpcurl("-plaintext", self.addr, "describe", "quoteflow.v1.Quote")
        self.assertIn("int64 premium = 3;", r.stdout)
        self.assertIn(".google.protobuf.Timestamp created_at = 7;", r.stdout)
        r = grpcurl("-plaintext", self.addr, "describe", "grpc.health.v1.Health")
        self.assertIn("returns ( stream .grpc.health.v1.HealthCheckResponse );", r.stdout)

    def test_quote_lifecycle(self):
        customer = str(uuid.uuid4())
        quote = self.ok_json(self.call("quoteflow.v1.QuoteService/CreateQuote",
                                       {"customer_id": customer, "premium": 1200, "request_id": "c1-" + customer}))
        self.assertEqual(quote["customer_id"], customer)
        self.assertEqual(quote["premium"], "1200")  # int64 is a JSON string, as with grpcurl
        # lowerCamel input, the dotted method form and -d @ (stdin) all work too.
        body = json.dumps({"quoteId": quote["quote_id"], "requestId": "a1-" + customer, "expectedVersion": 1})
        r = grpcurl("-plaintext", "-H", "x-trace: test", "-d", "@", self.addr,
                    "quoteflow.v1.QuoteService.ApproveQuote", stdin=body)
        approved = self.ok_json(r)
        self.assertEqual(approved["quote"]["status"], "QUOTE_STATUS_APPROVED")
        self.assertTrue(approved["event_id"])
        got = self.ok_json(self.call("quoteflow.v1.QuoteService/GetQuote", {"quote_id": quote["quote_id"]}))
        self.assertEqual(got["version"], "2")

    def test_invalid_argument_prints_bad_request_details(self):
        r = self.call("quoteflow.v1.QuoteService/CreateQuote",
                      {"customer_id": str(uuid.uuid4()), "premium": 0, "request_id": "r"})
        self.assertEqual(r.returncode, 64 + 3, r.stderr)
        self.assertTrue(r.stderr.startswith("ERROR:\n  Code: InvalidArgument\n  Message: "), r.stderr)
        self.assertIn("  Details:\n  1)\t{\n", r.stderr)
        self.assertIn('"@type": "type.googleapis.com/google.rpc.BadRequest"', r.stderr)
        self.assertIn('"field": "premium"', r.stderr)

    def test_not_found_exit_code(self):
        r = self.call("quoteflow.v1.QuoteService/GetQuote", {"quote_id": str(uuid.uuid4())})
        self.assertEqual(r.returncode, 64 + 5, r.stderr)
        self.assertIn("Code: NotFound", r.stderr)

    def test_bad_request_json(self):
        for data in ("{not json", '{"no_such_field": 1}', '{"premium": "abc"}'):
            r = grpcurl("-plaintext", "-d", data, self.addr, "quoteflow.v1.QuoteService/CreateQuote")
            self.assertEqual(r.returncode, 1, data)
            self.assertIn("error getting request data", r.stderr)

    def test_unknown_method(self):
        r = self.call("quoteflow.v1.QuoteService/Nope")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, 'no method named "Nope"|does not include a method named "Nope"')

    def test_health(self):
        self.assertEqual(self.ok_json(self.call("grpc.health.v1.Health/Check")), {"status": "SERVING"})
        # Watch streams until the deadline: the first message is printed, then DeadlineExceeded (64 + 4).
        r = self.call("grpc.health.v1.Health/Watch", {"service": "quoteflow.v1.QuoteService"}, "-max-time", "1")
        self.assertEqual(r.returncode, 64 + 4, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"status": "SERVING"})
        self.assertIn("Code: DeadlineExceeded", r.stderr)


class TlsTest(unittest.TestCase):
    """quote-api with TLS and mutual TLS (certificates from scripts/make-dev-certs.sh)."""

    @classmethod
    def setUpClass(cls):
        binary = find_quote_api()
        if binary is None:
            raise unittest.SkipTest("no quote-api binary (set $QUOTE_API or build target quote-api)")
        cls.certs = tempfile.mkdtemp(prefix="grpcurl-test-certs-")
        subprocess.run(["bash", f"{REPO}/scripts/make-dev-certs.sh", cls.certs], check=True,
                       capture_output=True, timeout=120)
        cls.pg = Postgres()
        cls.servers, cls.logs = [], []
        cls.tls, cls.mtls = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        tls = [f"--tls-cert-file={cls.certs}/server.pem", f"--tls-key-file={cls.certs}/server.key"]
        for addr, extra in ((cls.tls, []), (cls.mtls, [f"--tls-client-ca-file={cls.certs}/ca.pem"])):
            log = tempfile.TemporaryFile()
            cls.logs.append(log)
            cls.servers.append(subprocess.Popen(
                [binary, f"--database-url={cls.pg.url}", "--migrate=true", f"--grpc-address={addr}",
                 *tls, *extra], stdout=log, stderr=log))
        try:
            pem = lambda name: pathlib.Path(cls.certs, name).read_bytes()  # noqa: E731
            creds = grpc.ssl_channel_credentials(pem("ca.pem"), pem("client.key"), pem("client.pem"))
            for addr in (cls.tls, cls.mtls):
                with grpc.secure_channel(addr, creds) as ch:
                    grpc.channel_ready_future(ch).result(timeout=30)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.terminate()
            server.wait(timeout=30)
        cls.pg.stop()
        for log in cls.logs:
            log.close()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def health(self, addr, *flags):
        return grpcurl(*flags, addr, "grpc.health.v1.Health/Check")

    def test_tls_with_the_ca(self):
        r = self.health(self.tls, "-cacert", f"{self.certs}/ca.pem")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"status": "SERVING"})
        r = grpcurl("-cacert", f"{self.certs}/ca.pem", self.tls, "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("quoteflow.v1.QuoteService", r.stdout.split())

    def test_tls_refuses_plaintext_and_an_unknown_ca(self):
        self.assertEqual(self.health(self.tls, "-plaintext").returncode, 1)
        self.assertEqual(self.health(self.tls).returncode, 1)  # system roots do not know the dev CA

    def test_mutual_tls_needs_the_client_certificate(self):
        ca = ["-cacert", f"{self.certs}/ca.pem"]
        self.assertEqual(self.health(self.mtls, *ca).returncode, 1)
        r = self.health(self.mtls, *ca, "-cert", f"{self.certs}/client.pem", "-key", f"{self.certs}/client.key")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"status": "SERVING"})


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
