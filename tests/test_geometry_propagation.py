import math

import numpy as np
import pytest

from simhw.physics.geometry import SPEED_OF_LIGHT, AntennaArray, ErrorDraw, FabricationErrors, SimGeometry
from simhw.physics.propagation import cascade_matrices, radar, rayleigh_sommerfeld

F0 = 28e9
LAM = SPEED_OF_LIGHT / F0


def paper_geometry(**kw):
    kw.setdefault("n_inputs", 2)
    kw.setdefault("n_outputs", 3)
    return SimGeometry.uniform(4, 6, 6, F0, 0.01, **kw)


def rs_direct(src, dst, lam, area):
    """The RS formula evaluated pair by pair, as written in docs/physics.md, sec. 1."""
    out = np.empty((len(dst), len(src)), complex)
    for i, p in enumerate(dst):
        for j, q in enumerate(src):
            r = math.dist(p, q)
            cos_chi = abs(p[2] - q[2]) / r
            out[i, j] = area * cos_chi / r * (1 / (2 * math.pi * r) - 1j / lam) * np.exp(1j * 2 * math.pi / lam * r)
    return out


def test_rs_matches_direct_per_pair_evaluation():
    geom = paper_geometry(frequencies=[27e9, 28e9, 29.5e9])
    atoms = geom.atom_positions()
    w = rayleigh_sommerfeld(atoms[0], atoms[1], geom.wavelengths, geom.atom_area)
    assert w.shape == (3, 36, 36)
    for f, lam in enumerate(geom.wavelengths):
        np.testing.assert_allclose(w[f], rs_direct(atoms[0], atoms[1], lam, geom.atom_area), rtol=1e-12, atol=0)


def test_cascade_shapes_and_feed_uses_source_area():
    geom = paper_geometry(frequencies=[27e9, 28e9])
    c = cascade_matrices(geom)
    assert c.w_in.shape == (2, 36, 2)
    assert c.w_layers.shape == (3, 2, 36, 36)
    assert c.w_out.shape == (2, 3, 36)
    atoms = geom.atom_positions()
    direct = rs_direct(geom.input_antennas.positions, atoms[0], geom.wavelengths[1], geom.input_antennas.area)
    np.testing.assert_allclose(c.w_in[1], direct, rtol=1e-12)


def test_radar_is_rs_far_field_magnitude():
    src = np.array([[0.0, 0.0, 0.0]])
    dst = np.array([[0.0, 0.0, 30.0], [1.0, 2.0, 30.0]])
    rs = rayleigh_sommerfeld(src, dst, [LAM], 1e-4)
    rd = radar(src, dst, [LAM], 1e-4)
    np.testing.assert_allclose(np.abs(rd), np.abs(rs), rtol=1e-6)
    np.testing.assert_allclose(np.angle(rd * np.exp(-1j * np.angle(rs))), np.pi / 2, atol=1e-3)
    # in the near field they differ: the radar model drops the 1/(2 pi r) term
    near = np.array([[0.0, 0.0, LAM / 4]])
    assert (
        abs(abs(radar(src, near, [LAM], 1e-4)[0, 0, 0]) - abs(rayleigh_sommerfeld(src, near, [LAM], 1e-4)[0, 0, 0]))
        > 1e-3
    )


def test_unknown_propagation_model_is_rejected():
    with pytest.raises(ValueError, match="unknown propagation model 'fresnel'"):
        cascade_matrices(paper_geometry(), "fresnel")


def test_zero_errors_reproduce_ideal_geometry_exactly():
    geom = paper_geometry()
    pert = geom.with_errors(FabricationErrors(), seed=3)
    np.testing.assert_array_equal(pert.atom_positions(), geom.atom_positions())
    a, b = cascade_matrices(geom), cascade_matrices(pert)
    for x, y in [(a.w_in, b.w_in), (a.w_layers, b.w_layers), (a.w_out, b.w_out)]:
        np.testing.assert_array_equal(x, y)


def test_errors_are_seeded_and_bounded():
    geom = paper_geometry()
    bounds = FabricationErrors.paper(LAM)
    p1, p2, p3 = (geom.with_errors(bounds, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(p1.atom_positions(), p2.atom_positions())
    assert not np.array_equal(p1.atom_positions(), p3.atom_positions())
    d = p1.errors
    assert np.all(np.abs(d.spacing) <= bounds.spacing) and np.all(np.abs(d.offset) <= bounds.offset)
    assert np.all(np.abs(d.rotation) <= bounds.rotation)
    assert bounds.spacing == pytest.approx(1e-3 * LAM) and bounds.rotation == pytest.approx(math.radians(0.01))


def _only(L, layer, **vals):
    z = np.zeros(L)
    out = {k: z.copy() for k in ("spacing", "offset", "rotation")}
    for k, v in vals.items():
        out[k][layer] = v
    return ErrorDraw(**out)


def test_spacing_error_scales_magnitudes_globally():
    """E-I ([3] Interlayer error calibration, Fig. 2(b)): a larger gap lowers the coefficients' magnitude, a
    smaller raises it, without moving the pattern (no misregistration)."""
    geom = paper_geometry()
    w0 = cascade_matrices(geom).w_layers[0, 0]  # layer 1 -> 2
    far = cascade_matrices(geom.with_errors(None, draw=_only(4, 1, spacing=0.05 * LAM))).w_layers[0, 0]
    near = cascade_matrices(geom.with_errors(None, draw=_only(4, 1, spacing=-0.05 * LAM))).w_layers[0, 0]
    assert np.linalg.norm(far) < np.linalg.norm(w0) < np.linalg.norm(near)
    assert np.all(np.abs(np.diag(far)) < np.abs(np.diag(w0)))
    assert np.all(np.abs(np.diag(near)) > np.abs(np.diag(w0)))
    for w in (far, near):
        np.testing.assert_array_equal(np.argmax(np.abs(w), axis=0), np.argmax(np.abs(w0), axis=0))
    np.testing.assert_array_equal(
        geom.with_errors(None, draw=_only(4, 1, spacing=0.05 * LAM)).atom_positions()[..., :2],
        geom.atom_positions()[..., :2],
    )


def test_offset_of_one_pitch_shifts_the_pattern_by_one_row():
    """E-V (Fig. 2(c)): an in-plane shift re-registers the layer; one full pitch moves it exactly one row."""
    geom = paper_geometry()
    pert = geom.with_errors(None, draw=_only(4, 1, offset=geom.pitch_y))
    p0, p1 = geom.atom_positions(), pert.atom_positions()
    np.testing.assert_array_equal(p1[..., 2], p0[..., 2])
    np.testing.assert_array_equal(p1[[0, 2, 3]], p0[[0, 2, 3]])
    np.testing.assert_allclose(p1[1, :, :2] - p0[1, :, :2], np.tile([0.0, geom.pitch_y], (36, 1)), atol=1e-15)
    w0 = cascade_matrices(geom).w_layers[0, 0]
    w1 = cascade_matrices(pert).w_layers[0, 0]
    # destination atom of row r now sits where row r+1 sat: w1[n] == w0[n + cols] for rows 0..rows-2
    np.testing.assert_allclose(w1[:-6], w0[6:], rtol=1e-9, atol=1e-12)
    # a sub-pitch shift gives a non-uniform magnitude change (not a global scale)
    small = cascade_matrices(geom.with_errors(None, draw=_only(4, 1, offset=0.1 * LAM))).w_layers[0, 0]
    ratio = np.abs(small) / np.abs(w0)
    assert ratio.min() < 0.95 and ratio.max() > 1.05


def test_rotation_by_quarter_turn_permutes_a_square_layer():
    """E-P (Fig. 2(d)): rotation about the centre; 90 degrees maps a square grid onto itself."""
    geom = paper_geometry()
    pert = geom.with_errors(None, draw=_only(4, 1, rotation=math.pi / 2))
    p0, p1 = geom.atom_positions(), pert.atom_positions()
    np.testing.assert_allclose(p1[1, :, :2].mean(0), p0[1, :, :2].mean(0), atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(p1[1, :, :2], axis=-1), np.linalg.norm(p0[1, :, :2], axis=-1), rtol=1e-12)
    d = np.linalg.norm(p1[1][:, None, :2] - p0[1][None, :, :2], axis=-1)
    perm = np.argmin(d, axis=1)
    assert sorted(perm) == list(range(36)) and np.any(perm != np.arange(36))
    w0 = cascade_matrices(geom).w_layers[0, 0]
    w1 = cascade_matrices(pert).w_layers[0, 0]
    np.testing.assert_allclose(w1, w0[perm], rtol=1e-9, atol=1e-12)
    small = cascade_matrices(geom.with_errors(None, draw=_only(4, 1, rotation=math.radians(3)))).w_layers[0, 0]
    ratio = np.abs(small) / np.abs(w0)
    assert ratio.min() < 0.97 and ratio.max() > 1.03


def test_bad_geometry_inputs():
    with pytest.raises(ValueError, match="at least one antenna"):
        AntennaArray.linear(0, 0.01, 0.0, 1e-4)
    with pytest.raises(ValueError, match="NaN"):
        AntennaArray(np.array([[0, 0, np.nan]]), 1e-4)
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        FabricationErrors(spacing=-1.0)
    with pytest.raises(ValueError, match="positive"):
        paper_geometry(frequencies=[-1.0])
