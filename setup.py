"""Builds streamcore._core from csrc/ (every .cpp under it except the simulated libedgetpu).

csrc/core (preprocess, scheduler) and csrc/backends know nothing of Python; csrc/python
holds the bindings. No backend runtime is needed to build: each is loaded at run time."""
import glob
import os

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import Extension, setup

SOURCES = sorted(
    path
    for path in glob.glob("csrc/**/*.cpp", recursive=True)
    if not path.startswith(os.path.join("csrc", "edgetpu_sim"))
)

ext = Pybind11Extension(
    "streamcore._core",
    SOURCES,
    include_dirs=["csrc/core", "csrc"],
    cxx_std=17,
    # The TFLite and libedgetpu C++ ABIs we call into use the C++11 std::string.
    define_macros=[("_GLIBCXX_USE_CXX11_ABI", "1")],
    extra_compile_args=["-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
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
    extra_compile_args=["-std=c++17", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

setup(ext_modules=[ext, edgetpu_sim], cmdclass={"build_ext": build_ext})
