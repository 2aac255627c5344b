# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put an offline stand-in for get-pip.py where ansible-test looks for its cached copy.

`ansible-test ... --venv` bootstraps pip in each new virtualenv by downloading
https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py, a host this machine cannot
reach, unless ~/.ansible/test/cache/get_pip_<version>.py exists. The stand-in written here runs
`ensurepip` and then `pip install <the arguments ansible-test gives>` (minus --no-setuptools /
--no-wheel, which only the real get-pip.py knows), so pip comes from the configured package index.

Run with the Python that has ansible-test (the .venv); prints the path it wrote or found.
"""

import os
import re
import sys
from pathlib import Path

STANDIN = '''"""Offline stand-in for get-pip.py (written by mailfleet.outlook scripts/ansible-test-get-pip.py)."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
'''


def pip_version():
    """The pip version ansible-test bootstraps (default_packages in python_requirements.py)."""
    import ansible_test  # only to locate the package; importing it has no side effects

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"default_packages\s*=\s*dict\(\s*pip='([0-9.]+)'", source.read_text(encoding="utf-8"))
    if not match:
        sys.exit("cannot find the pip version in %s: ansible-test changed; update %s" % (source, __file__))
    return match.group(1)


def main():
    cache = Path(os.path.expanduser("~/.ansible/test/cache"))
    target = cache / ("get_pip_%s.py" % pip_version().replace(".", "_"))
    if not target.exists() or target.read_text(encoding="utf-8") != STANDIN:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(STANDIN, encoding="utf-8")
        os.replace(tmp, target)
    print(target)


if __name__ == "__main__":
    main()
