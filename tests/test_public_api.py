import subprocess
import sys

import flexcode_bench


def test_every_lazy_public_name_resolves_to_a_callable():
    for name in flexcode_bench.__all__:
        assert name == "__version__" or callable(getattr(flexcode_bench, name))


def test_importing_the_package_stays_light():
    code = "import flexcode_bench, sys; assert 'torch' not in sys.modules and 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
