import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from simhw.values.phase_config import PhaseConfig, PhaseConfigError


def make(**kw):
    codes = np.random.default_rng(0).integers(0, 4, (3, 4, 5))
    return PhaseConfig(codes, 2, name="beam A", objective="steer", model_id="cal-7", extra={"angle_deg": 12.5}, **kw)


def test_round_trip_is_byte_exact(tmp_path):
    cfg = make()
    path = tmp_path / "a.json"
    h = cfg.save(path)
    raw = path.read_bytes()
    back = PhaseConfig.load(path)
    assert back == cfg and back.hash == cfg.hash == h
    np.testing.assert_array_equal(back.codes, cfg.codes)
    back.save(tmp_path / "b.json")
    assert (tmp_path / "b.json").read_bytes() == raw
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1


def test_hash_covers_pattern_not_metadata():
    a = make()
    assert a.replace(name="other", created_at="2020-01-01T00:00:00+00:00").hash == a.hash
    codes = a.codes.copy()
    codes[1, 2, 3] = (codes[1, 2, 3] + 1) % 4
    assert PhaseConfig(codes, 2).hash != a.hash
    assert PhaseConfig(a.codes, 3).hash != a.hash  # same codes, different bit depth
    assert PhaseConfig(a.codes.reshape(3, 5, 4), 2).hash != a.hash  # same codes, different shape
    assert PhaseConfig.zeros(1, 1, 1, 1).hash == PhaseConfig(np.zeros((1, 1, 1), int), 1, name="x").hash


DIGESTS = {  # fixed patterns and their SHA-256 digests: stores, labs and boards on any machine rely on them
    (1, "zeros((1, 1, 1), int)"): "aa18373fbf44bcd85c88bef837a6dbd747e5c731767b1e940b4544ab9149f02f",
    (2, "arange(24).reshape(2, 3, 4) % 4"): "6142c5bc721429056f3e2b7c9537c0d0e85dc844b75dc17b90b7b4929f089379",
    (3, "arange(60).reshape(3, 4, 5) % 8"): "aea627736c65325c2f790fe37d63773da958118a2bdc412b1c8eb8c00249e1e0",
}


def test_the_hash_is_a_fixed_digest():
    """The same digests in this process, in a new interpreter with another hash seed, and with the codes
    given in another integer type and byte order: a fixed pattern has a fixed digest."""
    assert [PhaseConfig(eval("np." + expr), bits).hash for bits, expr in DIGESTS] == list(DIGESTS.values())
    code = (
        "import json, numpy as np\nfrom simhw.values.phase_config import PhaseConfig\n"
        f"print(json.dumps([PhaseConfig(eval('np.' + e).astype('>i8'), b).hash for b, e in {list(DIGESTS)!r}]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(run.stdout) == list(DIGESTS.values()), run.stderr


def test_phases_conversion_round_trip():
    cfg = make()
    ph = cfg.phases()
    assert ph.shape == (3, 20)
    np.testing.assert_allclose(ph, cfg.codes.reshape(3, -1) * math.pi / 2)
    back = PhaseConfig.from_phases(ph + 0.1, 2, shape=(4, 5))
    assert back.same_pattern(cfg)
    # wrapping: 2 pi - small rounds to code 0
    assert PhaseConfig.from_phases(np.full((1, 1, 1), 2 * math.pi - 1e-3), 3).codes[0, 0, 0] == 0
    assert PhaseConfig.from_phases(np.full((1, 1, 1), -math.pi / 2), 2).codes[0, 0, 0] == 3


@pytest.mark.parametrize(
    "codes,bits,match",
    [
        (np.zeros((4, 5)), 2, "shape \\(layers, rows, cols\\), got 2 dimensions"),
        (np.zeros((1, 0, 5)), 2, "must not be empty"),
        (np.full((1, 2, 2), np.nan), 2, "NaN"),
        (np.full((1, 2, 2), 1.5), 2, "whole numbers"),
        (np.full((1, 2, 2), 4), 2, "out of range for 2 bits.*allowed 0..3"),
        (np.full((1, 2, 2), -1), 2, "out of range"),
        (np.zeros((1, 2, 2)), 0, "bits must be in 1..16"),
        (np.zeros((1, 2, 2)), 2.0, "bits must be an integer"),
        (np.array([[["a"]]]), 1, "must be numeric"),
    ],
)
def test_bad_codes_are_rejected_with_specific_messages(codes, bits, match):
    with pytest.raises(PhaseConfigError, match=match):
        PhaseConfig(codes, bits)


def test_bad_phases_rejected():
    with pytest.raises(PhaseConfigError, match="NaN"):
        PhaseConfig.from_phases(np.array([[[np.nan]]]), 2)
    with pytest.raises(PhaseConfigError, match="do not fit"):
        PhaseConfig.from_phases(np.zeros((2, 7)), 2, shape=(2, 3))


def _doc():
    return json.loads(make().to_bytes())


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.update(version=2), "unsupported phase-config format version 2"),
        (lambda d: d.update(format="other"), "'format' is not"),
        (lambda d: d.pop("codes"), "lacks field\\(s\\) \\['codes'\\]"),
        (lambda d: d.update(shape=[3, 4]), "'shape' must be three positive integers"),
        (lambda d: d.update(codes="!!notbase64"), "not valid base64"),
        (lambda d: d.update(shape=[3, 4, 6]), "holds 60 values, shape \\[3, 4, 6\\] needs 72"),
        (lambda d: d.update(hash="0" * 64), "does not match its hash"),
        (lambda d: d["metadata"].update(colour="red"), "unknown field"),
        (lambda d: d.update(bits=1), "out of range for 1 bits"),
    ],
)
def test_bad_files_rejected_with_specific_messages(mutate, match):
    doc = _doc()
    mutate(doc)
    with pytest.raises(PhaseConfigError, match=match):
        PhaseConfig.from_bytes(json.dumps(doc).encode())


def test_not_json_rejected(tmp_path):
    p = tmp_path / "x.json"
    p.write_bytes(b"\x89PNG....")
    with pytest.raises(PhaseConfigError, match="invalid JSON"):
        PhaseConfig.load(p)


def test_codes_are_read_only_and_metadata_validated():
    cfg = make()
    with pytest.raises(ValueError):
        cfg.codes[0, 0, 0] = 1
    with pytest.raises(PhaseConfigError, match="JSON-serialisable"):
        PhaseConfig(np.zeros((1, 1, 1), int), 1, extra={"x": object()})
    with pytest.raises(PhaseConfigError, match="model_id must be a string"):
        PhaseConfig(np.zeros((1, 1, 1), int), 1, model_id=3)
