"""pytest fixtures around tests.support.flexmeasures_local (load with pytest_plugins)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.flexmeasures_local import FlexMeasuresLocal


@pytest.fixture(scope="session")
def flexmeasures_local() -> Iterator[FlexMeasuresLocal]:
    """A real FlexMeasures 1.0.1 with PostgreSQL and Redis on loopback, for the whole session."""
    stack = FlexMeasuresLocal.start()
    try:
        yield stack
    finally:
        stack.close()
