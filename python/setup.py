"""Records where libebm and the ebmc / ebm programs are when the package is
built (ebmc/_install_paths.py, read by ebmc/_lib.py): $EBMC_LIBEBM,
$EBMC_EBMC, $EBMC_EBM if set, else the repository's build/ folder next to this
file if it holds them.  Everything else is in pyproject.toml."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.normpath(os.path.join(HERE, "..", "build"))


def _found(env, *default):
    v = os.environ.get(env)
    if v:
        return os.path.abspath(v)
    path = os.path.join(BUILD, *default)
    return path if os.path.exists(path) else ""


class build_py_with_paths(build_py):
    def run(self):
        super().run()
        paths = {"LIBEBM": _found("EBMC_LIBEBM", "lib", "libebm.so"),
                 "EBMC": _found("EBMC_EBMC", "bin", "ebmc"),
                 "EBM": _found("EBMC_EBM", "bin", "ebm")}
        out = os.path.join(self.build_lib, "ebmc", "_install_paths.py")
        with open(out, "w") as f:
            f.write('"""Written by setup.py at install time: where libebm and the tools were."""\n')
            for k, v in paths.items():
                f.write(f"{k} = {v!r}\n")


setup(cmdclass={"build_py": build_py_with_paths})
