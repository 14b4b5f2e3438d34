"""Print the head revision(s) of FlexMeasures' migrations, without starting FlexMeasures.

Starting the app (what `flexmeasures db heads` does) takes tens of seconds; the revision graph is
written plainly in the migration files (`revision = "..."`, `down_revision = "..."` or a tuple of
them), so reading them is enough. Runs inside the FlexMeasures image.
"""

import importlib.util
import pathlib
import re

package = pathlib.Path(importlib.util.find_spec("flexmeasures").origin).parent
revisions, parents = set(), set()
for path in (package / "data" / "migrations" / "versions").glob("*.py"):
    text = path.read_text()
    revision = re.search(r"^revision\s*=\s*['\"](\w+)['\"]", text, re.M)
    down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
    if revision:
        revisions.add(revision.group(1))
    if down:
        parents.update(re.findall(r"['\"](\w+)['\"]", down.group(1)))
print(" ".join(sorted(revisions - parents)))
