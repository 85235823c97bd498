"""MATLAB files (simhw.integrations.matlab): configurations, measurements and calibrated models survive a
.mat round trip with equal arrays and metadata, and a file laid out as MATLAB code writes it is read in."""

import json
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
import scipy.io
from hypothesis import event, given, settings
from hypothesis import strategies as st
from model_helpers import BITS, FAMILIES, family_model

from simhw.integrations import matlab
from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_configurations_round_trip(tmp_path):
    configs = [
        PhaseConfig.random(
            4, 6, 5, 2, seed=i, name=f"beam {i}", objective="focus", model_id="m3", extra={"angle_deg": 10.0 * i}
        )
        for i in range(3)
    ]
    path = matlab.write_configs(tmp_path / "c.mat", configs)
    back = matlab.read_configs(path)
    assert [c.hash for c in back] == [c.hash for c in configs]
    for a, b in zip(configs, back):
        np.testing.assert_array_equal(a.codes, b.codes)
        assert a.metadata == b.metadata and b.shape == (4, 6, 5) and b.bits == 2
    raw = scipy.io.loadmat(path)  # as MATLAB sees it: codes(r, c, l, t)
    assert raw["codes"].shape == (6, 5, 4, 3) and raw["codes"][1, 2, 3, 2] == configs[2].codes[3, 1, 2]


def test_a_file_written_as_matlab_code_writes_it_is_read_in(tmp_path):
    """MATLAB: layers = {L1, L2, L3} of double code matrices (rows x cols), bits = 2, names = {'steer'}.
    Each element differs, so a row/column or layer mix-up cannot pass."""
    rows, cols, L = 3, 4, 3
    layers = [np.asfortranarray(np.arange(rows * cols, dtype=float).reshape(rows, cols) % 4) for _ in range(L)]
    layers[1] = np.asfortranarray(3 - layers[1])
    layers[2] = np.asfortranarray(np.roll(layers[0], 1, axis=1))
    cell = np.empty((1, L), dtype=object)
    for i, m in enumerate(layers):
        cell[0, i] = m
    names = np.empty((1, 1), dtype=object)
    names[0, 0] = "steer"
    scipy.io.savemat(tmp_path / "from_matlab.mat", {"layers": cell, "bits": 2.0, "names": names})
    (cfg,) = matlab.read_configs(tmp_path / "from_matlab.mat")
    assert cfg.shape == (L, rows, cols) and cfg.bits == 2 and cfg.name == "steer"
    for l in range(L):
        np.testing.assert_array_equal(cfg.codes[l], layers[l])
    # and the 3-D form, codes(r, c, l), with one configuration
    scipy.io.savemat(tmp_path / "codes3.mat", {"codes": np.stack(layers, axis=-1), "bits": 2.0})
    assert matlab.read_configs(tmp_path / "codes3.mat")[0].hash == cfg.hash


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"codes": np.full((2, 2, 1), 0.5), "bits": 1.0}, "whole numbers"),
        ({"codes": np.full((2, 2, 1), 4.0), "bits": 2.0}, "out of range for 2 bits"),
        ({"codes": np.zeros((2, 2, 1))}, "no 'bits'"),
        ({"bits": 2.0}, "no 'codes' or 'layers'"),
    ],
)
def test_bad_configuration_files_are_refused_clearly(tmp_path, bad, message):
    scipy.io.savemat(tmp_path / "bad.mat", bad)
    with pytest.raises(ValueError, match=message):
        matlab.read_configs(tmp_path / "bad.mat")


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
    bits=st.integers(1, 8),
    count=st.integers(1, 3),
    seed=st.integers(0, 2**31),
)
def test_any_configuration_set_round_trips(tmp_path_factory, shape, bits, count, seed):
    configs = [PhaseConfig.random(*shape, bits, seed=seed + i, name=f"c{i}") for i in range(count)]
    path = matlab.write_configs(tmp_path_factory.mktemp("h") / "c.mat", configs)
    assert [c.hash for c in matlab.read_configs(path)] == [c.hash for c in configs]


def test_a_measurement_saved_as_mat_loads_back_as_the_same_measurement(tmp_path):
    m = Measurement(
        "cd" * 32,
        np.linspace(27e9, 29e9, 4),
        np.arange(8).reshape(4, 2) * (2 - 1j),
        (4, 3),
        created_at=1.7e9,
        flag="readback",
        latched={"crc": 9, "boot_id": 1, "latches": 3},
        id=12,
        temperature_k=300.25,
    )
    back = matlab.load_measurement(matlab.save_measurement(tmp_path / "m.mat", m, {"bench": "b1"}))
    assert back.record() == m.record() and back.receive_ports == (4, 3)
    np.testing.assert_array_equal(back.s, m.s)
    bare = matlab.write_measurement(tmp_path / "bare.mat", m.frequencies, m.s, {"hash": m.config_hash})
    scipy.io.savemat(bare, {k: v for k, v in scipy.io.loadmat(bare).items() if k in ("frequencies", "S")})
    with pytest.raises(ValueError, match="no 'params' variable"):
        matlab.load_measurement(bare)


def test_measurements_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    f = np.linspace(27e9, 29e9, 11)
    s = rng.normal(size=(11, 3)) + 1j * rng.normal(size=(11, 3))
    meta = {"measurement": 7, "hash": "ab" * 32, "flag": None, "created_at": 1.7e9, "bench": "b1"}
    path = matlab.write_measurement(tmp_path / "m.mat", f, s, meta)
    f2, s2, meta2 = matlab.read_measurement(path)
    np.testing.assert_array_equal(f2, f)
    np.testing.assert_array_equal(s2, s)
    assert meta2 == {**meta, "params": ["S21", "S31", "S41"]}
    raw = scipy.io.loadmat(path)
    assert raw["S"].shape == (11, 3) and raw["frequencies"].shape == (11, 1) and json.loads(raw["metadata"][0]) == meta


@pytest.mark.parametrize("family", FAMILIES)
def test_models_round_trip(tmp_path, family):
    model = family_model(family)
    model.metrics = {"heldout_nmse_db": -31.5, "stages": [1, 2]}
    model.version, model.parent = 4, 3
    back = matlab.read_model(matlab.write_model(tmp_path / "model.mat", model))
    assert back.hash == model.hash and back.header() == model.header()
    for name in ("w_in", "w_layers", "w_out", "frequencies"):
        np.testing.assert_array_equal(getattr(back.cascade, name), getattr(model.cascade, name))
    for name in ("x", "atom_response", "leakage", "faces"):
        a, b = getattr(model, name), getattr(back, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    codes = np.random.default_rng(0).integers(0, 1 << BITS, (3, model.cascade.n_layers, model.cascade.n_atoms))
    np.testing.assert_allclose(back.predict(codes, BITS), model.predict(codes, BITS), rtol=1e-13)


def test_an_edited_model_file_is_refused(tmp_path):
    path = matlab.write_model(tmp_path / "model.mat", family_model("hybrid"))
    d = scipy.io.loadmat(path)
    d["w_out"] = d["w_out"] * 1.01
    scipy.io.savemat(path, {k: v for k, v in d.items() if not k.startswith("__")})
    with pytest.raises(ValueError, match="does not match its recorded hash"):
        matlab.read_model(path)
    with pytest.raises(ValueError, match="holds a simhw model, not a configs"):
        matlab.read_configs(path)


@pytest.mark.skipif(shutil.which("octave") is None, reason="GNU Octave is not installed")
def test_the_guides_matlab_snippet_computes_predict_in_octave(tmp_path):
    """docs/guide.md's MATLAB snippet, run by Octave on files simhw wrote: its H is the model's prediction."""
    snippet = re.search(r"```matlab\n(.*?)```", (ROOT / "docs" / "guide.md").read_text(), re.S).group(1)
    model = family_model("free")  # a cascade whose gaps are not symmetric: a transposed matrix shows
    model.leakage = None
    model.atom_response = None
    (tmp_path / "out").mkdir()
    configs = [PhaseConfig.random(model.cascade.n_layers, 3, 3, 2, seed=s) for s in range(2)]
    matlab.write_configs(tmp_path / "out" / "beams.mat", configs)
    matlab.write_model(tmp_path / "model.mat", model)
    matlab.write_measurement(tmp_path / "meas.mat", [1e9, 2e9], np.ones((2, 2)), {"measurement": 3})
    script = "plot = @(varargin) 0;\n" + snippet + "printf('%.17g %.17g\\n', [real(H) imag(H)].');\n"
    (tmp_path / "check.m").write_text(script)
    r = subprocess.run(
        ["octave", "--no-gui", "--quiet", "check.m"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    values = np.array([[float(x) for x in line.split()] for line in r.stdout.splitlines() if line.strip()])
    assert values.shape == (2, 2), r.stdout + r.stderr
    expected = model.predict(configs[0].codes.reshape(1, model.cascade.n_layers, -1), 2)[0, 0]
    np.testing.assert_allclose(values[:, 0] + 1j * values[:, 1], expected, rtol=1e-12)


ASCII = st.characters(min_codepoint=32, max_codepoint=126)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | st.text(ASCII, max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(ASCII, max_size=5), inner, max_size=3),
    max_leaves=6,
)
TEXT = st.text(ASCII, max_size=8)
GOOD_META = st.fixed_dictionaries(
    {},
    optional={
        "objective": TEXT,
        "model_id": st.none() | TEXT,
        "created_at": TEXT,
        "extra": st.dictionaries(TEXT, JSON, max_size=2),
    },
)
META = GOOD_META | st.dictionaries(
    st.sampled_from(["objective", "model_id", "created_at", "extra", "name", "angle_deg"]), JSON, max_size=3
)


def cell(items) -> np.ndarray:
    out = np.empty((1, len(items)), dtype=object)
    for i, x in enumerate(items):
        out[0, i] = x
    return out


def matlab_values(count: int):
    """What a file from elsewhere may hold under a text variable: JSON objects (one, or a cell of ``count``;
    often as simhw writes them), any JSON, any text, numbers, a struct, a cell of numbers."""
    return st.one_of(
        GOOD_META.map(json.dumps),
        st.lists(GOOD_META, min_size=count, max_size=count).map(lambda ms: cell([json.dumps(m) for m in ms])),
        META.map(json.dumps),
        st.lists(META, min_size=count, max_size=count).map(lambda ms: cell([json.dumps(m) for m in ms])),
        JSON.map(json.dumps),
        st.text(ASCII, max_size=20),
        st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4).map(np.array),
        st.dictionaries(st.sampled_from(["objective", "a"]), st.floats(-9, 9), min_size=1, max_size=2),
        st.lists(st.integers(0, 9), min_size=1, max_size=3).map(cell),
    )


def written_texts(value) -> list | None:
    """The JSON texts a metadata variable holds as written (one per configuration), None if not text."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, np.ndarray) and value.dtype == object and all(isinstance(x, str) for x in value.ravel()):
        return list(value.ravel())
    return None


@settings(max_examples=80, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    bits=st.one_of(st.integers(1, 8), st.floats(-2, 20), st.integers(-2, 20), st.sampled_from([1e30, -1e300])),
    scale=st.sampled_from([None, 1.0, 3.0, 70000.0, 0.5]),
    dtype=st.sampled_from(["f8", "i4", "u1", "c16", "f4"]),
    seed=st.integers(0, 2**31),
    meta=st.none() | st.integers(1, 2).flatmap(matlab_values),
)
def test_any_matlab_configuration_file_is_read_or_refused_with_a_value_error(
    tmp_path_factory, shape, bits, scale, dtype, seed, meta
):
    """``scale`` None: valid codes for ``bits`` (when it is valid); else codes drawn around the range."""
    rng = np.random.default_rng(seed)
    if scale is None and isinstance(bits, int) and 1 <= bits <= 8:
        codes = rng.integers(0, 1 << bits, shape).astype("f8")
    else:
        codes = (rng.uniform(-0.2, 1, shape) * (scale or 1.0)).astype(dtype)
    path = tmp_path_factory.mktemp("f") / "x.mat"
    scipy.io.savemat(path, {"codes": codes, "bits": bits, **({} if meta is None else {"metadata": meta})})
    try:
        configs = matlab.read_configs(path)
    except ValueError as e:
        assert str(e).startswith(str(path)), e  # it names the file
        event("refused: " + str(e)[len(str(path)) :][:45])
        return
    event("read")
    stored = scipy.io.loadmat(path)["codes"]  # as MATLAB sees it: a vector is a 1 x n row
    full = stored.reshape(stored.shape + (1,) * (4 - stored.ndim))
    texts = [None] * len(configs) if meta is None else written_texts(meta)
    assert texts is not None and len(texts) == len(configs)
    for t, c in enumerate(configs):
        np.testing.assert_array_equal(c.codes, np.transpose(full[..., t], (2, 0, 1)))
        assert c.bits == bits
        for key, value in ({} if texts[t] is None else json.loads(texts[t])).items():
            assert getattr(c, key) == value, key


@settings(max_examples=60, deadline=None)
@given(
    points=st.integers(1, 4),
    s=st.one_of(
        st.tuples(st.sampled_from([0, 0, 0, 1, -1]), st.integers(0, 3), st.sampled_from(["c16", "f8", "i2"])),
        st.one_of(
            st.text(ASCII, max_size=5),
            st.lists(st.integers(0, 3), min_size=1, max_size=3).map(cell),
            st.just({"re": 1.0, "im": 2.0}),
        ),
    ),
    meta=st.none() | matlab_values(1),
)
def test_any_matlab_measurement_file_is_read_or_refused_with_a_value_error(tmp_path_factory, points, s, meta):
    """``s`` (extra rows, P, dtype): an (F + extra rows) x P array; else text, a cell, a struct."""
    if isinstance(s, tuple):
        rows, cols = points + s[0], s[1]
        s = (np.arange(rows * cols).reshape(rows, cols) * (1 + 1j if s[2] == "c16" else 1)).astype(s[2])
    path = tmp_path_factory.mktemp("m") / "m.mat"
    f = np.linspace(27e9, 29e9, points)[:, None]
    scipy.io.savemat(path, {"frequencies": f, "S": s, **({} if meta is None else {"metadata": meta})})
    try:
        f2, s2, meta2 = matlab.read_measurement(path)
    except ValueError as e:
        assert str(e).startswith(str(path)), e
        event("refused: " + str(e)[len(str(path)) :][:45])
        return
    event("read")
    written = np.asarray(s)
    assert written.dtype.kind in "iufc" and s2.shape == (points, written.size // points)
    np.testing.assert_array_equal(f2, f[:, 0])
    np.testing.assert_array_equal(s2, written.astype(complex).reshape(s2.shape))
    texts = [None] if meta is None else written_texts(meta)
    assert texts is not None and meta2 == ({} if texts[0] is None else json.loads(texts[0]))


def bad(tmp_path, name, **variables):
    path = tmp_path / name
    scipy.io.savemat(path, variables)
    return path


CODES = np.zeros((2, 2, 1))


@pytest.mark.parametrize(
    "variables, read, message",
    [
        (
            {"codes": CODES, "bits": 2.0, "metadata": '{"angle_deg": 10}'},
            matlab.read_configs,
            "'metadata' entry 1 has unknown key(s) 'angle_deg'; allowed: objective, model_id, created_at, extra",
        ),
        (
            {"codes": CODES, "bits": 2.0, "metadata": '{"name": "x"}'},
            matlab.read_configs,
            "unknown key(s) 'name'; allowed: objective, model_id, created_at, extra (a name goes in 'names')",
        ),
        (
            {"codes": CODES, "bits": 2.0, "metadata": "[1, 2]"},
            matlab.read_configs,
            "'metadata' entry 1 must be a JSON object with keys among objective, model_id, created_at, extra, got JSON list",
        ),
        (
            {"codes": CODES, "bits": 2.0, "metadata": "angle = 10"},
            matlab.read_configs,
            "'metadata' entry 1 must be a JSON object with keys among objective, model_id, created_at, extra (JSON text)",
        ),
        (
            {"codes": CODES, "bits": 2.0, "metadata": {"objective": "x"}},
            matlab.read_configs,
            "'metadata' must be text, got a struct",
        ),
        (
            {"codes": CODES, "bits": 2.0, "metadata": '{"objective": 5}'},
            matlab.read_configs,
            "'metadata' entry 1: objective must be a string, got int",
        ),
        ({"codes": CODES, "bits": 1e30}, matlab.read_configs, "'bits' must be whole numbers of magnitude below 2^53"),
        ({"codes": CODES, "bits": 17.0}, matlab.read_configs, "'bits' must be one whole number in 1..16"),
        ({"codes": CODES, "bits": 2.0, "names": 3.0}, matlab.read_configs, "'names' must be text, got a 1x1 array"),
        (
            {"layers": CODES, "bits": 2.0},
            matlab.read_configs,
            "'layers' must be a cell array of rows x cols code matrices",
        ),
        (
            {"frequencies": [1e9, 2e9], "S": cell([1.0, 2.0])},
            matlab.read_measurement,
            "'S' must be a numeric array, got a 1x2 cell array",
        ),
        (
            {"frequencies": "1 GHz", "S": np.ones((1, 1))},
            matlab.read_measurement,
            "'frequencies' must be a numeric array of real numbers, got text",
        ),
        (
            {"frequencies": [1e9], "S": np.ones((1, 1)), "metadata": "id=3"},
            matlab.read_measurement,
            "'metadata' must be a JSON object (JSON text)",
        ),
        (
            {"frequencies": [1e9], "S": np.ones((1, 1)), "metadata": {"id": 3.0}},
            matlab.read_measurement,
            "'metadata' must be text, got a struct",
        ),
    ],
)
def test_bad_variables_are_refused_naming_the_file_the_variable_and_what_was_expected(
    tmp_path, variables, read, message
):
    path = bad(tmp_path, "x.mat", **variables)
    with pytest.raises(ValueError) as e:
        read(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value), str(e.value)


def test_a_file_that_is_not_a_mat_file_is_refused(tmp_path):
    (tmp_path / "x.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        matlab.read_configs(tmp_path / "x.mat")
