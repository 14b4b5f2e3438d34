"""Stand-in for the get-pip.py that ansible-test downloads from a host this machine cannot reach.

ansible-test runs it as `python get_pip.py [pip options] pip==X ...` inside a fresh, pip-less
virtual environment. This installs the interpreter's bundled pip (ensurepip), then asks that pip
for the requested packages from the configured index (PyPI), which is what get-pip.py does too.
"""

import subprocess
import sys

# get-pip.py's own switches; plain `pip install` does not know them.
OWN_SWITCHES = {"--no-setuptools", "--no-wheel"}

subprocess.run(
    [sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL
)
arguments = [arg for arg in sys.argv[1:] if arg not in OWN_SWITCHES]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *arguments]).returncode)
