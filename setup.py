"""Build fastnn's Cython/OpenMP extensions.

What this script decides, and the environment variables that steer it:

* OpenMP: probed by compiling and linking a tiny OpenMP program with the same
  compiler that builds the extensions.  With it, ``prange`` loops run in
  parallel; without it (Apple clang, for instance) the build still succeeds,
  serially, with a loud warning.  ``FASTNN_NO_OPENMP=1`` forces the serial build.
* Portability: the default build targets the compiler's baseline for the
  platform (no ``-march=native``).  ``FASTNN_NATIVE=1`` builds for the host CPU.
* Debugging: ``FASTNN_DEBUG=1`` turns Cython's bounds, wraparound and
  initialisation checks back on and compiles with ``-O0 -g``.
  ``FASTNN_SANITIZE=1`` (gcc, clang) instruments the kernels with
  AddressSanitizer and UndefinedBehaviorSanitizer, at ``-O1 -g`` (``-O0`` with
  ``FASTNN_DEBUG=1``); ``tests/run_sanitizers.sh`` builds so and runs the suite.
* Size: no debug information (``-g0``, over Python's own ``-g``) and, on
  Linux, extension modules stripped at link time (``-s``): about 0.2 MB a
  module instead of up to 15 MB.  ``FASTNN_DEBUG``/``FASTNN_SANITIZE`` keep
  both; ``FASTNN_KEEP_SYMBOLS=1`` keeps the symbol table alone (function names
  for ``perf`` and ``valgrind`` on an optimised build).
* ``-ffp-contract=off`` always: the compiler must not fuse ``a*b + c`` into an
  FMA on its own, so that elementwise kernels round exactly like the NumPy
  reference (bit-identical results, even in a native build).

Rebuilds: a compiled module is kept in ``build/module-cache/`` under a digest
of everything that goes into it (its .pyx, every .pxd/.pxi and C header, the
build configuration below, the versions of Python, NumPy, SciPy and Cython);
a later build with the same digest (a second ``pip install -e .``, whose
isolated build environment would otherwise make Cython and the compiler redo
everything) copies it instead of cythonizing and compiling it again.
Modules are compiled side by side (one process per CPU).

The decisions are written to ``fastnn/_build_config.py`` so that
``fastnn.show_config()`` can report how the installed package was built.
"""

import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.errors import CompileError, LinkError
from setuptools._distutils.sysconfig import customize_compiler

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_MODULES = [
    "_parallel",    # OpenMP helpers: thread counts, per-call thread choice
    "_cpu",         # CPU brand and SIMD features (csrc/cpu_features.h)
    "_blas",        # row-major GEMM over scipy.linalg.cython_blas
    "_vmath",       # NumPy's own SIMD exp/tanh loops, called from nogil code
    "_finite",      # the boundary's NaN/infinity scan, at memory speed
    "activations",  # activation forward, derivative and backward
    "dense",        # dense layer forward and backward
    "normalization",  # batch and layer normalization: forward, backward, inference
    "losses",       # losses with their gradients, fused output deltas
    "optim",        # in-place optimizer updates over flat buffers
    "train",        # the compiled training loop: batches without Python
]


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _compiler():
    cc = new_compiler()
    customize_compiler(cc)
    return cc


def _compiler_kind(cc):
    if cc.compiler_type == "msvc":
        return "msvc"
    exe = cc.compiler[0] if getattr(cc, "compiler", None) else "cc"
    try:
        banner = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    except OSError:
        banner = ""
    return "clang" if "clang" in banner else "gcc"


def _compiler_version(cc):
    if cc.compiler_type == "msvc":
        return "msvc"
    exe = cc.compiler[0]
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return exe
    return out.splitlines()[0].strip() if out else exe


def _openmp_flags(kind):
    if kind == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin" and kind == "clang":
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _probe_openmp(cc, compile_flags, link_flags):
    """Compile, link and run a tiny OpenMP program; True when all three work."""
    source = textwrap.dedent(
        """
        #include <omp.h>
        #include <stdio.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            printf("%d\\n", n == omp_get_max_threads());
            return 0;
        }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe_openmp.c")
        with open(src, "w") as f:
            f.write(source)
        try:
            objects = cc.compile([src], output_dir=tmp, extra_postargs=compile_flags)
            exe = os.path.join(tmp, "probe_openmp")
            cc.link_executable(objects, exe, extra_postargs=link_flags)
            out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
        except (CompileError, LinkError, OSError, subprocess.SubprocessError):
            return False
        return out.returncode == 0 and out.stdout.strip() == "1"


def _configure():
    cc = _compiler()
    kind = _compiler_kind(cc)
    native = _env_flag("FASTNN_NATIVE")
    debug = _env_flag("FASTNN_DEBUG")

    if kind == "msvc":
        compile_args = ["/Od" if debug else "/O2", "/fp:precise"]
        if native:
            compile_args.append("/arch:AVX2")
    else:
        compile_args = ["-O0", "-g"] if debug else ["-O3"]
        compile_args += ["-ffp-contract=off", "-fno-math-errno", "-std=c11"]
        if native:
            compile_args.append("-march=native")
    link_args = []
    sanitize = _env_flag("FASTNN_SANITIZE")
    if kind != "msvc" and not (debug or sanitize):
        compile_args.append("-g0")
        if sys.platform.startswith("linux") and not _env_flag("FASTNN_KEEP_SYMBOLS"):
            link_args.append("-s")
    if sanitize:
        if kind == "msvc":
            raise SystemExit("FASTNN_SANITIZE=1 needs gcc or clang")
        flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                 "-fno-omit-frame-pointer"]
        compile_args = [a for a in compile_args if a != "-O3"] + \
            ([] if debug else ["-O1", "-g"]) + flags
        link_args += flags

    omp_compile, omp_link = _openmp_flags(kind)
    if _env_flag("FASTNN_NO_OPENMP"):
        openmp, openmp_reason = False, "disabled by FASTNN_NO_OPENMP=1"
    elif _probe_openmp(cc, omp_compile, omp_link):
        openmp, openmp_reason = True, "probe compiled, linked and ran"
    else:
        openmp, openmp_reason = False, "the compiler could not build an OpenMP program"
    if openmp:
        compile_args += omp_compile
        link_args += omp_link
    else:
        warnings.warn(
            "\n\n*** fastnn is being built WITHOUT OpenMP (%s). ***\n"
            "*** Every kernel will run on one thread. Install an OpenMP runtime "
            "(libgomp, or libomp on macOS) and rebuild for parallel kernels. ***\n"
            % openmp_reason,
            stacklevel=1,
        )

    config = {
        "openmp": openmp,
        "openmp_reason": openmp_reason,
        "native": native,
        "debug": debug,
        "sanitize": sanitize,
        "compiler": _compiler_version(cc),
        "compile_args": compile_args,
        "link_args": link_args,
        "python_cflags": sysconfig.get_config_var("CFLAGS") or "",
        "machine": platform.machine(),
        "cython": __import__("Cython").__version__,
        "numpy": numpy.__version__,
    }
    return config


def _write_build_config(config):
    path = os.path.join(HERE, "fastnn", "_build_config.py")
    text = (
        '"""How this copy of fastnn was built (written by setup.py; do not edit)."""\n\n'
        "BUILD_CONFIG = %r\n" % (config,)
    )
    with open(path, "w") as f:
        f.write(text)


MODULE_CACHE = os.path.join(HERE, "build", "module-cache")


def _file_digest(h, paths):
    for path in paths:
        h.update(os.path.relpath(path, HERE).encode())
        with open(path, "rb") as f:
            h.update(f.read())


def _shared_sources():
    """Every .pxd/.pxi and C header: any module may include any of them."""
    kernels = os.path.join(HERE, "fastnn", "_kernels")
    return sorted(
        glob.glob(os.path.join(kernels, "*.pxd")) + glob.glob(os.path.join(kernels, "*.pxi"))
        + glob.glob(os.path.join(HERE, "csrc", "*.h")))


def _shared_digest(config):
    """What every module is built from (see the docstring): the configuration,
    the versions, the shared sources; a hash to extend per module."""
    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    h.update(repr((sys.version, sysconfig.get_config_var("EXT_SUFFIX"),
                   __import__("scipy").__version__)).encode())
    _file_digest(h, _shared_sources())
    return h


def _module_digest(name, shared):
    """Digest of everything module ``name`` is built from: ``shared``, its .pyx."""
    h = shared.copy()
    _file_digest(h, [os.path.join(HERE, "fastnn", "_kernels", name + ".pyx")])
    return h.hexdigest()[:20]


def _cached_module(ext):
    return os.path.join(MODULE_CACHE, ext.fastnn_digest,
                        ext.name.rsplit(".", 1)[1] + sysconfig.get_config_var("EXT_SUFFIX"))


def _extensions(config):
    """The extension modules; only those not in the module cache are cythonized."""
    include_dirs = [numpy.get_include(), os.path.join(HERE, "csrc")]
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    exts = []
    shared = _shared_digest(config)
    for name in KERNEL_MODULES:
        ext = Extension(
            "fastnn._kernels." + name,
            [os.path.join("fastnn", "_kernels", name + ".pyx")],
            include_dirs=include_dirs,
            define_macros=macros,
            extra_compile_args=config["compile_args"],
            extra_link_args=config["link_args"],
            # a changed header recompiles the module even when Cython leaves
            # its .c file alone (it does not follow C includes)
            depends=_shared_sources(),
        )
        ext.fastnn_digest = _module_digest(name, shared)
        exts.append(ext)
    directives = {
        "language_level": 3,
        "boundscheck": config["debug"],
        "wraparound": config["debug"],
        "initializedcheck": config["debug"],
        "cdivision": True,
        "cpow": True,
        "embedsignature": True,
    }
    to_build = [e for e in exts if not os.path.exists(_cached_module(e))]
    if to_build:
        built = cythonize(to_build, compiler_directives=directives,
                          nthreads=os.cpu_count() or 1)
        for ext, cythonized in zip(to_build, built):
            ext.sources = cythonized.sources
    return exts


CONFIG = _configure()
_write_build_config(CONFIG)


class CachingParallelBuildExt(build_ext):
    """build_ext that compiles the extension modules side by side, and copies
    a module from the module cache when nothing it is built from changed."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def build_extension(self, ext):
        target, cached = self.get_ext_fullpath(ext.name), _cached_module(ext)
        if os.path.exists(cached):
            print("fastnn: %s unchanged, copied from %s" % (ext.name, cached))
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            # a new file renamed over the old: a process that has the old one
            # loaded keeps its pages
            shutil.copy2(cached, target + ".tmp")
            os.replace(target + ".tmp", target)
            return
        super().build_extension(ext)
        # one cached copy per module: drop the ones other digests left
        for old in glob.glob(os.path.join(MODULE_CACHE, "*", os.path.basename(cached))):
            os.remove(old)
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        shutil.copy2(target, cached + ".tmp")
        os.replace(cached + ".tmp", cached)


setup(ext_modules=_extensions(CONFIG), cmdclass={"build_ext": CachingParallelBuildExt})
