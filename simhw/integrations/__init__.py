"""simhw where researchers already work: Bluesky (ophyd-async) devices and plans, a QCoDeS instrument,
MATLAB files (docs/guide.md, "Working from Bluesky, QCoDeS, MATLAB and JAX"). The differentiable twin
of a calibrated model lives with the model: ``CalibratedModel.twin`` (:mod:`calibration.twin`).

Each module imports its public client only when imported itself: ``simhw.integrations.ophyd`` needs
``ophyd-async`` and ``bluesky``, ``simhw.integrations.qcodes`` needs ``qcodes`` (``pip install
simhw[integrations]``); ``simhw.integrations.matlab`` needs only scipy.
"""
