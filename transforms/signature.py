"""Which function of a saved module embeds images: one rule for TF1 Hub modules and TF2
SavedModels, applied both to a loaded module (on workers) and to the saved_model.pb alone (at
launch, to learn the input size without loading any weights)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from transforms.fs import read_bytes

# TF1 Hub modules export `default` (input `images`, output `default`); TF2 SavedModels usually
# export `serving_default`. Tried in this order.
SIGNATURE_NAMES = ("default", "serving_default")
IMAGE_INPUT = "images"
DEFAULT_OUTPUT = "default"


class SignatureShape(NamedTuple):
    """What a signature declares: input name -> (dtype name, shape), and its output names."""

    inputs: Mapping[str, tuple[str, tuple[int | None, ...] | None]]
    outputs: tuple[str, ...]


class Choice(NamedTuple):
    signature: str | None  # None: call the module itself
    input_name: str | None
    output_name: str | None
    image_size: tuple[int, int] | None  # (height, width) where the module fixes it


def choose(signatures: Mapping[str, SignatureShape], callable_module: bool) -> Choice:
    """Picks the signature, its image input and its feature output; ValueError if none fits."""
    for name in SIGNATURE_NAMES:
        if name in signatures:
            return _choose_in(name, signatures[name])
    if callable_module:
        return Choice(None, None, None, None)
    raise ValueError(
        f"the module has none of the signatures {list(SIGNATURE_NAMES)} (it has "
        f"{sorted(signatures)}) and is not callable; export it with a `serving_default` "
        "signature that takes float images in [0, 1] of shape (N, H, W, 3)"
    )


def _choose_in(name: str, shape: SignatureShape) -> Choice:
    images = [key for key, (_, dims) in shape.inputs.items() if dims is None or len(dims) == 4]
    if IMAGE_INPUT in shape.inputs:
        input_name = IMAGE_INPUT
    elif len(images) == 1:
        input_name = images[0]
    else:
        raise ValueError(
            f"signature {name!r} has inputs {sorted(shape.inputs)}; expected one image input "
            f"(named {IMAGE_INPUT!r}, or the only 4-D one)"
        )
    if DEFAULT_OUTPUT in shape.outputs:
        output_name = DEFAULT_OUTPUT
    elif len(shape.outputs) == 1:
        output_name = shape.outputs[0]
    else:
        raise ValueError(
            f"signature {name!r} has outputs {sorted(shape.outputs)}; expected "
            f"{DEFAULT_OUTPUT!r} or a single output"
        )
    dims = shape.inputs[input_name][1]
    size = None
    if dims is not None and len(dims) == 4 and dims[1] and dims[2]:
        size = (dims[1], dims[2])
    return Choice(name, input_name, output_name, size)


def of_loaded(module) -> Choice:
    """The choice for a module loaded with `hub.load` / `tf.saved_model.load`."""
    shapes = {}
    for name, function in getattr(module, "signatures", {}).items():
        _, kwargs = function.structured_input_signature
        inputs = {
            key: (
                spec.dtype.name,
                tuple(spec.shape.as_list()) if spec.shape.rank is not None else None,
            )
            for key, spec in kwargs.items()
        }
        shapes[name] = SignatureShape(inputs, tuple(function.structured_outputs))
    return choose(shapes, callable(module))


def _read_saved_model(path: str):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(read_bytes(FileSystems.join(path, "saved_model.pb")))
    return proto


def _root_call(meta_graph):
    """The root object's `__call__` function node, or None where the module is not callable."""
    nodes = meta_graph.object_graph_def.nodes
    if not nodes:
        return None
    for child in nodes[0].children:
        if child.local_name == "__call__":
            return nodes[child.node_id]
    return None


def _choice_in(proto) -> Choice:
    shapes: dict[str, SignatureShape] = {}
    callable_module = False
    for meta_graph in proto.meta_graphs:
        for name, definition in meta_graph.signature_def.items():
            inputs = {key: (_dtype(info), _dims(info)) for key, info in definition.inputs.items()}
            shapes.setdefault(name, SignatureShape(inputs, tuple(definition.outputs)))
        # A TF2 object graph whose root has a __call__ function is callable once loaded.
        callable_module |= _root_call(meta_graph) is not None
    return choose(shapes, callable_module)


def of_saved_model(path: str) -> Choice:
    """The choice read from `path/saved_model.pb` alone, on any Beam filesystem; nothing is
    loaded or run."""
    return _choice_in(_read_saved_model(path))


def declared_width(path: str) -> int | None:
    """How many floats the chosen output holds per image, as `path/saved_model.pb` declares it
    (the signature's output, or for a module without one, what its `__call__` returns); None
    where it is not declared. Nothing is loaded or run."""
    proto = _read_saved_model(path)
    choice = _choice_in(proto)
    for meta_graph in proto.meta_graphs:
        if choice.signature is not None:
            definition = meta_graph.signature_def.get(choice.signature)
            if definition is not None:
                return _width(_dims(definition.outputs[choice.output_name]))
            continue
        call = _root_call(meta_graph)
        if call is None:
            continue
        widths = set()
        for name in call.function.concrete_functions:
            output = meta_graph.object_graph_def.concrete_functions[name].output_signature
            widths.add(_width(_spec_dims(_single_output(output))))
        return widths.pop() if len(widths) == 1 else None
    return None


def _single_output(value):
    """The TensorSpec a callable returns: itself, or a dict's `default` entry or only entry."""
    if value.HasField("dict_value"):
        fields = value.dict_value.fields
        if DEFAULT_OUTPUT in fields:
            return fields[DEFAULT_OUTPUT]
        if len(fields) == 1:
            return next(iter(fields.values()))
    return value


def _spec_dims(value) -> tuple[int | None, ...] | None:
    if not value.HasField("tensor_spec_value"):
        return None
    shape = value.tensor_spec_value.shape
    if shape.unknown_rank:
        return None
    return tuple(d.size if d.size >= 0 else None for d in shape.dim)


def _width(dims: tuple[int | None, ...] | None) -> int | None:
    """The feature width of a (batch, width) output."""
    if dims is None or len(dims) != 2:
        return None
    return dims[1]


def _dtype(info) -> str:
    import tensorflow as tf

    return tf.dtypes.as_dtype(info.dtype).name


def _dims(info) -> tuple[int | None, ...] | None:
    if info.tensor_shape.unknown_rank:
        return None
    return tuple(d.size if d.size >= 0 else None for d in info.tensor_shape.dim)
