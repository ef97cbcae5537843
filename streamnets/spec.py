"""Reading and writing network descriptions.

Two formats are read:

* our YAML spec (``.yaml`` / ``.yml``), also written by :func:`save`::

      name: fig2
      nodes:
        u: {shape: [1]}                    # [C] or [C, H, W]
        v: {shape: [8], activation: relu, dropout: 0.0, tags: []}
        w: {shape: [8], tags: [prediction]}
      edges:                               # [source, target] or a mapping
        - [u, v]
        - {source: v, target: w, rf: 3}
      rollouts:                            # optional named patterns: their streaming edges
        sequential: [[v, v], [w, v]]

* the statestream toolbox's ``.st_graph`` YAML: ``neuron_pools`` (``shape``, ``act``
  (default ``Id``, as statestream's), ``dropout``, ``tags``) and ``synapse_pools``
  (``source: [[a, b]]``, one factor, gives one edge per source, summed, as statestream
  does; several factors, which statestream multiplies, are refused; ``target``; ``rf``,
  where 0 or none is statestream's dense connection, only into a pool without spatial
  extent; ``tags: [stream]``). Other sections are ignored. The ``sequential`` rollout
  of such a file has R = 1 exactly on the edges of pools tagged ``stream``.

Built-in specs (the paper's networks) load by name, e.g. ``load("mnist_sr")``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Hashable
from importlib import resources
from pathlib import Path

import yaml

from ._io import atomic_write_text
from .errors import SpecError
from .graph import Edge, Network, Node, _checked_tags, _cycle_path, _cycle_without, _suggest

__all__ = ["load", "save", "loads", "from_dict", "to_dict", "from_st_graph", "builtin_names"]

_TOP_FIELDS = ("name", "description", "nodes", "edges", "rollouts")
_NODE_FIELDS = ("shape", "activation", "dropout", "tags")
_EDGE_FIELDS = ("source", "target", "rf", "tags")
_SPEC_DIR = "specs"


def _unknown_field(key, allowed, source, where):
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SpecError(f"unknown field {key!r}{hint}; allowed: {', '.join(allowed)}", source,
                    f"{where}.{key}" if where else str(key))


def _mapping(value, source, where):
    if not isinstance(value, dict):
        raise SpecError(f"expected a mapping, got {type(value).__name__}", source, where)
    return value


def _as_list(value, source, where):
    if not isinstance(value, list):
        raise SpecError(f"expected a list, got {type(value).__name__}", source, where)
    return value


def _text(doc, key, source):
    """The text field ``key`` of ``doc`` ("" when absent or empty); anything but text
    (a list, a number, YAML's yes/no) is a SpecError rather than turned into a string."""
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(f"{key} must be text, got {value!r} ({type(value).__name__}); write it "
                        f"in quotes, e.g. {key}: \"{value}\"", source, key)
    return value


def _name(value, source, where):
    """A node or rollout name as written: text, or a whole number read as its digits.

    YAML reads an empty key as null, unquoted yes/no/on/off/true/false as truth values and
    1.50 as 1.5; turning those into "None", "True" or "1.5" would silently rename the node,
    so they are SpecErrors that say to quote the name."""
    if isinstance(value, _WrittenInt):
        raise SpecError(f"a name must be text, got {value.text} (YAML 1.1 reads it as the number "
                        f"{int(value)}: leading zeros are octal, 0x hex, _ and + are dropped); write "
                        f"the name in quotes, e.g. '{value.text}'", source, where)
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    if value is None:
        read, example = "an empty name (null)", "'x'"
    elif isinstance(value, bool):
        read, example = f"{value!r}: YAML reads unquoted yes/no/on/off/true/false as a truth value", "'on'"
    elif isinstance(value, float):
        read = f"{value!r} (float): YAML reads unquoted decimal numbers as numbers (1.50 becomes 1.5)"
        example = "'1.50'"
    else:
        read, example = f"{value!r} ({type(value).__name__})", "'x'"
    raise SpecError(f"a name must be text, got {read}; write the name in quotes, e.g. {example}",
                    source, where)


def from_dict(doc, source=None):
    """Build a :class:`Network` from a parsed YAML spec (a dict).

    Examples
    --------
    >>> net = from_dict({"nodes": {"x": {"shape": [4]}, "y": {"shape": [2]}},
    ...                  "edges": [["x", "y"]]})
    >>> net.inputs, net.outputs
    (('x',), ('y',))
    """
    doc = _mapping(doc, source, "")
    for key in doc:
        if key not in _TOP_FIELDS:
            _unknown_field(key, _TOP_FIELDS, source, "")
    if "nodes" not in doc:
        raise SpecError("missing field 'nodes' (a mapping from node name to its fields)", source, "nodes")
    nodes = []
    for name, fields in _mapping(doc["nodes"], source, "nodes").items():
        name = _name(name, source, f"nodes.{name}")
        fields = _mapping(fields if fields is not None else {}, source, f"nodes.{name}")
        for key in fields:
            if key not in _NODE_FIELDS:
                _unknown_field(key, _NODE_FIELDS, source, f"nodes.{name}")
        if "shape" not in fields:
            raise SpecError("missing field 'shape' ([C] or [C, H, W])", source, f"nodes.{name}.shape")
        nodes.append(Node(name, fields["shape"], fields.get("activation", "relu"),
                          fields.get("dropout", 0.0), fields.get("tags")))
    edges = []
    for i, item in enumerate(_as_list(doc.get("edges", []), source, "edges")):
        where = f"edges[{i}]"
        if isinstance(item, list):
            if len(item) != 2:
                raise SpecError(f"an edge is [source, target], got {item!r}", source, where)
            item = {"source": item[0], "target": item[1]}
        item = _mapping(item, source, where)
        for key in item:
            if key not in _EDGE_FIELDS:
                _unknown_field(key, _EDGE_FIELDS, source, where)
        for key in ("source", "target"):
            if key not in item:
                raise SpecError(f"missing field {key!r}", source, f"{where}.{key}")
        edges.append(Edge(_name(item["source"], source, f"{where}.source"),
                          _name(item["target"], source, f"{where}.target"), item.get("rf", 3),
                          item.get("tags")))
    rollouts = {}
    for name, pairs in _mapping(doc.get("rollouts") or {}, source, "rollouts").items():
        name = _name(name, source, f"rollouts.{name}")
        pairs = _as_list(pairs or [], source, f"rollouts.{name}")
        for j, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise SpecError(f"a streaming edge is [source, target], got {pair!r}", source,
                                f"rollouts.{name}[{j}]")
        rollouts[name] = [tuple(_name(p, source, f"rollouts.{name}[{j}]") for p in pair)
                          for j, pair in enumerate(pairs)]
    name = _text(doc, "name", source) or (Path(source).stem if source else "network")
    return Network(nodes, edges, name=name, rollouts=rollouts, source=source,
                   description=_text(doc, "description", source))


def to_dict(net):
    """The YAML spec of a network as a dict (inverse of :func:`from_dict`).

    Examples
    --------
    >>> doc = to_dict(load("fig2"))
    >>> doc["nodes"]["w"]
    {'shape': [8], 'activation': 'relu', 'tags': ['prediction']}
    >>> doc["edges"][0]
    {'source': 'u', 'target': 'v', 'rf': 3}
    >>> from_dict(doc) == load("fig2")
    True
    """
    nodes = {}
    for node in net.nodes.values():
        fields = {"shape": list(node.spec_shape), "activation": node.activation}
        if node.dropout:
            fields["dropout"] = node.dropout
        if node.tags:
            fields["tags"] = list(node.tags)
        nodes[node.name] = fields
    edges = []
    for e in net.edges:
        item = {"source": e.source, "target": e.target, "rf": e.rf}
        if e.tags:
            item["tags"] = list(e.tags)
        edges.append(item)
    doc = {"name": net.name}
    if net.description:
        doc["description"] = net.description
    doc.update(nodes=nodes, edges=edges)
    if net.rollouts:
        doc["rollouts"] = {name: [list(k) for k in net.edge_index if k in keys]
                           for name, keys in net.rollouts.items()}
    return doc


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping (a node
    defined twice would otherwise silently replace the first)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):  # else the base class says what it is
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor', merged by the base
                    continue
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    raise yaml.constructor.ConstructorError(
                        None, None, f"a key must be a name, not a {type(key).__name__}",
                        key_node.start_mark)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, IndexError, AttributeError) as err:  # an explicit tag's value
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            if (isinstance(node, yaml.ScalarNode) and node.style is None
                    and self.resolve(yaml.ScalarNode, node.value, (True, False)) == node.tag):
                # no tag written: YAML read the plain value as one (2024-02-30 as a date)
                raise _TagValueError(None, None, f"the value {node.value!r} reads as a YAML {tag} but is "
                                     f"not a valid one ({type(err).__name__}: {err}); fix it, or quote "
                                     f"it to keep it as text", node.start_mark) from None
            raise _TagValueError(None, None, f"the value {node.value!r} does not fit its tag {tag} "
                                 f"({type(err).__name__}: {err}); fix the value or drop the tag",
                                 node.start_mark) from None


class _WrittenInt(int):
    """A whole number YAML read from other digits than its own (``010`` is 8, ``0x1F``,
    ``1_000``, ``+5``): as a number it is one, as a name its text was meant."""

    text = ""

    def __str__(self):  # messages name it as written
        return self.text


def _construct_int(loader, node):
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    if node.value != str(value):
        value = _WrittenInt(value)
        value.text = node.value
    return value


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class _TagValueError(yaml.constructor.ConstructorError):
    """A value that an explicit tag (``!!int four``) cannot read: not a syntax error."""


def _parse_yaml(text, source):
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if isinstance(err, _TagValueError):
            raise SpecError(f"YAML: {problem}", source, where) from None
        raise SpecError(f"YAML syntax error: {problem}; fix the YAML", source, where) from None
    except RecursionError:
        raise SpecError("the YAML is nested too deeply to read; a spec needs a few levels (nodes, "
                        "edges)", source) from None
    except (ValueError, TypeError, IndexError, AttributeError) as err:  # an explicit tag's value
        raise SpecError(f"YAML: a value does not fit its tag ({type(err).__name__}: {err}); fix the "
                        f"value or drop the tag (e.g. !!int, !!float)", source) from None
    if doc is None and str(source).endswith(".st_graph"):
        raise SpecError("the file is empty (no YAML content, or only comments); a .st_graph file "
                        "needs 'neuron_pools:' and 'synapse_pools:'", source)
    if doc is None:
        raise SpecError("the spec is empty (no YAML content, or only comments); write at least "
                        "'nodes:' and 'edges:', e.g. nodes: {x: {shape: [4]}, y: {shape: [2]}} "
                        "and edges: [[x, y]]", source)
    return doc


def loads(text, source=None):
    """Parse a YAML spec (our format, or statestream's if it has ``neuron_pools``).

    Examples
    --------
    >>> net = loads("{name: tiny, nodes: {x: {shape: [4]}, h: {shape: [8]}, y: {shape: [2]}}, "
    ...             "edges: [[x, h], [h, h], [h, y]]}")
    >>> net
    Network('tiny', 3 nodes, 3 edges, inputs=['x'], outputs=['y'])
    """
    doc = _parse_yaml(text, source)
    if isinstance(doc, dict) and "neuron_pools" in doc:
        return from_st_graph(doc, source)
    return from_dict(doc, source)


def from_st_graph(doc, source=None):
    """Build a :class:`Network` from a parsed statestream ``.st_graph`` document.

    Every synapse pool gives one edge per source pool; pools tagged ``stream``
    define the network's ``sequential`` rollout (R = 1 on them, 0 elsewhere).

    Examples
    --------
    >>> from streamnets import Rollout
    >>> net = from_st_graph({
    ...     "neuron_pools": {"img": {"shape": [1, 8, 8]}, "h": {"shape": [4, 8, 8]},
    ...                      "out": {"shape": [10]}},
    ...     "synapse_pools": {"in": {"source": [["img"]], "target": "h", "rf": [[3]]},
    ...                       "rec": {"source": [["h"]], "target": "h", "rf": [[3]], "tags": ["stream"]},
    ...                       "read": {"source": [["h"]], "target": "out"}}})
    >>> [e.key for e in net.edges], Rollout.sequential(net).streaming_edges
    ([('img', 'h'), ('h', 'h'), ('h', 'out')], [('h', 'h')])
    """
    doc = _mapping(doc, source, "")
    if "neuron_pools" not in doc:
        raise SpecError("missing field 'neuron_pools' (the nodes of a .st_graph file)", source,
                        "neuron_pools")
    _check_st_keys(doc, _ST_TOP_KEYS, source, "")
    pools = _mapping(doc["neuron_pools"], source, "neuron_pools")
    nodes = []
    for name, fields in pools.items():
        name = _name(name, source, f"neuron_pools.{name}")
        fields = _mapping(fields if fields is not None else {}, source, f"neuron_pools.{name}")
        _check_st_keys(fields, _ST_POOL_KEYS, source, f"neuron_pools.{name}")
        if "shape" not in fields:
            raise SpecError("missing field 'shape'", source, f"neuron_pools.{name}.shape")
        nodes.append(Node(name, fields["shape"], fields.get("act", "identity"),  # statestream: Id
                          fields.get("dropout", 0.0), fields.get("tags")))
    known = [node.name for node in nodes]
    edges, streaming, owner, dense = [], [], {}, {}
    synapses = _mapping(doc.get("synapse_pools") or {}, source, "synapse_pools")
    for name, fields in synapses.items():
        where = f"synapse_pools.{name}"
        fields = _mapping(fields, source, where)
        _check_st_keys(fields, _ST_SYNAPSE_KEYS, source, where)
        for key in ("source", "target"):
            if key not in fields:
                raise SpecError(f"missing field {key!r}", source, f"{where}.{key}")
        factors = fields["source"]
        if isinstance(factors, list) and sum(isinstance(f, list) for f in factors) > 1:
            raise SpecError(f"{len(factors)} factors ({_st_factors(factors)}): statestream multiplies "
                            f"the factors of a synapse pool, which streamnets does not build (a node "
                            f"sums its inputs); for a sum write one factor, e.g. source: "
                            f"[[{', '.join(map(str, _flatten(factors, source, where)))}]]",
                            source, f"{where}.source")
        sources = _flatten(factors, source, f"{where}.source")
        if not sources:
            raise SpecError("no source pool; give the neuron pools it reads, e.g. source: [[img]]",
                            source, f"{where}.source")
        rfs = _flatten(fields.get("rf", 0), source, f"{where}.rf")  # statestream: 0 or none is dense
        if len(rfs) == 1:
            rfs = rfs * len(sources)
        if len(rfs) != len(sources):
            raise SpecError(f"{len(rfs)} receptive fields for {len(sources)} sources; give one rf "
                            f"or one per source", source, f"{where}.rf")
        tags = _checked_tags(fields.get("tags"), source, f"{where}.tags")
        target = _name(fields["target"], source, f"{where}.target")
        sources = [_name(src, source, f"{where}.source") for src in sources]
        for end, pool in [("target", target), *(("source", src) for src in sources)]:
            if pool not in known:
                raise SpecError(f"unknown neuron pool {pool!r}{_suggest(pool, known)}; define it "
                                f"under 'neuron_pools' or fix the name", source, f"{where}.{end}")
        for src, rf in zip(sources, rfs):
            if rf == 0 and not isinstance(rf, bool):  # dense: checked on the built network
                dense[(src, target)], rf = f"{where}.rf", 3
            key = (src, target)
            if key in owner:
                raise SpecError(f"synapse pools {owner[key]!r} and {name!r} both connect "
                                f"{key[0]} -> {key[1]}; merge them", source, where)
            owner[key] = name
            edges.append(Edge(key[0], key[1], rf, tags))
            if "stream" in tags:
                streaming.append(key)
    _check_stream_tags(owner, streaming, source)
    name = _text(doc, "name", source) or (Path(source).stem if source else "network")
    try:
        net = Network(nodes, edges, name=name, rollouts={"sequential": streaming}, source=source)
    except SpecError as err:  # name the field as the .st_graph file does
        where = ": ".join(str(part) for part in (err.source, err.field) if part)
        message = str(err).removeprefix(f"{where}: " if where else "")
        raise SpecError(message, source, _st_field(err.field, edges, owner)) from None
    for (_, target), where in dense.items():
        if net.nodes[target].is_spatial:  # a pool without spatial extent is reached densely anyway
            raise SpecError(f"no receptive field (rf 0 or none): statestream makes this a dense "
                            f"connection into the spatial pool {target!r}, which streamnets does not "
                            f"build (its edges into spatial pools are convolutions); give the kernel "
                            f"size, e.g. rf: [[3]]", source, where)
    return net


#: The keys of statestream's pools that streamnets reads (the format has more, ignored).
_ST_TOP_KEYS = ("name", "neuron_pools", "synapse_pools")
_ST_POOL_KEYS = ("shape", "act", "dropout", "tags")
_ST_SYNAPSE_KEYS = ("source", "target", "rf", "tags")
#: Our YAML format's names for them, a likely slip in a .st_graph file.
_OUR_NAMES = {"activation": "act"}


def _check_st_keys(fields, known, source, where):
    """Refuse a key that is a misspelling of one streamnets reads (``dropot``), or our
    format's name for it (``activation``): ignored, it would silently take the default.
    Other keys of the statestream format pass."""
    for key in fields:
        key = str(key)
        if key in known:
            continue
        meant = _OUR_NAMES.get(key) or next(iter(difflib.get_close_matches(key, known, n=1, cutoff=0.75)),
                                            None)
        if meant is not None and meant in known:
            raise SpecError(f"unknown key {key!r}: a .st_graph file calls it {meant!r} (unknown keys "
                            f"are ignored, so it would take the default)", source,
                            f"{where}.{key}" if where else key)


def _st_field(field, edges, owner):
    """A field of our format (``nodes.h.activation``, ``edges[2].rf (a -> b)``) as a
    .st_graph file names it (``neuron_pools.h.act``, ``synapse_pools.p.rf``).

    Examples
    --------
    >>> edges, owner = [Edge("a", "b")], {("a", "b"): "p"}
    >>> _st_field("nodes.h.activation", edges, owner), _st_field("edges[0].rf (a -> b)", edges, owner)
    ('neuron_pools.h.act', 'synapse_pools.p.rf')
    """
    if field is None:
        return None
    if field.startswith("nodes."):
        path = "neuron_pools." + field.removeprefix("nodes.")
        return path[:-len(".activation")] + ".act" if path.endswith(".activation") else path
    edge = re.match(r"edges\[(\d+)\](\.\w+)?", field)
    if edge:
        return f"synapse_pools.{owner[edges[int(edge[1])].key]}{edge[2] or ''}"
    if field == "edges" or field.startswith("rollouts."):
        return "synapse_pools"
    return field


def _check_stream_tags(owner, streaming, source):
    """Every cycle of a .st_graph needs a synapse pool tagged ``stream``."""
    cycle = _cycle_without(streaming, owner)
    if cycle is None:
        return
    path = _cycle_path(cycle)
    pools = ", ".join(dict.fromkeys(owner[edge] for edge in cycle))
    raise SpecError(f"the cycle {path} has no synapse pool tagged 'stream', so the sequential "
                    f"rollout the tags define would make a frame depend on itself; add 'stream' "
                    f"to the tags of one of the synapse pools {pools}", source, "synapse_pools")


def _st_factors(factors):
    """``[a] x [b, c]``: a synapse pool's factors as a message shows them."""
    return " x ".join(f"[{', '.join(map(str, f))}]" if isinstance(f, list) else str(f) for f in factors)


def _flatten(value, source, where, depth=0):
    """The items of nested lists in order; a list that holds itself (a YAML alias of its
    own anchor, ``&s [*s]``) or nests absurdly deep is a SpecError naming ``where``."""
    if depth > 20:
        raise SpecError("the list nests too deeply (does it hold itself through a YAML alias?); "
                        "write the pools as [[a, b], [c]]", source, where)
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in _flatten(item, source, where, depth + 1)]
    return [value]


def builtin_names():
    """Names of the built-in specs (the paper's networks and examples).

    Examples
    --------
    >>> [name for name in builtin_names() if name.startswith("mnist")]
    ['mnist_ff', 'mnist_hybrid', 'mnist_s', 'mnist_sr']
    """
    folder = resources.files(__package__) / _SPEC_DIR
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _spec_files_in(folder, most=5):
    """`` (in it: a.yaml, b.st_graph)``: the spec files directly in ``folder``, if any."""
    try:
        found = sorted(p.name for p in folder.iterdir()
                       if p.suffix.lower() in (".yaml", ".yml", ".st_graph") and p.is_file())
    except OSError:
        return ""
    more = ", ..." if len(found) > most else ""
    return f" (in it: {', '.join(found[:most])}{more})" if found else ""


def load(spec):
    """Load a network: a built-in name, or a path to a ``.yaml``/``.yml``/``.st_graph`` file
    (suffixes in any case; a file without one is read as YAML).

    Examples
    --------
    >>> import streamnets as sn
    >>> sn.load("mnist_sr")
    Network('mnist_sr', 4 nodes, 5 edges, inputs=['image'], outputs=['prediction'])
    """
    if isinstance(spec, Network):
        return spec
    text_spec = str(spec)
    path = Path(text_spec)
    suffix = path.suffix.lower()  # MyNet.YAML too
    names = builtin_names()
    # A path: a spec suffix, a folder in it, or (not a built-in name) an existing file or folder.
    if (suffix in (".yaml", ".yml", ".st_graph") or os.sep in text_spec
            or (text_spec not in names and path.exists())):
        if path.is_dir():
            raise SpecError(f"this is a folder, not a spec file; give the path of a .yaml / .yml / "
                            f".st_graph file{_spec_files_in(path)}", text_spec)
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such file"
            raise SpecError(f"{what}; give a built-in name ({', '.join(builtin_names())}) or the path "
                            f"of a spec file", text_spec)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError(f"cannot read the file: {err}", text_spec) from None
        if suffix == ".st_graph":
            return from_st_graph(_parse_yaml(text, text_spec), text_spec)
        return loads(text, text_spec)
    if text_spec not in names:
        close = difflib.get_close_matches(text_spec, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpecError(f"no built-in network of that name; {hint}built-ins: {', '.join(names)}; "
                        f"or give a path to a .yaml / .st_graph file", text_spec)
    resource = resources.files(__package__) / _SPEC_DIR / f"{text_spec}.yaml"
    return loads(resource.read_text(encoding="utf-8"), text_spec)


def save(net, path):
    """Write ``net`` as a YAML spec to ``path`` atomically (temp file + rename).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save(load("fig2"), os.path.join(folder, "my_net.yaml"))
    ...     print(path.name, load(path) == load("fig2"), load(path).name)
    my_net.yaml True fig2
    """
    if str(path).lower().endswith(".st_graph"):
        raise SpecError("save writes streamnets' YAML format, which load would not read from a "
                        ".st_graph file (that suffix is statestream's format, read only); name the "
                        "file .yaml", str(path))
    text = yaml.safe_dump(to_dict(net), sort_keys=False, default_flow_style=None)
    return atomic_write_text(path, text)
