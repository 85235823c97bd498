import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


from lab_helpers import lab_dsn  # noqa: E402,F401 - the real PostgreSQL of .ci/pg.sh, a database per test
