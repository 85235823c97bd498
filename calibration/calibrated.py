"""The calibrated model: what trainers, the daemon's indicators and users load after a calibration.

A :class:`CalibratedModel` is the fitted cascade (test channel included as ``w_in``), the
parameter vector it came from, the parameterization's name, the ideal geometry's description,
the metrics of the run that produced it, and a version: :class:`ModelRegistry` numbers models
1, 2, 3, ... in a directory, never overwrites one, and remembers each model's parent (the model
the calibration started from). Files are .npz (arrays) with a JSON header, written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calibration.data import applied_phases
from calibration.metrics import prediction_nmse_db
from calibration.twin import twin
from simhw.physics.model import SIMModel
from simhw.physics.multiport.batched import NetworkModel
from simhw.physics.propagation import Cascade
from simhw.values.files import write_atomic

__all__ = ["CalibratedModel", "ModelRegistry"]

FORMAT = 1
OPTIONAL = ("atom_response", "leakage", "faces")  # arrays a model has where its family needs them


@dataclass
class CalibratedModel:
    cascade: Cascade
    x: np.ndarray
    parameterization: str
    geometry: dict
    metrics: dict = field(default_factory=dict)
    version: int | None = None
    parent: int | None = None
    created_at: float = field(default_factory=time.time)
    atom_response: np.ndarray | None = None  # (2^bits,) or per atom (L, N, 2^bits): response per code level
    leakage: np.ndarray | None = None  # (F, P) what reaches the receivers around the SIM (added to every response)
    faces: np.ndarray | None = None  # (L, N, N) the faces of a multiport network (None: a cascade)

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        for a in (
            self.cascade.w_in,
            self.cascade.w_layers,
            self.cascade.w_out,
            self.cascade.frequencies,
            self.x,
            np.zeros(0) if self.atom_response is None else self.atom_response,
            np.zeros(0) if self.leakage is None else self.leakage,
            np.zeros(0) if self.faces is None else self.faces,
        ):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    @property
    def frequencies(self) -> np.ndarray:
        return self.cascade.frequencies

    def model(self):
        """The fitted model with the nominal atom response (see :meth:`applied` for the fitted one): the
        cascade as a :class:`SIMModel`, or the multiport network (:class:`NetworkModel`) when the model
        has faces. Both offer ``response`` and ``vjp`` to trainers."""
        return SIMModel(self.cascade) if self.faces is None else NetworkModel.from_cascade(self.cascade, self.faces)

    def applied(self, codes, bits: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(phases, amplitudes) (T, L, N) the atoms apply for integer codes, with the fitted level response."""
        codes = np.asarray(codes)
        codes = codes.reshape(codes.shape[0], self.cascade.n_layers, -1).astype(np.intp)
        theta = codes * (2 * np.pi / (1 << bits))
        if self.atom_response is None:
            return theta, None
        levels = np.shape(self.atom_response)[-1]
        if levels != 1 << bits:
            raise ValueError(f"the model's atom response has {levels} levels, codes are {bits}-bit")
        return applied_phases(theta, codes, self.atom_response)

    def predict(self, codes, bits: int) -> np.ndarray:
        """Predicted responses (T, F, P) of the test antenna to every receiver for integer codes (T, L, N...)."""
        h = self.model().response(*self.applied(codes, bits))[..., 0]
        return h if self.leakage is None else h + self.leakage[None]

    def twin(self, xp):
        """The forward pass on ``xp``'s arrays (numpy, JAX, PyTorch), differentiable by their autodiff:
        ``h(theta, amplitude=None)`` -> responses as :meth:`predict` gives them (:mod:`calibration.twin`)."""
        return twin(self, xp)

    @property
    def offset(self) -> np.ndarray | None:
        """(F, P, 1) the leakage as an additive term on the model's (F, P, M=1) response, for trainers."""
        return None if self.leakage is None else self.leakage[..., None]

    def prediction_nmse_db(self, data) -> float:
        """NMSE of this model's predictions against measured :class:`CalibrationData`."""
        return prediction_nmse_db(self.cascade, data, self.atom_response, self.leakage, self.faces)

    def header(self) -> dict:
        return {
            "format": FORMAT,
            "version": self.version,
            "parent": self.parent,
            "created_at": self.created_at,
            "parameterization": self.parameterization,
            "geometry": self.geometry,
            "metrics": self.metrics,
            "hash": self.hash,
        }

    def save(self, path: str | os.PathLike) -> Path:
        return Path(write_atomic(path, lambda fh: fh.write(self.to_bytes())))

    def arrays(self) -> dict:
        """Every array the model is made of, by name: the cascade's, ``x`` and those of ``OPTIONAL`` it has
        (what a model file holds beside its header)."""
        c = self.cascade
        out = {"w_in": c.w_in, "w_layers": c.w_layers, "w_out": c.w_out, "frequencies": c.frequencies, "x": self.x}
        out.update({k: getattr(self, k) for k in OPTIONAL if getattr(self, k) is not None})
        return out

    def to_bytes(self) -> bytes:
        """The .npz file content (what :meth:`save` writes), for stores and messages."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.arrays(), header=np.array(json.dumps(self.header(), default=_jsonable)))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CalibratedModel:
        return cls.load(io.BytesIO(data))

    @classmethod
    def from_arrays(cls, arrays, head: dict, source) -> CalibratedModel:
        """The model a file's ``arrays`` (as :meth:`arrays` names them) and ``head`` (its :meth:`header`)
        describe, checked: the format, and the content against the recorded hash (ValueError naming
        ``source`` otherwise)."""
        if head.get("format") != FORMAT:
            raise ValueError(f"{source}: unsupported calibrated-model format {head.get('format')!r}")
        try:
            cascade = Cascade(arrays["w_in"], arrays["w_layers"], arrays["w_out"], arrays["frequencies"])
            m = cls(
                cascade,
                arrays["x"],
                head["parameterization"],
                head["geometry"],
                head["metrics"],
                head["version"],
                head["parent"],
                head["created_at"],
                **{k: arrays[k] for k in OPTIONAL if k in arrays},
            )
            ok = m.hash == head["hash"]
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise ValueError(f"{source} is not a calibrated model file: {type(e).__name__}: {e}") from None
        if not ok:
            raise ValueError(f"{source}: content does not match its recorded hash (corrupt or edited)")
        return m

    @classmethod
    def load(cls, path) -> CalibratedModel:
        try:
            with np.load(path, allow_pickle=False) as z:
                head = json.loads(str(z["header"]))
                arrays = {k: z[k] for k in z.files if k != "header"}
        except (KeyError, OSError, ValueError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a calibrated model file: {e}") from None
        return cls.from_arrays(arrays, head, path)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


class ModelRegistry:
    """Calibrated models in ``directory`` as model-v0001.npz, model-v0002.npz, ..."""

    pattern = re.compile(r"model-v(\d{4,})\.npz$")

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def versions(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := self.pattern.match(p.name)))

    def path(self, version: int) -> Path:
        return self.directory / f"model-v{version:04d}.npz"

    def add(self, model: CalibratedModel) -> CalibratedModel:
        """Store ``model`` under the next free version number (set on the model) and return it.

        The number is taken atomically: the file is written in full under a temporary name, then
        hard-linked to its version's name, which fails if another writer took that number first;
        the next number is tried then. A reader never sees a half-written version."""
        versions = self.versions()
        version = (versions[-1] + 1) if versions else 1
        for _ in range(10_000):
            model.version = version
            tmp = self.directory / f".model-v{version:04d}.{os.getpid()}.{id(model):x}.tmp"
            tmp.write_bytes(model.to_bytes())
            try:
                os.link(tmp, self.path(version))
                return model
            except FileExistsError:
                version = max(version + 1, (self.versions() or [0])[-1] + 1)
            finally:
                tmp.unlink(missing_ok=True)
        raise RuntimeError(f"no free version number in {self.directory}")

    def get(self, version: int) -> CalibratedModel:
        path = self.path(version)
        if not path.exists():
            raise KeyError(f"no calibrated model version {version} in {self.directory} (have {self.versions()})")
        return CalibratedModel.load(path)

    def latest(self) -> CalibratedModel | None:
        v = self.versions()
        return self.get(v[-1]) if v else None
