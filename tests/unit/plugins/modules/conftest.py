"""The modules import each other and their module_utils by FQCN: give Python, once for every test
here, a collection tree (ansible_collections/digitribe/cariflex) that points at this checkout, so
the tests need neither an installed collection nor the .cache link."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]

COLLECTIONS = Path(tempfile.mkdtemp(prefix="cariflex-collections-"))
(COLLECTIONS / "ansible_collections" / "digitribe").mkdir(parents=True)
(COLLECTIONS / "ansible_collections" / "digitribe" / "cariflex").symlink_to(REPO_ROOT)
sys.path.insert(0, str(COLLECTIONS))
