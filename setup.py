"""Builds streamcore._core from csrc/ (every .cpp under it except the simulated libedgetpu).

csrc/core (preprocess, scheduler) and csrc/backends know nothing of Python; csrc/python
holds the bindings. No backend runtime is needed to build: each is loaded at run time."""
import glob
import os

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import Extension, setup

# STREAMCORE_BUILD_JOBS=N compiles N files at a time (CI's sanitizer build uses 2); default 1.
ParallelCompile("STREAMCORE_BUILD_JOBS", default=1).install()

SOURCES = sorted(
    path
    for path in glob.glob("csrc/**/*.cpp", recursive=True)
    if not path.startswith(os.path.join("csrc", "edgetpu_sim"))
)

# STREAMCORE_SANITIZE=1 (.ci/sanitize): ASan + UBSan, with frame pointers and debug info. Python's
# own CFLAGS carry -fwrapv; -fno-wrapv comes after it so signed overflow is reported again.
SANITIZE = os.environ.get("STREAMCORE_SANITIZE", "") not in ("", "0")
SANITIZE_COMPILE = ["-fsanitize=address,undefined", "-fno-wrapv", "-fno-omit-frame-pointer", "-g", "-O1"]
SANITIZE_LINK = ["-fsanitize=address,undefined"] if SANITIZE else []


def _compile_args(*args: str) -> list:
    return list(args) + (SANITIZE_COMPILE if SANITIZE else [])


ext = Pybind11Extension(
    "streamcore._core",
    SOURCES,
    include_dirs=["csrc/core", "csrc"],
    cxx_std=17,
    # The TFLite and libedgetpu C++ ABIs we call into use the C++11 std::string.
    define_macros=[("_GLIBCXX_USE_CXX11_ABI", "1")],
    extra_compile_args=_compile_args("-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"),
    extra_link_args=SANITIZE_LINK,
    libraries=["dl"],
)

# The simulated libedgetpu: a plain shared library that streamcore dlopens like the real
# libedgetpu (never imported), exporting the same C++ ABI.
edgetpu_sim = Extension(
    "streamcore._edgetpu_sim",
    sorted(glob.glob(os.path.join("csrc", "edgetpu_sim", "*.cpp"))),
    include_dirs=["csrc"],
    language="c++",
    define_macros=[("_GLIBCXX_USE_CXX11_ABI", "1")],
    extra_compile_args=_compile_args("-std=c++17", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"),
    extra_link_args=SANITIZE_LINK,
)

setup(ext_modules=[ext, edgetpu_sim], cmdclass={"build_ext": build_ext})
