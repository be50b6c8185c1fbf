"""`describe` output: descriptors printed as .proto source, in the style of grpcurl (fully-qualified type names)."""

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, MethodDescriptor, ServiceDescriptor

F = descriptor_pb2.FieldDescriptorProto


def _type(field, nested):
    if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
        entry = nested.get(field.type_name.rsplit(".", 1)[-1])
        if entry is not None and entry.options.map_entry:
            return f"map<{_type(entry.field[0], {})}, {_type(entry.field[1], {})}>"
        return field.type_name
    if field.type == F.TYPE_ENUM:
        return field.type_name
    return F.Type.Name(field.type)[len("TYPE_"):].lower()


def _field(field, nested, proto3):
    label = ""
    if field.label == F.LABEL_REPEATED and not _type(field, nested).startswith("map<"):
        label = "repeated "
    elif field.label == F.LABEL_REQUIRED:
        label = "required "
    elif field.proto3_optional or (field.label == F.LABEL_OPTIONAL and not proto3 and not field.HasField("oneof_index")):
        label = "optional "
    json = f' [json_name = "{field.json_name}"]' if field.HasField("json_name") and field.json_name != _camel(field.name) else ""
    return f"{label}{_type(field, nested)} {field.name} = {field.number}{json};"


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _enum(proto, indent=""):
    lines = [f"{indent}enum {proto.name} {{"]
    lines += [f"{indent}  {v.name} = {v.number};" for v in proto.value]
    return lines + [f"{indent}}}"]


def _message(proto, proto3, indent=""):
    nested = {m.name: m for m in proto.nested_type}
    lines = [f"{indent}message {proto.name} {{"]
    emitted_oneofs = set()
    for field in proto.field:
        # A oneof is printed as a block where its first field appears; proto3 `optional` is a synthetic oneof.
        if field.HasField("oneof_index") and not field.proto3_optional:
            if field.oneof_index in emitted_oneofs:
                continue
            emitted_oneofs.add(field.oneof_index)
            lines.append(f"{indent}  oneof {proto.oneof_decl[field.oneof_index].name} {{")
            lines += [f"{indent}    {_field(f, nested, proto3)}" for f in proto.field
                      if f.HasField("oneof_index") and f.oneof_index == field.oneof_index]
            lines.append(f"{indent}  }}")
        else:
            lines.append(f"{indent}  {_field(field, nested, proto3)}")
    for m in proto.nested_type:
        if not m.options.map_entry:
            lines += _message(m, proto3, indent + "  ")
    for e in proto.enum_type:
        lines += _enum(e, indent + "  ")
    return lines + [f"{indent}}}"]


def _rpc(method):
    proto = descriptor_pb2.MethodDescriptorProto()
    method.CopyToProto(proto)
    stream_in = "stream " if proto.client_streaming else ""
    stream_out = "stream " if proto.server_streaming else ""
    return (f"rpc {method.name} ( {stream_in}.{method.input_type.full_name} ) "
            f"returns ( {stream_out}.{method.output_type.full_name} );")


def describe(desc):
    """Returns grpcurl's text for a service, method, message or enum descriptor."""
    if isinstance(desc, ServiceDescriptor):
        body = [f"service {desc.name} {{"] + [f"  {_rpc(m)}" for m in desc.methods] + ["}"]
        kind = "a service"
    elif isinstance(desc, MethodDescriptor):
        body, kind = [_rpc(desc)], "a method"
    elif isinstance(desc, Descriptor):
        proto = descriptor_pb2.DescriptorProto()
        desc.CopyToProto(proto)
        body, kind = _message(proto, desc.file.syntax == "proto3"), "a message"
    elif isinstance(desc, EnumDescriptor):
        proto = descriptor_pb2.EnumDescriptorProto()
        desc.CopyToProto(proto)
        body, kind = _enum(proto), "an enum"
    else:
        raise TypeError(f"cannot describe {desc!r}")
    return f"{desc.full_name} is {kind}:\n" + "\n".join(body)
