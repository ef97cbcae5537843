"""Specs: our YAML format, statestream .st_graph import, built-ins, and error messages."""

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamnets as sn
from streamnets.spec import from_dict, from_st_graph, loads, to_dict
from strategies import networks

ST_GRAPH = textwrap.dedent("""\
    name: mnist_small
    agents: 16
    neuron_pools:
      image: {shape: [1, 28, 28], tags: [sensor]}
      hidden: {shape: [16, 7, 7], act: relu, dropout: 0.25}
      hidden2: {shape: [128, 1, 1], act: relu}
      prediction: {shape: [10, 1, 1], act: softmax, tags: [prediction]}
    synapse_pools:
      img_hid: {source: [[image]], target: hidden, rf: 7}
      hid_hid: {source: [[hidden]], target: hidden, rf: 3, tags: [stream]}
      hid_hid2: {source: [[hidden]], target: hidden2, tags: [stream]}
      to_pred: {source: [[hidden2, hidden]], target: prediction, rf: [[1, 1]]}
    plasticities:
      loss: {type: loss, source: prediction}
    interfaces: {}
    """)


@pytest.mark.parametrize("name", sn.builtin_names())
def test_builtin_specs_round_trip(name, tmp_path):
    net = sn.load(name)
    path = sn.save(net, tmp_path / f"{name}.yaml")
    again = sn.load(path)
    assert again == net
    assert again.description == net.description


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(networks(spatial=True))
def test_random_networks_round_trip(net):
    assert from_dict(yaml.safe_load(yaml.safe_dump(to_dict(net)))) == net


def test_st_graph_import(tmp_path):
    path = tmp_path / "mnist_small.st_graph"
    path.write_text(ST_GRAPH)
    net = sn.load(path)
    assert list(net.nodes) == ["image", "hidden", "hidden2", "prediction"]
    assert [e.key for e in net.edges] == [("image", "hidden"), ("hidden", "hidden"),
                                          ("hidden", "hidden2"), ("hidden2", "prediction"),
                                          ("hidden", "prediction")]
    assert net.edge("image", "hidden").rf == 7
    assert net.nodes["prediction"].activation == "softmax"
    assert net.nodes["hidden2"].shape == (128, 1, 1)
    assert net.outputs == ("prediction",)
    seq = sn.Rollout.sequential(net)  # the pools tagged stream
    assert set(seq.streaming_edges) == {("hidden", "hidden"), ("hidden", "hidden2")}
    assert seq.inference_factor == 2


def test_st_graph_also_parses_from_a_yaml_string():
    assert loads(ST_GRAPH).name == "mnist_small"


def test_st_graph_duplicate_connection():
    text = ST_GRAPH.replace("plasticities:", "  again: {source: [[image]], target: hidden, rf: 3}\nplasticities:")
    with pytest.raises(sn.SpecError, match="'img_hid' and 'again' both connect image -> hidden"):
        loads(text, "dup.st_graph")


def test_st_graph_cycle_without_a_stream_tag_names_its_synapse_pool():
    text = ST_GRAPH.replace("rf: 3, tags: [stream]}", "rf: 3}")
    with pytest.raises(sn.SpecError, match=r"^rec.st_graph: synapse_pools: the cycle hidden -> hidden "
                                           r"has no synapse pool tagged 'stream'.*add 'stream' to the "
                                           r"tags of one of the synapse pools hid_hid$"):
        loads(text, "rec.st_graph")


@pytest.mark.parametrize("old, new, message", [
    ("to_pred: {source: [[hidden2, hidden]]", "to_pred: {source: [[hidden2, hiden]]",
     r"^bad.st_graph: synapse_pools.to_pred.source: unknown neuron pool 'hiden' \(did you mean "
     r"'hidden'\?\); define it under 'neuron_pools'"),
    ("target: prediction, rf", "target: predictoin, rf",
     r"^bad.st_graph: synapse_pools.to_pred.target: unknown neuron pool 'predictoin'"),
    ("neuron_pools:", "nodes:", r"^bad.st_graph: neuron_pools: missing field 'neuron_pools'"),
])
def test_st_graph_errors_name_statestream_fields(old, new, message):
    # before: edges[3].source ... define it under 'nodes' (fields of our YAML format)
    doc = yaml.safe_load(ST_GRAPH.replace(old, new))
    with pytest.raises(sn.SpecError, match=message):
        from_st_graph(doc, "bad.st_graph")


def test_st_graph_rf_count_must_match_sources():
    text = ST_GRAPH.replace("rf: [[1, 1]]", "rf: [[1, 1, 1]]")
    with pytest.raises(sn.SpecError, match=r"synapse_pools.to_pred.rf: 3 receptive fields for 2 sources"):
        loads(text, "bad.st_graph")


BAD_SPECS = [
    # before: TypeError (unhashable list) from the duplicate-key check, and the errors of
    # PyYAML's tag constructors (ValueError, IndexError, AttributeError) as tracebacks
    ("nodes:\n  ? [a, b]\n  : {shape: [4]}\nedges: []",
     r"x.yaml: line 2, column 5: YAML syntax error: a key must be a name, not a list"),
    ("nodes: {a: {shape: [!!int four]}}",
     r"x.yaml: line 1, column 21: YAML: the value 'four' does not fit its tag !!int \(ValueError: "
     r"invalid literal .*'four'\); fix the value or drop the tag$"),
    ('nodes: {a: {shape: [1], dropout: !!float ""}}',
     r"x.yaml: line 1, column 34: YAML: the value '' does not fit its tag !!float"),
    ("name: !!timestamp yesterday",
     r"x.yaml: line 1, column 7: YAML: the value 'yesterday' does not fit its tag !!timestamp"),
    # no tag written: the plain value read as a date (before: "fix the value or drop the tag")
    ("nodes: {a: {shape: [4]}}\nedges: []\ndescription: 2024-02-30",
     r"x.yaml: line 3, column 14: YAML: the value '2024-02-30' reads as a YAML !!timestamp but is not "
     r"a valid one \(ValueError: day is out of range for month\); fix it, or quote it to keep it as text$"),
    ("rollouts: !!set [a, b]", r"YAML syntax error: expected a mapping node, but found sequence"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, c]]",
     r"x.yaml: edges\[0\].target: unknown node 'c'"),
    ("nodes: {a: {shape: [1]}, b: {shape: [0]}}\nedges: [[a, b]]",
     r"nodes.b.shape: shape must be"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2], activaton: relu}}\nedges: [[a, b]]",
     r"nodes.b.activaton: unknown field 'activaton' \(did you mean 'activation'\?\)"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2], activation: rleu}}\nedges: [[a, b]]",
     r"unknown activation 'rleu' \(did you mean 'relu'\?\)"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b], [b, a]]",
     r"no input node"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}, c: {shape: [2]}}\nedges: [[a, b], [c, c]]",
     r"nodes.c: node 'c' is not reachable"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b], [a, b]]",
     r"edges\[1\]: edge a -> b is defined twice"),
    ("nodes: {a: {shape: [1]}, a: {shape: [2]}}\nedges: [[a, a]]",
     r"x.yaml: line 1, column \d+: YAML syntax error: key 'a' is given twice"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}\nedges: [[a, b]]",
     r"x.yaml: line \d+, column \d+: YAML syntax error"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]\nrollouts: {seq: [[b, a]]}",
     r"rollouts.seq\[0\]: \('b', 'a'\) is not an edge"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]\nrollouts: {streaming: [[a, b]]}",
     r"x.yaml: rollouts.streaming: the name 'streaming' is taken \(it always means every edge"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]\nrollouts: {custom: []}",
     r"rollouts.custom: the name 'custom' is taken \(it labels unnamed patterns\)"),
    ("nodez: {}", r"unknown field 'nodez' \(did you mean 'nodes'\?\)"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2], dropout: 1.5}}\nedges: [[a, b]]",
     r"nodes.b.dropout: dropout must be"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2], dropout: 5e-1}}\nedges: [[a, b]]",
     r"nodes.b.dropout: dropout must be a number in \[0, 1\), got '5e-1' \(YAML reads 5e-1 as text; "
     r"write 0.5\)$"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2], dropout: 2e-0}}\nedges: [[a, b]]",  # no hint to write 2.0
     r"nodes.b.dropout: dropout must be a number in \[0, 1\), got '2e-0'$"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [{source: a, target: b, rf: 0}]",
     r"edges\[0\].rf \(a -> b\): receptive field must be a positive integer"),
    ("- just\n- a list", r"expected a mapping"),
    ("nodes: {a: {shape: [1], activation: }, b: {shape: [2]}}\nedges: [[a, b]]",
     r"nodes.a.activation: activation must be a name, one of identity, .*got None; leave the field "
     r"out for the default \(relu\)"),
    ("name: [mine]\nnodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]",
     r"x.yaml: name: name must be text, got \['mine'\] \(list\); write it in quotes"),
    ("description: yes\nnodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]",
     r"x.yaml: description: description must be text, got True \(bool\)"),
    # YAML's null, truth values and floats would silently rename a node ("None", "True").
    ("nodes: {a: {shape: [1]}, ~: {shape: [2]}}\nedges: [[a, b]]",
     r"x.yaml: nodes.None: a name must be text, got an empty name \(null\); write the name in "
     r"quotes"),
    ("nodes: {a: {shape: [1]}, on: {shape: [2]}}\nedges: [[a, 'on']]",
     r"nodes.True: a name must be text, got True: YAML reads unquoted yes/no/on/off/true/false"),
    ("nodes: {a: {shape: [1]}, 'yes': {shape: [2]}}\nedges: [[a, yes]]",
     r"edges\[0\].target: a name must be text, got True"),
    ("nodes: {a: {shape: [1]}, 'no': {shape: [2]}}\nedges: [{source: a, target: no}]",
     r"edges\[0\].target: a name must be text, got False"),
    ("nodes: {a: {shape: [1]}, 1.50: {shape: [2]}}\nedges: [[a, '1.50']]",
     r"nodes.1.5: a name must be text, got 1.5 \(float\): YAML reads unquoted decimal numbers as numbers \(1.50 becomes 1.5\); "
     r"write the name in quotes, e.g. '1.50'$"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]\nrollouts: {r: [[a, ~]]}",
     r"rollouts.r\[0\]: a name must be text, got an empty name"),
    # before: YAML 1.1's other integer forms renamed the node (010 became '8', 0x1F '31')
    ("nodes: {a: {shape: [1]}, 010: {shape: [2]}}\nedges: [[a, '010']]",
     r"nodes.010: a name must be text, got 010 \(YAML 1.1 reads it as the number 8: leading zeros "
     r"are octal, 0x hex, _ and \+ are dropped\); write the name in quotes, e.g. '010'$"),
    ("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, b]]\nrollouts: {1_000: [[a, b]]}",
     r"rollouts.1_000: a name must be text, got 1_000 \(YAML 1.1 reads it as the number 1000"),
    ("nodes: {a: {shape: [1]}, '+5': {shape: [2]}}\nedges: [[a, +5]]",
     r"edges\[0\].target: a name must be text, got \+5"),
]


@pytest.mark.parametrize("text, message", BAD_SPECS)
def test_spec_errors_name_file_field_and_node(text, message):
    with pytest.raises(sn.SpecError, match=message):
        loads(text, "x.yaml")


ST_POOLS = "neuron_pools: {img: {shape: [1, 8, 8]}, h: {shape: [4, 8, 8]}, out: {shape: [10]}}\n"


@pytest.mark.parametrize("text, message", [
    (ST_POOLS.replace("out: {shape: [10]}", "out: {shape: [10], act: sigmod}")
     + "synapse_pools: {a: {source: [[img]], target: h, rf: 3}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: neuron_pools.out.act: unknown activation 'sigmod'"),
    (ST_POOLS + "synapse_pools: {a: {source: [[img]], target: h, rf: -1}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.a.rf: receptive field must be a positive integer, got -1"),
    # before: read as rf 3, a convolution, where statestream builds a dense connection
    (ST_POOLS + "synapse_pools: {a: {source: [[img]], target: h, rf: 0}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.a.rf: no receptive field \(rf 0 or none\): statestream makes this a "
     r"dense connection into the spatial pool 'h', which streamnets does not build .* e.g. rf: \[\[3\]\]$"),
    (ST_POOLS + "synapse_pools: {a: {source: [[img]], target: h}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.a.rf: no receptive field \(rf 0 or none\)"),
    (ST_POOLS.replace("h: {shape: [4, 8, 8]}", "h: {shape: [4, 3, 3]}")
     + "synapse_pools: {a: {source: [[img]], target: h, rf: 3}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.a: edge img -> h: cannot connect"),
    ("# nothing\n", r"^x.st_graph: the file is empty .* needs 'neuron_pools:' and 'synapse_pools:'"),
    # before: a RecursionError traceback, and a pool with no source dropped without a word
    (ST_POOLS + "synapse_pools: {a: {source: &s [*s], target: h}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.a.source: the list nests too deeply \(does it hold itself"),
    (ST_POOLS + "synapse_pools: {a: {source: [[img]], target: h, rf: &r [*r]}, b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.a.rf: the list nests too deeply"),
    (ST_POOLS + "synapse_pools: {a: {source: [[img]], target: h, rf: 3}, c: {source: [], target: h}, "
                "b: {source: [[h]], target: out}}",
     r"^x.st_graph: synapse_pools.c.source: no source pool; give the neuron pools it reads"),
])
def test_st_graph_errors_name_the_fields_of_the_st_graph_file(text, message):
    # before: nodes.out.activation, edges[0].rf, edges[0] (our format's fields) and the
    # advice to write 'nodes:' and 'edges:'
    with pytest.raises(sn.SpecError, match=message):
        loads(text, "x.st_graph")


def test_st_graph_factors_which_statestream_multiplies_are_refused():
    # before: [[img], [h]] was read as img + h, where statestream computes (W img) x (W' h)
    text = ST_POOLS + ("synapse_pools: {a: {source: [[img], [h]], target: h, rf: 3, tags: [stream]}, "
                       "b: {source: [[h]], target: out}}")
    with pytest.raises(sn.SpecError, match=r"^x.st_graph: synapse_pools.a.source: 2 factors \(\[img\] x "
                                           r"\[h\]\): statestream multiplies the factors .* for a sum write "
                                           r"one factor, e.g. source: \[\[img, h\]\]$"):
        loads(text, "x.st_graph")
    net = loads(text.replace("[[img], [h]]", "[[img, h]]"), "x.st_graph")
    assert [e.key for e in net.edges] == [("img", "h"), ("h", "h"), ("h", "out")]


def test_st_graph_rf_0_or_none_into_a_pool_without_spatial_extent_is_dense_as_in_statestream():
    # the authors' files give no rf to their pools into the prediction ([10, 1, 1])
    for rf in ("", ", rf: 0", ", rf: [[0]]"):
        net = loads(ST_POOLS + f"synapse_pools: {{a: {{source: [[img]], target: h, rf: 3}}, "
                               f"b: {{source: [[h]], target: out{rf}}}}}", "x.st_graph")
        assert [e.key for e in net.edges] == [("img", "h"), ("h", "out")]
        assert type(sn.StreamNet(net).edge_modules["h->out"]).__name__ == "DenseEdge"


def test_st_graph_pools_without_act_are_identity_as_in_statestream():
    # before: relu, so the authors' cifar_DSR2.st_graph (act only where not Id) loaded with
    # a relu on its input and its prediction
    net = loads(ST_POOLS.replace("h: {shape: [4, 8, 8]}", "h: {shape: [4, 8, 8], act: relu}")
                + "synapse_pools: {a: {source: [[img]], target: h, rf: 3}, b: {source: [[h]], target: out}}",
                "x.st_graph")
    assert {v: n.activation for v, n in net.nodes.items()} == {"img": "identity", "h": "relu",
                                                                "out": "identity"}


def test_yaml_merge_keys_work_and_their_keys_may_be_overridden():
    # before: "could not determine a constructor for the tag ...merge" (the duplicate-key
    # check built the '<<' key itself)
    net = loads("nodes:\n  x: {shape: [4]}\n  y: &b {shape: [2], activation: tanh}\n"
                "  z: {<<: *b, shape: [3]}\nedges: [[x, y], [y, z]]", "x.yaml")
    assert net.nodes["z"].activation == "tanh" and net.nodes["z"].spec_shape == (3,)
    with pytest.raises(sn.SpecError, match="key 'shape' is given twice"):
        loads("nodes:\n  x: {shape: [4]}\n  y: &b {shape: [2]}\n  z: {<<: *b, shape: [3], shape: [4]}\n"
              "edges: [[x, y], [y, z]]", "x.yaml")


def test_whole_numbers_are_names_as_written():
    net = loads("nodes: {1: {shape: [1]}, 2: {shape: [2]}}\nedges: [[1, 2]]\nrollouts: {3: [[1, 2]]}")
    assert tuple(net.nodes) == ("1", "2") and net.edge_index == {("1", "2"): 0}
    assert net.rollouts == {"3": frozenset({("1", "2")})}


def test_st_graph_names_from_yaml_truth_values_are_refused():
    text = ST_GRAPH.replace("target: hidden", "target: on", 1)
    with pytest.raises(sn.SpecError, match=r"synapse_pools\.\w+\.target: a name must be text, "
                                            r"got True"):
        loads(text, "bad.st_graph")


def test_load_unknown_builtin_suggests_a_name():
    with pytest.raises(sn.SpecError, match="did you mean 'mnist_sr'"):
        sn.load("mnist_srr")


def test_load_missing_file(tmp_path):
    with pytest.raises(sn.SpecError, match="no such file"):
        sn.load(tmp_path / "nope.yaml")
    with pytest.raises(sn.SpecError, match="^/dev/null: not a regular file; give a built-in name"):
        sn.load("/dev/null")  # before: "no such file"


def test_outputs_default_to_sinks_and_follow_tags():
    net = loads("nodes: {a: {shape: [1]}, b: {shape: [2]}, c: {shape: [2]}}\nedges: [[a, b], [a, c], [c, c]]")
    assert net.outputs == ("b", "c")  # c's self-loop does not make it a non-sink
    net = loads("nodes: {a: {shape: [1]}, b: {shape: [2], tags: [output]}, c: {shape: [2]}}\n"
                "edges: [[a, b], [b, c]]")
    assert net.outputs == ("b",)


# -- fuzzing: every malformed document fails with a streamnets error ------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=False),
                    st.sampled_from(["a", "b", "c", "relu", "stream", "", "x y"]))
keys = st.sampled_from(["name", "nodes", "edges", "rollouts", "shape", "activation", "dropout",
                        "tags", "source", "target", "rf", "a", "b", "c", "neuron_pools",
                        "synapse_pools", "act", "sequential", 3])
junk = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(keys, scalars, max_size=2))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_fuzzed_documents_raise_only_spec_errors(doc):
    text = yaml.safe_dump(doc)
    try:
        loads(text, "fuzz.yaml")
    except sn.SpecError as err:
        assert str(err)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_text_raises_only_spec_errors(text):
    try:
        loads(text, "fuzz.yaml")
    except sn.SpecError as err:
        assert str(err)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from("uvwx"), st.sampled_from("uvwx")),
                       st.one_of(st.integers(-1, 2), st.booleans(), st.none(), st.text(max_size=2)),
                       max_size=6))
def test_fuzzed_patterns_raise_only_streamnets_errors(pattern):
    net = sn.load("fig2")
    try:
        sn.Rollout(net, pattern).validate()
    except sn.StreamnetsError as err:
        assert str(err)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _replace(doc[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("builtin", ["mnist_sr", "cifar10_dsr1"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_specs_raise_only_spec_errors(builtin, data):
    """Start from a valid spec, replace one field anywhere by junk."""
    doc = to_dict(sn.load(builtin))
    doc["rollouts"] = {"hybrid": [["h1", "h1"]]}
    path = data.draw(st.sampled_from(list(_paths(doc))))
    mutated = _replace(doc, path, data.draw(junk))
    try:
        loads(yaml.safe_dump(mutated), "mutated.yaml")
    except sn.SpecError as err:
        assert str(err)


ST_DOC = yaml.safe_load(ST_GRAPH)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_st_graphs_raise_only_spec_errors(data):
    path = data.draw(st.sampled_from([p for p in _paths(ST_DOC) if p]))
    mutated = _replace(ST_DOC, path, data.draw(junk))
    try:
        loads(yaml.safe_dump(mutated), "mutated.st_graph")
    except sn.SpecError as err:
        assert str(err)


def test_a_named_rollout_with_a_zero_delay_cycle_is_refused_at_load(tmp_path):
    doc = to_dict(sn.load("mnist_sr"))
    doc["rollouts"] = {"hybrid": [["h1", "h2"]]}  # leaves the self-loop h1 -> h1 at delay 0
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(sn.SpecError, match=r"mine.yaml: rollouts.hybrid: the cycle h1 -> h1 has no "
                                           r"streaming edge.*add one of its edges"):
        sn.load(path)


def test_spec_files_load_whatever_the_case_of_their_suffix_or_without_one(tmp_path, monkeypatch):
    text = yaml.safe_dump(to_dict(sn.load("mnist_ff")))
    for name in ("Net.YAML", "net.Yml", "plainfile"):
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    for name in ("Net.YAML", "net.Yml", "plainfile"):
        assert sn.load(name).nodes == sn.load("mnist_ff").nodes
    (tmp_path / "mnist_sr").write_text(text)  # a built-in name wins over a file in the folder
    assert sn.load("mnist_sr").name == "mnist_sr" and len(sn.load("mnist_sr").edges) == 5


def test_a_node_without_edges_is_refused():
    nodes = [sn.Node("image", (1, 4, 4)), sn.Node("lone", (3,)), sn.Node("p", (2,), tags=("prediction",))]
    with pytest.raises(sn.SpecError, match="nodes.lone: node 'lone' has no edges; connect it or remove it"):
        sn.Network(nodes, [("image", "p")])


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n"])
def test_an_empty_spec_file_says_it_is_empty(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(sn.SpecError, match=r"empty.yaml: the spec is empty .*write at least 'nodes:'"):
        sn.load(path)


def test_a_folder_given_as_the_spec_is_named_a_folder(tmp_path, monkeypatch):
    (tmp_path / "nets.yaml").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.yaml").write_text(yaml.safe_dump(to_dict(sn.load("fig2"))))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(sn.SpecError, match=r"^nets.yaml: this is a folder, not a spec file"):
        sn.load("nets.yaml")
    with pytest.raises(sn.SpecError, match=r"^mine: this is a folder, not a spec file; give the path "
                                           r"of a .yaml / .yml / .st_graph file \(in it: a.yaml\)"):
        sn.load("mine")
    with pytest.raises(sn.SpecError, match=r"this is a folder"):
        sn.load(tmp_path / "mine")


@pytest.mark.parametrize("tag", ["predicton", "Prediction", "outputs"])
def test_a_tag_like_an_output_tag_is_taken_for_a_typo(tag):
    # before: 'predicton' was a free tag, and the output silently became the sink node
    text = f"nodes: {{x: {{shape: [4]}}, h: {{shape: [4], tags: [{tag}]}}, y: {{shape: [2]}}}}\n" \
           "edges: [[x, h], [h, y]]\n"
    with pytest.raises(sn.SpecError, match=rf"^typo.yaml: nodes.h.tags: tag '{tag}' is not "
                                           rf"'(prediction|output)', the tag that marks an output node"):
        loads(text, "typo.yaml")
    assert loads(text.replace(tag, "mine"), "typo.yaml").nodes["h"].tags == ("mine",)


def test_networks_with_different_named_rollouts_are_not_equal():
    """Guards against: Network.__eq__ ignoring ``rollouts`` (the spec round-trip tests rely on
    it to notice a lost or changed named pattern)."""
    net = sn.load("mnist_sr")
    assert net.rollouts  # it has a named hybrid pattern
    bare = sn.Network(list(net.nodes.values()), net.edges, net.name)
    assert bare.edges == net.edges and list(bare.nodes.values()) == list(net.nodes.values())
    assert bare != net
    assert sn.Network(list(net.nodes.values()), net.edges, net.name,
                      {k: sorted(v) for k, v in net.rollouts.items()}) == net


def test_scaled_keeps_the_shapes_of_inputs_and_outputs():
    """Guards against: ``keep = set(self.inputs)`` in Network.scaled (the output would shrink,
    and with it the number of classes)."""
    small = sn.load("fig2").scaled(0.5)
    assert {v: n.shape for v, n in small.nodes.items()} == {
        "u": (1, 1, 1), "v": (4, 1, 1), "w": (8, 1, 1)}


def test_a_dropout_of_1_is_refused():
    """Guards against: ``0 <= dropout <= 1`` (a dropout of 1 drops every unit)."""
    with pytest.raises(sn.SpecError, match=r"dropout must be a number in \[0, 1\), got 1"):
        sn.Network([sn.Node("x", (1,)), sn.Node("h", (2,), dropout=1)], [("x", "h")])
    assert sn.Network([sn.Node("x", (1,)), sn.Node("h", (2,), dropout=0.99)],
                      [("x", "h")]).nodes["h"].dropout == 0.99


def test_dropout_on_an_input_node_is_refused():
    # before: accepted and never applied (an input holds its frame; no update runs there)
    with pytest.raises(sn.SpecError, match=r"mine.yaml: nodes.x.dropout: 'x' has no incoming edge, so "
                                           r"it is an input node: .* its dropout would never be applied"):
        loads("nodes: {x: {shape: [4], dropout: 0.5}, y: {shape: [2], tags: [prediction]}}\n"
              "edges: [[x, y]]", "mine.yaml")


def test_yaml_nested_too_deeply_is_a_spec_error():
    # before: a RecursionError traceback
    with pytest.raises(sn.SpecError, match="deep.yaml: the YAML is nested too deeply to read"):
        loads("edges: " + "[" * 50_000 + "]" * 50_000, "deep.yaml")


def test_save_refuses_the_st_graph_suffix_that_load_would_read_as_statestream(tmp_path):
    # before: the YAML went into x.st_graph and load(x.st_graph) failed on 'neuron_pools'
    with pytest.raises(sn.SpecError, match=r"x\.st_graph: save writes streamnets' YAML format.*name "
                                           r"the file \.yaml"):
        sn.save(sn.load("fig2"), tmp_path / "x.st_graph")
    assert not (tmp_path / "x.st_graph").exists()


@pytest.mark.parametrize("pool, synapse, message", [
    ({"activation": "tanh"}, {},
     "neuron_pools.h.activation: unknown key 'activation': a .st_graph file calls it 'act'"),
    ({"dropot": 0.5}, {}, "neuron_pools.h.dropot: unknown key 'dropot': a .st_graph file calls it 'dropout'"),
    ({}, {"rff": 5}, "synapse_pools.in.rff: unknown key 'rff': a .st_graph file calls it 'rf'"),
])
def test_st_graph_keys_misspelled_or_in_our_format_are_named(pool, synapse, message):
    # before: ignored, so 'activation: tanh' left the pool relu and 'rff: 5' the edge rf 3
    doc = {"neuron_pools": {"img": {"shape": [1, 8, 8]}, "h": {"shape": [4, 8, 8], **pool}},
           "synapse_pools": {"in": {"source": [["img"]], "target": "h", "rf": 3, **synapse}}}
    with pytest.raises(sn.SpecError, match=f"^x.st_graph: {message}"):
        from_st_graph(doc, "x.st_graph")
    # the statestream format's other keys pass
    doc["neuron_pools"]["h"] = {"shape": [4, 8, 8], "noise": "normal", "bias_shape": "full"}
    doc["synapse_pools"]["in"] = {"source": [["img"]], "target": "h", "rf": [[3]], "type": "conv",
                                  "init": "xavier"}
    assert [e.key for e in from_st_graph(doc, "x.st_graph").edges] == [("img", "h")]


def test_a_misspelt_top_level_st_graph_key_is_named():
    # before: 'synapse_pool:' was ignored, leaving a network without edges (or one
    # that failed for an unrelated reason: the output cannot be reached)
    doc = {"name": "t", "neuron_pools": {"img": {"shape": [1, 8, 8]}, "out": {"shape": [10]}},
           "synapse_pool": {"read": {"source": [["img"]], "target": "out"}}}
    with pytest.raises(sn.SpecError, match="^x.st_graph: synapse_pool: unknown key 'synapse_pool': a "
                                           ".st_graph file calls it 'synapse_pools'"):
        from_st_graph(doc, "x.st_graph")
    doc["synapse_pools"] = doc.pop("synapse_pool")
    doc["interfaces"] = {"mnist": {"type": "mnist"}}  # statestream's other top-level keys pass
    assert [e.key for e in from_st_graph(doc, "x.st_graph").edges] == [("img", "out")]
