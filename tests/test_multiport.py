"""The multiport model ([4] SIM in the nonlinear regime): agreement with the cascade, block vs dense solves, adjoint
gradients against central differences (linear and nonlinear cells), convergence reports, and the
nonlinear cells' gain on the localization example."""

import numpy as np
import pytest

from simhw.designs.multiport.localization import localization_scenario
from simhw.designs.training import TrainOptions, train
from simhw.physics.model import SIMModel
from simhw.physics.multiport import ConvergenceError, MultiportSIM, RappCell
from simhw.physics.propagation import cascade_matrices
from simhw.values.bench_config import BenchConfig


def small_cascade(layers=3, side=3, ports=2):
    g = BenchConfig().geometry
    g.layers, g.rows, g.cols, g.receive_ports = layers, side, side, ports
    return cascade_matrices(g.build())


def test_without_reflections_the_multiport_transfer_is_the_cascade():
    cas = small_cascade()
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, (3, 9))
    h_cascade = SIMModel(cas).response(theta)[0]
    np.testing.assert_allclose(MultiportSIM(cas).transfer(theta), h_cascade, rtol=1e-10, atol=1e-14)
    with_reflections = MultiportSIM(cas, reflection=0.2, coupling=0.1).transfer(theta)
    assert np.max(np.abs(with_reflections - h_cascade)) > 1e-3 * np.max(np.abs(h_cascade))


def test_block_recursive_solve_matches_the_dense_solve():
    cas = small_cascade(layers=5)
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, (5, 9))
    block = MultiportSIM(cas, reflection=0.3, coupling=0.1)
    dense = MultiportSIM(cas, reflection=0.3, coupling=0.1, solver="dense")
    np.testing.assert_allclose(block.transfer(theta), dense.transfer(theta), rtol=1e-10, atol=1e-16)
    x = np.random.default_rng(2).standard_normal((1, 4)) + 0j
    np.testing.assert_allclose(block.outputs(theta, x), block.transfer(theta) @ x, rtol=1e-10, atol=1e-16)


@pytest.mark.parametrize("cell", [RappCell(), RappCell(gain=0.9, a_sat=0.004, p=2.0)], ids=["linear", "rapp"])
def test_adjoint_gradient_matches_central_differences(cell):
    cas = small_cascade()
    m = MultiportSIM(cas, reflection=0.2, coupling=0.1, cell=cell, relax=0.8)
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 2 * np.pi, (3, 9))
    x = rng.standard_normal((1, 3)) + 1j * rng.standard_normal((1, 3))
    target = 1e-3 * (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3)))
    if not cell.linear:  # the test really is in compression: some internal waves exceed A_sat
        assert np.max(np.abs(m.internal_waves(theta, x))) > cell.a_sat

    def loss(th):
        return float(np.sum(np.abs(m.outputs(th, x) - target) ** 2))

    grad = m.vjp(theta, x, 2 * (m.outputs(theta, x) - target))
    for layer, atom in [(0, 0), (1, 4), (2, 8), (0, 6), (2, 1)]:
        tp, tm = theta.copy(), theta.copy()
        tp[layer, atom] += 1e-6
        tm[layer, atom] -= 1e-6
        assert grad[layer, atom] == pytest.approx((loss(tp) - loss(tm)) / 2e-6, rel=1e-5, abs=1e-12)


def test_transfer_matching_objective_gradient():
    sc = localization_scenario(n_side=3, layers=2, per_bin=1)
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, (2, 9))
    for obj in (sc.linear, sc.nonlinear):
        loss, grad = obj.loss_and_grad(theta)
        for layer, atom in [(0, 2), (1, 7)]:
            tp, tm = theta.copy(), theta.copy()
            tp[layer, atom] += 1e-6
            tm[layer, atom] -= 1e-6
            fd = (obj.loss_batch(tp)[0] - obj.loss_batch(tm)[0]) / 2e-6
            assert grad[layer, atom] == pytest.approx(fd, rel=1e-5, abs=1e-10)


def test_fixed_point_reports_convergence_and_refuses_to_pretend():
    cas = small_cascade()
    theta = np.zeros((3, 9))
    x = np.ones((1, 1), complex)
    ok = MultiportSIM(cas, reflection=0.2, cell=RappCell(1.0, 0.01, 2.0), relax=0.9)
    ok.outputs(theta, x)
    assert ok.last_report.converged and ok.last_report.residual <= 1e-10 and ok.last_report.iterations > 1
    unstable = MultiportSIM(cas, reflection=0.99, coupling=0.3, cell=RappCell(8.0, 1e3, 2.0), max_iter=50)
    with pytest.raises(ConvergenceError, match="did not converge in 50 iterations") as exc:
        unstable.outputs(theta, x)
    assert not exc.value.report.converged and len(exc.value.report.history) == 50
    with pytest.raises(ValueError, match="transfer\\(\\) is the linear closed form"):
        ok.transfer(theta)


def test_nonlinear_cells_reduce_the_transfer_matching_error():
    sc = localization_scenario(n_side=6, layers=4, per_bin=1)
    opts = TrainOptions(episodes=150, eta0=0.5, beta=0.99, update="joint", seed=0)
    linear, nonlinear = train(sc.linear, opts), train(sc.nonlinear, opts)
    print(
        f"\nmatching error: linear {linear.metrics['matching_error_db']:.2f} dB, "
        f"nonlinear {nonlinear.metrics['matching_error_db']:.2f} dB"
    )
    assert nonlinear.metrics["loss"] < 0.6 * linear.metrics["loss"]


def test_the_simulated_bench_can_use_the_multiport_model_as_its_truth():
    from drivers.bench import open_devices
    from sim_backend.bench import SimBench
    from simhw.values.phase_config import PhaseConfig

    cfg = BenchConfig(name="multiport-truth")
    cfg.sweep.points = 3
    cfg.simulation.noise = False
    configs = [PhaseConfig.random(4, 6, 6, 2, seed=s) for s in range(3)]
    measured = {}
    for model, reflection in (("cascade", 0.0), ("multiport", 0.0), ("multiport", 0.15)):
        cfg.simulation.truth_model, cfg.simulation.reflection = model, reflection
        with SimBench(cfg) as bench, open_devices(bench.resolved_config()) as (board, vna):
            f = cfg.frequencies()
            vna.configure(f[0], f[-1], f.size, params=("S21", "S31"))
            rows = []
            for c in configs:
                board.push(c)
                data = vna.measure()
                rows.append(np.stack([data["S21"], data["S31"]], -1))
            measured[(model, reflection)] = np.array(rows)
            if reflection:
                mp = MultiportSIM(bench.truth.model(f).cascade, frequency_index=1, reflection=reflection)
                th = configs[0].codes.reshape(4, -1) * (np.pi / 2)
                np.testing.assert_allclose(measured[(model, reflection)][0, 1], mp.transfer(th)[:, 0], rtol=1e-9)
    np.testing.assert_allclose(measured[("multiport", 0.0)], measured[("cascade", 0.0)], rtol=1e-9, atol=1e-15)
    diff = np.abs(measured[("multiport", 0.15)] - measured[("cascade", 0.0)])
    assert np.max(diff) > 1e-3 * np.max(np.abs(measured[("cascade", 0.0)]))
