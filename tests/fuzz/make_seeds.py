#!/usr/bin/env python3
"""Writes the small seed corpora of tests/fuzz/corpus/<target>/seed-* (run from anywhere).

Seeds are hand-built inputs that reach each entry point's interesting paths; libFuzzer grows its
own corpus from them in the build directory. Crash reproducers (regress-*) are kept beside the
seeds and are not touched by this script.
"""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# request_validation: ops 0 create, 1 approve, 2 get (see request_fuzzers.cc ByteReader format).
def s(text, selector=100):  # a string field: selector byte, length byte, bytes
    b = text.encode() if isinstance(text, str) else text
    return bytes([selector, len(b)]) + b


def known(i=0):  # an id that exists
    return bytes([i])


def i64(v):  # Int64(): selector 5 then 8 little-endian bytes
    return bytes([5]) + struct.pack("<q", v)


create_ok = bytes([0]) + s("cust-1") + i64(1200) + bytes([0])
write("request_validation", "create", create_ok)
write("request_validation", "create-approve-get",
      create_ok + bytes([1]) + known() + bytes([1]) + s("req-1") + bytes([0]) +
      bytes([1]) + known() + bytes([1]) + s("req-1") + bytes([0]) + bytes([2]) + known())
write("request_validation", "bad-fields",
      bytes([0]) + s("", 200) + bytes([3]) + bytes([1]) + s("bad id!", 200) +
      bytes([0]) + s("x" * 129) + bytes([4, 0]) +
      bytes([1]) + s("' OR 1=1; --", 200) + bytes([0]) + bytes([3]))
write("request_validation", "version-conflict",
      create_ok + bytes([1]) + known() + bytes([0]) + i64(7) +
      bytes([1]) + known() + bytes([0]) + bytes([1]) + bytes([1]) + known() + bytes([0, 0]))
write("request_validation", "create-replay",
      bytes([0]) + s("c1") + i64(5) + bytes([1]) + s("r1") +
      bytes([0]) + s("c2") + i64(6) + bytes([1]) + s("r1"))


# grpc_requests: selector byte then a serialized request.
def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fstr(n, b):
    b = b.encode() if isinstance(b, str) else b
    return varint(n << 3 | 2) + varint(len(b)) + b


def fint(n, v):
    return varint(n << 3) + varint(v)


write("grpc_requests", "create-quote", b"\x00" + fstr(1, "cust-1") + fint(2, 1200) + fstr(3, "r-1"))
write("grpc_requests", "create-quote-bad", b"\x00" + fstr(1, "x' OR '1'='1") + fint(2, -5))
write("grpc_requests", "create-quote-unknown-field", b"\x00" + fstr(1, "c") + fint(2, 1) +
      fint(99, 7) + fstr(100, b"\xff\xfe"))
write("grpc_requests", "approve-quote", b"\x01" + fstr(1, "q-1") + fstr(2, "r-2") + fint(3, 1))
write("grpc_requests", "approve-quote-min", b"\x01" + fstr(1, "q-1") + fint(3, -(1 << 63)))
write("grpc_requests", "get-quote", b"\x02" + fstr(1, "q-1"))
write("grpc_requests", "get-quote-invalid-utf8", b"\x02" + fstr(1, b"\xc3\x28"))
write("grpc_requests", "create-customer", b"\x03" + fstr(1, "c-2") + fstr(2, "Bob") +
      fint(3, 3) + fstr(4, "r-3"))
write("grpc_requests", "create-customer-max", b"\x03" + fstr(1, "c-3") + fstr(2, "B\x01") +
      fint(3, (1 << 63) - 1))
write("grpc_requests", "get-customer", b"\x04" + fstr(1, "c-1"))
write("grpc_requests", "get-policy-by-id", b"\x05" + fstr(1, "pol-q-1"))
write("grpc_requests", "get-policy-by-quote", b"\x05" + fstr(2, "q-1"))
write("grpc_requests", "get-policy-both", b"\x05" + fstr(1, "pol-x") + fstr(2, "q-1"))

# event_envelope: JSON envelopes.
ENV = ('{"eventID":"e-1","eventType":"%s","quoteID":"q-1","aggregateID":"%s",'
       '"aggregateVersion":%s,"occurredAt":"%s","data":%s}')
T = "2026-11-26T11:39:10.123456Z"
write("event_envelope", "quote-approved",
      ENV % ("QuoteApproved", "q-1", "2", T, '{"customerId":"c-1","premium":"1200"}'))
write("event_envelope", "quote-rejected",
      ENV % ("QuoteRejected", "q-1", "3", T,
             '{"customerId":"c-1","reason":"too many","policyId":"pol-q-1"}'))
write("event_envelope", "policy-created",
      ENV % ("PolicyCreated", "pol-q-1", "1", "2026-01-01T00:00:00+02:00",
             '{"policyId":"pol-q-1","customerId":"c-1","premium":1200}'))
write("event_envelope", "policy-cancelled",
      ENV % ("PolicyCancelled", "pol-q-1", "2", T,
             '{"policyId":"pol-q-1","customerId":"c-1","reason":"max \\u00e9"}'))
write("event_envelope", "count-updated",
      ENV % ("CustomerPolicyCountUpdated", "c-1", '"9223372036854775807"', T,
             '{"customerId":"c-1","policyId":"pol-q-1","policyCount":"1","delta":"-1"}'))
write("event_envelope", "count-rejected",
      ENV % ("CustomerPolicyCountRejected", "c-1", "4", T,
             '{"customerId":"c-1","policyId":"p","reason":"at maximum","extra":[1,{"a":null}]}'))
write("event_envelope", "unknown-type", ENV % ("Nope", "x", "1", T, "{}"))
write("event_envelope", "bad-time", ENV % ("QuoteApproved", "q", "1", "yesterday", "{}"))
write("event_envelope", "not-json", '{"eventID":')

# command_envelope: saga command envelopes (what saga-orchestrator writes to the command topics).
CMD = '{"commandID":"%s","commandType":"%s","quoteID":"q-1","issuedAt":"%s","data":%s}'
write("command_envelope", "create-policy",
      CMD % ("q-1/saga/CreatePolicy/1", "CreatePolicy", T,
             '{"policyId":"pol-q-1","customerId":"c-1","premium":"1200","quoteVersion":"2"}'))
write("command_envelope", "update-count",
      CMD % ("q-1/saga/Count/1", "UpdateCustomerPolicyCount", T,
             '{"customerId":"c-1","policyId":"pol-q-1","delta":-1}'))
write("command_envelope", "cancel-policy",
      CMD % ("q-1/saga/Cancel/2", "CancelPolicy", "2026-01-01T00:00:00+02:00",
             '{"policyId":"pol-q-1","customerId":"c-1","reason":"at maximum \\u00e9"}'))
write("command_envelope", "reject-quote",
      CMD % ("c-4", "RejectQuote", T,
             '{"customerId":"c-1","policyId":"pol-q-1","reason":"x","extra":[1,{"a":null}]}'))
write("command_envelope", "issue-quote",
      CMD % ("c-5", "IssueQuote", T, '{"customerId":"c-1","policyId":"pol-q-1"}'))
write("command_envelope", "design-example",  # the seed's example, no issuedAt
      '{"commandID":"command-1","quoteID":"quote-123","commandType":"CreatePolicy",'
      '"data":{"premium":1200,"customerId":"cust-456"}}')
write("command_envelope", "unknown-type", CMD % ("c-6", "Nope", T, "{}"))
write("command_envelope", "bad-time", CMD % ("c-7", "IssueQuote", "yesterday", "{}"))
write("command_envelope", "bad-data", CMD % ("c-8", "CreatePolicy", T, '{"premium":"lots"}'))
write("command_envelope", "an-event",
      ENV % ("QuoteApproved", "q-1", "2", T, '{"customerId":"c-1","premium":"1200"}'))

# config_parse: NUL-separated argv elements; "\x01<index><value>" sets an environment variable.
write("config_parse", "flags", b"\0".join([
    b"--grpc-address=0.0.0.0:1", b"--db-pool-size", b"99999999999999999999", b"pos",
    b"--statement-timeout=-5s", b"--migrate=yes"]))
write("config_parse", "env", b"\0".join([
    b"\x01\x01postgresql://u:hunter22@h:5/db", b"\x01\x05tok-secret-1",
    b"\x01\x09sasl-secret-2", b"\x01\x06localhost:9092",
    b"\x01\x07debug=broker,topic,ssl.key.password=abcdefgh", b"--migrate"]))
write("config_parse", "unknown-flag", b"--nope=1")
write("config_parse", "kafka-forced", b"\0".join([
    b"--kafka-bootstrap-servers=h:1", b"--kafka-properties=enable.idempotence=false,acks=1",
    b"--kafka-sasl-password=Endpoint=sb://x/;SharedAccessKey=k3y="]))

# kafka_properties: the same bytes as --kafka-properties and as a properties file.
write("kafka_properties", "inline", "debug=broker,topic,msg, linger.ms = 5 ,,a=b=c")
write("kafka_properties", "file",
      "# Event Hubs\nsasl.mechanism=PLAIN\nsasl.password=Endpoint=sb://n/;Key=a,b\n\n  x = y \n")
write("kafka_properties", "bad-file-line", "a=b\nsecret-without-equals\n")
write("kafka_properties", "leading-piece", "oops,a=b")
write("kafka_properties", "empty-key", " =v")


# redact_secrets: mode byte (0 URL, 1 key=value, 2 raw), then ByteReader strings.
def rs(b):
    b = b.encode() if isinstance(b, str) else b
    return bytes([len(b)]) + b


write("redact_secrets", "url", b"\x00" + rs("url: ") + rs("postgresql") + rs("alice") +
      rs("s3cr3t-pw") + b"db.example:5432/quoteflow?sslmode=require")
# regress-second-url (a URL without a password before one with): kept as found.
write("redact_secrets", "kv", b"\x01" + rs("host=h user=u ") + rs("pa:ss@word") + b"\x00\x00" +
      b"dbname=q")
write("redact_secrets", "kv-upper", b"\x01" + rs("Server=s;") + rs("Secret123") + b"\x01\x01" +
      b"Database=d")
write("redact_secrets", "raw", b"\x02postgresql://u:p@h/db password= Password=x&y")
