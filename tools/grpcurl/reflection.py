"""Server-reflection client: loads a server's descriptors into a private DescriptorPool.

Debian bookworm packages neither grpcio-reflection nor googleapis-common-protos, so the few messages we
need (the reflection protocol, google.rpc.Status and a fallback google.rpc.BadRequest) are declared below
as FileDescriptorProtos and turned into classes at run time: no code generation, no extra packages.
"""

import grpc
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory


def _file(name, package, messages, deps=()):
    """Builds a proto3 FileDescriptorProto from {"Msg" or "Outer.Inner": ["[repeated] type name = N", ...]}."""
    fdp = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3", dependency=deps)
    F = descriptor_pb2.FieldDescriptorProto
    for msg_name, fields in messages.items():
        outer, _, inner = msg_name.rpartition(".")
        parent = next(m for m in fdp.message_type if m.name == outer).nested_type if outer else fdp.message_type
        msg = parent.add(name=inner)
        for spec in fields:
            words = spec.replace("=", " ").split()
            label = F.LABEL_REPEATED if words[0] == "repeated" else F.LABEL_OPTIONAL
            ftype, fname, number = words[-3:]
            field = msg.field.add(name=fname, number=int(number), label=label)
            if ftype.startswith("."):
                field.type, field.type_name = F.TYPE_MESSAGE, ftype
            else:
                field.type = F.Type.Value("TYPE_" + ftype.upper())
    return fdp


# grpc/reflection/v1alpha/reflection.proto (v1 is wire-identical; only the service name differs).
_R = ".grpc.reflection.v1alpha."
_REFLECTION = _file("quoteflow_grpcurl/reflection.proto", "grpc.reflection.v1alpha", {
    "ServerReflectionRequest": [
        "string host = 1", "string file_by_filename = 3", "string file_containing_symbol = 4",
        _R + "ExtensionRequest file_containing_extension = 5", "string all_extension_numbers_of_type = 6",
        "string list_services = 7"],
    "ExtensionRequest": ["string containing_type = 1", "int32 extension_number = 2"],
    "ServerReflectionResponse": [
        "string valid_host = 1", _R + "ServerReflectionRequest original_request = 2",
        _R + "FileDescriptorResponse file_descriptor_response = 4",
        _R + "ExtensionNumberResponse all_extension_numbers_response = 5",
        _R + "ListServiceResponse list_services_response = 6", _R + "ErrorResponse error_response = 7"],
    "FileDescriptorResponse": ["repeated bytes file_descriptor_proto = 1"],
    "ExtensionNumberResponse": ["string base_type_name = 1", "repeated int32 extension_number = 2"],
    "ListServiceResponse": ["repeated " + _R + "ServiceResponse service = 1"],
    "ServiceResponse": ["string name = 1"],
    "ErrorResponse": ["int32 error_code = 1", "string error_message = 2"],
})

# google/rpc/status.proto and the part of google/rpc/error_details.proto our server sends: used to decode
# the grpc-status-details-bin trailer, and BadRequest when the server's reflection cannot describe it.
_RPC = _file("quoteflow_grpcurl/rpc.proto", "google.rpc", {
    "Status": ["int32 code = 1", "string message = 2", "repeated .google.protobuf.Any details = 3"],
    "BadRequest": ["repeated .google.rpc.BadRequest.FieldViolation field_violations = 1"],
    "BadRequest.FieldViolation": ["string field = 1", "string description = 2"],
}, deps=["google/protobuf/any.proto"])

BUILTIN_POOL = descriptor_pool.DescriptorPool()
BUILTIN_POOL.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
BUILTIN_POOL.Add(_REFLECTION)
BUILTIN_POOL.Add(_RPC)
_builtin = message_factory.MessageFactory(BUILTIN_POOL)
_Request = _builtin.GetPrototype(BUILTIN_POOL.FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest"))
_Response = _builtin.GetPrototype(BUILTIN_POOL.FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse"))
Status = _builtin.GetPrototype(BUILTIN_POOL.FindMessageTypeByName("google.rpc.Status"))
BadRequest = _builtin.GetPrototype(BUILTIN_POOL.FindMessageTypeByName("google.rpc.BadRequest"))


class ReflectionError(Exception):
    """The server has no reflection service, or it could not answer (e.g. symbol not found)."""


class ReflectionClient:
    def __init__(self, channel, metadata=(), timeout=None):
        self.pool = descriptor_pool.DescriptorPool()
        self._factory = message_factory.MessageFactory(self.pool)
        self._metadata, self._timeout = list(metadata), timeout
        # gRPC 1.51's C++ server offers only v1alpha; newer servers may offer only v1. Try both, keep the winner.
        self._stubs = [channel.stream_stream(f"/grpc.reflection.{v}.ServerReflection/ServerReflectionInfo",
                                             request_serializer=_Request.SerializeToString,
                                             response_deserializer=_Response.FromString)
                       for v in ("v1alpha", "v1")]
        self._loaded = set()

    def _ask(self, **request):
        for i, stub in enumerate(self._stubs):
            try:
                response = next(stub(iter([_Request(**request)]), metadata=self._metadata, timeout=self._timeout()))
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED and i + 1 < len(self._stubs):
                    continue
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    raise ReflectionError("server does not support the reflection API") from None
                raise
            self._stubs = [stub]
            if response.HasField("error_response"):
                error = response.error_response
                raise ReflectionError(error.error_message or f"reflection error code {error.error_code}")
            return response
        raise ReflectionError("server does not support the reflection API")

    def list_services(self):
        # The field's value is ignored, but it must be non-empty to be sent: our message declares no oneof,
        # so an empty proto3 string would be indistinguishable from "not set".
        return sorted(s.name for s in self._ask(list_services="*").list_services_response.service)

    def _load(self, response):
        """Adds the files of a file_descriptor_response (and any dependency it lacks) to the pool."""
        pending = {}
        for raw in response.file_descriptor_response.file_descriptor_proto:
            fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
            pending[fdp.name] = fdp
        for name in list(pending):
            self._add(name, pending)

    def _add(self, name, pending):
        if name in self._loaded:
            return
        if name not in pending:  # The server sent it on an earlier stream, or not at all: ask by name.
            self._load(self._ask(file_by_filename=name))
            return
        fdp = pending.pop(name)
        for dep in fdp.dependency:  # Dependencies must be in the pool before the file that imports them.
            self._add(dep, pending)
        self.pool.Add(fdp)
        self._loaded.add(name)

    def _lookup(self, symbol):
        for find in (self.pool.FindServiceByName, self.pool.FindMessageTypeByName, self.pool.FindEnumTypeByName):
            try:
                return find(symbol)
            except KeyError:
                pass
        service, _, method = symbol.rpartition(".")
        try:
            return self.pool.FindServiceByName(service).methods_by_name[method]
        except KeyError:
            return None

    def find_symbol(self, symbol):
        """Returns the service, method, message or enum descriptor named symbol (fully qualified)."""
        found = self._lookup(symbol)
        if found is None:
            self._load(self._ask(file_containing_symbol=symbol))
            found = self._lookup(symbol)
        if found is None:
            raise ReflectionError(f"Symbol not found: {symbol}")
        return found

    def message_class(self, descriptor):
        return self._factory.GetPrototype(descriptor)
