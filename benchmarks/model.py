"""Throughput of the SIM cascade: forward, and forward + analytic gradient.

    python -m benchmarks.model [--repeat N]

For each case it prints configurations per second for the forward pass, and the ratio
(forward + gradient) / forward measured in the same run. If PyTorch is importable, the same cascade
is timed with torch autograd on the CPU and numpy/torch speed ratios are printed.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.timing import best_time
from simhw.physics.geometry import SimGeometry
from simhw.physics.losses import mse_to_target
from simhw.physics.model import SIMModel

CASES = [  # (L, rows, cols, batch)
    (4, 8, 8, 256),
    (8, 16, 16, 64),
]
N_IN = N_OUT = 4


def torch_times(model: SIMModel, theta: np.ndarray, target: np.ndarray, repeat: int):
    try:
        import torch
    except ImportError:
        return None
    c = model.cascade
    w_in = torch.from_numpy(c.w_in)
    w_layers = [torch.from_numpy(np.ascontiguousarray(w)) for w in c.w_layers]
    w_out = torch.from_numpy(c.w_out)
    tgt = torch.from_numpy(target)

    def forward(th):
        x = w_in.unsqueeze(0).expand(th.shape[0], -1, -1, -1)  # (B, F, N, M)
        for l in range(th.shape[1]):
            if l:
                x = w_layers[l - 1].unsqueeze(0) @ x
            x = torch.polar(torch.ones_like(th[:, l]), th[:, l])[:, None, :, None] * x
        return w_out.unsqueeze(0) @ x

    th = torch.from_numpy(theta)

    def fwd():
        with torch.no_grad():
            forward(th)

    def fwd_grad():
        t = th.clone().requires_grad_(True)
        loss = (forward(t) - tgt).abs().pow(2).sum()
        loss.backward()

    return best_time(fwd, repeat), best_time(fwd_grad, repeat)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(
        f"{'case':<24}{'fwd cfg/s':>12}{'fwd+grad cfg/s':>16}{'ratio':>8}{'torch fwd':>12}{'np/torch fwd':>14}"
        f"{'np/torch f+g':>14}"
    )
    for L, rows, cols, batch in CASES:
        geom = SimGeometry.uniform(L, rows, cols, 28e9, 0.01, n_inputs=N_IN, n_outputs=N_OUT)
        model = SIMModel.from_geometry(geom)
        theta = rng.uniform(0, 2 * np.pi, (batch, L, rows * cols))
        target = model.response(rng.uniform(0, 2 * np.pi, theta.shape))
        loss = mse_to_target(target)
        t_fwd = best_time(lambda model=model, theta=theta: model.response(theta), args.repeat)
        t_grad = best_time(lambda model=model, theta=theta, loss=loss: model.value_and_grad(theta, loss), args.repeat)
        name = f"L={L} N={rows * cols} B={batch}"
        line = f"{name:<24}{batch / t_fwd:>12.0f}{batch / t_grad:>16.0f}{t_grad / t_fwd:>8.2f}"
        tt = torch_times(model, theta, target, args.repeat)
        if tt is None:
            line += f"{'n/a':>12}{'n/a':>14}{'n/a':>14}"
        else:
            line += f"{batch / tt[0]:>12.0f}{tt[0] / t_fwd:>14.2f}{tt[1] / t_grad:>14.2f}"
        print(line)
    print(
        f"(M_in = M_out = {N_IN} antennas, one frequency, complex128; ratio = (forward+gradient)/forward; "
        "np/torch > 1 means numpy is faster)"
    )


if __name__ == "__main__":
    main()
